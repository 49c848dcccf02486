"""Tests of dualkd_lib/generate/sounds.py: every class's synthesized event."""
from __future__ import annotations

import numpy as np
import pytest

from dualkd_lib import generate as gen
from dualkd_lib.constants import CLASSES


@pytest.mark.parametrize("label", CLASSES)
def test_synthesize_event_every_class(label: str) -> None:
    x = gen.synthesize_event(label, 0.7, np.random.default_rng(1))
    y = gen.synthesize_event(label, 0.7, np.random.default_rng(2))
    assert x.shape == (11200,) and x.dtype == np.float32
    assert np.isfinite(x).all() and np.abs(x).max() == pytest.approx(0.5, rel=1e-5)
    assert not np.allclose(x, y), "a class is a family of sounds, not one template"
