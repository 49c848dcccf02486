"""Figures (and the small computations behind them) for the distillation notebooks.

- notebook 03: :func:`plot_clip_predictions` (teacher on one clip).
- notebook 05: :func:`plot_cost_bars` (parameters and MACs), :func:`se_attention_weights`
  and :func:`plot_se_attention` (what SE and tfwSE do on a clip).
- notebook 06: :func:`plot_loss_curves`, :func:`plot_kd_distances` (training histories),
  :func:`plot_over_seeds` (recorded curves over seeds; notebook 08 too).
- notebook 07: :func:`frame_cosine_similarity`, :func:`plot_similarity_heatmap`.
- notebook 08: :data:`PAPER_RESULTS`, :func:`paper_table`, :func:`plot_mode_bars`,
  :func:`plot_psds_vs_params`, :func:`plot_clip_predictions` (teacher, students, mean).

Every plotting function draws with matplotlib and returns its ``Figure`` (it does not
call ``plt.show()``), so tests and headless runs can call it.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
import pandas as pd
import torch
from torch import nn

from dualkd_lib.constants import CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_RESULTS",
    "PAPER_SOURCE",
    "paper_table",
    "moving_average",
    "plot_loss_curves",
    "plot_kd_distances",
    "plot_over_seeds",
    "plot_mode_bars",
    "plot_psds_vs_params",
    "frame_cosine_similarity",
    "plot_similarity_heatmap",
    "plot_clip_predictions",
    "plot_cost_bars",
    "se_attention_weights",
    "plot_se_attention",
]

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
    list of ``ablation.json``, :func:`dualkd_lib.recipe.pipeline.summarise`). ``paper=True``
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


# ----------------------------------------------------------------------------------------
# Embedding similarity (notebook 07)
# ----------------------------------------------------------------------------------------
def frame_cosine_similarity(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> np.ndarray:
    """Cosine similarity of every frame: ``[N, D, T]`` and ``[N, D, T]`` -> ``[N, T]`` in [-1, 1].

    ``pred`` are the student's projected features (``SEDOutput.embedding_pred``),
    ``target`` the frozen frame embeddings, both channel first at the same frame rate.
    Taught in notebook 07.
    """
    p = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred).float()
    t = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target).float()
    if p.shape != t.shape or p.dim() != 3:
        raise ValueError(
            f"pred {tuple(p.shape)} and target {tuple(t.shape)} must both be [N, dim, frames]; "
            "align the frames first (models.align_embeddings)."
        )
    return torch.nn.functional.cosine_similarity(p, t, dim=1, eps=1e-8).detach().cpu().numpy()


def plot_similarity_heatmap(
    similarities: Mapping[str, np.ndarray] | np.ndarray,
    *,
    frame_seconds: float | None = None,
    max_clips: int = 20,
    scale: str = "data",
) -> plt.Figure:
    """Heatmaps of per-frame cosine similarity ``[clips, frames]``, one panel per model.

    ``similarities``: an array ``[N, T]`` (:func:`frame_cosine_similarity`) or
    ``{name: [N, T]}``. Shows the first ``max_clips`` clips. ``scale="data"`` (default):
    one colour scale for all panels from the 2nd to the 98th percentile of their values, so
    that differences between panels show even when every cosine is high; ``"full"``: -1
    (opposite) through 0 (unrelated) to 1 (same direction). ``frame_seconds`` labels the
    time axis in seconds. Taught in notebook 07.
    """
    if scale not in ("data", "full"):
        raise ValueError(f"scale={scale!r}; choose 'data' (the panels' own range) or 'full' (-1 to 1).")
    sims = {"similarity": similarities} if not isinstance(similarities, Mapping) else dict(similarities)
    if not sims:
        raise ValueError("similarities is empty; pass an [N, T] array or {name: [N, T]}.")
    for name, s in sims.items():
        if np.asarray(s).ndim != 2:
            raise ValueError(f"similarity {name!r} has shape {np.asarray(s).shape}; expected [clips, frames].")
    if scale == "full":
        vmin, vmax, cmap = -1.0, 1.0, "RdBu_r"
    else:
        values = np.concatenate([np.asarray(v, dtype=float)[:max_clips].ravel() for v in sims.values()])
        vmin, vmax = (float(v) for v in np.nanpercentile(values, [2, 98]))
        vmax = vmax if vmax > vmin else vmin + 1e-6
        cmap = "viridis"
    fig, axes = plt.subplots(1, len(sims), figsize=(4.6 * len(sims), 3.6), squeeze=False)
    image = None
    for ax, (name, s) in zip(axes[0], sims.items()):
        full = np.asarray(s, dtype=float)
        s = full[:max_clips]
        extent = None
        if frame_seconds is not None:
            extent = (0.0, s.shape[1] * frame_seconds, s.shape[0] - 0.5, -0.5)
        image = ax.imshow(s, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", extent=extent)
        ax.set_title(f"{name}\nmean cosine over all clips {np.nanmean(full):.2f}", fontsize=9)
        ax.set_xlabel("time (s)" if frame_seconds is not None else "frame")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel("clip")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85,
                 label="cosine similarity" + (" (2nd-98th percentile of all panels)" if scale == "data" else ""))
    return fig


def plot_embedding_pair(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
                        frame_seconds: float | None = None, title: str | None = None) -> plt.Figure:
    """One clip's target embeddings ``[D, T]`` beside the student's predicted ones, on one colour
    scale, and under them the cosine similarity of every frame. Taught in notebook 07."""
    p, t = np.asarray(pred, dtype=float), np.asarray(target, dtype=float)
    if p.shape != t.shape or p.ndim != 2:
        raise ValueError(f"pred {p.shape} and target {t.shape} must both be one clip's [dim, frames].")
    lim = float(np.percentile(np.abs(t), 98)) or 1.0
    cos = frame_cosine_similarity(p[None], t[None])[0]
    x = (np.arange(t.shape[1]) + 0.5) * (frame_seconds or 1.0)  # frame centres, under the pixels
    extent = (0.0, t.shape[1] * (frame_seconds or 1.0), t.shape[0] - 0.5, -0.5)
    fig, axes = plt.subplots(3, 1, figsize=(8.0, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 3, 1.4]})
    for ax, what, values in ((axes[0], "target: the embedding model's frames", t),
                             (axes[1], "predicted: the student's embedding distillation layer", p)):
        image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                          extent=extent)
        ax.set_title(what, fontsize=9)
        ax.set_ylabel("dimension")
    fig.colorbar(image, ax=axes[:2].tolist(), shrink=0.8, label="value (same scale)")
    axes[2].plot(x, cos, color="k", lw=1.2)
    axes[2].set_ylim(min(0.0, float(cos.min())) - 0.05, 1.0)
    axes[2].set_ylabel("cosine")
    axes[2].set_xlabel("time (s)" if frame_seconds is not None else "frame")
    axes[2].grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def single_class_frames(strong: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(clip, frame, class)`` indices of the frames of ``strong`` ``[N, C, T]`` (frame labels)
    where exactly one class is active: frames a colour can name. Taught in notebook 07."""
    y = np.asarray(strong) > 0.5
    if y.ndim != 3:
        raise ValueError(f"strong must be frame labels [clips, classes, frames], got shape {y.shape}.")
    clip, frame = np.nonzero(y.sum(axis=1) == 1)
    return clip, frame, y[clip, :, frame].argmax(axis=1)


