"""Tests of dualkd_lib/teaching/doctor.py: the set-up check names a broken torch/torchaudio pair and lock drift;
the environment report (with the method diagram the notebooks draw beside it)."""
from __future__ import annotations

import importlib
from pathlib import Path

import matplotlib
import pytest

from dualkd_lib.teaching import doctor, plots

matplotlib.use("Agg")


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


def test_environment_report_and_method_diagram() -> None:
    rows = {r["item"]: r for r in doctor.report("tiny")}
    assert rows["torch + torchaudio"]["value"].startswith("2.11") and rows["torch + torchaudio"]["status"] == "ok"
    assert {"python", "lock", "sed_scores_eval", "GPU (CUDA)", "CPU threads (torch)", "data (tiny)", "cache (tiny)"} <= set(rows)
    fig = plots.draw_method_diagram()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for word in ("teacher", "mean student", "embedding distillation", "L_{TAKD}", "L_{EEFD}"):
        assert word in texts
    import matplotlib.pyplot as plt

    plt.close(fig)
