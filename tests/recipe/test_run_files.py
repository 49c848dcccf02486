"""Tests of dualkd_lib/recipe/run_files.py: a stale or foreign run is refused, not reused; the inference bundle a run leaves lets `predict` run it."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dualkd_lib import predict
from dualkd_lib import recipe
from dualkd_lib.train import load_model_from_checkpoint


pytestmark = pytest.mark.slow


def test_wrong_model_checkpoint_is_refused(ctx: recipe.Context) -> None:
    with pytest.raises(ValueError, match="teacher model"):
        load_model_from_checkpoint(ctx.teacher_path(), expected_kind="student")


def test_predict_on_a_long_stereo_44k_recording(ctx: recipe.Context, tmp_path: Path) -> None:
    ckpt = recipe.student_checkpoint(ctx, "dual", 0)
    if not ckpt.is_file():
        recipe.train_student(ctx, "dual", seed=0)
    rng = np.random.default_rng(0)
    wav = tmp_path / "mine.wav"
    sf.write(wav, 0.1 * rng.standard_normal((44_100 * 23, 2)).astype("float32"), 44_100)
    out = tmp_path / "det.tsv"
    predict.predict_files(ckpt, [wav], out, scores_out=tmp_path / "scores", threshold=0.0, progress=False)
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["event_label", "onset", "offset", "filename"]
    offsets = [float(line.split("\t")[2]) for line in lines[1:]]
    assert offsets and max(offsets) == pytest.approx(23.0, abs=0.07)  # threshold 0: active to the end
    assert (tmp_path / "scores" / "mine.tsv").is_file()
    with pytest.raises(FileExistsError):
        predict.predict_files(ckpt, [wav], out, progress=False)
    # the teacher runs too: train_teacher records its embedding model in the run's inference bundle
    teacher = predict.predict_files(ctx.teacher_path(), [wav], tmp_path / "t.tsv", progress=False)
    assert teacher.processed and not teacher.skipped and (tmp_path / "t.tsv").is_file()


def test_a_stale_cached_student_is_refused_not_reused(ctx: recipe.Context, tmp_path: Path) -> None:
    """A cached run trained with other settings than the preset's says so instead of giving old numbers."""
    import dataclasses

    from dualkd_lib import models
    from dualkd_lib.train import save_checkpoint

    other = recipe.Context(ctx.preset, ctx.data_root, tmp_path / "work", False)
    run_dir = recipe.student_run_dir(other, "supervised", 0)
    stale = dataclasses.replace(ctx.preset.student_config("supervised", 0), lr=0.123)
    save_checkpoint(run_dir / "final.pt", model=models.SECRNN(ctx.preset.student), mean_model=None, optimizer=None,
                    step=1, epoch=1, history=[], model_kind="student", model_config=ctx.preset.student,
                    train_config=stale, preset="tiny")
    with pytest.raises(ValueError, match=r"training lr: 0.123 ->.*move its folder away"):
        recipe.run_metrics(other, "student", "supervised", 0)
    with pytest.raises(ValueError, match=r"training lr: 0.123 ->.*move its folder away"):
        recipe.train_student(other, "supervised", seed=0)  # the notebooks' call: same message
    assert (run_dir / "final.pt").is_file() and not (run_dir / "metrics.json").exists()


def test_a_run_trained_on_other_data_is_refused(ctx: recipe.Context, tmp_path: Path) -> None:
    """Regenerating the dataset (another seed) must not silently reuse models trained on the old one."""
    from dualkd_lib import models
    from dualkd_lib.train import save_checkpoint

    fingerprint = ctx.data_fingerprint()
    assert len(fingerprint) == 16 and fingerprint == recipe.Context(ctx.preset, ctx.data_root, tmp_path, False).data_fingerprint()
    other = recipe.Context(ctx.preset, ctx.data_root, tmp_path / "work", False)
    final = recipe.student_checkpoint(other, "supervised", 0)
    save_checkpoint(final, model=models.SECRNN(ctx.preset.student), mean_model=None, optimizer=None, step=1, epoch=1,
                    history=[], model_kind="student", model_config=ctx.preset.student,
                    train_config=ctx.preset.student_config("supervised", 0), preset="tiny",
                    extra={"data_fingerprint": "0123456789abcdef"})
    with pytest.raises(ValueError, match=r"trained on other data \(data fingerprint 0123456789abcdef -> "):
        recipe.run_metrics(other, "student", "supervised", 0)
    with pytest.raises(ValueError, match="trained on other data"):
        recipe.train_student(other, "supervised", seed=0)
    assert final.is_file()

    copy = tmp_path / "copy"  # the same files elsewhere: the same fingerprint; one label changed: another
    shutil.copytree(ctx.data_root, copy)
    assert recipe.Context(ctx.preset, copy, tmp_path, False).data_fingerprint() == fingerprint
    from dualkd_lib.layout import split_paths

    labels = split_paths(copy, "strong")[1]
    labels.write_text(labels.read_text().replace("Speech", "Dog", 1))
    assert recipe.Context(ctx.preset, copy, tmp_path, False).data_fingerprint() != fingerprint

