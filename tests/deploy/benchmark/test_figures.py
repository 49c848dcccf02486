"""Tests of dualkd_lib/deploy/benchmark/figures.py: the benchmark's figures."""
from __future__ import annotations

import pytest

from dualkd_lib.deploy import benchmark


def test_spread_ties_moves_equal_costs_apart_around_their_value() -> None:
    spread = benchmark.spread_ties([5.0, 5.0, 5.0, 9.0])
    assert spread == pytest.approx([5 / 1.1, 5.0, 5 * 1.1, 9.0])
    assert benchmark.spread_ties([1.0, 2.0]) == [1.0, 2.0]  # nothing tied: nothing moves


def test_psds_vs_cost_plot_shows_every_student_apart() -> None:
    import matplotlib

    matplotlib.use("Agg")
    rows = [{"name": "teacher", "params": 1e6, "macs": 5e8, "ms_per_clip": 16.0, "psds1": 0.4, "psds2": 0.6}]
    rows += [{"name": f"student ({m})", "params": 1.6e5, "macs": 4e7, "ms_per_clip": 6.0, "psds1": 0.4, "psds2": 0.6}
             for m in ("eefd", "dual")]
    fig = benchmark.plot_psds_vs_cost(rows)
    for ax in fig.axes[:3]:
        xs = sorted({tuple(c.get_offsets()[0])[0] for c in ax.collections})
        assert len(xs) == 3  # teacher and two students, none hidden behind another
    fig.canvas.draw()
    for ax in fig.axes[:3]:  # every cost axis has labelled ticks inside its range (6-16 ms is under a decade)
        lo, hi = ax.get_xlim()
        labels = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()]
        assert len(labels) >= 2, (ax.get_xlabel(), labels)
    with pytest.raises(ValueError, match="lacks"):
        benchmark.plot_psds_vs_cost([{"name": "x", "params": 1}])


def test_latency_spread_draws_every_run_with_a_labelled_axis() -> None:
    import matplotlib

    matplotlib.use("Agg")
    runs = [{"runtime": rt, "model": m, "ms": ms} for rt, m, base in
            (("ONNX Runtime", "student", 2.0), ("ONNX Runtime", "teacher", 14.0), ("eager PyTorch", "student", 6.0))
            for ms in (base, base * 1.1, base * 0.95)]
    fig = benchmark.plot_latency_spread(runs)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 9  # every run is a dot
    assert [t.get_text() for t in ax.get_yticklabels()] == ["student (ONNX Runtime)", "teacher (ONNX Runtime)",
                                                            "student (eager PyTorch)"]
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    assert len([t for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()]) >= 2
    assert "ms per 10-s clip" in ax.get_xlabel()
    with pytest.raises(ValueError, match="runtime, model and ms"):
        benchmark.plot_latency_spread([{"model": "x"}])
