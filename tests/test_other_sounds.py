"""Tests of dualkd_lib/other_sounds.py: every sound outside the course classes."""
from __future__ import annotations

import numpy as np
import pytest

from dualkd_lib import other_sounds
from dualkd_lib.constants import SAMPLE_RATE


@pytest.mark.parametrize("label", other_sounds.OTHER_CLASSES)
def test_every_other_sound_is_finite_and_audible(label: str) -> None:
    x = other_sounds.synthesize_other(label, 2 * SAMPLE_RATE, np.random.default_rng(0))
    assert x.shape == (2 * SAMPLE_RATE,) and x.dtype == np.float32 and np.isfinite(x).all()
    assert 0.5 <= np.max(np.abs(x)) <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="Unknown"):
        other_sounds.synthesize_other("Dragon", 100, np.random.default_rng(0))
