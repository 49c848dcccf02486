"""Tests of dualkd_lib/teaching/exercises/nb03.py: attention pooling is the CRNN's weak head."""
from __future__ import annotations

import torch

from dualkd_lib import models
from dualkd_lib.teaching.exercises.nb03 import attention_pooling


SMALL = models.CRNNConfig(
    n_mels=16, channels=(4, 4, 4), pooling=((2, 2), (2, 2), (1, 2)), rnn_hidden=6, rnn_layers=1, dropout=0.0
)


def test_attention_pooling_is_what_the_crnn_weak_head_computes() -> None:
    model = models.CRNN(SMALL, seed=0).eval()
    h = torch.randn(2, 13, 2 * SMALL.rnn_hidden)
    _, strong, weak = model.heads(h)
    att_logits = model.attention_head(h).transpose(1, 2)  # [batch, classes, frames]
    assert torch.allclose(attention_pooling(strong, att_logits), weak, atol=1e-6)
