"""Fixtures of the tests of dualkd_lib/teaching/plots_distill/: the Agg backend, every figure closed after a test."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
