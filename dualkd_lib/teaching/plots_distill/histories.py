"""The paper's numbers, and training histories (losses, KD distances, validation).

Taught in notebook 06.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


# ----------------------------------------------------------------------------------------
# The paper's numbers
# ----------------------------------------------------------------------------------------
#: Where :data:`PAPER_RESULTS` come from.
PAPER_SOURCE: str = (
    "Y. Xiao, R. K. Das, 'Dual Knowledge Distillation for Efficient Sound Event Detection', "
    "ICASSP 2024 workshops, arXiv 2402.02781 (abstract and results): DCASE 2023 Task 4A, DESED public "
    "evaluation set; event-based F1 as a fraction. The student has about one third of the baseline's parameters."
)

#: The paper's results on real DESED (see :data:`PAPER_SOURCE`). ``f1_event`` is the
#: event-based F1 (55.6 % in the paper; not in what we could read for the baseline: None).
#: The paper states that the student has about one third of the baseline's parameters;
#: exact counts are not in what we could read, so there is no parameter column.
#: Our numbers come from generated data and small models: compare *orderings*
#: (which mode beats which), not values. Taught in notebook 08.
PAPER_RESULTS: dict[str, dict[str, float | None]] = {
    "DCASE 2023 baseline CRNN": {"psds1": 0.359, "psds2": 0.562, "f1_event": None},
    "SE-CRNN-16 with DualKD": {"psds1": 0.474, "psds2": 0.698, "f1_event": 0.556},
}


def paper_table() -> pd.DataFrame:
    """:data:`PAPER_RESULTS` as a DataFrame (one row per system). Taught in notebook 08."""
    rows = [{"model": name, **values} for name, values in PAPER_RESULTS.items()]
    return pd.DataFrame(rows).set_index("model")


# ----------------------------------------------------------------------------------------
# Training histories (notebook 06)
# ----------------------------------------------------------------------------------------
def moving_average(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` steps (shorter at the start); same length.

    ``window=1`` returns the values unchanged. NaNs (steps without the term) are skipped.
    Taught in notebook 06.
    """
    if window < 1:
        raise ValueError(f"window={window} must be >= 1 (steps to average over).")
    x = np.asarray(values, dtype=float)
    out = np.empty_like(x)
    for i in range(len(x)):
        chunk = x[max(0, i - window + 1) : i + 1]
        chunk = chunk[~np.isnan(chunk)]
        out[i] = chunk.mean() if len(chunk) else np.nan
    return out


def _history_frame(history: Sequence[Mapping[str, float]] | pd.DataFrame, name: str) -> pd.DataFrame:
    frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
    if len(frame) == 0:
        raise ValueError(f"The history of {name!r} is empty; train the run first (pipeline.train_student).")
    if "step" not in frame.columns:
        frame = frame.assign(step=np.arange(len(frame)))
    return frame


def plot_loss_curves(
    histories: Mapping[str, Sequence[Mapping[str, float]] | pd.DataFrame],
    keys: Sequence[str] = ("loss",),
    *,
    window: int = 1,
    logy: bool = False,
    title: str | None = None,
) -> plt.Figure:
    """One panel per loss term in ``keys``; one line per run in ``histories``.

    ``histories``: ``{run name: history}`` where a history is the list of per-step dicts
    stored in a checkpoint (``train.load_checkpoint(path)["history"]``) or its DataFrame.
    ``window``: moving-average length in steps (:func:`moving_average`). A run without a
    term is left out of that panel (e.g. ``kd`` in a supervised run); a term no run has
    raises ``ValueError``. Taught in notebook 06.
    """
    if not histories:
        raise ValueError("histories is empty; pass {run name: history}.")
    frames = {name: _history_frame(h, name) for name, h in histories.items()}
    for key in keys:
        if not any(key in f.columns for f in frames.values()):
            available = sorted(set().union(*(f.columns for f in frames.values())))
            raise ValueError(f"No run has the loss term {key!r}; available: {available}.")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (name, frame) in enumerate(frames.items()):  # one colour per run in every panel
            if key in frame.columns:
                ax.plot(frame["step"], moving_average(frame[key].to_numpy(dtype=float), window), label=name,
                        color=f"C{i % 10}")
        ax.set_xlabel("optimiser step")
        ax.set_title(key)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("loss" + (f" (moving average, {window} steps)" if window > 1 else ""))
    fullest = max(axes[0], key=lambda a: len(a.get_lines()))  # the panel that has every run
    fullest.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_kd_distances(
    histories: Mapping[str, Sequence[Mapping[str, float]] | pd.DataFrame],
    *,
    window: int = 1,
    logy: bool = True,
) -> plt.Figure:
    """KD distance to the teacher of the student (solid) and mean student (dashed), per run.

    Reads the ``kd_student`` and ``kd_mean`` diagnostics the training loop logs whenever
    teacher outputs are in the batch (modes kd, takd, dual). Runs without them are
    skipped; if none has them, ``ValueError``. Taught in notebook 06.
    """
    frames = {name: _history_frame(h, name) for name, h in histories.items()}
    usable = {n: f for n, f in frames.items() if {"kd_student", "kd_mean"} <= set(f.columns)}
    if not usable:
        raise ValueError(
            f"None of the runs {list(frames)} logged kd_student/kd_mean; they exist only for modes with a "
            "teacher (kd, takd, dual)."
        )
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, frame) in enumerate(usable.items()):
        c = colors[i % len(colors)]
        ax.plot(frame["step"], moving_average(frame["kd_student"].to_numpy(float), window), color=c,
                label=f"{name}: student")
        ax.plot(frame["step"], moving_average(frame["kd_mean"].to_numpy(float), window), color=c, ls="--",
                label=f"{name}: mean student")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("KD loss to the teacher")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("How far student and mean student are from the teacher")
    fig.tight_layout()
    return fig


def plot_over_seeds(curves: Mapping[str, Sequence[Mapping[str, Sequence[float]]]], keys: Sequence[str], *,
                    ylabel: str, title: str, panel_titles: Sequence[str] | None = None,
                    logy: bool = False) -> plt.Figure:
    """Mean over seeds (line) and the seeds' range (shaded) of recorded curves, one panel per key.

    ``curves``: ``{run name: [one dict per seed with "step" and each of ``keys``], ...}``, as in
    the ``curves`` of the measured record ``ablation_course`` (:mod:`dualkd_lib.teaching.measured`). The seeds of one
    run must share their steps; a narrow band means the seeds agree. ``panel_titles``: one per
    key (default: the keys). Taught in notebooks 06
    (KD distances of kd and takd) and 08 (validation PSDS of every student).
    """
    if not curves or not any(curves.values()):
        raise ValueError("no curves to draw: give {run name: [per-seed curves]}")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4), squeeze=False, sharey=logy)
    for ax, key, panel in zip(axes[0], keys, panel_titles or [k.replace("_", " ") for k in keys]):
        for i, (name, seeds) in enumerate(curves.items()):
            if not seeds:
                continue
            steps = np.asarray(seeds[0]["step"], dtype=float)
            if any(list(c["step"]) != list(seeds[0]["step"]) for c in seeds):
                raise ValueError(f"{name}: the seeds' curves have different steps; record them alike")
            values = np.array([c[key] for c in seeds], dtype=float)
            color = f"C{i % 10}"
            ax.plot(steps, values.mean(axis=0), color=color, label=f"{name} ({len(seeds)} seeds)")
            if len(seeds) > 1:
                ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, lw=0)
        ax.set_xlabel("optimiser step")
        ax.set_ylabel(ylabel)
        ax.set_title(panel, fontsize=10)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
