"""Tests of dualkd_lib/predict/model.py: the checkpoint and its inference bundle, windows that join without drift, the teacher with its embedding model."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from dualkd_lib import cli, predict
from recordings import RATE, noise, score_offsets
from dualkd_lib import recipe
from dualkd_lib.constants import CLASSES
from dualkd_lib.features import FeatureConfig, LogMel, Scaler, n_output_frames


def _teacher_copy(ctx: recipe.Context, folder: Path, key: str | None, *, where: str = "top") -> Path:
    """The tiny teacher (final.pt + inference.pt) copied to ``folder``, with ``embedding_model_path`` set to
    ``key`` (at the top level or in ``extra``) or removed (``key=None``; also from the bundle)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = ctx.teacher_path()
    bundle = torch.load(src.parent / "inference.pt", map_location="cpu", weights_only=True)
    bundle.pop(predict.EMBEDDING_MODEL_KEY, None)  # train_teacher records it in the bundle too
    torch.save(bundle, folder / "inference.pt")
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    ckpt.pop(predict.EMBEDDING_MODEL_KEY, None)
    ckpt["extra"] = {k: v for k, v in (ckpt.get("extra") or {}).items() if k != predict.EMBEDDING_MODEL_KEY}
    if key is not None:
        (ckpt if where == "top" else ckpt["extra"])[predict.EMBEDDING_MODEL_KEY] = key
    torch.save(ckpt, folder / "final.pt")
    return folder / "final.pt"


def test_a_checkpoint_without_its_inference_bundle_or_of_another_kind_is_refused(
    student: Path, embedding_ckpt: Path, tmp_path: Path
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(2.0), RATE)
    lone = tmp_path / "lone" / "final.pt"
    lone.parent.mkdir()
    shutil.copy2(student, lone)
    with pytest.raises(FileNotFoundError, match=r"inference\.pt is missing.*Copy inference\.pt"):
        predict.predict_files(lone, [wav], tmp_path / "d.tsv", progress=False)
    with pytest.raises(ValueError, match="holds an embedding model; `dualkd predict` runs a student"):
        predict.predict_files(embedding_ckpt, [wav], tmp_path / "d.tsv", progress=False)


