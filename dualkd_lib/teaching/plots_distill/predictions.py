"""Predictions on one clip, and the student's size and attention.

Taught in notebooks 03, 05 and 08.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from dualkd_lib.constants import CLASSES
from dualkd_lib.teaching.plots_distill.ablation import _summary_frame


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
