"""Tests of dualkd_lib/teaching/exercises/nb05.py: the SE block and the conv cost formula."""
from __future__ import annotations

import pytest
import torch

from dualkd_lib import models
from dualkd_lib.teaching.exercises.nb05 import conv_cost, se_block


def test_se_block_matches_seblock_without_biases_and_the_formula_with_them() -> None:
    torch.manual_seed(0)
    block = models.SEBlock(16, reduction=4)
    x = torch.randn(2, 16, 7, 5)
    zeros_h, zeros_c = torch.zeros(4), torch.zeros(16)
    out = se_block(x, block.squeeze.weight, zeros_h, block.excite.weight, zeros_c)
    assert torch.allclose(out, block(x), atol=1e-6)
    w1, b1, w2, b2 = torch.randn(4, 16), torch.randn(4), torch.randn(16, 4), torch.randn(16)
    manual = x * torch.sigmoid(torch.relu(x.mean((2, 3)) @ w1.T + b1) @ w2.T + b2)[:, :, None, None]
    assert torch.allclose(se_block(x, w1, b1, w2, b2), manual, atol=1e-6)
    with pytest.raises(ValueError, match="do not fit"):
        se_block(x, w1, b1, w2[:, :3], b2)


def test_conv_cost_formula() -> None:
    assert conv_cost(8, 16, 3, 10, 4) == {"params": 16 * 8 * 9 + 16, "macs": 16 * 10 * 4 * 8 * 9}
    assert conv_cost(1, 4, 1, 5, 2) == {"params": 8, "macs": 40}
