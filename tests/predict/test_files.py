"""Tests of dualkd_lib/predict/files.py (`dualkd predict`): bad files skipped and reported, strict mode, exit codes, no output overwritten."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import soundfile as sf

from dualkd_lib import cli, predict
from recordings import BAD_KINDS, RATE, noise, read_detections, write_bad


def test_a_folder_of_good_and_bad_files_skips_and_reports_the_bad_ones(
    student: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    sf.write(folder / "good_a.wav", noise(12.0), RATE)
    sf.write(folder / "good_b.wav", noise(4.0, 44_100, channels=2), 44_100)
    bad = {kind: write_bad(folder, kind) for kind in BAD_KINDS}
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
    det = read_detections(out)
    assert set(det["filename"]) == {"good_a.wav", "good_b.wav"}
    assert result.n_detections == len(det) > 0


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_each_unreadable_file_is_named_with_its_reason(student: Path, tmp_path: Path, kind: str) -> None:
    path = write_bad(tmp_path, kind)
    out = tmp_path / "det.tsv"
    result = predict.predict_files(student, [path], out, progress=False)
    assert result.processed == [] and [s.path for s in result.skipped] == [path]
    assert BAD_KINDS[kind] in result.skipped[0].reason
    assert "load_split" not in result.skipped[0].reason  # the training loader's advice does not belong here
    assert read_detections(out).empty  # a header-only table: scripts always find the file


def test_strict_stops_at_the_first_bad_file_and_writes_nothing(student: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "a_good.wav", noise(3.0), RATE)
    write_bad(folder, "nan")
    write_bad(folder, "text")
    out = tmp_path / "det.tsv"
    with pytest.raises(ValueError, match=r"nan\.wav: NaN samples .*without\s+--strict") as info:
        predict.predict_files(student, [folder], out, strict=True, progress=False)
    assert "load_split" not in str(info.value)
    assert not out.exists()


def test_cli_exit_code_is_3_when_files_were_skipped_0_when_not_2_with_strict(
    student: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, noise(3.0), RATE)
    bad = write_bad(tmp_path, "zero_bytes")
    args = ["predict", "--checkpoint", str(student)]
    assert cli.main([*args, str(good), "--out", str(tmp_path / "ok.tsv")]) == 0
    assert "processed 1 file;" in capsys.readouterr().out

    assert cli.main([*args, str(good), str(bad), "--out", str(tmp_path / "some.tsv")]) == 3
    captured = capsys.readouterr()
    assert "processed 1 file, skipped 1: " in captured.out and "zero_bytes.wav (empty file (0 bytes))" in captured.out
    assert set(read_detections(tmp_path / "some.tsv")["filename"]) <= {"good.wav"}

    assert cli.main([*args, str(good), str(bad), "--out", str(tmp_path / "strict.tsv"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "zero_bytes.wav: empty file (0 bytes)" in err and "--strict" in err
    assert not (tmp_path / "strict.tsv").exists()


def test_same_file_name_in_two_folders_is_skipped_not_overwritten(student: Path, tmp_path: Path) -> None:
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        sf.write(tmp_path / day / "ZOOM0001.WAV", noise(2.0, seed=len(day)), RATE)
    result = predict.predict_files(student, [tmp_path / "day1", tmp_path / "day2"], tmp_path / "det.tsv",
                                   scores=tmp_path / "scores", progress=False)
    assert [p.parent.name for p in result.processed] == ["day1"]
    assert "same file name as" in result.skipped[0].reason
    with pytest.raises(ValueError, match="same name as"):
        predict.predict_files(student, [tmp_path / "day1", tmp_path / "day2"], tmp_path / "d2.tsv", strict=True,
                              progress=False)

