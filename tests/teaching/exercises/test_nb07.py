"""Tests of dualkd_lib/teaching/exercises/nb07.py: the EEFD loss kinds."""
from __future__ import annotations

import pytest
import torch

from dualkd_lib.teaching.exercises.nb07 import eefd


def test_eefd_kinds() -> None:
    p = torch.randn(2, 8, 5)
    assert float(eefd(p, p, "mse")) == 0.0
    assert float(eefd(p, 3 * p, "cosine")) == pytest.approx(0.0, abs=1e-6)
    assert float(eefd(p, -p, "cosine")) == pytest.approx(2.0, abs=1e-5)
