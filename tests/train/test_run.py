"""Tests of dualkd_lib/train/run.py: the run folder: validation, resume, data fingerprint, overwrite rules."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from dualkd_lib import models
from dualkd_lib.train import TrainConfig, load_checkpoint, train

from toy_training import FAST, TEACHER_CFG, loader, student, weights


pytestmark = pytest.mark.usefixtures("one_thread")


def test_validation_each_epoch(parts, tmp_path: Path) -> None:
    seen = []

    def val_fn(model):
        seen.append(model.training)
        return {"score": 1.0}

    result = train(student(), loader(parts), TrainConfig(epochs=2, **FAST), run_dir=tmp_path, val_fn=val_fn, progress=False)
    assert [v["epoch"] for v in result.val_history] == [0, 1] and seen == [False, False]
    assert result.model.training  # the student goes back to train mode after validation


def test_a_run_on_other_data_is_neither_reused_nor_resumed(parts, tmp_path: Path) -> None:
    cfg = TrainConfig(mode="supervised", max_steps=2, **FAST)
    first = train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="aaaa")
    assert load_checkpoint(first.final_path)["extra"]["data_fingerprint"] == "aaaa"
    again = train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="aaaa")
    assert again.resumed_from == 2  # the same data: the finished run is loaded
    with pytest.raises(ValueError, match=r"trained on other data \(data fingerprint aaaa -> bbbb"):
        train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="bbbb")
    (tmp_path / "final.pt").rename(tmp_path / "elsewhere.pt")
    with pytest.raises(ValueError, match="trained on other data"):  # an interrupted run (last.pt) neither
        train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="bbbb")


def test_resume_equals_uninterrupted_run(parts, tmp_path: Path) -> None:
    cfg2 = TrainConfig(mode="dual", epochs=2, mixup_prob=0.5, checkpoint_every=3, **FAST)
    straight = train(student(), loader(parts), cfg2, run_dir=tmp_path / "straight", progress=False)

    # 1 epoch, then resume for a second one (extending a finished run needs overwrite=True)
    cfg1 = dataclasses.replace(cfg2, epochs=1)
    train(student(), loader(parts), cfg1, run_dir=tmp_path / "split", progress=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        train(student(), loader(parts), cfg2, run_dir=tmp_path / "split", progress=False)
    resumed = train(student(), loader(parts), cfg2, run_dir=tmp_path / "split", overwrite=True, progress=False)
    assert resumed.resumed_from == 4
    torch.testing.assert_close(weights(resumed.model), weights(straight.model), rtol=0, atol=1e-6)
    torch.testing.assert_close(weights(resumed.mean_model), weights(straight.mean_model), rtol=0, atol=1e-6)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], abs=1e-6)

    # a run interrupted mid-epoch (last.pt at step 3) continues where it stopped
    def crash(model):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        train(student(), loader(parts), cfg2, run_dir=tmp_path / "crash", val_fn=crash, progress=False)
    assert load_checkpoint(tmp_path / "crash" / "last.pt")["step"] == 3
    again = train(student(), loader(parts), cfg2, run_dir=tmp_path / "crash", progress=False)
    assert again.resumed_from == 3
    torch.testing.assert_close(weights(again.mean_model), weights(straight.mean_model), rtol=0, atol=1e-6)

    # a finished run of the same length is loaded, not retrained
    done = train(student(5), loader(parts), cfg2, run_dir=tmp_path / "straight", progress=False)
    assert done.resumed_from == done.steps == 8
    # loaded from straight's checkpoint, a copy: bit for bit
    torch.testing.assert_close(weights(done.mean_model), weights(straight.mean_model), rtol=0, atol=0)


def test_run_dir_rules(parts, tmp_path: Path) -> None:
    cfg = TrainConfig(max_steps=2, **FAST)
    train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="resume=True"):
        train(student(), loader(parts), cfg, run_dir=tmp_path, resume=False, progress=False)
    with pytest.raises(ValueError, match="another config.*mode"):
        train(student(), loader(parts), dataclasses.replace(cfg, mode="eefd"), run_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="holds a student model"):
        train(models.CRNN(TEACHER_CFG), loader(parts), cfg, run_dir=tmp_path, teacher_needs_embeddings=True,
              progress=False)
    fresh = train(student(), loader(parts), cfg, run_dir=tmp_path, resume=False, overwrite=True, progress=False)
    assert fresh.resumed_from == 0 and fresh.steps == 2
