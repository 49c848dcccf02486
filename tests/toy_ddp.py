"""Shared test helper: toy clips and a dual-mode run's settings, for the tests of dualkd_lib/train/distributed.py
and devices.py (also imported by the processes test_distributed.py spawns). Imported by name (tests/ is on the path)."""
from __future__ import annotations

import torch

from dualkd_lib import datasets, models
from dualkd_lib.train import TrainConfig

N_MELS, FRAMES, OUT_FRAMES, EMB_DIM = 16, 64, 16, 8
STUDENT_CFG = models.CRNNConfig(
    n_mels=N_MELS, channels=(8, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), dropout=0.0, rnn_hidden=8,
    rnn_layers=1, activation="cg", se=True, tfwse=True, embedding_distill_dim=EMB_DIM,
)
CFG = TrainConfig(mode="dual", max_steps=6, batch_sizes=(4, 4, 4), mixup_prob=0.0, lr=3e-3, lr_rampup_steps=2,
                  cons_rampup_steps=4, ema_alpha=0.9, log_every=2, checkpoint_every=4)


def toy_parts(n: int = 16) -> tuple[datasets.SEDDataset, ...]:
    """Strong, weak, unlabeled toy clips with cached embeddings and teacher outputs (seeded)."""
    parts = []
    for seed, kind in enumerate(("strong", "weak", "unlabeled")):
        g = torch.Generator().manual_seed(seed)
        strong = (torch.rand(n, 10, OUT_FRAMES, generator=g) < 0.2).float()
        x = torch.randn(n, N_MELS, FRAMES, generator=g)
        x[:, :10] += 2.0 * strong.repeat_interleave(4, dim=2)
        extras = {"embeddings": torch.randn(n, EMB_DIM, OUT_FRAMES, generator=g),
                  "teacher_strong": 0.05 + 0.9 * strong, "teacher_weak": 0.05 + 0.9 * strong.amax(2)}
        labels = {"strong_labels": strong} if kind == "strong" else {"out_frames": OUT_FRAMES}
        if kind == "weak":
            labels["weak_labels"] = strong.amax(2)
        parts.append(datasets.SEDDataset(x, kind, extras=extras, **labels))
    return tuple(parts)
