"""Tests of dualkd_lib/teaching/exercises/nb00.py: the reference of exercise 0.1."""
from __future__ import annotations

import numpy as np
import pytest

from dualkd_lib.teaching.exercises.nb00 import seconds_to_frames


def test_seconds_to_frames_reference() -> None:
    out = seconds_to_frames([0.0, 0.016, 0.0159, 9.999], hop_length=256)
    assert out.dtype == np.int64 and out.tolist() == [0, 1, 0, 624]
    with pytest.raises(ValueError, match="hop_length"):
        seconds_to_frames([1.0], hop_length=0)
