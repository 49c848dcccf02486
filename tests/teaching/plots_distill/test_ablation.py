"""Tests of dualkd_lib/teaching/plots_distill/ablation.py: the ablation's bars, PSDS vs parameters, learning curves."""
from __future__ import annotations

import pandas as pd
import pytest

from dualkd_lib.teaching import plots_distill


SUMMARY = [
    {"name": "teacher (CRNN + embeddings)", "params": 1_150_000, "macs": 5e8, "psds1": 0.42, "psds1_std": 0.0,
     "psds2": 0.61, "psds2_std": 0.0},
    {"name": "student (supervised)", "params": 180_000, "macs": 9e7, "psds1": 0.30, "psds1_std": 0.02,
     "psds2": 0.50, "psds2_std": 0.03},
    {"name": "student (dual)", "params": 180_000, "macs": 9e7, "psds1": 0.35, "psds1_std": 0.01,
     "psds2": 0.56, "psds2_std": 0.02},
]


def test_mode_bars_with_error_bars_and_paper_lines() -> None:
    fig = plots_distill.plot_mode_bars(SUMMARY)
    ax1, ax2 = fig.axes
    assert [p.get_height() for p in ax1.patches] == pytest.approx([0.42, 0.30, 0.35])
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["teacher", "supervised", "dual"]
    assert [line.get_ydata()[0] for line in ax2.get_lines() if line.get_linestyle() in (":", "--")] == [0.562, 0.698]
    assert len(ax1.collections) == 1  # the error bars
    fig = plots_distill.plot_mode_bars(pd.DataFrame(SUMMARY), metrics=("psds1",), paper=False)
    assert len(fig.axes) == 1 and not fig.legends
    with pytest.raises(ValueError, match="no metric 'f1_collar'"):
        plots_distill.plot_mode_bars(SUMMARY, metrics=("f1_collar",))
    with pytest.raises(ValueError, match="name"):
        plots_distill.plot_mode_bars([])


def test_psds_vs_params_one_point_per_model() -> None:
    fig = plots_distill.plot_psds_vs_params(SUMMARY, metric="psds2")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.containers) == 3
    with pytest.raises(ValueError, match="params"):
        plots_distill.plot_psds_vs_params([{"name": "a", "psds1": 0.1}])


def test_learning_curves_one_line_per_run_with_a_record() -> None:
    curve = [{"epoch": e, "step": 10 * (e + 1), "psds1": 0.1 * e, "psds2": 0.2 * e} for e in range(3)]
    fig = plots_distill.plot_learning_curves({"supervised": curve, "dual": curve[:2], "old run": []})
    assert len(fig.axes) == 2 and [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == pytest.approx([0.0, 0.2, 0.4])
    with pytest.raises(ValueError, match="recorded a validation curve"):
        plots_distill.plot_learning_curves({"old run": []})
