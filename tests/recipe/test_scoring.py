"""Tests of dualkd_lib/recipe/scoring.py: which weights of a run are kept."""
from __future__ import annotations

import pytest

from dualkd_lib import recipe


def test_choose_weights_on_validation_scores() -> None:
    low, high = {"psds1": 0.1, "psds2": 0.2}, {"psds1": 0.3, "psds2": 0.2}
    assert recipe.choose_weights({"student": high, "mean": low}) == "student"
    assert recipe.choose_weights({"student": low, "mean": high}) == "mean"
    assert recipe.choose_weights({"student": low, "mean": low}) == "mean"  # a tie keeps the mean student
    with pytest.raises(ValueError, match="student"):
        recipe.choose_weights({"mean": low})

