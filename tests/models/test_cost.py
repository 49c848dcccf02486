"""Tests of dualkd_lib/models/cost.py: multiply-accumulates by hand, the GRU formula, model summaries."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dualkd_lib import models as M

from small_models import OUT, SMALL, SMALL_TEACHER


class ConvLinear(nn.Module):
    """[batch, n_mels, frames] -> Conv2d(1, 3, (3, 5)) -> Linear over the flattened last axis."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, kernel_size=(3, 5), padding=(1, 2))
        self.linear = nn.Linear(20, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(x.unsqueeze(1)))  # [batch, 3, n_mels, 20] -> [batch, 3, n_mels, 7]


def test_count_macs_conv_and_linear_by_hand() -> None:
    n_mels, frames = 8, 20
    conv = 3 * n_mels * frames * (1 * 3 * 5)  # output elements x in_channels x kernel
    linear = (3 * n_mels * 7) * 20  # output elements x in_features
    model = ConvLinear()
    assert M.count_macs(model, (1, n_mels, frames)) == conv + linear
    assert M.count_macs(model, (4, n_mels, frames)) == conv + linear  # per clip
    with pytest.raises(ValueError, match="input_shape"):
        M.count_macs(model)


def test_gru_macs_formula() -> None:
    # One direction, one layer, one step: 3 gates x (in*h + h*h).
    assert M.gru_macs(5, 3, layers=1, bidirectional=False, steps=1) == 3 * (5 * 3 + 3 * 3)
    # Two layers, bidirectional, 10 steps: the second layer reads 2*h inputs.
    expected = 2 * 10 * (3 * (5 * 3 + 9) + 3 * (6 * 3 + 9))
    assert M.gru_macs(5, 3, layers=2, bidirectional=True, steps=10) == expected

    class GRUOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(5, 3, num_layers=2, batch_first=True, bidirectional=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gru(x.transpose(1, 2))[0]  # [batch, n_mels=5, frames=10] -> sequence of 10 steps

    assert M.count_macs(GRUOnly(), (2, 5, 10)) == expected


def test_count_macs_of_a_crnn_adds_up() -> None:
    """Teacher MACs = the same model without fusion + the fusion Linear (16 frames x (16+7) x 16)."""
    teacher = M.CRNN(SMALL_TEACHER, seed=0)
    plain = M.CRNN(SMALL, seed=0)
    shape = (1, 16, 64)
    assert M.count_macs(teacher, shape) == M.count_macs(plain, shape) + 16 * (16 + 7) * 16
    # The GRU part by formula: input 16, hidden 6, 2 layers, both directions, 16 steps.
    assert M.count_macs(plain, shape) > M.gru_macs(16, 6, layers=2, steps=16)
    teacher.train()
    M.count_macs(teacher, shape)
    assert teacher.training  # mode restored
    summary = M.model_summary(plain, shape)
    assert summary["params"] == M.count_parameters(plain) and summary["macs"] == M.count_macs(plain, shape)
    assert summary["model"] == "CRNN"


def test_preset_macs_default_to_a_10s_clip() -> None:
    student = M.SECRNN(M.TINY_STUDENT, seed=0)
    assert M.count_macs(student) == M.count_macs(student, (1, M.TINY_STUDENT.n_mels, 626))
    deployed = student.without_embedding_head()
    head = OUT * student.embedding_head.in_features * student.embedding_head.out_features
    assert M.count_macs(student) - M.count_macs(deployed) == head
