"""Figures of the first half of the course: clips, features, labels, scores, PSD-ROC.

Every function draws on a new figure (or on ``ax`` when given), returns the
``matplotlib.figure.Figure`` and never calls ``plt.show()``, so notebooks show
it and tests can close it. Inputs are plain arrays and DataFrames:

- log-mel features ``[n_mels, frames]`` (dB or standardised);
- event tables with columns ``onset, offset, event_label`` (seconds), as in the
  DESED strong TSV;
- frame labels or scores ``[classes, frames]`` at the model output resolution;
- :class:`dualkd_lib.evaluate.PSDSResult` for PSD-ROC curves.

Each class keeps one colour in every figure (:func:`class_colors`).
Taught in notebooks 01, 02 and 04.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from dualkd_lib.constants import CLASSES, CLIP_SECONDS, SAMPLE_RATE

log = logging.getLogger(__name__)

_EVENT_COLUMNS = ("onset", "offset", "event_label")


# --------------------------------------------------------------------------- helpers
def class_colors(classes: Sequence[str] = CLASSES) -> dict[str, tuple[float, float, float, float]]:
    """One fixed colour per class (matplotlib's ``tab10``), ``{class: RGBA}``.

    Taught in notebook 01.
    """
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    return {c: cmap(i % cmap.N) for i, c in enumerate(classes)}


def _as_numpy(x: Any, name: str, ndim: int) -> np.ndarray:
    """``x`` (array, tensor, list) as a float numpy array with ``ndim`` dimensions."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}.")
    return arr


def _events_table(events: Any, name: str = "events") -> pd.DataFrame:
    """Events as a DataFrame ``onset, offset, event_label`` (rows without a label dropped)."""
    if events is None:
        return pd.DataFrame(columns=list(_EVENT_COLUMNS))
    if not isinstance(events, pd.DataFrame):
        events = pd.DataFrame(list(events), columns=["event_label", "onset", "offset"])
    missing = set(_EVENT_COLUMNS) - set(events.columns)
    if missing:
        raise ValueError(
            f"{name} lacks columns {sorted(missing)}; give a table with onset, offset, event_label "
            "(a DESED strong TSV) or a list of (label, onset, offset) tuples."
        )
    return events.dropna(subset=["event_label"])


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


