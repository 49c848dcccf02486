"""Tests of dualkd_lib/teaching/exercises/nb04.py: decoding runs, and exercise 4.1 accepts a scipy solution."""
from __future__ import annotations

import numpy as np
import pytest

from dualkd_lib.teaching.exercises import checker, check
from dualkd_lib.evaluate import median_filter as library_median_filter
from dualkd_lib.teaching.exercises.nb04 import decode_clip


def test_notebook_04_reference_decodes_runs() -> None:
    scores = np.zeros((10, 8))
    scores[0, :2] = 0.9
    scores[3, 5:] = 0.7
    scores[3, 2] = 0.5  # not above the threshold
    out = decode_clip(scores, 0.5, 0.1)
    assert list(out.columns) == ["event_label", "onset", "offset"]
    assert out.values.tolist() == [["Alarm_bell_ringing", 0.0, 0.2], ["Dishes", 0.5, 0.8]]


def test_median_filter_exercise_accepts_a_scipy_solution(capsys: pytest.CaptureFixture) -> None:
    from scipy.ndimage import median_filter as nd

    def mine(scores, length):
        return nd(scores, size=(1, length), mode="nearest")

    assert check("4.1", mine) is mine
    assert library_median_filter is checker._resolve("dualkd_lib.evaluate:median_filter")
