"""Tests of dualkd_lib/train/step.py: the TAKD blend as one term, missing teacher outputs, the learning rate."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch

from dualkd_lib import datasets, distill
from dualkd_lib.train import TrainConfig, learning_rate, train, training_step

from toy_training import FAST, OUT_FRAMES, loader, student, toy_part


pytestmark = pytest.mark.usefixtures("one_thread")


def test_takd_blended_target_is_one_term(parts) -> None:
    """takd_blend=λ: the consistency target is λ·mean + (1-λ)·teacher, and the KD term is that same term."""
    model = student().eval()  # no dropout: the two forward passes below see the same student
    mean = copy.deepcopy(model)
    with torch.no_grad():
        for p in mean.parameters():
            p.add_(0.05)
    batch = next(iter(loader(parts)))
    cfg = TrainConfig(mode="takd", takd_blend=0.3, max_steps=3, **FAST)
    loss, terms = training_step(model, mean, batch, cfg, step=2)
    assert terms["kd"] is terms["cons"]
    with torch.no_grad():
        m = mean(batch["features"])
    out = model(batch["features"])
    blend = distill.blended_target(m, batch["teacher_strong"], batch["teacher_weak"], 0.3)
    torch.testing.assert_close(terms["cons"], distill.consistency_loss(out, blend))
    w_cons = cfg.cons_max * distill.sigmoid_rampup(2, cfg.cons_rampup_steps)
    torch.testing.assert_close(loss, terms["sup"] + (w_cons + cfg.w_kd) * terms["cons"])
    with pytest.raises(ValueError, match="takd_blend"):
        TrainConfig(mode="takd", takd_blend=2.0)


def test_kd_mode_without_teacher_outputs_raises(tmp_path: Path) -> None:
    plain = tuple(
        datasets.SEDDataset(p.features, p.kind, strong_labels=p.strong_labels,
                            weak_labels=None if p.kind != "weak" else p.weak_labels, out_frames=OUT_FRAMES)
        for p in (toy_part(k, 4, s) for s, k in enumerate(("strong", "weak", "unlabeled")))
    )
    with pytest.raises(ValueError, match="teacher_strong"):
        train(student(), loader(plain), TrainConfig(mode="kd", max_steps=1), run_dir=tmp_path, progress=False)


def test_cosine_learning_rate_warms_up_then_falls_to_zero_and_none_stays_constant() -> None:
    cfg = TrainConfig(lr=1e-3, lr_rampup_steps=10, lr_decay="cosine")
    flat = dataclasses.replace(cfg, lr_decay="none")
    assert learning_rate(flat, 50, 100) == pytest.approx(1e-3)
    assert learning_rate(cfg, 0, 100) < learning_rate(cfg, 10, 100)  # warm-up
    assert learning_rate(cfg, 50, 100) == pytest.approx(0.5e-3)
    assert learning_rate(cfg, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert all(learning_rate(cfg, s + 1, 100) <= learning_rate(cfg, s, 100) for s in range(10, 100))
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay="step")
