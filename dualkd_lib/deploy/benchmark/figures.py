"""Figures of the benchmark: the latency spread and PSDS against cost.

Taught in notebook 09.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def spread_ties(values: Sequence[float], step: float = 1.1) -> list[float]:
    """Equal values moved apart by factors of ``step`` around their value (for a log axis).

    ``[5, 5, 5, 9]`` -> ``[5/1.1, 5, 5*1.1, 9]``: a column of equal costs becomes a short row,
    in the order given, centred on the true value. Taught in notebook 09.
    """
    original = [float(v) for v in values]
    out = list(original)
    for value in set(original):
        where = [i for i, v in enumerate(original) if v == value]
        for k, i in enumerate(where):
            out[i] = value * step ** (k - (len(where) - 1) / 2)
    return out


def _labelled_log_x(ax: Any, *, plain_numbers: bool) -> None:
    """A logarithmic x axis with labelled ticks at 1, 2 and 5 of every decade.

    A range narrower than a decade (latencies, often) would otherwise have no labelled tick.
    ``plain_numbers``: ``2``, ``5``, ``10`` (milliseconds); else ``200k``, ``2M`` (counts).
    """
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}") if plain_numbers else EngFormatter(sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_latency_spread(runs: Any) -> Any:
    """Every timed run of every (runtime, model): one row per model, one colour per runtime.

    ``runs``: a DataFrame (or list of dicts) with ``runtime``, ``model`` and ``ms`` (one
    timed call each, e.g. from :func:`time_calls`). Each run is a dot, the median a bar, on a
    logarithmic axis of milliseconds per 10-s clip, so the spread of a fast model stays
    visible next to a slow one. Returns the matplotlib figure. Taught in notebook 09.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = runs if isinstance(runs, pd.DataFrame) else pd.DataFrame(list(runs))
    if len(frame) == 0 or not {"runtime", "model", "ms"} <= set(frame.columns):
        raise ValueError("runs must have the columns runtime, model and ms (one timed call per row).")
    groups = list(dict.fromkeys(zip(frame["runtime"], frame["model"])))
    runtimes = list(dict.fromkeys(frame["runtime"]))
    fig, ax = plt.subplots(figsize=(8.0, 0.55 * len(groups) + 1.4))
    rng = np.random.default_rng(0)  # vertical jitter only, so that equal times do not hide one another
    for row, (runtime, model) in enumerate(groups):
        ms = frame[(frame["runtime"] == runtime) & (frame["model"] == model)]["ms"].to_numpy(float)
        color = f"C{runtimes.index(runtime) % 10}"
        ax.scatter(ms, row + rng.uniform(-0.18, 0.18, len(ms)), s=14, color=color, alpha=0.7, linewidth=0)
        ax.plot([np.median(ms)] * 2, [row - 0.3, row + 0.3], color="k", lw=1.6)
    ax.set_yticks(range(len(groups)), [f"{model} ({runtime})" for runtime, model in groups], fontsize=8)
    ax.invert_yaxis()
    _labelled_log_x(ax, plain_numbers=True)
    lo, hi = float(frame["ms"].min()), float(frame["ms"].max())
    ax.set_xlim(lo / 1.3, hi * 1.3)
    ax.set_xlabel("ms per 10-s clip (batch 1, 1 thread; dots: runs, bar: median)")
    ax.grid(alpha=0.3, axis="x", which="both")
    ax.set_title("Latency of every timed run")
    fig.tight_layout()
    return fig


def plot_psds_vs_cost(rows: Sequence[dict], *, metrics: Sequence[str] = ("psds1", "psds2")) -> Any:
    """PSDS against parameters, MACs per clip and latency, one colour per model.

    ``rows``: dicts with ``name``, ``params``, ``macs``, ``ms_per_clip`` and the ``metrics``
    (e.g. the ``models`` of ``ablation.json`` plus measured latencies). Three panels with
    logarithmic cost axes, one marker per metric; a teacher (``"teacher"`` in its name) is
    grey. Models with the same cost (all students share one architecture) would hide one
    another in one column, so they are spread sideways by a few percent (:func:`spread_ties`).
    Returns the matplotlib figure. Taught in notebook 09.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if not rows:
        raise ValueError("rows is empty: give one dict per model with name, params, macs, ms_per_clip and PSDS.")
    for r in rows:
        missing = {"name", "params", "macs", "ms_per_clip", *metrics} - set(r)
        if missing:
            raise ValueError(f"row {r.get('name', r)!r} lacks {sorted(missing)}.")
    markers = ("o", "s", "^", "D")
    colors = ["0.45" if "teacher" in r["name"] else f"C{i % 10}" for i, r in enumerate(rows)]
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8), sharey=True)
    costs = (("params", "parameters"), ("macs", "MACs per 10-s clip"), ("ms_per_clip", "latency per 10-s clip, 1 thread [ms]"))
    top = max(max(float(r[m]) for r in rows for m in metrics), 0.05)
    for ax, (key, label) in zip(axes, costs):
        xs = spread_ties([float(r[key]) for r in rows])
        for r, x, color in zip(rows, xs, colors):
            for m, marker in zip(metrics, markers):
                ax.scatter(x, r[m], color=color, marker=marker, s=50, alpha=0.85, edgecolor="k", linewidth=0.4)
        tied = len(set(xs)) > len({float(r[key]) for r in rows})
        _labelled_log_x(ax, plain_numbers=key == "ms_per_clip")
        lo, hi = min(r[key] for r in rows), max(r[key] for r in rows)
        ax.set_xlim(lo / 1.6, hi * 1.6)
        ax.set_xlabel(label + ("\n(models of equal cost drawn side by side)" if tied else ""))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylim(-0.03 * top, 1.1 * top)
    axes[0].set_ylabel("PSDS")
    handles = [Line2D([], [], marker="o", ls="", color=c, markeredgecolor="k", label=r["name"])
               for r, c in zip(rows, colors)]
    handles += [Line2D([], [], marker=mk, ls="", color="w", markeredgecolor="k", label=m.upper())
                for m, mk in zip(metrics, markers)]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle("Detection quality against cost: up and to the left is better")
    fig.tight_layout()
    return fig