# --------------------------------------------------------------------------- notebook 01
def plot_waveform(
    waveform: Any, sample_rate: int = SAMPLE_RATE, *, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Waveform ``[samples]`` against time in seconds. Taught in notebook 01."""
    wave = _as_numpy(waveform, "waveform", 1)
    fig, ax = _new_axes(ax, (9.0, 2.2))
    t = np.arange(len(wave)) / sample_rate
    ax.plot(t, wave, lw=0.4, color="0.2")
    ax.set(xlim=(0, max(t[-1], 1e-3) if len(t) else 1), xlabel="time (s)", ylabel="amplitude")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_logmel(
    logmel: Any,
    *,
    hop_length: int = 256,
    sample_rate: int = SAMPLE_RATE,
    mel_frequencies: Sequence[float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    colorbar: bool = True,
    unit: str = "dB",
) -> Figure:
    """Log-mel features ``[n_mels, frames]`` as an image; time in seconds on x.

    ``mel_frequencies`` (Hz, one per mel bin, e.g. ``features.mel_center_frequencies``)
    labels the y axis; otherwise the axis shows mel bin numbers. Taught in notebook 02.
    """
    x = _as_numpy(logmel, "logmel", 2)
    fig, ax = _new_axes(ax, (9.0, 3.0))
    seconds = x.shape[1] * hop_length / sample_rate
    im = ax.imshow(x, origin="lower", aspect="auto", cmap="magma", extent=(0.0, seconds, -0.5, x.shape[0] - 0.5),
                   interpolation="nearest")
    ax.set(xlabel="time (s)", ylabel="mel bin")
    if mel_frequencies is not None:
        freqs = np.asarray(mel_frequencies, dtype=float)
        if len(freqs) != x.shape[0]:
            raise ValueError(f"mel_frequencies has {len(freqs)} values for {x.shape[0]} mel bins.")
        ticks = np.linspace(0, x.shape[0] - 1, 5).round().astype(int)
        ax.set_yticks(ticks, [f"{freqs[i]:.0f}" for i in ticks])
        ax.set_ylabel("frequency (Hz)")
    if colorbar:
        fig.colorbar(im, ax=ax, pad=0.01, label=unit)
    if title:
        ax.set_title(title)
    return fig


def plot_event_rows(
    events: Any,
    *,
    classes: Sequence[str] = CLASSES,
    clip_seconds: float = CLIP_SECONDS,
    ax: Axes | None = None,
    title: str | None = None,
    alpha: float = 0.9,
    only_present: bool = False,
) -> Figure:
    """Events as coloured bars, one row per class (a "piano roll" of the labels).

    ``events``: table with ``onset, offset, event_label`` (s) or ``(label, onset,
    offset)`` tuples; ``only_present`` keeps only the rows of classes that occur.
    Taught in notebook 01.
    """
    ev = _events_table(events)
    unknown = sorted(set(ev["event_label"]) - set(classes))
    if unknown:
        raise ValueError(f"Unknown event label(s) {unknown}; valid labels are {list(classes)}.")
    rows = [c for c in classes if c in set(ev["event_label"])] if only_present else list(classes)
    rows = rows or list(classes)
    fig, ax = _new_axes(ax, (9.0, 0.3 * len(rows) + 0.8))
    colors = class_colors(classes)
    for i, c in enumerate(rows):
        for on, off in ev.loc[ev["event_label"] == c, ["onset", "offset"]].to_numpy(dtype=float):
            ax.add_patch(Rectangle((on, i - 0.4), off - on, 0.8, color=colors[c], alpha=alpha, lw=0))
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set(xlim=(0, clip_seconds), ylim=(-0.6, len(rows) - 0.4), xlabel="time (s)")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def plot_spectrogram_with_events(
    logmel: Any,
    events: Any,
    *,
    hop_length: int = 256,
    sample_rate: int = SAMPLE_RATE,
    mel_frequencies: Sequence[float] | None = None,
    classes: Sequence[str] = CLASSES,
    title: str | None = None,
    only_present: bool = True,
) -> Figure:
    """Log-mel spectrogram ``[n_mels, frames]`` above the clip's strong labels.

    The top panel is the spectrogram with each event's span marked by a coloured
    bar along its top edge; the bottom panel shows one row per class with the
    events as bars, on the same time axis. Taught in notebook 01.
    """
    x = _as_numpy(logmel, "logmel", 2)
    ev = _events_table(events)
    present = [c for c in classes if c in set(ev["event_label"])]
    n_rows = len(present) if (only_present and present) else len(classes)
    fig, (ax_s, ax_e) = plt.subplots(
        2, 1, figsize=(9.5, 3.2 + 0.28 * n_rows), sharex=True,
        gridspec_kw={"height_ratios": [3.0, 0.35 * n_rows + 0.5]},
    )
    plot_logmel(x, hop_length=hop_length, sample_rate=sample_rate, mel_frequencies=mel_frequencies,
                ax=ax_s, colorbar=False, title=title)
    seconds = x.shape[1] * hop_length / sample_rate
    colors = class_colors(classes)
    top = x.shape[0] - 0.5
    for k, (on, off, label) in enumerate(ev[["onset", "offset", "event_label"]].itertuples(index=False)):
        # A bar along the top edge, stacked so overlapping events stay visible.
        level = top - 1.5 * (present.index(label) if label in present else 0) - 1.0
        ax_s.add_patch(Rectangle((float(on), level - 0.7), float(off) - float(on), 1.4, color=colors[label], lw=0))
        ax_s.axvline(float(on), color=colors[label], lw=0.8, alpha=0.7)
        ax_s.axvline(float(off), color=colors[label], lw=0.8, alpha=0.7, ls="--")
    ax_s.set_xlabel("")
    plot_event_rows(ev, classes=classes, clip_seconds=seconds, ax=ax_e, only_present=only_present)
    ax_e.set_xlim(0, seconds)
    fig.tight_layout()
    return fig


def plot_event_statistics(comparison: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Generated versus real DESED: median event duration and share of events per class.

    ``comparison``: the table of :func:`dualkd_lib.generate.compare_with_desed`
    (columns ``generated_median_s``, ``desed_median_s``, ``generated_frac_events``,
    ``desed_frac_events``; one row per class). Taught in notebook 01.
    """
    needed = {"generated_median_s", "desed_median_s", "generated_frac_events", "desed_frac_events"}
    missing = needed - set(comparison.columns)
    if missing:
        raise ValueError(
            f"comparison lacks columns {sorted(missing)}; pass generate.compare_with_desed(strong_df)."
        )
    names = [str(c) for c in comparison.index]
    y = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 0.32 * len(names) + 1.4), sharey=True)
    panels = [("median_s", "median event duration (s)"), ("frac_events", "share of all events")]
    for ax, (key, label) in zip(axes, panels):
        ax.barh(y - 0.2, comparison[f"generated_{key}"].to_numpy(dtype=float), height=0.4, label="generated",
                color="tab:blue")
        ax.barh(y + 0.2, comparison[f"desed_{key}"].to_numpy(dtype=float), height=0.4, label="real DESED validation",
                color="tab:orange")
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- notebook 02
def plot_frame_labels(
    labels: Any,
    frame_seconds: float,
    *,
    events: Any = None,
    classes: Sequence[str] = CLASSES,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Frame labels ``[classes, frames]`` (0/1 or soft) as an image, events drawn on top.

    With ``events`` (``onset, offset, event_label``), each event's exact span is
    outlined, so you can see how the frame grid rounds it. Taught in notebook 02.
    """
    y = _as_numpy(labels, "labels", 2)
    if y.shape[0] != len(classes):
        raise ValueError(f"labels have {y.shape[0]} rows but {len(classes)} classes were given; "
                         "labels must be [classes, frames].")
    fig, ax = _new_axes(ax, (9.0, 0.3 * len(classes) + 1.0))
    seconds = y.shape[1] * frame_seconds
    ax.imshow(y, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
              extent=(0.0, seconds, len(classes) - 0.5, -0.5))
    colors = class_colors(classes)
    for on, off, label in _events_table(events)[["onset", "offset", "event_label"]].itertuples(index=False):
        i = list(classes).index(label)
        ax.add_patch(Rectangle((float(on), i - 0.45), float(off) - float(on), 0.9, fill=False,
                               edgecolor=colors[label], lw=1.5))
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel(f"time (s); {y.shape[1]} frames of {frame_seconds * 1000:.0f} ms")
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- notebook 04
def plot_scores(
    scores: Any,
    frame_seconds: float,
    *,
    ground_truth: Any = None,
    detections: Any = None,
    classes: Sequence[str] = CLASSES,
    show: Sequence[str] | None = None,
    threshold: float | None = 0.5,
    title: str | None = None,
) -> Figure:
    """Score curves of one clip ``[classes, frames]``, one panel per shown class.

    Each panel shades the ground-truth events (``onset, offset, event_label``) of
    its class, draws the score curve, the threshold, and the detections as a bar
    under the curve. ``show``: classes to draw (default: those with ground truth
    or a score above the threshold). Taught in notebook 04.
    """
    s = _as_numpy(scores, "scores", 2)
    if s.shape[0] != len(classes):
        raise ValueError(f"scores have {s.shape[0]} rows but {len(classes)} classes; scores must be [classes, frames].")
    gt = _events_table(ground_truth, "ground_truth")
    det = _events_table(detections, "detections")
    if show is None:
        thr = 0.5 if threshold is None else threshold
        show = [c for i, c in enumerate(classes) if c in set(gt["event_label"]) or s[i].max() > thr]
        show = show or [classes[int(s.max(axis=1).argmax())]]
    colors = class_colors(classes)
    t = (np.arange(s.shape[1]) + 0.5) * frame_seconds
    fig, axes = plt.subplots(len(show), 1, figsize=(9.0, 1.5 * len(show) + 0.6), sharex=True, squeeze=False)
    for ax, c in zip(axes[:, 0], show):
        i = list(classes).index(c)
        for on, off in gt.loc[gt["event_label"] == c, ["onset", "offset"]].to_numpy(dtype=float):
            ax.axvspan(on, off, color=colors[c], alpha=0.2, lw=0)
        ax.plot(t, s[i], color=colors[c], lw=1.5)
        if threshold is not None:
            ax.axhline(threshold, color="0.4", lw=0.8, ls="--")
        for on, off in det.loc[det["event_label"] == c, ["onset", "offset"]].to_numpy(dtype=float):
            ax.add_patch(Rectangle((on, -0.12), off - on, 0.08, color="k", lw=0))
        ax.set(ylim=(-0.15, 1.05), xlim=(0, s.shape[1] * frame_seconds))
        ax.set_ylabel(c, fontsize=8, rotation=0, ha="right", va="center")
        ax.grid(alpha=0.25)
    axes[-1, 0].set_xlabel("time (s)")
    handles = [Patch(color="0.7", alpha=0.5, label="ground truth"), Patch(color="k", label="detections")]
    axes[0, 0].legend(handles=handles, loc="upper right", fontsize=7, ncol=2)
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def plot_psd_roc(
    results: Any,
    *,
    per_class: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """PSD-ROC curves: one :class:`~dualkd_lib.evaluate.PSDSResult` or ``{name: result}``.

    One result: the summary PSD-ROC (thick) and, with ``per_class``, each class's
    TPR-vs-eFPR staircase (thin). Several results: their summary curves side by
    side, PSDS in the legend. Taught in notebook 04.
    """
    from dualkd_lib.evaluate import PSDSResult, psd_roc_data

    if isinstance(results, PSDSResult):
        results = {"PSD-ROC": results}
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a PSDSResult or a non-empty {name: PSDSResult} dict.")
    fig, ax = _new_axes(ax, (7.0, 4.2))
    colors = class_colors()
    single = len(results) == 1
    max_efpr = 0.0
    for k, (name, result) in enumerate(results.items()):
        data = psd_roc_data(result)
        max_efpr = max(max_efpr, result.scenario.max_efpr)
        if single and per_class:
            for c, d in data[data["curve"] != "PSD-ROC"].groupby("curve", sort=False):
                ax.step(d["efpr"], d["tpr"], where="post", lw=0.9, alpha=0.8, color=colors.get(c), label=c)
        d = data[data["curve"] == "PSD-ROC"]
        ax.step(d["efpr"], d["tpr"], where="post", lw=2.5, color="k" if single else f"C{k}",
                label=f"{name}: PSDS {result.value:.3f}")
    ax.set(xlim=(0, max_efpr), ylim=(0, 1.02), xlabel="effective false positives per hour (eFPR)",
           ylabel="true positive rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def plot_intersection_example(
    detections: pd.DataFrame,
    ground_truth: pd.DataFrame,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None = None,
    clip_seconds: float = CLIP_SECONDS,
    title: str | None = None,
) -> Figure:
    """Draw one clip's ground truth and detections with their DTC/GTC/CTTC verdicts.

    ``detections``, ``ground_truth``: one clip's events (``onset, offset,
    event_label``). Each detection is labelled with the share of it that lies on
    ground truth of its own class (passes the DTC if >= ``dtc``; else it is a
    false positive, and a cross-trigger when >= ``cttc`` of it lies on another
    class); each ground-truth event with the share of it covered by DTC-passing
    detections (detected if >= ``gtc``). The counting rules are those of
    :func:`dualkd_lib.evaluate.count_intersections`. Taught in notebook 04.
    """
    det, gt = _events_table(detections, "detections"), _events_table(ground_truth, "ground_truth")
    labels = list(dict.fromkeys([*gt["event_label"], *det["event_label"]]))
    colors = class_colors()
    fig, ax = plt.subplots(figsize=(10.0, 0.9 * len(labels) + 1.2))
    passing: list[tuple[str, float, float]] = []
    for on, off, c in det[["onset", "offset", "event_label"]].itertuples(index=False):
        on, off = float(on), float(off)
        own = sum(_overlap((on, off), (g_on, g_off)) for g_on, g_off, g_c in
                  gt[["onset", "offset", "event_label"]].itertuples(index=False) if g_c == c) / (off - on)
        ok = own >= dtc
        text = f"DTC {own:.2f} {'✓' if ok else '✗ FP'}"
        if not ok and cttc is not None:
            for other in set(gt["event_label"]) - {c}:
                share = sum(_overlap((on, off), (g_on, g_off)) for g_on, g_off, g_c in
                            gt[["onset", "offset", "event_label"]].itertuples(index=False) if g_c == other) / (off - on)
                if share >= cttc:
                    text += f", cross-trigger on {other} ({share:.2f})"
        if ok:
            passing.append((c, on, off))
        y = labels.index(c) - 0.18
        ax.add_patch(Rectangle((on, y - 0.14), off - on, 0.28, color=colors.get(c), alpha=0.95, hatch="//",
                               fill=False, lw=1.5))
        ax.text(on, y - 0.2, text, fontsize=7, va="bottom", color="darkgreen" if ok else "darkred")
    for on, off, c in gt[["onset", "offset", "event_label"]].itertuples(index=False):
        on, off = float(on), float(off)
        covered = sum(_overlap((on, off), (d_on, d_off)) for d_c, d_on, d_off in passing if d_c == c) / (off - on)
        ok = covered >= gtc
        y = labels.index(c) + 0.2
        ax.add_patch(Rectangle((on, y - 0.14), off - on, 0.28, color=colors.get(c), alpha=0.45, lw=0))
        ax.text(on, y + 0.17, f"GTC {covered:.2f} {'✓ TP' if ok else '✗ FN'}", fontsize=7, va="top",
                color="darkgreen" if ok else "darkred")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set(xlim=(0, clip_seconds), ylim=(len(labels) - 0.4, -0.6), xlabel="time (s)")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color="0.6", alpha=0.45, label="ground truth"),
               Patch(fill=False, hatch="//", edgecolor="0.3", label="detection")]
    ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=2, bbox_to_anchor=(1.0, 1.16))
    crit = f"DTC {dtc}, GTC {gtc}" + (f", CTTC {cttc}" if cttc is not None else "")
    ax.set_title(title or f"Intersection-based counting ({crit})", loc="left")
    fig.tight_layout()
    return fig


__all__ = [
    "class_colors",
    "plot_event_rows",
    "plot_event_statistics",
    "plot_frame_labels",
    "plot_intersection_example",
    "plot_logmel",
    "plot_psd_roc",
    "plot_scores",
    "plot_spectrogram_with_events",
    "plot_waveform",
]


def draw_method_diagram(ax: Any = None) -> Any:
    """Draw dual knowledge distillation in one picture; returns the matplotlib Figure.

    Frozen models (teacher, embedding model) in blue, trained parts (student, mean
    student, embedding distillation layer) in orange, losses in red; dashed boxes exist
    in training only. Taught in notebook 00.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 5.6))
    else:
        fig = ax.figure
    ax.set_xlim(0, 12.8)
    ax.set_ylim(-0.5, 7.4)
    ax.axis("off")
    frozen, trained, loss, plain = "#cfe2f3", "#fce5cd", "#f4cccc", "#eeeeee"

    def box(x: float, y: float, w: float, h: float, text: str, color: str, dashed: bool = False) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x, y), w, h, boxstyle="round,pad=0.05,rounding_size=0.15", facecolor=color,
                edgecolor="black", linewidth=1.2, linestyle="--" if dashed else "-",
            )
        )
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9.5)

    def path(points: list[tuple[float, float]], text: str = "", color: str = "black", ls: str = "-", label_at: int = -1) -> None:
        """A polyline with an arrow head at its last point; ``text`` labels segment ``label_at``."""
        xs, ys = zip(*points)
        ax.plot(xs[:-1], ys[:-1], color=color, linestyle=ls, linewidth=1.3)
        ax.annotate("", xy=points[-1], xytext=points[-2],
                    arrowprops=dict(arrowstyle="-|>", linestyle=ls, color=color, linewidth=1.3, shrinkA=0, shrinkB=2))
        if text:
            (x0, y0), (x1, y1) = points[label_at - 1], points[label_at]
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.08, text, ha="center", va="bottom", fontsize=8, color=color)

    # columns: 1 = embedding model / student / distillation layer, 2 = teacher / mean
    # student / EEFD loss, 3 = the other losses
    c1, c2, c3, w = 2.5, 6.4, 10.3, 2.5
    box(0.1, 3.2, 1.7, 1.0, "audio clip\n→ log-mel", plain)
    box(c1, 5.7, w, 1.1, "embedding model\n(frozen, BEATs stand-in)", frozen)
    box(c2, 5.7, w, 1.1, "CRNN teacher (frozen)\nfuses the embeddings", frozen)
    box(c1, 3.1, w, 1.2, "SE-CRNN student\nCNN → BiGRU → heads", trained)
    box(c2, 3.1, w, 1.2, "mean student\n(EMA of the student)", trained, dashed=True)
    box(c1, 0.9, w, 1.0, "embedding distillation\nlayer (CNN → emb. dim)", trained, dashed=True)
    box(c2, 0.9, w, 1.0, "$L_{EEFD}$\nMSE / cosine", loss)
    box(c3, 5.75, w - 0.1, 1.0, "$L_{TAKD}$\nteacher ↔ mean student", loss)
    box(c3, 3.2, w - 0.1, 1.0, "$L_{sup}$ + $L_{cons}$", loss)
    mid2, mid3 = c2 + w / 2, c3 + (w - 0.1) / 2

    path([(0.95, 4.2), (0.95, 6.25), (c1, 6.25)])
    path([(0.95, 6.25), (0.95, 7.2), (mid2, 7.2), (mid2, 6.8)], "log-mel", label_at=2)
    path([(1.8, 3.7), (c1, 3.7)])
    path([(c1 + w, 6.25), (c2, 6.25)], "embeddings")
    path([(c2 + w, 6.25), (c3, 6.25)], "soft outputs")
    path([(c1 + w, 3.95), (c2, 3.95)])
    ax.text((c1 + w + c2) / 2, 4.45, "EMA: θ̄ ← αθ̄ + (1−α)θ", ha="center", va="bottom", fontsize=8)
    path([(c2, 3.4), (c1 + w, 3.4)], color="#990000", ls="--")
    ax.text((c1 + w + c2) / 2, 3.3, "TAKD\ngradient", ha="center", va="top", fontsize=8, color="#990000")
    path([(c2 + w, 4.1), (mid3, 5.75)], "outputs")
    path([(c2 + w, 3.7), (c3, 3.7)])
    path([(c1 + 2.0, 3.1), (c1 + 2.0, 2.45), (mid3, 2.45), (mid3, 3.2)], "student outputs vs labels", label_at=2)
    path([(c1 + 0.9, 3.1), (c1 + 0.9, 1.9)])
    ax.text(c1 + 0.8, 2.5, "CNN\nfeatures", ha="right", va="center", fontsize=8)
    path([(c1 + w, 1.4), (c2, 1.4)])
    path([(c1, 5.95), (c1 - 0.35, 5.95), (c1 - 0.35, 0.45), (mid2, 0.45), (mid2, 0.9)], "targets: frame embeddings", color="#1f4e79", label_at=3)
    ax.text(
        6.4, -0.3,
        "Dashed boxes exist only in training; teacher and embedding model stay frozen. On the device: the student alone.",
        ha="center", va="center", fontsize=8.5, style="italic",
    )
    ax.set_title("Dual knowledge distillation = TAKD (through the mean student) + EEFD (through the embedding distillation layer)", fontsize=10, pad=14)
    return fig
