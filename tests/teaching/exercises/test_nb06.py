"""Tests of dualkd_lib/teaching/exercises/nb06.py: the EMA update and the binary KD loss; the exercises'
random inputs cover both regimes."""
from __future__ import annotations

import pytest
import torch

from dualkd_lib.teaching.exercises import nb03, nb06, nb07, nb08
from dualkd_lib.teaching.exercises.nb06 import binary_kd_loss, ema_update


def test_ema_update_warm_start_and_inputs_untouched() -> None:
    bar, th = torch.zeros(3), torch.ones(3)
    assert torch.equal(ema_update(bar, th, 0.999, 0), th)  # step 0 copies the student
    assert torch.allclose(ema_update(bar, th, 0.999, 1), torch.full((3,), 0.5))
    assert torch.allclose(ema_update(bar, th, 0.9, 5000), torch.full((3,), 0.1))
    assert torch.equal(bar, torch.zeros(3)) and torch.equal(th, torch.ones(3))


def test_binary_kd_loss_zero_on_copy_and_positive_otherwise() -> None:
    s, w = torch.rand(2, 10, 6) * 0.9 + 0.05, torch.rand(2, 10) * 0.9 + 0.05
    assert float(binary_kd_loss(s, w, s, w)) == pytest.approx(0.0, abs=1e-6)
    assert float(binary_kd_loss(s, w, 1 - s, 1 - w)) > 0.01


def test_trials_cover_both_regimes() -> None:
    """The random inputs must exercise the warm start and the plain EMA, and both resampling directions."""
    import numpy as np

    steps = [nb06._inputs_6_1(np.random.default_rng(i))[3] for i in range(5)]
    assert min(steps) < 10 and max(steps) >= 1000
    kinds = [nb03._inputs_3_2(np.random.default_rng(i)) for i in range(5)]
    assert any(e.shape[-1] > n for e, n in kinds) and any(e.shape[-1] < n for e, n in kinds)
    modes = {nb08._inputs_8_1(np.random.default_rng(i))[1] for i in range(5)}
    eefd_kinds = {nb07._inputs_7_1(np.random.default_rng(i))[2] for i in range(5)}
    assert len(modes) >= 3 and eefd_kinds == {"mse", "cosine"}
