"""Tests of dualkd_lib.desed_io: TSV readers/writers, WAV loading, split checks."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from dualkd_lib import desed_io as io
from dualkd_lib import layout
from dualkd_lib.constants import CLASSES
from dualkd_lib.layout import SPLITS, split_paths

RESOURCES = layout.resources_dir() / "desed_validation"


def write_text(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_wav(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = 0.1 * rng.standard_normal((int(round(seconds * sr)), channels)).astype(np.float32)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


# ---------------------------------------------------------------------------
# Strong labels
# ---------------------------------------------------------------------------
def test_read_strong_basic_and_empty_rows(tmp_path):
    path = write_text(
        tmp_path / "s.tsv",
        [
            "filename\tonset\toffset\tevent_label",
            "a.wav\t0.000\t1.500\tDog",
            "a.wav\t2.0\t3.25\tSpeech",
            "b.wav\t\t\t",
            "",  # blank line ignored
            "c.wav\t1\t10.2\tFrying",
        ],
    )
    df = io.read_strong_tsv(path)
    assert list(df.columns) == ["filename", "onset", "offset", "event_label"]
    assert df["onset"].dtype == np.float64 and df["offset"].dtype == np.float64
    assert len(df) == 3
    assert df.attrs["files"] == ["a.wav", "b.wav", "c.wav"]
    assert df.attrs["empty_files"] == ["b.wav"]
    assert io.files_in_tsv(path) == ["a.wav", "b.wav", "c.wav"]
    assert io.files_in_tsv(df) == ["a.wav", "b.wav", "c.wav"]
    assert df.loc[2, "offset"] == pytest.approx(10.2)  # past 10 s is allowed (real DESED has it)


def test_read_strong_any_column_order(tmp_path):
    path = write_text(
        tmp_path / "s.tsv", ["event_label\tfilename\toffset\tonset", "Cat\tx.wav\t2.0\t1.0"]
    )
    df = io.read_strong_tsv(path)
    assert df.iloc[0].tolist() == ["x.wav", 1.0, 2.0, "Cat"]


def test_unknown_label_names_label_line_and_valid_labels(tmp_path):
    path = write_text(
        tmp_path / "s.tsv",
        ["filename\tonset\toffset\tevent_label", "a.wav\t0\t1\tDog", "a.wav\t0\t1\tDogs"],
    )
    with pytest.raises(ValueError) as err:
        io.read_strong_tsv(path)
    msg = str(err.value)
    assert "'Dogs'" in msg and "line 3" in msg and str(path) in msg
    assert all(c in msg for c in CLASSES)
    assert "did you mean 'Dog'" in msg


def test_custom_classes_accept_other_labels(tmp_path):
    path = write_text(tmp_path / "s.tsv", ["filename\tonset\toffset\tevent_label", "a.wav\t0\t1\tBird"])
    assert io.read_strong_tsv(path, classes=("Bird",))["event_label"].tolist() == ["Bird"]


@pytest.mark.parametrize(
    "row, needle",
    [
        ("a.wav\t3.0\t1.0\tDog", "before onset"),
        ("a.wav\t-0.5\t1.0\tDog", "negative"),
        ("a.wav\tabc\t1.0\tDog", "'abc' is not a number"),
        ("a.wav\t0.0\tinf\tDog", "not a number"),
        ("a.wav\t0.0\t\tDog", "offset is empty"),
        ("\t0.0\t1.0\tDog", "filename is empty"),
        ("a.wav\t0\t1\tDog\textra", "5 tab-separated fields"),
    ],
)
def test_strong_bad_rows(tmp_path, row, needle):
    path = write_text(tmp_path / "s.tsv", ["filename\tonset\toffset\tevent_label", row])
    with pytest.raises(ValueError, match="line 2") as err:
        io.read_strong_tsv(path)
    assert needle in str(err.value)


def test_strong_missing_columns_and_space_hint(tmp_path):
    path = write_text(tmp_path / "s.tsv", ["filename\tonset\tevent_label", "a.wav\t0\tDog"])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['offset'\]") as err:
        io.read_strong_tsv(path)
    assert "filename <TAB> onset <TAB> offset <TAB> event_label" in str(err.value)
    spaced = write_text(tmp_path / "sp.tsv", ["filename onset offset event_label", "a.wav 0 1 Dog"])
    with pytest.raises(ValueError, match="spaces instead of tabs"):
        io.read_strong_tsv(spaced)


def test_missing_tsv_and_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        io.read_strong_tsv(tmp_path / "nope.tsv")
    (tmp_path / "e.tsv").write_text("")
    with pytest.raises(ValueError, match="header"):
        io.read_strong_tsv(tmp_path / "e.tsv")


def test_strong_from_dataframe_reports_row():
    df = pd.DataFrame(
        {"filename": ["a.wav", "b.wav"], "onset": [0.0, 2.0], "offset": [1.0, 1.0], "event_label": ["Dog", "Cat"]}
    )
    with pytest.raises(ValueError, match="DataFrame row 1: offset 1.000 s is before onset 2.000 s"):
        io.read_strong_tsv(df)
    df2 = pd.DataFrame(
        {"filename": ["a.wav", "b.wav"], "onset": [0.0, np.nan], "offset": [1.0, np.nan], "event_label": ["Dog", None]}
    )
    out = io.read_strong_tsv(df2)
    assert len(out) == 1 and out.attrs["empty_files"] == ["b.wav"]


def test_real_desed_validation_groundtruth():
    df = io.read_strong_tsv(RESOURCES / "validation_groundtruth.tsv")
    assert len(df.attrs["files"]) == 1168
    assert len(df.attrs["empty_files"]) == 15
    assert len(df) == 4230  # 4245 rows minus the 15 empty ones
    assert set(df["event_label"]) == set(CLASSES)
    assert (df["offset"] >= df["onset"]).all()
    durations = io.read_durations_tsv(RESOURCES / "validation_metadata.tsv")
    assert len(durations) == 1168
    assert set(durations["filename"]) == set(df.attrs["files"])
    assert durations["duration"].between(0, 10.0 + 1e-9).all()


def test_real_baseline_detections():
    det = io.read_detections_tsv(RESOURCES / "baseline_2020_detections_at_0.5.tsv")
    assert list(det.columns) == ["filename", "onset", "offset", "event_label"]
    assert len(det) == 3711
    one = sorted((RESOURCES / "baseline_2020_detections").glob("*.tsv"))[0]
    assert len(io.read_detections_tsv(one)) > 0


def test_detections_header_only(tmp_path):
    path = write_text(tmp_path / "d.tsv", ["event_label\tonset\toffset\tfilename"])
    det = io.read_detections_tsv(path)
    assert len(det) == 0 and list(det.columns) == ["filename", "onset", "offset", "event_label"]


# ---------------------------------------------------------------------------
# Weak labels and durations
# ---------------------------------------------------------------------------
def test_read_weak(tmp_path):
    path = write_text(
        tmp_path / "w.tsv",
        ["filename\tevent_labels", "a.wav\tSpeech,Dog", "b.wav\tCat, Cat", "c.wav\t"],
    )
    df = io.read_weak_tsv(path)
    assert df["event_labels"].tolist() == ["Dog,Speech", "Cat", ""]  # class order, no duplicates
    assert df.attrs["empty_files"] == ["c.wav"]


def test_weak_errors(tmp_path):
    bad = write_text(tmp_path / "w.tsv", ["filename\tevent_labels", "a.wav\tSpeech,Fridge"])
    with pytest.raises(ValueError, match="line 2: unknown event label 'Fridge'") as err:
        io.read_weak_tsv(bad)
    assert "Vacuum_cleaner" in str(err.value)
    dup = write_text(tmp_path / "d.tsv", ["filename\tevent_labels", "a.wav\tDog", "a.wav\tCat"])
    with pytest.raises(ValueError, match="appears twice"):
        io.read_weak_tsv(dup)
    cols = write_text(tmp_path / "c.tsv", ["filename\tlabels", "a.wav\tDog"])
    with pytest.raises(ValueError, match="event_labels"):
        io.read_weak_tsv(cols)


def test_duration_errors(tmp_path):
    neg = write_text(tmp_path / "d.tsv", ["filename\tduration", "a.wav\t0"])
    with pytest.raises(ValueError, match="not positive"):
        io.read_durations_tsv(neg)
    text = write_text(tmp_path / "t.tsv", ["filename\tduration", "a.wav\tten"])
    with pytest.raises(ValueError, match="'ten' is not a number"):
        io.read_durations_tsv(text)


# ---------------------------------------------------------------------------
# Writers: round trips
# ---------------------------------------------------------------------------
def test_strong_round_trip(tmp_path):
    src = io.read_strong_tsv(RESOURCES / "validation_groundtruth.tsv")
    out = io.write_strong_tsv(src, tmp_path / "sub" / "gt.tsv")
    back = io.read_strong_tsv(out)
    pd.testing.assert_frame_equal(back, src, check_exact=False, atol=5e-4)
    assert back.attrs["empty_files"] == src.attrs["empty_files"]
    assert set(back.attrs["files"]) == set(src.attrs["files"])
    first = out.read_text().splitlines()[:2]
    assert first[0] == "filename\tonset\toffset\tevent_label"
    assert first[1] == "Y00pbt6aJV8Y_350.000_360.000.wav\t0.000\t9.971\tVacuum_cleaner"


def test_strong_writer_rounds_and_refuses_bad_tables(tmp_path):
    df = pd.DataFrame({"filename": ["a.wav"], "onset": [0.12345], "offset": [1.0], "event_label": ["Dog"]})
    path = io.write_strong_tsv(df, tmp_path / "s.tsv", empty_files=["z.wav"])
    assert path.read_text().splitlines()[1:] == ["a.wav\t0.123\t1.000\tDog", "z.wav\t\t\t"]
    bad = df.assign(event_label=["Wolf"])
    with pytest.raises(ValueError, match="Wolf"):
        io.write_strong_tsv(bad, tmp_path / "bad.tsv")
    assert not (tmp_path / "bad.tsv").exists()


def test_weak_and_durations_round_trip(tmp_path):
    weak = pd.DataFrame({"filename": ["a.wav", "b.wav"], "event_labels": [["Speech", "Dog"], "Cat"]})
    back = io.read_weak_tsv(io.write_weak_tsv(weak, tmp_path / "w.tsv"))
    assert back["event_labels"].tolist() == ["Dog,Speech", "Cat"]
    again = io.read_weak_tsv(io.write_weak_tsv(back, tmp_path / "w2.tsv"))
    pd.testing.assert_frame_equal(again, back)

    durations = {"a.wav": 10.0, "b.wav": 9.3456}
    path = io.write_durations_tsv(durations, tmp_path / "d.tsv")
    assert path.read_text().splitlines() == ["filename\tduration", "a.wav\t10.000", "b.wav\t9.346"]
    back_d = io.read_durations_tsv(path)
    assert back_d["duration"].tolist() == [10.0, 9.346]
    pd.testing.assert_frame_equal(io.read_durations_tsv(io.write_durations_tsv(back_d, tmp_path / "d2.tsv")), back_d)


# ---------------------------------------------------------------------------
# WAV loading
# ---------------------------------------------------------------------------
def test_load_wav_mono_16k(tmp_path):
    path = write_wav(tmp_path / "a.wav", seconds=0.5)
    wave = io.load_wav(path)
    assert wave.dtype == torch.float32 and wave.shape == (8000,)
    assert wave.abs().max() <= 1.0


def test_load_wav_resamples_44k(tmp_path, caplog):
    path = write_wav(tmp_path / "a.wav", seconds=1.0, sr=44100)
    with caplog.at_level(logging.INFO, logger="dualkd_lib.desed_io"):
        io.audio._NOTED_RATES.clear()
        wave = io.load_wav(path)
        io.load_wav(path)
    assert wave.shape == (16000,)
    assert sum("Resampling" in r.message for r in caplog.records) == 1  # once per rate
    assert io.load_wav(path, target_sr=8000).shape == (8000,)


def test_load_wav_resample_keeps_a_tone(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    sf.write(str(tmp_path / "tone.wav"), (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), sr)
    wave = io.load_wav(tmp_path / "tone.wav").numpy()
    spectrum = np.abs(np.fft.rfft(wave))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # bin = Hz for a 1-s clip


def test_load_wav_stereo_to_mono(tmp_path):
    sr = 16000
    left = np.full(100, 0.5, dtype=np.float32)
    right = np.full(100, -0.25, dtype=np.float32)
    sf.write(str(tmp_path / "st.wav"), np.stack([left, right], axis=1), sr, subtype="FLOAT")
    mono = io.load_wav(tmp_path / "st.wav")
    assert mono.shape == (100,)
    assert torch.allclose(mono, torch.full((100,), 0.125))
    both = io.load_wav(tmp_path / "st.wav", mono=False)
    assert both.shape == (2, 100)


def test_load_wav_errors(tmp_path):
    folder = tmp_path / "audio" / "validation_16k"
    folder.mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        io.load_wav(folder / "missing.wav")
    assert "missing.wav" in str(err.value) and str(folder) in str(err.value)

    garbage = folder / "garbage.wav"
    garbage.write_bytes(b"this is not a wav file" * 10)
    with pytest.raises(ValueError, match="garbage.wav") as err:
        io.load_wav(garbage)
    assert isinstance(err.value.__cause__, sf.SoundFileError)

    empty = folder / "empty.wav"
    sf.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match=r"empty \(0 samples\)"):
        io.load_wav(empty)
    with pytest.raises(ValueError, match="target_sr"):
        io.load_wav(empty, target_sr=0)


def test_pad_or_trim():
    x = torch.arange(5.0)
    assert io.pad_or_trim(x, 5) is x
    assert io.pad_or_trim(x, 3).tolist() == [0.0, 1.0, 2.0]
    assert io.pad_or_trim(x, 7).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0]
    assert io.pad_or_trim(torch.ones(2, 4), 6).shape == (2, 6)
    with pytest.raises(ValueError, match="n_samples"):
        io.pad_or_trim(x, 0)


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------
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


def test_clip_writers_keep_the_clip_order_and_read_back(tmp_path):
    """The generator's writers: a clip without events keeps its empty row in place, weak labels are sorted."""
    events = pd.DataFrame({"onset": [0.5, 2.0], "offset": [1.25, 3.0], "event_label": ["Speech", "Dog"]})
    clips = [("a.wav", events), ("b.wav", events.iloc[:0]), ("c.wav", events.iloc[:1])]
    strong = io.write_clip_labels(tmp_path / "sub" / "strong.tsv", clips, kind="strong")
    assert strong.read_text().splitlines() == ["filename\tonset\toffset\tevent_label", "a.wav\t0.500\t1.250\tSpeech",
                                               "a.wav\t2.000\t3.000\tDog", "b.wav\t\t\t", "c.wav\t0.500\t1.250\tSpeech"]
    back = io.read_strong_tsv(strong)
    assert back.attrs["files"] == ["a.wav", "b.wav", "c.wav"] and back.attrs["empty_files"] == ["b.wav"]
    weak = io.read_weak_tsv(io.write_clip_labels(tmp_path / "weak.tsv", clips[::2], kind="weak"))
    assert weak["filename"].tolist() == ["a.wav", "c.wav"]
    durations = io.read_durations_tsv(io.write_clip_durations(tmp_path / "d.tsv", ["a.wav", "b.wav"], 10.0))
    assert durations["duration"].tolist() == [10.0, 10.0]
    with pytest.raises(ValueError, match="strong' or 'weak'"):
        io.write_clip_labels(tmp_path / "x.tsv", clips, kind="both")
