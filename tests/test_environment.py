"""pyproject.toml, requirements.lock and environment.yml agree, and the venv is the lock.

conda cannot be solved on the CI machine (no conda channels), so environment.yml is
checked for what it installs: Python within the lock's range, then the lock, then the
project. The lock is checked against pyproject's ranges (every direct dependency pinned
exactly, inside its range, for every Python the lock covers), and the installed venv
against the lock (`dualkd doctor --lock-only` runs the same check in `make venv`).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from dualkd_lib.teaching import doctor

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def _deps() -> list[Requirement]:
    return [Requirement(d) for d in _pyproject()["project"]["dependencies"]]


def _env_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_lock_pins_every_direct_dependency_inside_its_range() -> None:
    pins = doctor.read_lock(LOCK)
    for req in _deps():
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is in pyproject.toml but not in the lock: run `make lock`"
        for version, _marker in pins[name]:
            assert version in req.specifier, f"lock has {name}=={version}, outside pyproject's {req.specifier}: run `make lock`"


def test_lock_is_universal_and_exact() -> None:
    text = LOCK.read_text()
    markers = [m for entries in doctor.read_lock(LOCK).values() for _, m in entries if m]
    # resolved for Linux, macOS and Windows: platform-specific packages carry markers
    assert any("sys_platform == 'darwin'" in m for m in markers)
    assert any("sys_platform == 'win32'" in m for m in markers)
    assert any("sys_platform == 'linux'" in m for m in markers)
    assert "make lock" in text.splitlines()[1]
    for marker in markers:
        Marker(marker)  # every marker parses
    # one version per package for any one environment: markers of repeated names exclude each other
    envs = [dict(python_full_version=v, python_version=v.rsplit(".", 1)[0], sys_platform=p, platform_system=s,
                 platform_machine=m, os_name="nt" if p == "win32" else "posix", implementation_name="cpython",
                 platform_python_implementation="CPython")
            for v in ("3.10.12", "3.11.7", "3.12.3", "3.13.1")
            for p, s, m in (("linux", "Linux", "x86_64"), ("linux", "Linux", "aarch64"),
                            ("darwin", "Darwin", "arm64"), ("win32", "Windows", "AMD64"))]
    for name, entries in doctor.read_lock(LOCK).items():
        for env in envs:
            hits = [v for v, m in entries if not m or Marker(m).evaluate(env)]
            assert len(hits) <= 1, f"{name}: {hits} both apply to {env}"
    for req in _deps():  # every direct dependency exists for every environment
        entries = doctor.read_lock(LOCK)[re.sub(r"[-_.]+", "-", req.name).lower()]
        for env in envs:
            assert any(not m or Marker(m).evaluate(env) for _, m in entries), f"{req.name} missing for {env}"


def test_torch_and_torchaudio_are_an_exact_pair_everywhere() -> None:
    deps = {r.name: str(r.specifier) for r in _deps()}
    assert deps["torch"].startswith("==") and deps["torchaudio"].startswith("==")
    assert deps["torch"] == deps["torchaudio"], "torch and torchaudio must be the same exact release"
    pins = doctor.read_lock(LOCK)
    assert [v for v, _ in pins["torch"]] == [deps["torch"][2:]]
    assert [v for v, _ in pins["torchaudio"]] == [deps["torchaudio"][2:]]
    for pin in ("sed-scores-eval", "pandas", "setuptools"):
        assert pin in pins
    assert all(int(v.split(".")[0]) < 3 for v, _ in pins["pandas"])
    assert all(int(v.split(".")[0]) < 81 for v, _ in pins["setuptools"])


def test_environment_yml_installs_the_lock_then_the_project() -> None:
    env = _env_yml()
    assert env["name"] == "dualkd-sed"
    pip_blocks = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_blocks == [["-r requirements.lock", "-e ."]]
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert len(pythons) == 1
    version = pythons[0].split("=", 1)[1]
    assert f"{version}.0" in SpecifierSet(_pyproject()["project"]["requires-python"])
    # the lock covers that Python: numpy (split by Python version) has an entry for it
    env_markers = {"python_full_version": f"{version}.0", "python_version": version}
    assert any(not m or Marker(m).evaluate(env_markers) for _, m in doctor.read_lock(LOCK)["numpy"])


def test_makefile_installs_from_the_lock_without_resolving_again() -> None:
    make = (ROOT / "Makefile").read_text()
    assert "-r $(LOCK)" in make and "--no-deps" in make and "pip check" in make
    assert re.search(r"^lock:", make, re.M)


def test_read_lock_rejects_a_range(tmp_path: Path) -> None:
    bad = tmp_path / "requirements.lock"
    bad.write_text("torch>=2.11\n")
    with pytest.raises(ValueError, match="exact pin"):
        doctor.read_lock(bad)


def test_installed_versions_equal_the_lock() -> None:
    drift = doctor.lock_drift(LOCK)
    assert drift == [], f"the venv differs from requirements.lock: {drift}; run `{doctor.FIX_COMMAND}`"


def test_lock_drift_names_a_wrong_version(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lines = [f"{d.metadata['Name']}=={d.version}" for d in doctor.installed_distributions()
             if d.metadata["Name"] not in doctor.NOT_LOCKED]
    lines = [ln for ln in lines if not ln.lower().startswith(("torch==", "dualkd"))] + ["torch==0.0.1", "nonexistent-pkg==1.0"]
    lock.write_text("\n".join(lines) + "\n")
    drift = doctor.lock_drift(lock)
    assert any(d.startswith("torch: installed 2.11.0, locked 0.0.1") for d in drift), drift
    assert "nonexistent-pkg: locked at 1.0, not installed" in drift
