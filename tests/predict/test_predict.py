"""``dualkd predict`` on anyone's recordings: bad files skipped and reported, any rate, channels and length
(an hour in bounded windows), times within each file's duration, teacher and student side by side.

The checkpoints are the tiny preset's, built once for the module by the pipeline (as in
tests/recipe/test_pipeline.py): the embedding model, the teacher and a supervised student.
"""
from __future__ import annotations

import logging
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF
from scipy import signal

from dualkd_lib import cli, predict
from dualkd_lib import recipe
from dualkd_lib.constants import CLASSES
from dualkd_lib.features import FeatureConfig, LogMel, Scaler, n_output_frames

RATE = 16_000


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> recipe.Context:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    context = recipe.Context.create("tiny", data_root=root / "data", work_dir=root / "work", progress=False)
    context.teacher()  # pre-trains the embedding model first
    recipe.train_student(context, "supervised", seed=0)
    return context


@pytest.fixture(scope="module")
def student(ctx: recipe.Context) -> Path:
    return recipe.student_run_dir(ctx, "supervised", 0) / "final.pt"


@pytest.fixture(scope="module")
def embedding_ckpt(ctx: recipe.Context) -> Path:
    return ctx.work_dir / "embedding" / "final.pt"


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


def _noise(seconds: float, rate: int = RATE, channels: int = 1, seed: int = 0) -> np.ndarray:
    shape = (int(round(seconds * rate)), channels) if channels > 1 else (int(round(seconds * rate)),)
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def _wav_bytes(channels: int, rate: int = RATE, n_frames: int = 100) -> bytes:
    """A PCM-16 WAV built by hand, so the header can say things soundfile would refuse to write."""
    align = max(1, channels) * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, 16)
    data = b"\x00" * (n_frames * align)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _write_bad(folder: Path, kind: str) -> Path:
    """One unreadable file of ``kind``; returns its path."""
    path = folder / f"{kind}.wav"
    if kind == "nan":
        x = _noise(2.0)
        x[RATE + 5] = np.nan
        sf.write(path, x, RATE, subtype="FLOAT")
    elif kind == "inf":
        x = _noise(2.0)
        x[3] = np.inf
        sf.write(path, x, RATE, subtype="FLOAT")
    elif kind == "empty":  # a valid WAV header with no samples
        sf.write(path, np.zeros((0, 1), dtype="float32"), RATE)
    elif kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are my field notes, not audio\n")
    elif kind == "zero_channels":
        path.write_bytes(_wav_bytes(channels=0))
    elif kind == "corrupt":  # a RIFF/WAVE start, then garbage
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


BAD_KINDS = {  # kind -> words the reason must contain
    "nan": "NaN samples (the first at 1.000 s)",
    "inf": "infinite samples (the first at 0.000 s)",
    "empty": "no samples",
    "zero_bytes": "empty file (0 bytes)",
    "text": "not a WAV file",
    "zero_channels": "0 channels",
    "corrupt": "corrupt or unsupported audio",
}


