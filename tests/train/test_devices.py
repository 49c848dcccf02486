"""Tests of dualkd_lib/train/devices.py: the AMP code path and the device settings."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dualkd_lib import datasets, models
from dualkd_lib.train import TrainConfig, train, training_step

from toy_ddp import CFG, STUDENT_CFG, toy_parts


def test_autocast_path_and_device_config(tmp_path: Path) -> None:
    """The AMP code path of training_step (bfloat16 autocast on CPU stands in for float16 on CUDA)."""
    model = models.SECRNN(STUDENT_CFG, seed=0)
    mean = models.SECRNN(STUDENT_CFG, seed=0).eval()
    batch = datasets.collate_batch([toy_parts(4)[k][i] for k in range(3) for i in range(4)])
    full, terms = training_step(model, mean, batch, CFG, step=3)
    amp, amp_terms = training_step(model, mean, batch, CFG, step=3, autocast_device="cpu")
    assert amp.dtype == torch.float32 and set(amp_terms) == set(terms)
    assert abs(float(amp.detach()) - float(full.detach())) < 0.05 * float(full.detach())  # bfloat16 forward, float32 losses
    amp.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())

    with pytest.raises(ValueError, match="not a torch device"):
        TrainConfig(device="gpu0")
    cpu = train(models.SECRNN(STUDENT_CFG), datasets.build_train_loader(*toy_parts(4), batch_sizes=(2, 2, 2)),
                dataclasses.replace(CFG, max_steps=1, device="cpu", amp=True), run_dir=tmp_path, progress=False)
    assert np.isfinite(cpu.history[0]["loss"])  # amp=True is ignored on CPU
    # old checkpoints (before `device`/`amp`) and another device resume without complaint
    resumed = train(models.SECRNN(STUDENT_CFG), datasets.build_train_loader(*toy_parts(4), batch_sizes=(2, 2, 2)),
                    dataclasses.replace(CFG, max_steps=1, device="auto", amp=False), run_dir=tmp_path, progress=False)
    assert resumed.resumed_from == 1