def pca_2d(x: np.ndarray, basis: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``x`` ``[M, D]`` projected on the two principal directions of ``basis``
    (default ``x`` itself), centred on ``basis``'s mean. Projecting predictions on the targets'
    basis puts both in one picture. Taught in notebook 07."""
    x = np.asarray(x, dtype=float)
    b = x if basis is None else np.asarray(basis, dtype=float)
    if x.ndim != 2 or b.ndim != 2 or x.shape[1] != b.shape[1]:
        raise ValueError(f"x {x.shape} and basis {b.shape} must be [rows, dim] with the same dim.")
    mean = b.mean(axis=0)
    _, _, vt = np.linalg.svd(b - mean, full_matrices=False)
    return (x - mean) @ vt[:2].T


def plot_embedding_projection(points: Mapping[str, np.ndarray], classes: np.ndarray, *,
                              class_names: Sequence[str] = CLASSES, max_points: int = 3000,
                              seed: int = 0) -> plt.Figure:
    """Scatter panels of 2-D frame projections (:func:`pca_2d`) ``{name: [M, 2]}``, each point
    coloured by the class of its frame (``classes`` ``[M]``, from :func:`single_class_frames`).
    Classes that form separate clouds are what a linear head can read out. Taught in notebook 07."""
    if not points:
        raise ValueError("points is empty; pass {panel name: [frames, 2]}.")
    classes = np.asarray(classes)
    for name, pts in points.items():
        if np.asarray(pts).shape != (len(classes), 2):
            raise ValueError(f"panel {name!r} has shape {np.asarray(pts).shape}; expected ({len(classes)}, 2).")
    keep = np.random.default_rng(seed).permutation(len(classes))[:max_points]
    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 4.0), squeeze=False)
    for ax, (name, pts) in zip(axes[0], points.items()):
        pts = np.asarray(pts)[keep]
        for k, cname in enumerate(class_names):
            sel = classes[keep] == k
            if sel.any():
                ax.scatter(pts[sel, 0], pts[sel, 1], s=4, alpha=0.5, color=f"C{k % 10}", label=cname)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel("PC 2")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, markerscale=3, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


# ----------------------------------------------------------------------------------------
# Predictions on one clip (notebooks 03, 08)
# ----------------------------------------------------------------------------------------
def plot_clip_predictions(
    scores: Mapping[str, np.ndarray | torch.Tensor],
    *,
    frame_seconds: float,
    ground_truth: pd.DataFrame | None = None,
    classes: Sequence[str] | None = None,
    class_names: Sequence[str] = CLASSES,
    threshold: float | None = 0.5,
    title: str | None = None,
    max_classes: int = 6,
) -> plt.Figure:
    """Frame scores of several models on one clip: a panel per class, a line per model.

    ``scores``: ``{model name: [classes, frames]}`` probabilities of the *same* clip.
    ``ground_truth``: that clip's events (``onset``, ``offset``, ``event_label``, in
    seconds), drawn as grey spans. ``classes``: which classes to show (default: those in
    the ground truth, then any a model scores above 0.5; at least one, at most
    ``max_classes``).
    ``threshold``: a dotted decision line (None: none). Taught in notebooks 03 and 08.
    """
    if not scores:
        raise ValueError("scores is empty; pass {model name: [classes, frames]}.")
    arrays = {name: np.asarray(s.detach().cpu() if isinstance(s, torch.Tensor) else s, dtype=float)
              for name, s in scores.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[0] != len(class_names):
        raise ValueError(
            f"every score array must be [classes={len(class_names)}, frames] of one clip; got "
            f"{ {n: a.shape for n, a in arrays.items()} }. Index one clip first: scores[i]."
        )
    n_frames = next(iter(shapes))[1]
    gt = ground_truth if ground_truth is not None else pd.DataFrame(columns=["onset", "offset", "event_label"])
    if classes is None:
        chosen = [c for c in class_names if c in set(gt["event_label"])]
        for a in arrays.values():
            chosen += [c for c, row in zip(class_names, a) if row.max() > 0.5 and c not in chosen]
        classes = chosen[:max_classes] or [class_names[int(np.argmax(next(iter(arrays.values())).max(1)))]]
    unknown = [c for c in classes if c not in class_names]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; choose from {list(class_names)}.")
    t = (np.arange(n_frames) + 0.5) * frame_seconds
    fig, axes = plt.subplots(len(classes), 1, figsize=(8.0, 1.25 * len(classes) + 1.0), sharex=True, squeeze=False)
    styles = ["-", "--", "-.", ":"]
    for ax, c in zip(axes[:, 0], classes):
        k = list(class_names).index(c)
        for _, ev in gt[gt["event_label"] == c].iterrows():
            ax.axvspan(float(ev["onset"]), float(ev["offset"]), color="0.85", lw=0)
        for i, (name, a) in enumerate(arrays.items()):
            ax.plot(t, a[k], ls=styles[(i // 10) % len(styles)], color=f"C{i % 10}", lw=1.4, label=name)
        if threshold is not None:
            ax.axhline(threshold, color="k", ls=":", lw=0.8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel(c.replace("_", " "), rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([0, 1])
    axes[-1, 0].set_xlabel("time (s)  (grey: ground-truth events)")
    axes[-1, 0].set_xlim(0, n_frames * frame_seconds)
    axes[0, 0].legend(fontsize=8, ncol=min(4, len(arrays)), loc="lower left", bbox_to_anchor=(0, 1.02))
    if title:
        fig.suptitle(title, y=1.0)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------
# Size and attention (notebook 05)
# ----------------------------------------------------------------------------------------
def plot_cost_bars(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> plt.Figure:
    """Parameters and MACs per 10-s clip of several models: two bar panels (thousands / millions).

    ``rows``: dicts with ``name``, ``params`` and ``macs`` (e.g. from
    ``models.count_parameters`` / ``models.count_macs``). Each bar is labelled with its
    ratio to the first row (the teacher, usually). Taught in notebook 05.
    """
    frame = _summary_frame(rows)
    for col in ("params", "macs"):
        if col not in frame.columns:
            raise ValueError(f"rows need a {col!r} entry; got columns {list(frame.columns)}.")
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6))
    x = np.arange(len(frame))
    for ax, col, unit, scale in ((axes[0], "params", "thousand parameters", 1e3), (axes[1], "macs", "million MACs per clip", 1e6)):
        values = frame[col].to_numpy(float) / scale
        ax.bar(x, values, color=[f"C{i % 10}" for i in range(len(frame))])
        for xi, v in zip(x, values):
            ax.text(xi, v, f"{v:,.1f}\n({v / values[0]:.2f}×)", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x)
        ax.set_xticklabels([str(n).replace(" (", "\n(") for n in frame["name"]], fontsize=8)
        ax.set_ylabel(unit)
        ax.set_ylim(0, values.max() * 1.3)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("size")
    axes[1].set_title("compute")
    fig.tight_layout()
    return fig


@torch.no_grad()
def se_attention_weights(model: nn.Module, features: torch.Tensor) -> list[dict[str, np.ndarray]]:
    """The SE and tfwSE weights every conv block of ``model`` applies to one clip.

    ``features``: standardised log-mels ``[1, n_mels, frames]``. Returns one dict per
    conv block with ``"se"`` ``[channels]`` (channel weights in (0, 1)) and ``"tfwse"``
    ``[time, freq]`` (a frequency weighting for every frame), each present only if the
    block has that attention. Read with forward hooks on the blocks' ``excite`` layers
    (the weights are ``sigmoid`` of their output); the model runs in eval mode and its
    mode is restored. Taught in notebook 05.
    """
    if features.dim() != 3 or features.shape[0] != 1:
        raise ValueError(f"features must be one clip [1, n_mels, frames], got {tuple(features.shape)}; use x[i:i+1].")
    found: list[dict[str, np.ndarray]] = [dict() for _ in getattr(model, "cnn", [])]

    def record(i: int, key: str, out: torch.Tensor) -> None:
        found[i][key] = torch.sigmoid(out)[0].float().cpu().numpy()

    _run_with_attention_hooks(model, features, "excite", record)
    return found


def _run_with_attention_hooks(model: nn.Module, features: torch.Tensor, layer: str,
                              record: Callable[[int, str, torch.Tensor], None]) -> None:
    """Run ``model`` once (eval mode, no gradients; its mode restored) with a hook on the
    ``layer`` ("squeeze" or "excite") of every SE/tfwSE attention, calling
    ``record(block index, "se" | "tfwse", layer output)``. ``ValueError`` for a model without any."""
    attentions = [(i, key, getattr(block, key)) for i, block in enumerate(getattr(model, "cnn", []))
                  for key in ("se", "tfwse") if getattr(block, key, None) is not None]
    if not attentions:
        raise ValueError(f"{type(model).__name__} has no SE or tfwSE attention in its conv blocks (a teacher?).")
    handles = [getattr(att, layer).register_forward_hook(
        lambda _m, _inp, out, i=i, key=key: record(i, key, out.detach())) for i, key, att in attentions]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(features)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def se_attention_spread(model: nn.Module, features: torch.Tensor) -> pd.DataFrame:
    """How much each block's SE/tfwSE attention changes from clip to clip.

    ``features``: standardised log-mels of several clips ``[clips, n_mels, frames]``.
    One row per block and attention (``block``, ``attention``): ``spread``, the standard
    deviation across clips of each weight, averaged over the weights (channels, or
    frequency bins averaged over frames), and ``constant``, the share of weights whose
    standard deviation is below 1e-6. A dead bottleneck outputs the same weights for
    every clip: spread 0, constant 1. Taught in notebook 05.
    """
    if features.dim() != 3 or features.shape[0] < 2:
        raise ValueError(f"features must be several clips [clips, n_mels, frames], got {tuple(features.shape)}.")
    per_clip = [se_attention_weights(model, features[i:i + 1]) for i in range(features.shape[0])]
    rows = []
    for b in range(len(per_clip[0])):
        for key in ("se", "tfwse"):
            if key not in per_clip[0][b]:
                continue
            w = np.stack([clip[b][key] if key == "se" else clip[b][key].mean(0) for clip in per_clip])
            std = w.std(axis=0)
            rows.append({"block": b, "attention": key, "spread": float(std.mean()),
                         "constant": float((std < 1e-6).mean())})
    return pd.DataFrame(rows)


def se_inactive_units(model: nn.Module, features: torch.Tensor) -> pd.DataFrame:
    """Share of each SE/tfwSE bottleneck's hidden units that are negative on every clip.

    ``features``: standardised log-mels ``[clips, n_mels, frames]``. One row per block and
    attention: ``units`` (hidden size), ``inactive`` (share of units whose input to the
    bottleneck's non-linearity is <= 0 for every clip, and for every frame in tfwSE) and
    ``activation``. Behind a ReLU such a unit outputs 0 and gets no gradient: it is dead
    and stays dead; behind a SiLU it still passes a gradient and can come back. Taught in
    notebook 05.
    """
    if features.dim() != 3 or features.shape[0] < 1:
        raise ValueError(f"features must be clips [clips, n_mels, frames], got {tuple(features.shape)}.")
    found: dict[tuple[int, str], torch.Tensor] = {}

    def record(i: int, key: str, out: torch.Tensor) -> None:
        found[(i, key)] = out.reshape(-1, out.shape[-1])

    _run_with_attention_hooks(model, features, "squeeze", record)
    rows = []
    for (i, key), pre in sorted(found.items()):
        att = getattr(model.cnn[i], key)
        rows.append({"block": i, "attention": key, "units": pre.shape[-1],
                     "inactive": float((pre <= 0).all(dim=0).float().mean()),
                     "activation": type(att.act).__name__})
    return pd.DataFrame(rows)


def plot_se_attention(weights: Sequence[Mapping[str, np.ndarray]], *, blocks: Sequence[int] | None = None) -> plt.Figure:
    """SE channel weights (top) and tfwSE time-frequency weights (bottom) of some blocks.

    ``weights``: the output of :func:`se_attention_weights`. ``blocks``: which conv blocks
    (default: the first with attention, one a third in and one two thirds in; the last blocks have only
    one or two frequency bins left). Colours of the tfwSE maps span each map's own range
    (see its colour bar), so small differences stay visible. The blocks before the time pooling have more frames
    than later ones, so the time axis counts each block's own frames. Taught in notebook 05.
    """
    if not weights:
        raise ValueError("weights is empty; compute them with se_attention_weights(model, x).")
    n = len(weights)
    if blocks is None:  # the first block with attention, one a third in and one two thirds in
        first = next((i for i, w in enumerate(weights) if w), 0)
        blocks = sorted({first, max(first, n // 3), max(first, (2 * n) // 3)})
    blocks = list(blocks)
    if any(b < 0 or b >= n for b in blocks):
        raise ValueError(f"blocks={blocks} out of range: the model has {n} conv blocks (0..{n - 1}).")
    fig, axes = plt.subplots(2, len(blocks), figsize=(3.6 * len(blocks), 5.6), squeeze=False)
    for j, b in enumerate(blocks):
        w = weights[b]
        ax = axes[0, j]
        if "se" in w:
            ax.bar(np.arange(len(w["se"])), w["se"], color="C0")
            ax.set_ylim(0, 1)
            ax.set_title(f"block {b}: SE channel weights", fontsize=9)
            ax.set_xlabel("channel")
            ax.set_ylabel("weight (0 off, 1 passed)")
        else:
            ax.set_axis_off()
        ax = axes[1, j]
        if "tfwse" in w:
            tf = w["tfwse"]
            im = ax.imshow(tf.T, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
            ax.set_title(f"block {b}: tfwSE weights", fontsize=9)
            ax.set_xlabel("frame of this block")
            ax.set_ylabel("frequency bin")
            fig.colorbar(im, ax=ax, shrink=0.8)
        else:
            ax.set_axis_off()
    fig.tight_layout()
    return fig