def _detections(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t")
    assert list(df.columns) == ["event_label", "onset", "offset", "filename"]
    return df


def _score_offsets(path: Path) -> np.ndarray:
    df = pd.read_csv(path, sep="\t")
    assert list(df.columns[:2]) == ["onset", "offset"] and list(df.columns[2:]) == list(CLASSES)
    return df["offset"].to_numpy()


# --------------------------------------------------------------------------- skip and report
def test_a_folder_of_good_and_bad_files_skips_and_reports_the_bad_ones(
    student: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    sf.write(folder / "good_a.wav", _noise(12.0), RATE)
    sf.write(folder / "good_b.wav", _noise(4.0, 44_100, channels=2), 44_100)
    bad = {kind: _write_bad(folder, kind) for kind in BAD_KINDS}
    out = tmp_path / "det.tsv"
    with caplog.at_level(logging.WARNING, logger="dualkd_lib.predict"):
        result = predict.predict_files(student, [folder], out, threshold=0.0, progress=False)

    assert [p.name for p in result.processed] == ["good_a.wav", "good_b.wav"]
    reasons = {s.path.name: s.reason for s in result.skipped}
    assert set(reasons) == {p.name for p in bad.values()}
    for kind, words in BAD_KINDS.items():
        assert words in reasons[f"{kind}.wav"], (kind, reasons[f"{kind}.wav"])
        assert any(f"{kind}.wav" in r.getMessage() and words in r.getMessage() for r in caplog.records), kind
    assert not result.ok and result.exit_code == predict.SKIPPED_EXIT_CODE == 3
    summary = result.summary()
    assert summary.startswith(f"processed 2 files, skipped {len(BAD_KINDS)}: ")
    assert "text.wav (not a WAV file: it starts with 'these ar'" in summary
    det = _detections(out)
    assert set(det["filename"]) == {"good_a.wav", "good_b.wav"}
    assert result.n_detections == len(det) > 0


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_each_unreadable_file_is_named_with_its_reason(student: Path, tmp_path: Path, kind: str) -> None:
    path = _write_bad(tmp_path, kind)
    out = tmp_path / "det.tsv"
    result = predict.predict_files(student, [path], out, progress=False)
    assert result.processed == [] and [s.path for s in result.skipped] == [path]
    assert BAD_KINDS[kind] in result.skipped[0].reason
    assert "load_split" not in result.skipped[0].reason  # the training loader's advice does not belong here
    assert _detections(out).empty  # a header-only table: scripts always find the file


def test_strict_stops_at_the_first_bad_file_and_writes_nothing(student: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "a_good.wav", _noise(3.0), RATE)
    _write_bad(folder, "nan")
    _write_bad(folder, "text")
    out = tmp_path / "det.tsv"
    with pytest.raises(ValueError, match=r"nan\.wav: NaN samples .*without\s+--strict") as info:
        predict.predict_files(student, [folder], out, strict=True, progress=False)
    assert "load_split" not in str(info.value)
    assert not out.exists()


def test_cli_exit_code_is_3_when_files_were_skipped_0_when_not_2_with_strict(
    student: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, _noise(3.0), RATE)
    bad = _write_bad(tmp_path, "zero_bytes")
    args = ["predict", "--checkpoint", str(student)]
    assert cli.main([*args, str(good), "--out", str(tmp_path / "ok.tsv")]) == 0
    assert "processed 1 file;" in capsys.readouterr().out

    assert cli.main([*args, str(good), str(bad), "--out", str(tmp_path / "some.tsv")]) == 3
    captured = capsys.readouterr()
    assert "processed 1 file, skipped 1: " in captured.out and "zero_bytes.wav (empty file (0 bytes))" in captured.out
    assert set(_detections(tmp_path / "some.tsv")["filename"]) <= {"good.wav"}

    assert cli.main([*args, str(good), str(bad), "--out", str(tmp_path / "strict.tsv"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "zero_bytes.wav: empty file (0 bytes)" in err and "--strict" in err
    assert not (tmp_path / "strict.tsv").exists()


def test_same_file_name_in_two_folders_is_skipped_not_overwritten(student: Path, tmp_path: Path) -> None:
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        sf.write(tmp_path / day / "ZOOM0001.WAV", _noise(2.0, seed=len(day)), RATE)
    result = predict.predict_files(student, [tmp_path / "day1", tmp_path / "day2"], tmp_path / "det.tsv",
                                   scores=tmp_path / "scores", progress=False)
    assert [p.parent.name for p in result.processed] == ["day1"]
    assert "same file name as" in result.skipped[0].reason
    with pytest.raises(ValueError, match="same name as"):
        predict.predict_files(student, [tmp_path / "day1", tmp_path / "day2"], tmp_path / "d2.tsv", strict=True,
                              progress=False)


def test_inputs_hidden_files_duplicates_and_outputs_are_checked_up_front(student: Path, tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    folder.mkdir()
    sf.write(folder / "a.wav", _noise(2.0), RATE)
    (folder / "._a.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata, not audio
    (folder / "notes.txt").write_text("not collected")
    assert predict.collect_audio_files([folder, folder / "a.wav"]) == [folder / "a.wav"]
    with pytest.raises(FileNotFoundError, match="nope.wav does not exist"):
        predict.collect_audio_files([tmp_path / "nope.wav"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no .wav or .flac files"):
        predict.collect_audio_files([tmp_path / "empty"])

    out = tmp_path / "det.tsv"
    out.write_text("old detections\n")
    with pytest.raises(FileExistsError, match="never overwritten"):
        predict.predict_files(student, [folder], out, progress=False)
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / "keep.tsv").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        predict.predict_files(student, [folder], tmp_path / "new.tsv", scores=scores, progress=False)
    assert out.read_text() == "old detections\n" and not (tmp_path / "new.tsv").exists()


def test_a_checkpoint_without_its_inference_bundle_or_of_another_kind_is_refused(
    student: Path, embedding_ckpt: Path, tmp_path: Path
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, _noise(2.0), RATE)
    lone = tmp_path / "lone" / "final.pt"
    lone.parent.mkdir()
    shutil.copy2(student, lone)
    with pytest.raises(FileNotFoundError, match=r"inference\.pt is missing.*Copy inference\.pt"):
        predict.predict_files(lone, [wav], tmp_path / "d.tsv", progress=False)
    with pytest.raises(ValueError, match="holds an embedding model; `dualkd predict` runs a student"):
        predict.predict_files(embedding_ckpt, [wav], tmp_path / "d.tsv", progress=False)


# --------------------------------------------------------------------------- robust reading
def test_a_long_stereo_44k_recording_runs_to_its_end(student: Path, tmp_path: Path) -> None:
    """The case of the old test in tests/recipe/test_pipeline.py, against the new module."""
    wav = tmp_path / "mine.wav"
    sf.write(wav, _noise(23.0, 44_100, channels=2), 44_100)
    out = tmp_path / "det.tsv"
    result = predict.predict_files(student, [wav], out, scores_out=tmp_path / "scores", threshold=0.0,
                                   progress=False)
    det = _detections(out)
    assert det["offset"].max() == pytest.approx(23.0, abs=1e-6)  # threshold 0: active to the very end
    assert result.scores_dir == tmp_path / "scores"
    offsets = _score_offsets(tmp_path / "scores" / "mine.tsv")
    assert offsets[-1] == pytest.approx(23.0) and len(offsets) == int(np.ceil(23.0 / 0.128))
    with pytest.raises(FileExistsError):
        predict.predict_files(student, [wav], out, progress=False)


@pytest.mark.parametrize("rate,channels", [(8_000, 1), (22_050, 3), (22_254, 2), (48_000, 1)])
def test_any_sample_rate_and_channel_count(student: Path, tmp_path: Path, rate: int, channels: int) -> None:
    wav = tmp_path / f"r{rate}.wav"
    sf.write(wav, _noise(11.5, rate, channels=channels), rate)
    out = tmp_path / "det.tsv"
    result = predict.predict_files(student, [wav], out, scores=tmp_path / "s", threshold=0.0, progress=False)
    assert result.ok
    assert _detections(out)["offset"].max() == pytest.approx(11.5)
    assert _score_offsets(tmp_path / "s" / f"r{rate}.tsv")[-1] == pytest.approx(11.5)


@pytest.mark.parametrize("seconds", [0.05, 3.3, 9.99, 10.0])
def test_a_file_shorter_than_a_window_is_padded_and_times_stay_within_it(
    student: Path, tmp_path: Path, seconds: float
) -> None:
    """A window's 78 frames cover 9.984 s: a 10-s clip ends there (as in evaluation), with no extra window."""
    wav = tmp_path / "short.wav"
    sf.write(wav, _noise(seconds), RATE)
    predict.predict_files(student, [wav], tmp_path / "det.tsv", scores=tmp_path / "s", threshold=0.0,
                          progress=False)
    end = min(seconds, 78 * 0.128)
    det = _detections(tmp_path / "det.tsv")
    assert det["offset"].max() == pytest.approx(end, abs=1e-3) and (det["onset"] >= 0).all()
    offsets = _score_offsets(tmp_path / "s" / "short.tsv")
    assert offsets[-1] == pytest.approx(end) and len(offsets) == int(np.ceil(end / 0.128 - 1e-9))


def test_a_truncated_file_is_predicted_on_what_it_holds(student: Path, tmp_path: Path) -> None:
    wav = tmp_path / "cut.wav"
    full = _wav_bytes(channels=1, n_frames=5 * RATE)
    wav.write_bytes(full[: len(full) // 2])  # the header promises 5 s, about half of it is there
    result = predict.predict_files(student, [wav], tmp_path / "det.tsv", scores=tmp_path / "s", threshold=0.0,
                                   progress=False)
    assert result.ok
    held = sf.info(str(wav)).duration
    assert 2.0 < held < 2.5
    assert _score_offsets(tmp_path / "s" / "cut.tsv")[-1] == pytest.approx(held)


@pytest.mark.parametrize("rate", [44_100, 22_050, 8_000, 22_254, 16_000])
def test_block_by_block_resampling_equals_resampling_the_whole_signal(rate: int) -> None:
    x = np.random.default_rng(rate).standard_normal(rate * 5 + 77).astype(np.float32)
    resampler = predict.ChunkedResampler(rate, RATE, min_step=rate // 3)
    pieces = [resampler.feed(x[i : i + 12_345]) for i in range(0, len(x), 12_345)] + [resampler.flush()]
    y = np.concatenate(pieces)
    if resampler.method == "scipy":  # 22254 Hz: torchaudio's kernel would be 8000 x 11141 floats
        whole = signal.resample_poly(x, resampler.up, resampler.down, window=resampler._fir)
    else:
        whole = AF.resample(torch.from_numpy(x), rate, RATE).numpy()
    assert resampler.method == ("scipy" if rate == 22_254 else "torchaudio")
    assert y.shape == whole.shape
    np.testing.assert_allclose(y, whole, atol=2e-6)


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


def _write_hour(path: Path, rate: int) -> None:
    """One hour of quiet noise written a minute at a time (the test never holds the hour in memory)."""
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(60):
            f.write((0.05 * rng.standard_normal(60 * rate)).astype("float32"))


@pytest.mark.slow
def test_a_one_hour_file_runs_in_windows_and_stays_within_its_duration(student: Path, tmp_path: Path) -> None:
    wav = tmp_path / "hour.wav"
    _write_hour(wav, 8_000)
    result = predict.predict_files(student, [wav], tmp_path / "det.tsv", scores=tmp_path / "s", threshold=0.0,
                                   progress=False)
    assert result.ok and result.processed == [wav]
    det = _detections(tmp_path / "det.tsv")
    assert det["offset"].max() == pytest.approx(3600.0) and (det["onset"] >= 0).all()
    offsets = _score_offsets(tmp_path / "s" / "hour.tsv")
    assert offsets[-1] == pytest.approx(3600.0) and len(offsets) == int(np.ceil(3600 / 0.128))


# --------------------------------------------------------------------------- teacher and student
def test_teacher_with_its_embedding_model_recorded_in_the_checkpoint(
    ctx: recipe.Context, student: Path, embedding_ckpt: Path, tmp_path: Path
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, _noise(12.0, 44_100), 44_100)
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
    sf.write(wav, _noise(5.0), RATE)
    teacher = _teacher_copy(ctx, tmp_path / "t", None)
    code = cli.main(["predict", "--checkpoint", str(teacher), str(wav), "--out", str(tmp_path / "det.tsv"),
                     "--embedding-model", str(embedding_ckpt), "--scores", str(tmp_path / "scores")])
    assert code == 0, capsys.readouterr().err
    assert "processed 1 file;" in capsys.readouterr().out
    assert _score_offsets(tmp_path / "scores" / "a.tsv")[-1] == pytest.approx(5.0)
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
    sf.write(wav, _noise(3.0), RATE)
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
    sf.write(folder / "one.wav", _noise(4.0), RATE)
    sf.write(folder / "two.flac", _noise(14.0, 32_000), 32_000)
    teacher = _teacher_copy(ctx, tmp_path / "t", str(embedding_ckpt.resolve()))
    for name, ckpt in (("student", student), ("teacher", teacher)):
        code = cli.main(["predict", "--checkpoint", str(ckpt), str(folder), "--out", str(tmp_path / f"{name}.tsv"),
                         "--scores", str(tmp_path / f"{name}_scores")])
        assert code == 0, capsys.readouterr().err
        files = sorted(p.name for p in (tmp_path / f"{name}_scores").iterdir())
        assert files == ["one.tsv", "two.tsv"]
        assert _score_offsets(tmp_path / f"{name}_scores" / "two.tsv")[-1] == pytest.approx(14.0)
        assert _score_offsets(tmp_path / f"{name}_scores" / "one.tsv")[-1] == pytest.approx(4.0)
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
