"""Tests of dualkd_lib/desed_io/writers.py: the TSV writers, read back."""
from __future__ import annotations

import pandas as pd
import pytest

from dualkd_lib import desed_io as io

from desed_io_files import RESOURCES


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
