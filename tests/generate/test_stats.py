"""Tests of dualkd_lib/generate/stats.py: the statistics of real DESED."""
from __future__ import annotations

import pytest

from dualkd_lib import generate as gen
from dualkd_lib.constants import CLASSES


def test_real_desed_statistics_are_read() -> None:
    real = gen.load_real_desed_validation()
    assert real["filename"].nunique() == 1168
    st = gen.event_statistics(real)
    assert list(st.index) == list(CLASSES)
    assert st.loc["Dishes", "median_s"] == pytest.approx(0.382, abs=0.01)
    assert st.loc["Vacuum_cleaner", "median_s"] == pytest.approx(10.0)
    assert st["n_events"].idxmax() == "Speech"