class _EnergyModel(torch.nn.Module):
    """A stand-in SED model whose score of every class is the loudness of each output frame."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = frames

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None):
        energy = x.mean(dim=1)  # [n, feature frames]
        pooled = energy[:, : self.frames * 4].reshape(len(x), self.frames, 4).mean(-1)
        strong = torch.sigmoid(pooled)[:, None, :].expand(-1, len(CLASSES), -1)
        return type("Out", (), {"strong": strong})()


def test_window_frames_join_without_drift() -> None:
    """A burst late in a long file is scored at its true time: windows start every frames_per_window frames.

    1-s windows (7 output frames of 0.128 s = 0.896 s each) make the drift of joining windows that start
    every 1 s (0.104 s per window) large: 2.6 s at 25 s.
    """
    fcfg = FeatureConfig(n_fft=1024, win_length=1024, hop_length=512, n_mels=64, clip_seconds=1.0)
    scaler = Scaler(fcfg.n_mels)
    scaler.load_state_dict({"mean": torch.zeros(64), "std": torch.ones(64), "fitted": torch.tensor(True)})
    frames = n_output_frames(fcfg)
    model = _EnergyModel(frames)
    predictor = predict.Predictor("student", Path("stub.pt"), model, None, fcfg, scaler, LogMel(fcfg), 0.5, 1,
                                  tuple(CLASSES))
    assert predictor.stride_samples == frames * 2048
    x = np.zeros(30 * RATE, dtype=np.float32)
    burst = slice(int(25.0 * RATE), int(25.4 * RATE))
    x[burst] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(burst.stop - burst.start) / RATE)
    blocks = iter(np.array_split(x, 7))
    windows = list(predict.audio._windows(blocks, window=fcfg.clip_samples, stride=predictor.stride_samples,
                                    min_tail=2048, batch=4))
    scores = np.concatenate([predictor.score_windows(w) for w in windows])
    per_frame = scores.transpose(1, 0, 2).reshape(len(CLASSES), -1)[0]
    loud = np.flatnonzero(per_frame > per_frame.min() + 0.5 * (per_frame.max() - per_frame.min()))
    assert loud[0] * 0.128 == pytest.approx(25.0, abs=0.2) and loud[-1] * 0.128 == pytest.approx(25.3, abs=0.2)


def test_teacher_with_its_embedding_model_recorded_in_the_checkpoint(
    ctx: recipe.Context, student: Path, embedding_ckpt: Path, tmp_path: Path
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(12.0, 44_100), 44_100)
    absolute = _teacher_copy(ctx, tmp_path / "abs", str(embedding_ckpt.resolve()))
    t_abs = predict.predict_files(absolute, [wav], tmp_path / "t_abs.tsv", scores=tmp_path / "t_abs",
                                  progress=False)
    # relative to the checkpoint's folder, in the checkpoint's "extra"
    shutil.copy2(embedding_ckpt, tmp_path / "emb.pt")
    relative = _teacher_copy(ctx, tmp_path / "rel", "../emb.pt", where="extra")
    assert predict.embedding_model_path(relative) == tmp_path / "rel" / ".." / "emb.pt"
    predict.predict_files(relative, [wav], tmp_path / "t_rel.tsv", scores=tmp_path / "t_rel", progress=False)
    s = predict.predict_files(student, [wav], tmp_path / "s.tsv", scores=tmp_path / "s", progress=False)

    assert t_abs.model_kind == "teacher" and s.model_kind == "student"
    teacher_scores = pd.read_csv(tmp_path / "t_abs" / "a.tsv", sep="\t")
    pd.testing.assert_frame_equal(teacher_scores, pd.read_csv(tmp_path / "t_rel" / "a.tsv", sep="\t"))
    student_scores = pd.read_csv(tmp_path / "s" / "a.tsv", sep="\t")
    assert teacher_scores.shape == student_scores.shape  # same frames, side by side
    assert not np.allclose(teacher_scores[list(CLASSES)], student_scores[list(CLASSES)])
    assert teacher_scores["offset"].iloc[-1] == pytest.approx(12.0)


def test_teacher_with_embedding_model_given_on_the_command_line(
    ctx: recipe.Context, embedding_ckpt: Path, student: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(5.0), RATE)
    teacher = _teacher_copy(ctx, tmp_path / "t", None)
    code = cli.main(["predict", "--checkpoint", str(teacher), str(wav), "--out", str(tmp_path / "det.tsv"),
                     "--embedding-model", str(embedding_ckpt), "--scores", str(tmp_path / "scores")])
    assert code == 0, capsys.readouterr().err
    assert "processed 1 file;" in capsys.readouterr().out
    assert score_offsets(tmp_path / "scores" / "a.tsv")[-1] == pytest.approx(5.0)
    # a recorded path that no longer exists: --embedding-model wins over it
    moved = _teacher_copy(ctx, tmp_path / "moved", str(tmp_path / "gone" / "final.pt"))
    result = predict.predict_files(moved, [wav], tmp_path / "d2.tsv", embedding_model=embedding_ckpt,
                                   progress=False)
    assert result.ok
    with pytest.raises(FileNotFoundError, match=r"gone/final\.pt, which does not exist.*--embedding-model"):
        predict.predict_files(moved, [wav], tmp_path / "d3.tsv", progress=False)
    with pytest.raises(ValueError, match="holds a student model"):
        predict.predict_files(teacher, [wav], tmp_path / "d4.tsv", embedding_model=student, progress=False)


def test_teacher_without_an_embedding_model_says_what_is_missing(
    ctx: recipe.Context, embedding_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(3.0), RATE)
    teacher = _teacher_copy(ctx, tmp_path / "alone", None)
    with pytest.raises(ValueError, match=r"is a teacher.*embedding_model_path.*--embedding-model PATH.*student "
                                         r"checkpoint") as info:
        predict.predict_files(teacher, [wav], tmp_path / "d.tsv", progress=False)
    assert "next to this run" not in str(info.value)
    assert cli.main(["predict", "--checkpoint", str(teacher), str(wav), "--out", str(tmp_path / "d.tsv")]) == 2
    assert "--embedding-model" in capsys.readouterr().err and not (tmp_path / "d.tsv").exists()
    # in a work folder's layout the message points at the embedding model next to the run
    work = tmp_path / "work"
    in_layout = _teacher_copy(ctx, work / "runs" / "teacher-seed0", None)
    (work / "embedding").mkdir()
    shutil.copy2(embedding_ckpt, work / "embedding" / "final.pt")
    with pytest.raises(ValueError, match=r"next to this run that is .*work/embedding/final\.pt"):
        predict.predict_files(in_layout, [wav], tmp_path / "d.tsv", progress=False)


def test_scores_for_student_and_teacher_and_the_old_option_name(
    ctx: recipe.Context, student: Path, embedding_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "one.wav", noise(4.0), RATE)
    sf.write(folder / "two.flac", noise(14.0, 32_000), 32_000)
    teacher = _teacher_copy(ctx, tmp_path / "t", str(embedding_ckpt.resolve()))
    for name, ckpt in (("student", student), ("teacher", teacher)):
        code = cli.main(["predict", "--checkpoint", str(ckpt), str(folder), "--out", str(tmp_path / f"{name}.tsv"),
                         "--scores", str(tmp_path / f"{name}_scores")])
        assert code == 0, capsys.readouterr().err
        files = sorted(p.name for p in (tmp_path / f"{name}_scores").iterdir())
        assert files == ["one.tsv", "two.tsv"]
        assert score_offsets(tmp_path / f"{name}_scores" / "two.tsv")[-1] == pytest.approx(14.0)
        assert score_offsets(tmp_path / f"{name}_scores" / "one.tsv")[-1] == pytest.approx(4.0)
    code = cli.main(["predict", "--checkpoint", str(student), str(folder), "--out", str(tmp_path / "old.tsv"),
                     "--scores-out", str(tmp_path / "old_scores")])
    assert code == 0
    assert "--scores-out is deprecated" in capsys.readouterr().err
    assert (tmp_path / "old_scores" / "one.tsv").is_file()
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    help_text = capsys.readouterr().out
    assert "--scores " in help_text and "--strict" in help_text and "--scores-out" not in help_text


def test_teacher_trained_by_the_pipeline_records_its_embedding_model(ctx: recipe.Context) -> None:
    recorded = predict.embedding_model_path(ctx.teacher_path())
    assert recorded is not None and recorded.resolve() == (ctx.work_dir / "embedding" / "final.pt").resolve()

