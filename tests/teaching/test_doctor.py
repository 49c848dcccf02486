"""dualkd doctor: the set-up check names a broken torch/torchaudio pair and lock drift."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from dualkd_lib import cli
from dualkd_lib.teaching import doctor


def test_the_pair_loads_here() -> None:
    pair = doctor.check_torch_pair()
    assert pair.ok, pair.message
    assert pair.torch == pair.torchaudio == "2.11.0"


def test_a_mismatched_pair_names_both_versions_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def broken(name: str, *args, **kwargs):
        if name.startswith("torchaudio"):
            raise OSError("/x/libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(doctor.importlib, "import_module", broken)
    real_version = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda d: {"torch": "2.11.0", "torchaudio": "2.11.1"}.get(d) or real_version(d))
    pair = doctor.check_torch_pair()
    assert not pair.ok
    assert "torch 2.11.0 and torchaudio 2.11.1 do not load together" in pair.message
    assert "undefined symbol" in pair.message and doctor.FIX_COMMAND in pair.message
    assert "torch==2.11.0 torchaudio==2.11.0" in pair.message  # the exact pair from the lock
    rows = {r["item"]: r for r in doctor.report()}
    assert rows["torch + torchaudio"]["status"] == pair.message
    assert "torch + torchaudio" in [r["item"] for r in doctor.problems(list(rows.values()))]


def test_a_pair_that_loads_but_differs_from_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_version", lambda d: {"torch": "2.11.0", "torchaudio": "2.11.1"}[d])
    pair = doctor.check_torch_pair()
    assert not pair.ok and "the lock pins 2.11.0 + 2.11.0" in pair.message


def test_missing_torchaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_version", lambda d: {"torch": "2.11.0"}.get(d))
    pair = doctor.check_torch_pair()
    assert not pair.ok and pair.message.startswith("torchaudio not installed")


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


def test_lock_drift_ignores_setuptools_vendored_copies() -> None:
    """pkg_resources puts setuptools/_vendor on sys.path; its bundled dist-infos are not installed packages."""
    import importlib.metadata as md
    import sys

    import setuptools

    vendor = str(Path(setuptools.__file__).parent / "_vendor")
    sys.path.append(vendor)
    try:
        assert any("_vendor" in str(getattr(d, "_path", "")) for d in md.distributions())
        assert doctor.lock_drift() == []
    finally:
        sys.path.remove(vendor)
