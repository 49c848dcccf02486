"""Tests of dualkd_lib/config.py: the one list of presets, how one is chosen, and the checks of its settings."""
from __future__ import annotations

import dataclasses

import pytest

from dualkd_lib import config
from dualkd_lib.constants import PRESET_ENV_VAR
from dualkd_lib.distill import STUDENT_MODES


def test_the_presets_and_how_one_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert list(config.PRESETS) == ["tiny", "course", "desed"]
    assert all(config.get_preset(name).name == name for name in config.PRESETS)
    monkeypatch.delenv(PRESET_ENV_VAR, raising=False)
    assert config.get_preset().name == "course"
    monkeypatch.setenv(PRESET_ENV_VAR, "tiny")
    assert config.get_preset().name == "tiny"
    assert config.get_preset(config.COURSE) is config.COURSE
    with pytest.raises(ValueError, match=r"Unknown preset 'large'; valid presets are \['course', 'desed', 'tiny'\]"):
        config.get_preset("large")


def test_a_preset_assembles_each_runs_settings() -> None:
    for preset in config.PRESETS.values():
        assert preset.teacher_config(3).mode == "teacher" and preset.teacher_config(3).seed == 3
        for mode in STUDENT_MODES:
            cfg = preset.student_config(mode, 2)
            assert (cfg.mode, cfg.seed) == (mode, 2)
            assert cfg.batch_sizes == preset.student_train.batch_sizes


@pytest.mark.parametrize(
    "make, word",
    [
        (lambda: config.PretrainConfig(objective="answers"), "frame_labels' or 'clip_taxonomy"),
        (lambda: config.PretrainConfig(recorded_share=1.5), "recorded_share"),
        (lambda: config.EvalConfig(curve_clips=-1), "curve_clips=-1"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(make, word: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=word):
        make()


def test_presets_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.TINY.name = "other"  # type: ignore[misc]
