"""Tests of dualkd_lib/train/checkpoint.py: round trip, refusals, stale cached runs, config diffs."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch

from dualkd_lib.train import check_cached_run, TrainConfig, load_checkpoint, load_model_from_checkpoint, save_checkpoint

from toy_training import FRAMES, N_MELS, STUDENT_CFG, student, weights


pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_config_field_added_later_takes_its_default_in_old_checkpoints(tmp_path: Path) -> None:
    """A checkpoint saved before a field existed is not stale for that field's default."""
    from dualkd_lib.train.checkpoint import config_diffs, field_defaults

    cfg = TrainConfig(mode="takd")
    old = {k: v for k, v in cfg.to_dict().items() if k != "takd_blend"}
    assert config_diffs(old, cfg.to_dict(), defaults=field_defaults(cfg)) == []
    changed = TrainConfig(mode="takd", takd_blend=0.5)
    assert config_diffs(old, changed.to_dict(), defaults=field_defaults(changed)) == ["takd_blend: None -> 0.5"]


def test_checkpoint_round_trip_and_refusals(tmp_path: Path) -> None:
    model = student(1)
    mean = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters())
    path = tmp_path / "s.pt"
    kw = dict(model=model, mean_model=mean, optimizer=opt, step=7, epoch=1, history=[{"step": 0, "loss": 1.0}],
              model_kind="student", model_config=model.cfg, train_config=TrainConfig(), preset="tiny")
    save_checkpoint(path, **kw)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_checkpoint(path, **kw)
    save_checkpoint(path, **kw, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt"]  # no temporary files left behind
    ckpt = load_checkpoint(path, expected_kind="student")
    assert ckpt["step"] == 7 and ckpt["preset"] == "tiny" and ckpt["train_config"]["mode"] == "supervised"
    rebuilt, rebuilt_mean, _ = load_model_from_checkpoint(path, expected_kind="student")
    x = torch.randn(2, N_MELS, FRAMES)
    model.eval()
    torch.testing.assert_close(rebuilt(x).strong, model(x).strong)
    torch.testing.assert_close(weights(rebuilt_mean), weights(mean))
    with pytest.raises(ValueError, match=r"holds a student model.*preset 'tiny'.*teacher model was expected"):
        load_model_from_checkpoint(path, expected_kind="teacher")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_whose_weights_do_not_fit(tmp_path: Path) -> None:
    model = student()
    wrong_cfg = dataclasses.replace(STUDENT_CFG, rnn_hidden=12)
    save_checkpoint(tmp_path / "w.pt", model=model, mean_model=None, optimizer=None, step=0, epoch=0, history=[],
                    model_kind="student", model_config=wrong_cfg, train_config=None, preset="course")
    with pytest.raises(ValueError, match=r"a student model, SECRNN, preset 'course'\) do not fit the SECRNN"):
        load_model_from_checkpoint(tmp_path / "w.pt")


def test_a_cached_run_made_with_other_settings_is_refused_and_kept(tmp_path: Path) -> None:
    model = student()
    cfg = TrainConfig(mode="dual", lr=3e-3)
    path = tmp_path / "final.pt"
    save_checkpoint(path, model=model, mean_model=None, optimizer=None, step=5, epoch=1, history=[],
                    model_kind="student", model_config=model.cfg, train_config=cfg, preset="tiny")
    check_cached_run(path, kind="student", model_config=model.cfg, train_config=cfg)  # same settings: fine
    check_cached_run(path, kind="student", model_config=model.cfg,
                     train_config=dataclasses.replace(cfg, log_every=1, device="cpu"))  # cosmetic: fine
    with pytest.raises(ValueError, match=r"training lr: 0.003 -> 0.001.*move its folder away"):
        check_cached_run(path, kind="student", model_config=model.cfg, train_config=dataclasses.replace(cfg, lr=1e-3))
    with pytest.raises(ValueError, match=r"model dropout: .* -> 0.42"):
        check_cached_run(path, kind="student", model_config=dataclasses.replace(model.cfg, dropout=0.42),
                         train_config=cfg)
    with pytest.raises(ValueError, match="teacher model was expected"):
        check_cached_run(path, kind="teacher", model_config=model.cfg, train_config=cfg)
    assert path.is_file()  # never deleted
