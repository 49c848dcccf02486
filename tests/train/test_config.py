"""Tests of dualkd_lib/train/config.py: a run's settings refuse what would train wrong, and survive a checkpoint."""
from __future__ import annotations

import json

import pytest

from dualkd_lib.train import TrainConfig


@pytest.mark.parametrize(
    "change, word",
    [
        (dict(mode="distill"), "mode"),
        (dict(kd_kind="kl2"), "kd_kind"),
        (dict(takd_gradient="sideways"), "takd_gradient"),
        (dict(takd_blend=1.5), "takd_blend must be None or in"),
        (dict(epochs=0), "epochs must be >= 1"),
        (dict(max_steps=0), "max_steps must be >= 1"),
        (dict(ema_alpha=1.0), "ema_alpha must be in"),
        (dict(mixup_prob=-0.1), "mixup_prob"),
        (dict(lr=0.0), "must be > 0"),
        (dict(log_every=0), "log_every"),
        (dict(batch_sizes=(4, 4)), "batch_sizes"),
        (dict(device="gpu0"), "not a torch device"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(change: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        TrainConfig(**change)


def test_epochs_may_be_zero_when_max_steps_bounds_the_run() -> None:
    assert TrainConfig(epochs=0, max_steps=5).max_steps == 5


def test_a_config_survives_json_and_refuses_unknown_fields() -> None:
    cfg = TrainConfig(mode="dual", batch_sizes=(2, 3, 4), takd_blend=0.5, seed=7)
    back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.batch_sizes == (2, 3, 4)
    with pytest.raises(ValueError, match=r"Unknown TrainConfig fields \['learning_rate'\]"):
        TrainConfig.from_dict({**cfg.to_dict(), "learning_rate": 1e-3})
