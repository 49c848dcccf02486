"""The ``dualkd`` console script: help, evaluate on the shipped real DESED detections, doctor, errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dualkd_lib import cli
from dualkd_lib.teaching import doctor
from evaluation_data import REFERENCE as EXPECTED
from evaluation_data import RES as REF



def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "dualkd_lib.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("make-data", "evaluate", "train-teacher", "train-student", "ablation", "predict", "export",
                    "benchmark", "prepare-desed", "course"):
        assert command in out


def _evaluate_reference(capsys: pytest.CaptureFixture, detections: str, *options: str) -> dict:
    """``dualkd evaluate --json`` of the reference detections ``detections`` on the DESED validation set."""
    code = cli.main(["evaluate", "--ground-truth", str(REF / "validation_groundtruth.tsv"),
                     "--durations", str(REF / "validation_metadata.tsv"),
                     "--detections", str(REF / detections), "--json", *options])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_operating_points_matches_psds_eval(capsys: pytest.CaptureFixture) -> None:
    result = _evaluate_reference(capsys, "baseline_2020_detections")
    assert result["psds1"] == pytest.approx(EXPECTED["psds"]["psds1"]["value"], abs=1e-3)
    assert result["psds2"] == pytest.approx(EXPECTED["psds"]["psds2"]["value"], abs=1e-3)


def test_evaluate_custom_scenario_dcase2020(capsys: pytest.CaptureFixture) -> None:
    result = _evaluate_reference(capsys, "baseline_2020_detections",
                                 "--dtc", "0.5", "--gtc", "0.5", "--cttc", "0.3", "--alpha-ct", "0", "--alpha-st", "0")
    assert result["psds"] == pytest.approx(EXPECTED["psds"]["dcase2020"]["value"], abs=1e-3)


def test_evaluate_single_tsv_gives_f1(capsys: pytest.CaptureFixture) -> None:
    result = _evaluate_reference(capsys, "baseline_2020_detections_at_0.5.tsv")
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


# -------------------------------------------------------------------- dualkd doctor
def test_cli_doctor_prints_the_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = cli.main(["doctor", "--preset", "tiny", "--data", str(tmp_path / "none")])
    out = capsys.readouterr().out
    assert code == 0, out
    for item in ("torch + torchaudio", "lock", "CPU threads (torch)", "data (tiny)", "cache (tiny)"):
        assert item in out
    assert "dualkd make-data --preset tiny" in out  # data missing: the command that makes it
    assert out.rstrip().endswith("0 problem(s): ready")


def test_cli_doctor_lock_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor", "--lock-only"]) == 0
    assert "every installed version equals" in capsys.readouterr().out


def test_cli_doctor_lock_only_fails_on_drift(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(doctor, "lock_drift", lambda lock=None: ["numpy: installed 9.9, locked 2.4.6"])
    assert cli.main(["doctor", "--lock-only"]) == 1
    err = capsys.readouterr().err
    assert "numpy: installed 9.9, locked 2.4.6" in err and doctor.FIX_COMMAND in err


def test_cli_commands_name_a_broken_pair_instead_of_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args):
        raise OSError("Could not load this library: /x/torchaudio/lib/libtorchaudio.so")

    monkeypatch.setattr(cli, "_dispatch", broken)
    monkeypatch.setattr(doctor, "check_torch_pair", lambda: doctor.TorchPair("2.11.0", "2.11.1", False, "PAIR MESSAGE"))
    assert cli.main(["make-data", "--out", "x"]) == 2
    assert "dualkd make-data: error: PAIR MESSAGE" in capsys.readouterr().err
