"""Tests of dualkd_lib/predict/audio.py: any rate, channels and length (an hour in bounded blocks), short and truncated files, block-by-block resampling."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF
from scipy import signal

from dualkd_lib import predict
from recordings import RATE, noise, read_detections, score_offsets, wav_bytes


def test_a_long_stereo_44k_recording_runs_to_its_end(student: Path, tmp_path: Path) -> None:
    """The recording of tests/recipe/test_run_files.py, through a supervised student."""
    wav = tmp_path / "mine.wav"
    sf.write(wav, noise(23.0, 44_100, channels=2), 44_100)
    out = tmp_path / "det.tsv"
    result = predict.predict_files(student, [wav], out, scores_out=tmp_path / "scores", threshold=0.0,
                                   progress=False)
    det = read_detections(out)
    assert det["offset"].max() == pytest.approx(23.0, abs=1e-6)  # threshold 0: active to the very end
    assert result.scores_dir == tmp_path / "scores"
    offsets = score_offsets(tmp_path / "scores" / "mine.tsv")
    assert offsets[-1] == pytest.approx(23.0) and len(offsets) == int(np.ceil(23.0 / 0.128))
    with pytest.raises(FileExistsError):
        predict.predict_files(student, [wav], out, progress=False)


@pytest.mark.parametrize("rate,channels", [(8_000, 1), (22_050, 3), (22_254, 2), (48_000, 1)])
def test_any_sample_rate_and_channel_count(student: Path, tmp_path: Path, rate: int, channels: int) -> None:
    wav = tmp_path / f"r{rate}.wav"
    sf.write(wav, noise(11.5, rate, channels=channels), rate)
    out = tmp_path / "det.tsv"
    result = predict.predict_files(student, [wav], out, scores=tmp_path / "s", threshold=0.0, progress=False)
    assert result.ok
    assert read_detections(out)["offset"].max() == pytest.approx(11.5)
    assert score_offsets(tmp_path / "s" / f"r{rate}.tsv")[-1] == pytest.approx(11.5)


@pytest.mark.parametrize("seconds", [0.05, 3.3, 9.99, 10.0])
def test_a_file_shorter_than_a_window_is_padded_and_times_stay_within_it(
    student: Path, tmp_path: Path, seconds: float
) -> None:
    """A window's 78 frames cover 9.984 s: a 10-s clip ends there (as in evaluation), with no extra window."""
    wav = tmp_path / "short.wav"
    sf.write(wav, noise(seconds), RATE)
    predict.predict_files(student, [wav], tmp_path / "det.tsv", scores=tmp_path / "s", threshold=0.0,
                          progress=False)
    end = min(seconds, 78 * 0.128)
    det = read_detections(tmp_path / "det.tsv")
    assert det["offset"].max() == pytest.approx(end, abs=1e-3) and (det["onset"] >= 0).all()
    offsets = score_offsets(tmp_path / "s" / "short.tsv")
    assert offsets[-1] == pytest.approx(end) and len(offsets) == int(np.ceil(end / 0.128 - 1e-9))


def test_a_truncated_file_is_predicted_on_what_it_holds(student: Path, tmp_path: Path) -> None:
    wav = tmp_path / "cut.wav"
    full = wav_bytes(channels=1, n_frames=5 * RATE)
    wav.write_bytes(full[: len(full) // 2])  # the header promises 5 s, about half of it is there
    result = predict.predict_files(student, [wav], tmp_path / "det.tsv", scores=tmp_path / "s", threshold=0.0,
                                   progress=False)
    assert result.ok
    held = sf.info(str(wav)).duration
    assert 2.0 < held < 2.5
    assert score_offsets(tmp_path / "s" / "cut.tsv")[-1] == pytest.approx(held)


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
    det = read_detections(tmp_path / "det.tsv")
    assert det["offset"].max() == pytest.approx(3600.0) and (det["onset"] >= 0).all()
    offsets = score_offsets(tmp_path / "s" / "hour.tsv")
    assert offsets[-1] == pytest.approx(3600.0) and len(offsets) == int(np.ceil(3600 / 0.128))

