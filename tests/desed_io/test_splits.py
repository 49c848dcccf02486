"""Tests of dualkd_lib/desed_io/splits.py: split checks and loading."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dualkd_lib import desed_io as io
from dualkd_lib.layout import SPLITS, split_paths

from desed_io_files import write_text, write_wav


def make_split(root: Path, split: str, wavs: list[str], tsv_lines: list[str] | None, durations: list[str] | None = None):
    audio_dir, labels, dur = split_paths(root, split)
    for name in wavs:
        write_wav(audio_dir / name, seconds=0.1)
    audio_dir.mkdir(parents=True, exist_ok=True)
    if tsv_lines is not None:
        labels.parent.mkdir(parents=True, exist_ok=True)
        write_text(labels, tsv_lines)
    if durations is not None:
        dur.parent.mkdir(parents=True, exist_ok=True)
        write_text(dur, durations)


def test_check_split_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        io.check_split(tmp_path / "nowhere", "strong")
    msg = str(err.value)
    assert "nowhere" in msg and "dualkd make-data --preset PRESET --out" in msg and "DESED root" in msg
    tmp_path.joinpath("audio").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        io.check_split(tmp_path, "weak")
    assert SPLITS["weak"].audio_dir in str(err.value)
    make_split(tmp_path, "weak", ["a.wav"], None)
    with pytest.raises(FileNotFoundError, match="weak.tsv"):
        io.check_split(tmp_path, "weak")
    with pytest.raises(ValueError, match="valid splits"):
        io.check_split(tmp_path, "train")


def test_check_and_load_strong_split(tmp_path, caplog):
    make_split(
        tmp_path,
        "validation",
        wavs=["a.wav", "b.wav", "c.wav", "stray.wav"],
        tsv_lines=[
            "filename\tonset\toffset\tevent_label",
            "a.wav\t0\t1\tDog",
            "b.wav\t\t\t",
            "gone.wav\t0\t2\tCat",
        ],
        durations=["filename\tduration", "a.wav\t10.0", "b.wav\t10.0", "c.wav\t9.5", "gone.wav\t10"],
    )
    report = io.check_split(tmp_path, "validation")
    assert report.wav_files == ("a.wav", "b.wav", "c.wav", "stray.wav")
    assert report.listed_files == ("a.wav", "b.wav", "c.wav", "gone.wav")
    assert report.missing_wavs == ("gone.wav",)
    assert report.unlisted_wavs == ("stray.wav",)
    assert report.missing_durations == ()
    assert not report.ok and "missing on disk: 1" in report.summary()

    with caplog.at_level(logging.WARNING, logger="dualkd_lib.desed_io"):
        data = io.load_split(tmp_path, "validation")
    assert "1 of 4 listed clips are missing" in caplog.text
    assert data.filenames == ["a.wav", "b.wav", "c.wav"]
    assert data.weak is None
    assert data.strong["filename"].tolist() == ["a.wav"]
    assert data.strong.attrs["empty_files"] == ["b.wav", "c.wav"]  # c.wav: only in durations
    assert data.durations["filename"].tolist() == ["a.wav", "b.wav", "c.wav"]
    assert all(p.is_file() for p in data.paths())


def test_load_weak_and_unlabeled_splits(tmp_path):
    make_split(tmp_path, "weak", ["a.wav", "b.wav"], ["filename\tevent_labels", "a.wav\tDog", "b.wav\tCat,Speech"])
    weak = io.load_split(tmp_path, "weak")
    assert weak.kind == "weak" and weak.strong is None and weak.durations is None
    assert weak.weak["event_labels"].tolist() == ["Dog", "Cat,Speech"]
    assert weak.report.ok

    make_split(tmp_path, "unlabeled", ["u2.wav", "u1.wav", ".hidden.wav"], None)
    (split_paths(tmp_path, "unlabeled")[0] / "notes.txt").write_text("x")
    unl = io.load_split(tmp_path, "unlabeled")
    assert unl.filenames == ["u1.wav", "u2.wav"]
    assert unl.strong is None and unl.weak is None and unl.report.ok


def test_missing_durations_file_is_a_warning(tmp_path, caplog):
    make_split(tmp_path, "evaluation", ["a.wav"], ["filename\tonset\toffset\tevent_label", "a.wav\t0\t0.1\tDog"])
    with caplog.at_level(logging.WARNING, logger="dualkd_lib.desed_io"):
        data = io.load_split(tmp_path, "evaluation")
    assert data.durations is None and "durations file" in caplog.text
    d = io.durations_from_wavs(data.audio_dir, data.filenames)
    assert d["duration"].tolist() == [pytest.approx(0.1)]


def test_bad_tsv_in_split_names_file(tmp_path):
    make_split(tmp_path, "strong", ["a.wav"], ["filename\tonset\toffset\tevent_label", "a.wav\t0\t1\tdog"])
    with pytest.raises(ValueError, match="soundscapes.tsv, line 2: unknown event label 'dog'"):
        io.check_split(tmp_path, "strong")
