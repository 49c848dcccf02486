"""Tests of dualkd_lib/teaching/plots_distill/histories.py: the paper's numbers, loss curves, KD distances, seeds."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dualkd_lib.teaching import plots_distill


def _history(n: int, *, kd: bool, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    rows = []
    for step in range(n):
        row = {"step": step, "loss": 2.0 / (step + 1), "sup": 1.0 / (step + 1), "cons": 0.01 * rng.random()}
        if kd:
            row.update(kd=0.1 / (step + 1), kd_student=0.2 / (step + 1) + 0.01 * rng.random(), kd_mean=0.15 / (step + 1))
        rows.append(row)
    return rows


def test_paper_numbers_are_the_published_ones() -> None:
    table = plots_distill.paper_table()
    assert table.loc["SE-CRNN-16 with DualKD", "psds1"] == 0.474
    assert table.loc["SE-CRNN-16 with DualKD", "psds2"] == 0.698
    assert table.loc["SE-CRNN-16 with DualKD", "f1_event"] == 0.556
    assert table.loc["DCASE 2023 baseline CRNN", ["psds1", "psds2"]].tolist() == [0.359, 0.562]
    assert "2402.02781" in plots_distill.PAPER_SOURCE


def test_moving_average() -> None:
    out = plots_distill.moving_average([1.0, 3.0, np.nan, 5.0], 2)
    assert out.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert plots_distill.moving_average([4.0, 2.0], 1).tolist() == [4.0, 2.0]
    with pytest.raises(ValueError, match="window"):
        plots_distill.moving_average([1.0], 0)


def test_loss_curves_one_panel_per_term_and_runs_without_a_term_left_out() -> None:
    histories = {"supervised": _history(12, kd=False), "kd": pd.DataFrame(_history(12, kd=True, seed=1))}
    fig = plots_distill.plot_loss_curves(histories, keys=("sup", "kd"), window=3, title="t")
    assert isinstance(fig, Figure)
    sup_ax, kd_ax = fig.axes
    assert len(sup_ax.get_lines()) == 2 and len(kd_ax.get_lines()) == 1
    assert sup_ax.get_legend() is not None  # the legend sits on the panel that has every run
    with pytest.raises(ValueError, match="No run has the loss term 'emb'"):
        plots_distill.plot_loss_curves(histories, keys=("emb",))
    with pytest.raises(ValueError, match="empty"):
        plots_distill.plot_loss_curves({"x": []})


def test_kd_distances_two_lines_per_run_and_needs_teacher_runs() -> None:
    fig = plots_distill.plot_kd_distances({"kd": _history(8, kd=True), "takd": _history(8, kd=True, seed=2),
                                           "supervised": _history(8, kd=False)})
    assert len(fig.axes[0].get_lines()) == 4
    with pytest.raises(ValueError, match="kd_student"):
        plots_distill.plot_kd_distances({"supervised": _history(5, kd=False)})


def test_plot_over_seeds_draws_the_mean_and_the_seed_range() -> None:
    seeds = [{"step": [10, 20, 30], "kd_mean": [1.0, 0.5, 0.2 + 0.1 * s]} for s in range(3)]
    fig = plots_distill.plot_over_seeds({"takd": seeds, "kd": seeds[:1]}, ("kd_mean",), ylabel="KD", title="t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["takd (3 seeds)", "kd (1 seeds)"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 0.5, 0.3])
    assert len(ax.collections) == 1  # one band: the run with three seeds
    plt.close(fig)
    bad = [{"step": [10, 20], "kd_mean": [1, 2]}, {"step": [10, 30], "kd_mean": [1, 2]}]
    with pytest.raises(ValueError, match="different steps"):
        plots_distill.plot_over_seeds({"x": bad}, ("kd_mean",), ylabel="KD", title="t")
    with pytest.raises(ValueError, match="no curves"):
        plots_distill.plot_over_seeds({}, ("kd_mean",), ylabel="KD", title="t")
