"""How close the student's distilled embeddings come to the teacher's frozen ones.

Taught in notebook 07.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
import torch

from dualkd_lib.constants import CLASSES


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
