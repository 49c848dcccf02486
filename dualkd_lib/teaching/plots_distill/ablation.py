"""The ablation in figures: modes with their seed spread, PSDS against size.

Taught in notebook 08.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dualkd_lib.teaching.plots_distill.histories import PAPER_RESULTS


# ----------------------------------------------------------------------------------------
# The ablation (notebook 08)
# ----------------------------------------------------------------------------------------
def plot_learning_curves(curves: Mapping[str, Sequence[Mapping[str, float]]],
                         metrics: Sequence[str] = ("psds1", "psds2")) -> plt.Figure:
    """Validation scores against the optimiser step, one line per run, one panel per metric.

    ``curves``: ``{run name: val_history}``, the per-epoch validation records a run keeps in
    its checkpoint (``train.load_checkpoint(path)["extra"]["val_history"]``). Runs without a
    record are left out; if none has one, ``ValueError``. Taught in notebook 08.
    """
    usable = {name: list(c) for name, c in curves.items() if c}
    if not usable:
        raise ValueError(f"None of the runs {list(curves)} recorded a validation curve; train them with "
                         "validate=True (or a preset with evaluation.curve_clips > 0).")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (name, curve) in enumerate(curves.items()):
            if curve:
                ax.plot([c["step"] for c in curve], [c[metric] for c in curve], marker="o", ms=3,
                        color=f"C{i % 10}", label=name)
        ax.set_xlabel("optimiser step")
        ax.set_title(f"validation {metric.upper()}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _summary_frame(summary: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    frame = summary if isinstance(summary, pd.DataFrame) else pd.DataFrame(list(summary))
    if len(frame) == 0 or "name" not in frame.columns:
        raise ValueError(
            "summary must be a non-empty list of dicts with a 'name' key, e.g. the 'models' entry of "
            "ablation.json written by pipeline.run_ablation."
        )
    return frame


def plot_mode_bars(
    summary: Sequence[Mapping[str, Any]] | pd.DataFrame,
    metrics: Sequence[str] = ("psds1", "psds2"),
    *,
    paper: bool = True,
) -> plt.Figure:
    """One panel per metric: a bar per model (mean over seeds) with ±1 std error bars.

    ``summary``: rows with ``name``, each metric and ``<metric>_std`` (the ``models``
    list of ``ablation.json``, :func:`dualkd_lib.recipe.ablation.summarise`). ``paper=True``
    draws the paper's baseline and DualKD values (:data:`PAPER_RESULTS`, real DESED) as
    dashed lines, for orientation only. Taught in notebook 08.
    """
    frame = _summary_frame(summary)
    for m in metrics:
        if m not in frame.columns:
            raise ValueError(f"summary has no metric {m!r}; columns: {list(frame.columns)}.")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.8), squeeze=False)
    x = np.arange(len(frame))
    colors = ["0.55" if "teacher" in str(n) else f"C{i % 10}" for i, n in enumerate(frame["name"])]
    for ax, m in zip(axes[0], metrics):
        std = frame[f"{m}_std"].to_numpy(float) if f"{m}_std" in frame.columns else None
        ax.bar(x, frame[m].to_numpy(float), yerr=std, capsize=4, color=colors)
        for xi, v in zip(x, frame[m].to_numpy(float)):
            ax.text(xi, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        if paper:
            for (name, values), ls in zip(PAPER_RESULTS.items(), (":", "--")):
                if values.get(m) is not None:
                    ax.axhline(values[m], color="k", ls=ls, lw=1, label=f"paper (real DESED): {name}")
        ax.set_xticks(x)
        ax.set_xticklabels([_short_name(n) for n in frame["name"]], fontsize=8)
        ax.set_title(m.upper() if m.startswith("psds") else m)
        ax.set_ylim(0, max(1.0, float(frame[m].max()) * 1.15))
        ax.grid(axis="y", alpha=0.3)
    if paper:
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if paper else 0, 1, 1))
    return fig


def _short_name(name: Any) -> str:
    """``"student (dual)"`` -> ``"dual"``, ``"teacher (CRNN + embeddings)"`` -> ``"teacher"`` (axis labels)."""
    text = str(name)
    if text.startswith("student (") and text.endswith(")"):
        return text[len("student ("):-1]
    return text.split(" (")[0]


def plot_psds_vs_params(
    summary: Sequence[Mapping[str, Any]] | pd.DataFrame,
    metric: str = "psds1",
) -> plt.Figure:
    """Accuracy against size: ``metric`` (± std) over parameters (log axis), one point per model.

    ``summary`` as in :func:`plot_mode_bars`, with a ``params`` column. The point to see:
    students sit far left of the teacher; distillation moves them *up*, at no extra size.
    Taught in notebook 08.
    """
    frame = _summary_frame(summary)
    for col in (metric, "params"):
        if col not in frame.columns:
            raise ValueError(f"summary has no {col!r} column; columns: {list(frame.columns)}.")
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    std = frame[f"{metric}_std"].to_numpy(float) if f"{metric}_std" in frame.columns else None
    params = frame["params"].to_numpy(float)
    values = frame[metric].to_numpy(float)
    for i, name in enumerate(frame["name"]):
        color = "0.4" if "teacher" in str(name) else f"C{i % 10}"
        ax.errorbar(params[i], values[i], yerr=None if std is None else std[i], fmt="o", color=color, capsize=4,
                    label=str(name))
    ax.set_xscale("log")
    ax.set_xlim(params.min() / 1.6, params.max() * 1.6)
    top = np.nanmax(values + (std if std is not None else 0.0))
    ax.set_ylim(0, max(0.05, float(top) * 1.15))
    ax.set_xlabel("parameters (deployed model; log scale)")
    ax.set_ylabel(metric.upper() if metric.startswith("psds") else metric)
    ax.set_title(f"{metric.upper()} against model size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
