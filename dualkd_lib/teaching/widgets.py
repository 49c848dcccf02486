"""Interactive demos: a pure figure function per demo, plus a thin ipywidgets wrapper.

Every demo comes in two parts:

- ``*_figure(...)``: a plain function of arrays and numbers that draws one
  figure and returns it (tests and headless runs call it with the defaults);
- ``interactive_*(...)``: wraps it with ipywidgets sliders/dropdowns and returns
  the widget (display it as the last line of a cell in Jupyter).

The demos: spectrogram parameters (notebook 02), median filter length and
decision threshold (notebook 04), the EMA of a noisy weight trajectory (notebook
06) and a clip picker comparing teacher, student and mean-student scores
(notebooks 06-08). ``ema_demo`` and ``clip_predictions_demo`` are the same
functions as ``ema_figure`` and ``clip_predictions_figure``.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dualkd_lib.constants import CLASSES, SAMPLE_RATE
from dualkd_lib.teaching.plots import _as_numpy, _events_table, class_colors, plot_logmel, plot_psd_roc

log = logging.getLogger(__name__)


def _interactive(fn: Callable[..., Figure], **controls: Any) -> Any:
    """ipywidgets.interactive around ``fn`` that shows the figure ``fn`` returns."""
    import ipywidgets

    def show(**kwargs: Any) -> None:
        fn(**kwargs)
        plt.show()

    return ipywidgets.interactive(show, **controls)


def _class_menu(default_label: str, classes: Sequence[str]) -> Any:
    """A class Dropdown whose first entry, ``default_label``, means "let the figure choose" (value "").

    Not ``None``: ipywidgets takes ``value=None`` for "nothing selected" (``index=None``), and
    the browser then shows an empty menu instead of ``default_label``.
    """
    import ipywidgets

    return ipywidgets.Dropdown(options=[(default_label, ""), *[(c, c) for c in classes]], value="",
                               description="class")


# --------------------------------------------------------------------------- notebook 02
def spectrogram_figure(
    waveform: Any,
    hop_length: int = 256,
    n_mels: int = 64,
    n_fft: int = 1024,
    *,
    events: Any = None,
    sample_rate: int = SAMPLE_RATE,
) -> Figure:
    """Log-mel spectrogram of ``waveform`` ``[samples]`` for one choice of parameters.

    Shows how ``hop_length`` (time resolution: frames of ``hop_length /
    sample_rate`` s), ``n_fft`` (window: frequency resolution) and ``n_mels``
    (bins) change the picture; the title gives the feature shape. ``events``
    (``onset, offset, event_label``) are outlined. Taught in notebook 02.
    """
    from dualkd_lib.features import FeatureConfig, LogMel, mel_center_frequencies

    wave = torch.as_tensor(_as_numpy(waveform, "waveform", 1), dtype=torch.float32)
    cfg = FeatureConfig(sample_rate=sample_rate, n_fft=int(n_fft), win_length=int(n_fft), hop_length=int(hop_length),
                        n_mels=int(n_mels), f_max=sample_rate / 2, clip_seconds=len(wave) / sample_rate)
    with torch.no_grad():
        logmel = LogMel(cfg)(wave)[0].numpy()
    fig = plot_logmel(logmel, hop_length=cfg.hop_length, sample_rate=sample_rate,
                      mel_frequencies=mel_center_frequencies(cfg), colorbar=True)
    ax = fig.axes[0]
    colors = class_colors()
    for on, off, label in _events_table(events)[["onset", "offset", "event_label"]].itertuples(index=False):
        ax.add_patch(Rectangle((float(on), -0.5), float(off) - float(on), n_mels, fill=False,
                               edgecolor=colors.get(label, "w"), lw=1.2))
    ax.set_title(f"hop {hop_length} ({1000 * hop_length / sample_rate:.0f} ms), window {n_fft} "
                 f"({1000 * n_fft / sample_rate:.0f} ms), {n_mels} mels -> features {list(logmel.shape)}",
                 fontsize=9)
    fig.set_size_inches(9.0, 3.2)
    fig.tight_layout()
    return fig


def interactive_spectrogram(waveform: Any, *, events: Any = None, sample_rate: int = SAMPLE_RATE) -> Any:
    """Sliders for hop length, window length and mel bins over :func:`spectrogram_figure`.

    Taught in notebook 02.
    """
    import ipywidgets

    return _interactive(
        lambda hop_length, n_mels, n_fft: spectrogram_figure(waveform, hop_length, n_mels, n_fft, events=events,
                                                             sample_rate=sample_rate),
        hop_length=ipywidgets.SelectionSlider(options=[64, 128, 256, 512, 1024], value=256, description="hop"),
        n_mels=ipywidgets.SelectionSlider(options=[16, 32, 64, 128], value=64, description="n_mels"),
        n_fft=ipywidgets.SelectionSlider(options=[256, 512, 1024, 2048], value=1024, description="n_fft"),
    )


# --------------------------------------------------------------------------- notebook 04
def _clip_labels(ground_truth: Any, classes: Sequence[str], frame_seconds: float) -> pd.DataFrame:
    """Ground truth of one clip as events, from a table or frame labels ``[classes, frames]``."""
    if ground_truth is None or isinstance(ground_truth, pd.DataFrame) or (
        isinstance(ground_truth, list) and (not ground_truth or isinstance(ground_truth[0], tuple))
    ):
        return _events_table(ground_truth, "ground_truth")
    labels = _as_numpy(ground_truth, "ground_truth", 2)
    rows = []
    for c, label in enumerate(classes):
        edges = np.diff(np.concatenate([[0], labels[c] > 0.5, [0]]).astype(int))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            rows.append((a * frame_seconds, b * frame_seconds, label))
    return pd.DataFrame(rows, columns=["onset", "offset", "event_label"])


def median_filter_figure(
    scores: Any,
    ground_truth: Any = None,
    length: int = 7,
    threshold: float = 0.5,
    *,
    frame_seconds: float = 0.064,
    class_name: str | None = None,
    classes: Sequence[str] = CLASSES,
) -> Figure:
    """Raw and median-filtered scores of one class of one clip, and what each detects.

    ``scores``: ``[classes, frames]``; ``ground_truth``: events (``onset, offset,
    event_label``) or frame labels ``[classes, frames]``; ``length``: median
    filter length in frames (1 = none); ``class_name``: default, the class with
    the most ground truth (else the highest score). The bottom rows compare
    ground truth, raw detections and filtered detections; the title counts the
    detected events. Taught in notebook 04.
    """
    from dualkd_lib.evaluate import decode_detections, median_filter

    s = _as_numpy(scores, "scores", 2)
    if s.shape[0] != len(classes):
        raise ValueError(f"scores have {s.shape[0]} rows for {len(classes)} classes; scores must be [classes, frames].")
    gt = _clip_labels(ground_truth, classes, frame_seconds)
    if class_name is None:
        if len(gt):
            dur = (gt["offset"] - gt["onset"]).groupby(gt["event_label"]).sum()
            class_name = str(dur.idxmax())
        else:
            class_name = classes[int(s.max(axis=1).argmax())]
    if class_name not in classes:
        raise ValueError(f"class_name={class_name!r} is not one of {list(classes)}.")
    c = list(classes).index(class_name)
    length = int(length)
    filtered = median_filter(s, length)
    t = (np.arange(s.shape[1]) + 0.5) * frame_seconds
    color = class_colors(classes)[class_name]
    fig, (ax, ax_d) = plt.subplots(2, 1, figsize=(9.0, 3.8), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ax.plot(t, s[c], color="0.6", lw=1.0, label="raw score")
    ax.plot(t, filtered[c], color=color, lw=2.0, label=f"median filter, {length} frames")
    ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"threshold {threshold:.2f}")
    ax.set(ylim=(-0.02, 1.02), ylabel="score")
    ax.legend(fontsize=7, loc="upper right")
    rows = {"ground truth": gt[gt["event_label"] == class_name]}
    counts = {}
    for name, x in (("raw", s), ("filtered", filtered)):
        det = decode_detections(x[None], ["clip"], frame_seconds, threshold=threshold, classes=classes,
                                clip_seconds=s.shape[1] * frame_seconds)
        rows[f"detected ({name})"] = det[det["event_label"] == class_name]
        counts[name] = len(rows[f"detected ({name})"])
    for i, (name, ev) in enumerate(rows.items()):
        for on, off in ev[["onset", "offset"]].to_numpy(dtype=float):
            ax_d.add_patch(Rectangle((on, i - 0.35), off - on, 0.7, color=color if i else "0.5", lw=0))
    ax_d.set_yticks(range(len(rows)), list(rows), fontsize=8)
    ax_d.set(ylim=(len(rows) - 0.5, -0.5), xlim=(0, s.shape[1] * frame_seconds), xlabel="time (s)")
    ax.set_title(f"{class_name}: {len(rows['ground truth'])} true events, {counts['raw']} detected raw, "
                 f"{counts['filtered']} after the median filter", fontsize=9)
    fig.tight_layout()
    return fig


def interactive_median_filter(scores: Any, ground_truth: Any = None, *, frame_seconds: float = 0.064,
                              classes: Sequence[str] = CLASSES) -> Any:
    """Sliders for filter length and threshold and a class menu over :func:`median_filter_figure`.

    Taught in notebook 04.
    """
    import ipywidgets

    return _interactive(
        lambda length, threshold, class_name: median_filter_figure(
            scores, ground_truth, length, threshold, frame_seconds=frame_seconds, class_name=class_name or None,
            classes=classes),
        length=ipywidgets.IntSlider(value=7, min=1, max=31, step=2, description="length"),
        threshold=ipywidgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, description="threshold"),
        class_name=_class_menu("most ground truth", classes),
    )


def operating_points(
    detections: Mapping[float, Any] | str | Path,
    ground_truth: Any,
    durations: Any,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None = None,
    alpha_ct: float = 0.0,
    classes: Sequence[str] = CLASSES,
    **_ignored: Any,
) -> pd.DataFrame:
    """Per-class TPR and eFPR of each detection table (one per threshold).

    ``detections``: ``{threshold: table or TSV path}`` or a folder of
    threshold-named TSVs (``0.500.tsv``), as for
    :func:`dualkd_lib.evaluate.psds_from_operating_points`; the scenario keywords
    are the same (``alpha_st`` and ``max_efpr`` are accepted and ignored, so
    ``**PSDS1.as_kwargs()`` works). Returns a long table ``threshold, event_label,
    tpr, efpr`` (eFPR per hour). Taught in notebook 04.
    """
    from dualkd_lib.evaluate import count_intersections

    if isinstance(detections, (str, Path)):
        folder = Path(detections)
        if not folder.is_dir():
            raise FileNotFoundError(f"Operating-points folder {folder} does not exist.")
        detections = {float(p.stem): p for p in sorted(folder.glob("*.tsv"))}
    if not detections:
        raise ValueError("No detection tables given; pass {threshold: table} or a folder of '<threshold>.tsv'.")
    rows = []
    for threshold, table in sorted(detections.items()):
        counts = count_intersections(table, ground_truth, durations, dtc=dtc, gtc=gtc,
                                     cttc=cttc if alpha_ct > 0 else None, classes=classes)
        tpr, efpr = counts.rates(alpha_ct)
        rows += [(float(threshold), c, float(tpr[i]), float(efpr[i])) for i, c in enumerate(classes)]
    return pd.DataFrame(rows, columns=["threshold", "event_label", "tpr", "efpr"])


def threshold_figure(result: Any, points: pd.DataFrame, threshold: float | None = None) -> Figure:
    """One decision threshold's operating point on the PSD-ROC curve.

    ``result``: the :class:`~dualkd_lib.evaluate.PSDSResult` of the same
    detections; ``points``: :func:`operating_points`; ``threshold``: default, the
    one closest to 0.5. Draws the PSD-ROC, each class's point at that threshold
    (dots) and their mean (a star): a low threshold moves right and up (more true
    and more false positives), a high one left and down. Taught in notebook 04.
    """
    if points.empty:
        raise ValueError("points is empty; compute it with operating_points(...).")
    available = np.sort(points["threshold"].unique())
    wanted = 0.5 if threshold is None else float(threshold)
    chosen = float(available[np.abs(available - wanted).argmin()])
    fig = plot_psd_roc(result, per_class=False)
    ax = fig.axes[0]
    max_efpr = result.scenario.max_efpr
    at = points[points["threshold"] == chosen]
    colors = class_colors()
    for row in at.itertuples(index=False):
        ax.plot(min(row.efpr, max_efpr), row.tpr, "o", color=colors.get(row.event_label, "0.5"), ms=6,
                label=row.event_label, clip_on=False, mec="k" if row.efpr > max_efpr else "none")
    mean_efpr, mean_tpr = float(at["efpr"].mean()), float(at["tpr"].mean())
    ax.plot(min(mean_efpr, max_efpr), mean_tpr, "*", color="k", ms=16, label="mean over classes", clip_on=False)
    ax.set_title(f"threshold {chosen:.2f}: mean TPR {mean_tpr:.2f}, mean eFPR {mean_efpr:.0f}/h "
                 "(points past the axis end sit on its edge)", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.set_size_inches(8.5, 4.2)
    fig.tight_layout()
    return fig


def interactive_threshold(result: Any, points: pd.DataFrame) -> Any:
    """A slider over the thresholds of ``points`` driving :func:`threshold_figure`.

    Taught in notebook 04.
    """
    import ipywidgets

    options = [round(float(t), 3) for t in np.sort(points["threshold"].unique())]
    start = min(options, key=lambda t: abs(t - 0.5))
    return _interactive(
        lambda threshold: threshold_figure(result, points, threshold),
        threshold=ipywidgets.SelectionSlider(options=options, value=start, description="threshold"),
    )


# --------------------------------------------------------------------------- notebook 06
def ema_trajectory(n_steps: int = 400, *, noise: float = 0.5, seed: int = 0) -> np.ndarray:
    """A toy "student weight" over ``n_steps`` steps: a slow drift plus step-to-step noise.

    Returns float64 ``[n_steps]``; seeded. Taught in notebook 06.
    """
    if n_steps < 2:
        raise ValueError(f"n_steps={n_steps} must be >= 2.")
    rng = np.random.default_rng(seed)
    steps = np.arange(n_steps)
    drift = 1.0 - np.exp(-steps / (n_steps / 4)) + 0.3 * np.sin(steps / n_steps * 2 * np.pi)
    return drift + noise * rng.standard_normal(n_steps)


def ema_of(values: Any, alpha: float, *, warm_start: bool = True) -> np.ndarray:
    """Exponential moving average ``m_t = a_t m_{t-1} + (1 - a_t) x_t`` of ``values`` ``[steps]``.

    With ``warm_start`` the decay is ``a_t = min(1 - 1/(t+1), alpha)`` (DCASE's
    warm start, :func:`dualkd_lib.distill.ema_alpha`), so the average does not
    lag behind its starting value; without it ``a_t = alpha`` from a start at 0.
    Taught in notebook 06.
    """
    from dualkd_lib.distill import ema_alpha

    x = _as_numpy(values, "values", 1)
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha={alpha} must be in [0, 1).")
    out = np.empty_like(x)
    mean = 0.0
    for t, v in enumerate(x):
        a = ema_alpha(t, alpha) if warm_start else alpha
        mean = a * mean + (1.0 - a) * v
        out[t] = mean
    return out


def ema_figure(
    alpha: float = 0.99,
    n_steps: int = 400,
    *,
    noise: float = 0.5,
    warm_start: bool = True,
    seed: int = 0,
    values: Any = None,
) -> Figure:
    """A noisy weight trajectory (the student) and its EMA (the mean student).

    ``values``: your own trajectory ``[steps]``; default a seeded toy one
    (:func:`ema_trajectory`). The EMA is drawn with and without the warm start,
    so the early lag of a plain EMA is visible. The title gives the EMA's
    memory ``1 / (1 - alpha)`` steps and how much it reduces the step-to-step
    jitter. Taught in notebook 06.
    """
    x = ema_trajectory(n_steps, noise=noise, seed=seed) if values is None else _as_numpy(values, "values", 1)
    smooth = ema_of(x, alpha, warm_start=warm_start)
    fig, ax = plt.subplots(figsize=(9.0, 3.4))
    steps = np.arange(len(x))
    ax.plot(steps, x, color="0.65", lw=0.8, label="student weight θ (noisy)")
    ax.plot(steps, smooth, color="tab:red", lw=2.0,
            label=f"mean student θ̄ (EMA, α={alpha}{', warm start' if warm_start else ''})")
    if warm_start:
        ax.plot(steps, ema_of(x, alpha, warm_start=False), color="tab:red", lw=1.0, ls=":",
                label="EMA without warm start (starts at 0)")
    jitter_x = float(np.std(np.diff(x)))
    jitter_m = float(np.std(np.diff(smooth)))
    ax.set(xlabel="training step", ylabel="weight value")
    ax.set_title(f"memory ≈ {1 / (1 - alpha):.0f} steps; step-to-step jitter {jitter_x:.3f} → {jitter_m:.4f}",
                 fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


#: The name the notebooks' briefs use for :func:`ema_figure`.
ema_demo = ema_figure


def interactive_ema(values: Any = None, *, n_steps: int = 400, noise: float = 0.5, seed: int = 0) -> Any:
    """Slider for ``alpha`` and a warm-start checkbox over :func:`ema_figure`. Taught in notebook 06."""
    import ipywidgets

    return _interactive(
        lambda alpha, warm_start: ema_figure(alpha, n_steps, noise=noise, warm_start=warm_start, seed=seed,
                                             values=values),
        alpha=ipywidgets.SelectionSlider(options=[0.0, 0.5, 0.9, 0.95, 0.99, 0.995, 0.999], value=0.99,
                                         description="alpha"),
        warm_start=ipywidgets.Checkbox(value=True, description="warm start"),
    )


# --------------------------------------------------------------------------- notebooks 06-08
def clip_predictions_figure(
    clip_index: int = 0,
    scores: Mapping[str, Any] | None = None,
    ground_truth: Any = None,
    *,
    class_name: str | None = None,
    frame_seconds: float = 0.064,
    filenames: Sequence[str] | None = None,
    classes: Sequence[str] = CLASSES,
    threshold: float | None = 0.5,
    max_classes: int = 4,
) -> Figure:
    """Score curves of several models on one clip, against the ground truth.

    Args:
        clip_index: which clip (row of the arrays).
        scores: ``{model name: strong scores [N, classes, frames]}``, e.g.
            ``{"teacher": ..., "student": ..., "mean student": ...}`` (numpy or torch).
        ground_truth: frame labels ``[N, classes, frames]`` (``SplitTensors.strong``).
        class_name: the class to show; default the classes present in the
            clip's ground truth, else those any model scores above ``threshold``
            (at most ``max_classes`` panels).
        frame_seconds: seconds per output frame; filenames: names for the title.

    Taught in notebooks 06-08.
    """
    if not scores:
        raise ValueError("scores must be a non-empty {model name: [N, classes, frames]} dict.")
    arrays = {name: _as_numpy(s, f"scores[{name!r}]", 3) for name, s in scores.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"All score arrays must have the same shape [N, classes, frames], got {sorted(shapes)}.")
    n, n_classes, n_frames = shapes.pop()
    if n_classes != len(classes):
        raise ValueError(f"scores have {n_classes} classes but {len(classes)} class names were given.")
    if not 0 <= int(clip_index) < n:
        raise ValueError(f"clip_index={clip_index} is out of range; there are {n} clips (0..{n - 1}).")
    i = int(clip_index)
    gt = None
    if ground_truth is not None:
        gt = _as_numpy(ground_truth, "ground_truth", 3)
        if gt.shape != (n, n_classes, n_frames):
            raise ValueError(f"ground_truth has shape {gt.shape}; expected {(n, n_classes, n_frames)} like the scores.")
    if class_name is not None:
        if class_name not in classes:
            raise ValueError(f"class_name={class_name!r} is not one of {list(classes)}.")
        show = [class_name]
    else:
        present = [c for k, c in enumerate(classes) if gt is not None and gt[i, k].max() > 0.5]
        scored = [c for k, c in enumerate(classes)
                  if any(a[i, k].max() > (threshold or 0.5) for a in arrays.values())]
        show = list(dict.fromkeys(present + scored))[:max_classes] or [classes[0]]
    t = (np.arange(n_frames) + 0.5) * frame_seconds
    fig, axes = plt.subplots(len(show), 1, figsize=(9.0, 1.6 * len(show) + 0.7), sharex=True, squeeze=False)
    styles = ["-", "--", "-.", ":"]
    for ax, c in zip(axes[:, 0], show):
        k = list(classes).index(c)
        if gt is not None:
            ax.fill_between(t, 0, gt[i, k], step="mid", color=class_colors(classes)[c], alpha=0.25, lw=0,
                            label="ground truth")
        for m, (name, a) in enumerate(arrays.items()):
            ax.plot(t, a[i, k], lw=1.6, ls=styles[m % len(styles)], color=f"C{m}", label=name)
        if threshold is not None:
            ax.axhline(threshold, color="0.4", lw=0.7, ls=(0, (2, 4)))
        ax.set(ylim=(-0.02, 1.02), xlim=(0, n_frames * frame_seconds))
        ax.set_ylabel(c, fontsize=8, rotation=0, ha="right", va="center")
        ax.grid(alpha=0.25)
    axes[0, 0].legend(fontsize=7, loc="upper right", ncol=len(arrays) + 1)
    name = filenames[i] if filenames is not None else f"clip {i}"
    axes[0, 0].set_title(f"{name}: frame scores of {', '.join(arrays)}", fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


#: The name the notebooks' briefs use for :func:`clip_predictions_figure`.
clip_predictions_demo = clip_predictions_figure


def interactive_clip_predictions(
    scores: Mapping[str, Any],
    ground_truth: Any = None,
    *,
    frame_seconds: float = 0.064,
    filenames: Sequence[str] | None = None,
    classes: Sequence[str] = CLASSES,
) -> Any:
    """A clip slider and a class menu over :func:`clip_predictions_figure`. Taught in notebooks 06-08."""
    import ipywidgets

    n = len(next(iter(scores.values())))
    return _interactive(
        lambda clip_index, class_name: clip_predictions_figure(
            clip_index, scores, ground_truth, class_name=class_name or None, frame_seconds=frame_seconds,
            filenames=filenames, classes=classes),
        clip_index=ipywidgets.IntSlider(value=0, min=0, max=n - 1, description="clip"),
        class_name=_class_menu("classes in the clip", classes),
    )


__all__ = [
    "clip_predictions_demo",
    "clip_predictions_figure",
    "ema_demo",
    "ema_figure",
    "ema_of",
    "ema_trajectory",
    "interactive_clip_predictions",
    "interactive_ema",
    "interactive_median_filter",
    "interactive_spectrogram",
    "interactive_threshold",
    "median_filter_figure",
    "operating_points",
    "spectrogram_figure",
    "threshold_figure",
]
