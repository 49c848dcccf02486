"""Shared test helper: a separable toy problem, a small student and teacher and fast training settings, for the
tests of dualkd_lib/train/{loop,step,run,checkpoint,inference}.py. Imported by name (tests/ is on the path)."""
from __future__ import annotations

import dataclasses

import torch

from dualkd_lib import datasets, models

N_MELS, FRAMES, OUT_FRAMES, EMB_DIM = 16, 64, 16, 8
STUDENT_CFG = models.CRNNConfig(
    n_mels=N_MELS, channels=(8, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), dropout=0.1, rnn_hidden=8,
    rnn_layers=1, activation="cg", se=True, tfwse=True, embedding_distill_dim=EMB_DIM,
)
TEACHER_CFG = dataclasses.replace(
    STUDENT_CFG, se=False, tfwse=False, activation="glu", embedding_distill_dim=0, embedding_dim=EMB_DIM
)
FAST = dict(lr=3e-3, lr_rampup_steps=5, cons_rampup_steps=10, ema_alpha=0.99, log_every=5)


def toy_part(kind: str, n: int, seed: int) -> datasets.SEDDataset:
    """A separable toy problem: class c is active where mel band c is raised by 2."""
    g = torch.Generator().manual_seed(seed)
    strong = torch.zeros(n, 10, OUT_FRAMES)
    for i in range(n):
        for c in range(10):
            if torch.rand(1, generator=g) < 0.3:
                a = int(torch.randint(0, OUT_FRAMES - 2, (1,), generator=g))
                strong[i, c, a : a + int(torch.randint(2, 8, (1,), generator=g))] = 1
    x = torch.randn(n, N_MELS, FRAMES, generator=g)
    x[:, :10] += 2.0 * strong.repeat_interleave(4, dim=2)
    proj = torch.randn(EMB_DIM, 10, generator=torch.Generator().manual_seed(99))
    extras = {
        "embeddings": torch.einsum("dc,nct->ndt", proj, strong),
        "teacher_strong": 0.05 + 0.9 * strong,
        "teacher_weak": 0.05 + 0.9 * strong.amax(2),
    }
    if kind == "strong":
        return datasets.SEDDataset(x, "strong", strong_labels=strong, extras=extras)
    if kind == "weak":
        return datasets.SEDDataset(x, "weak", weak_labels=strong.amax(2), extras=extras, out_frames=OUT_FRAMES)
    return datasets.SEDDataset(x, "unlabeled", extras=extras, out_frames=OUT_FRAMES)


def loader(parts, seed: int = 0):
    return datasets.build_train_loader(*parts, batch_sizes=(4, 4, 4), seed=seed)  # 4 batches per epoch


def student(seed: int = 0) -> models.SECRNN:
    return models.SECRNN(STUDENT_CFG, seed=seed)


def weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([v.flatten().float() for v in model.state_dict().values()])
