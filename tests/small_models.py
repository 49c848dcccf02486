"""Shared test helper: clip lengths, the preset model pairs and small models for the slower checks, for the tests of
dualkd_lib/models/. Imported by name (tests/ is on the path)."""
from __future__ import annotations

import dataclasses

import torch

from dualkd_lib import models as M

FRAMES = 626  # 10 s at hop 256
OUT = 156  # DCASE: int(int(10 * 16000 / 256) / 4)

SED_PRESETS = {
    "DESED": (M.DESED_TEACHER, M.DESED_STUDENT),
    "COURSE": (M.COURSE_TEACHER, M.COURSE_STUDENT),
    "TINY": (M.TINY_TEACHER, M.TINY_STUDENT),
}

# A small model for the slower checks: 16 mels, 3 blocks (16 -> 8 -> 4 -> 2 bins), few frames.
SMALL = M.CRNNConfig(
    n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), dropout=0.2, rnn_hidden=6, rnn_layers=2,
)
SMALL_STUDENT = dataclasses.replace(SMALL, activation="cg", se=True, tfwse=True, embedding_distill_dim=5)
SMALL_TEACHER = dataclasses.replace(SMALL, embedding_dim=7)
SMALL_EMB = M.EmbeddingModelConfig(n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), emb_dim=7)


def feats(batch: int = 2, n_mels: int = 16, frames: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, n_mels, frames, generator=torch.Generator().manual_seed(seed))
