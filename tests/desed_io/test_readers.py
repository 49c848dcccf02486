"""Tests of dualkd_lib/desed_io/readers.py: strong, weak, detection and duration TSVs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dualkd_lib import desed_io as io
from dualkd_lib.constants import CLASSES

from desed_io_files import RESOURCES, write_text


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
