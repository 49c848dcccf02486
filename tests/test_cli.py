"""The ``dualkd`` console script: help, evaluate on the shipped real DESED detections, errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dualkd_lib import cli

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "dualkd_lib" / "resources" / "desed_validation"
EXPECTED = json.loads((ROOT / "tests" / "data" / "psds_reference.json").read_text())


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "dualkd_lib.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("make-data", "evaluate", "train-teacher", "train-student", "ablation", "predict", "export",
                    "benchmark", "prepare-desed", "course"):
        assert command in out


def test_evaluate_operating_points_matches_psds_eval(capsys: pytest.CaptureFixture) -> None:
    code = cli.main(["evaluate", "--ground-truth", str(REF / "validation_groundtruth.tsv"),
                     "--durations", str(REF / "validation_metadata.tsv"),
                     "--detections", str(REF / "baseline_2020_detections"), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["psds1"] == pytest.approx(EXPECTED["psds"]["psds1"]["value"], abs=1e-3)
    assert result["psds2"] == pytest.approx(EXPECTED["psds"]["psds2"]["value"], abs=1e-3)


def test_evaluate_custom_scenario_dcase2020(capsys: pytest.CaptureFixture) -> None:
    code = cli.main(["evaluate", "--ground-truth", str(REF / "validation_groundtruth.tsv"),
                     "--durations", str(REF / "validation_metadata.tsv"),
                     "--detections", str(REF / "baseline_2020_detections"), "--json",
                     "--dtc", "0.5", "--gtc", "0.5", "--cttc", "0.3", "--alpha-ct", "0", "--alpha-st", "0"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["psds"] == pytest.approx(EXPECTED["psds"]["dcase2020"]["value"], abs=1e-3)


def test_evaluate_single_tsv_gives_f1(capsys: pytest.CaptureFixture) -> None:
    code = cli.main(["evaluate", "--ground-truth", str(REF / "validation_groundtruth.tsv"),
                     "--durations", str(REF / "validation_metadata.tsv"),
                     "--detections", str(REF / "baseline_2020_detections_at_0.5.tsv"), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"psds1", "psds2", "f1_collar", "f1_intersection"} <= set(result)


def test_evaluate_audio_dir_leaves_out_clips_not_on_disk(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import pandas as pd

    names = list(pd.read_csv(REF / "validation_metadata.tsv", sep="\t")["filename"])
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in names[10:]:  # a DESED copy missing its first ten clips
        (audio / name).write_bytes(b"")
    code = cli.main(["evaluate", "--ground-truth", str(REF / "validation_groundtruth.tsv"),
                     "--durations", str(REF / "validation_metadata.tsv"), "--audio-dir", str(audio),
                     "--detections", str(REF / "baseline_2020_detections_at_0.5.tsv"), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_files_left_out"] == 10 and result["n_files"] == len(names) - 10


def test_missing_ground_truth_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = cli.main(["evaluate", "--ground-truth", str(tmp_path / "nope.tsv"),
                     "--durations", str(REF / "validation_metadata.tsv"),
                     "--detections", str(REF / "baseline_2020_detections_at_0.5.tsv")])
    assert code == 2
    assert "nope.tsv" in capsys.readouterr().err


def test_unknown_preset_is_a_clear_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main(["make-data", "--preset", "huge", "--out", "x"])
    assert "invalid choice" in capsys.readouterr().err
