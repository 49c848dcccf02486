"""Tests of dualkd_lib/predict/inputs.py: hidden files, duplicates and outputs are checked before anything runs."""
from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from dualkd_lib import predict
from recordings import RATE, noise


def test_inputs_hidden_files_duplicates_and_outputs_are_checked_up_front(student: Path, tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    folder.mkdir()
    sf.write(folder / "a.wav", noise(2.0), RATE)
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

