"""The conda environment file and pyproject.toml pin the same stack.

conda cannot be solved on the CI machine (no conda channels), so we check that
environment.yml parses and that its pip list equals pyproject's dependencies.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_deps() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def _conda_pip_deps() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "dualkd-sed"
    pip_blocks = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_blocks) == 1, "environment.yml must have exactly one pip: block"
    return [p for p in pip_blocks[0] if p != "-e ."]


def test_environment_yml_pip_list_matches_pyproject() -> None:
    assert _conda_pip_deps() == _pyproject_deps()


def test_environment_yml_python_matches_requires_python() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python=3.11"]


def test_key_pins_present() -> None:
    deps = _pyproject_deps()
    for pin in ("torch==2.11.*", "torchaudio==2.11.*", "sed_scores_eval==0.0.4", "pandas>=2.0,<3", "setuptools<81"):
        assert pin in deps, f"{pin} missing from pyproject dependencies"


def test_installed_versions_match_pins() -> None:
    import pandas
    import sed_scores_eval  # noqa: F401
    import torch
    import torchaudio

    assert torch.__version__.startswith("2.11."), torch.__version__
    assert torchaudio.__version__.startswith("2.11."), torchaudio.__version__
    assert int(pandas.__version__.split(".")[0]) < 3
