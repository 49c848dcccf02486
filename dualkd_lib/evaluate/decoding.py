"""From frame scores to events: median filter, thresholds, decoding, and sed_scores_eval score tables.

Taught in notebook 04.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view

with warnings.catch_warnings():  # dcase_util (imported by sed_scores_eval) imports pkg_resources: not ours to fix
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from sed_scores_eval.base_modules.io import read_sed_scores, write_sed_scores
    from sed_scores_eval.base_modules.scores import create_score_dataframe
from dualkd_lib.constants import CLASSES, CLIP_SECONDS
from dualkd_lib.evaluate.scenarios import Array, PathLike, _EVENT_COLUMNS


# =========================================================================== post-processing
def _to_numpy(x: Array) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _like_input(result: np.ndarray, original: Array) -> Array:
    if isinstance(original, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(result)).to(device=original.device)
    return result


def _per_class_lengths(lengths: int | Sequence[int], n_classes: int) -> list[int]:
    if isinstance(lengths, (int, np.integer)):
        lengths = [int(lengths)] * n_classes
    lengths = list(lengths)
    if len(lengths) != n_classes:
        raise ValueError(
            f"Got {len(lengths)} median filter lengths for {n_classes} classes; "
            "pass one int for all classes or one per class."
        )
    for k in lengths:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"Median filter length {k!r} must be an int >= 1 (frames); 1 means no filtering.")
    return [int(k) for k in lengths]


def _median_along_time(x: np.ndarray, length: int) -> np.ndarray:
    """Running median of ``x [rows, frames]`` over ``length`` frames, edges repeated."""
    if length == 1:
        return x.copy()
    left = length // 2  # frames before the centre (scipy centres the window like this)
    right = length - 1 - left  # frames after the centre
    padded = np.pad(x, ((0, 0), (left, right)), mode="edge")  # repeat the edge frames
    windows = sliding_window_view(padded, length, axis=-1)  # [rows, frames, length]
    # The middle of the sorted window. For an even length this is the upper of the
    # two middle values (scipy.ndimage does the same; it does not average them).
    return np.sort(windows, axis=-1)[..., length // 2]


def median_filter(scores: Array, lengths: int | Sequence[int]) -> Array:
    """Median-filter frame scores along time, with one filter length per class.

    Args:
        scores: ``[classes, frames]`` or ``[batch, classes, frames]``, numpy or torch.
        lengths: filter length in frames, one int for all classes or one per
            class (1 = no filtering). Edges repeat the first/last frame, like
            ``scipy.ndimage.median_filter(..., mode="nearest")``.

    Returns:
        Filtered scores, same shape and type (numpy or torch) as ``scores``.

    Taught in notebook 04 (exercise).
    """
    x = _to_numpy(scores)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"scores must be [classes, frames] or [batch, classes, frames]; got shape {tuple(x.shape)}."
        )
    batch = x[None] if x.ndim == 2 else x  # [batch, classes, frames]
    per_class = _per_class_lengths(lengths, batch.shape[1])
    out = np.empty_like(batch)
    for c, length in enumerate(per_class):
        out[:, c] = _median_along_time(batch[:, c], length)
    out = out[0] if x.ndim == 2 else out
    return _like_input(out, scores)


def binarize(scores: Array, threshold: float | Sequence[float]) -> Array:
    """Scores ``[..., classes, frames]`` -> boolean activity (``score > threshold``).

    ``threshold`` is one number or one per class. Returns the type of ``scores``
    (numpy bool array or torch bool tensor). Taught in notebook 04.
    """
    x = _to_numpy(scores)
    if x.ndim < 2:
        raise ValueError(f"scores must be [..., classes, frames]; got shape {tuple(x.shape)}.")
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim == 1:
        if len(thr) != x.shape[-2]:
            raise ValueError(f"Got {len(thr)} thresholds for {x.shape[-2]} classes; pass one or one per class.")
        thr = thr[:, None]  # broadcast over frames
    elif thr.ndim != 0:
        raise ValueError(f"threshold must be a number or a 1-d sequence, got shape {thr.shape}.")
    return _like_input(x > thr, scores)


def _frame_seconds_of(encoder_or_frame_seconds: Any) -> tuple[float, float | None]:
    """(seconds per frame, clip seconds or None) from a float or an encoder."""
    if isinstance(encoder_or_frame_seconds, (int, float, np.floating)):
        value, clip = float(encoder_or_frame_seconds), None
    elif hasattr(encoder_or_frame_seconds, "frame_seconds"):
        value = float(encoder_or_frame_seconds.frame_seconds)
        clip = getattr(encoder_or_frame_seconds, "clip_seconds", None)
    else:
        raise ValueError(
            f"encoder_or_frame_seconds={encoder_or_frame_seconds!r} must be seconds per output frame "
            "(e.g. 0.064) or a ManyHotEncoder."
        )
    if not value > 0:
        raise ValueError(f"Seconds per frame must be > 0, got {value}.")
    return value, clip


_AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac")


def audio_id(filename: str) -> str:
    """File name without its audio extension: the key sed_scores_eval uses.

    Only an audio extension is removed, so ids of DESED clips such as
    ``Y00pK0GMmE9s_70.000_80.000`` stay whole and the function is idempotent.
    """
    name = str(filename)
    return name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in _AUDIO_EXTENSIONS else name


def _check_score_shape(x: np.ndarray, filenames: Sequence[str], classes: Sequence[str]) -> None:
    """``x`` must be ``[n_files, classes, frames]``, one score matrix per file name, one row per class."""
    if x.ndim != 3:
        raise ValueError(f"scores must be [n_files, classes, frames]; got shape {tuple(x.shape)}.")
    if len(filenames) != x.shape[0]:
        raise ValueError(f"Got {len(filenames)} filenames for {x.shape[0]} score matrices; pass one per clip.")
    if len(classes) != x.shape[1]:
        raise ValueError(f"scores have {x.shape[1]} class rows but {len(classes)} classes were given.")


def decode_detections(
    scores: Array,
    filenames: Sequence[str],
    encoder_or_frame_seconds: Any,
    threshold: float | Sequence[float] = 0.5,
    median_lengths: int | Sequence[int] | None = None,
    *,
    classes: Sequence[str] | None = None,
    clip_seconds: float | None = None,
) -> pd.DataFrame:
    """Frame scores of many clips -> detected events (DESED detection table).

    Args:
        scores: ``[n_files, classes, frames]`` probabilities (numpy or torch).
        filenames: one name per clip, e.g. ``"000123.wav"``.
        encoder_or_frame_seconds: seconds per output frame, or a
            ``ManyHotEncoder`` (its ``frame_seconds`` and ``clip_seconds``).
        threshold: decision threshold, one or one per class (active if ``>``).
        median_lengths: median filter lengths in frames (see
            :func:`median_filter`), or ``None`` for no filtering.
        classes: class names of the score rows; default: the encoder's
            classes, else ``CLASSES``.
        clip_seconds: offsets are clipped to this; default: the encoder's
            clip length, else ``CLIP_SECONDS``.

    Returns:
        DataFrame with columns ``filename, onset, offset, event_label`` (seconds,
        3 decimals), one row per run of active frames, sorted by file and onset.
        Frame ``i`` spans ``[i, i + 1) * frame_seconds``.

    Taught in notebook 04.
    """
    x = _to_numpy(scores)
    if classes is None:
        classes = tuple(getattr(encoder_or_frame_seconds, "classes", CLASSES))
    _check_score_shape(x, filenames, classes)
    frame_seconds, encoder_clip = _frame_seconds_of(encoder_or_frame_seconds)
    if clip_seconds is None:
        clip_seconds = encoder_clip if encoder_clip is not None else CLIP_SECONDS
    if median_lengths is not None:
        x = median_filter(x, median_lengths)
    active = binarize(x, threshold)  # [n_files, classes, frames] bool

    rows = []
    for name, clip in zip(filenames, active):
        # +1 where a run of active frames starts, -1 one frame after it ends.
        edges = np.diff(clip.astype(np.int8), axis=-1, prepend=0, append=0)
        for c, label in enumerate(classes):
            starts = np.flatnonzero(edges[c] == 1)
            ends = np.flatnonzero(edges[c] == -1)
            for start, end in zip(starts, ends):
                onset = round(start * frame_seconds, 3)
                offset = round(min(end * frame_seconds, clip_seconds), 3)
                if offset > onset:
                    rows.append((str(name), onset, offset, label))
    out = pd.DataFrame(rows, columns=list(_EVENT_COLUMNS))
    return out.sort_values(["filename", "onset", "event_label"], kind="stable").reset_index(drop=True)


# =========================================================================== sed_scores_eval bridge
def scores_to_dataframes(
    scores: Array,
    filenames: Sequence[str],
    *,
    frame_seconds: float,
    classes: Sequence[str] = CLASSES,
    clip_seconds: float | Sequence[float] | None = CLIP_SECONDS,
) -> dict[str, pd.DataFrame]:
    """Frame scores -> ``sed_scores_eval`` score tables, one per clip.

    Args:
        scores: ``[n_files, classes, frames]`` (numpy or torch), e.g. after
            :func:`median_filter`.
        filenames: one name per clip; the keys of the result are their audio ids
            (name without extension).
        frame_seconds: seconds per output frame.
        classes: class names of the score rows.
        clip_seconds: clip length(s) in seconds (one, or one per clip); frame
            times are clipped to it and frames that start at or after it are
            dropped. ``None``: no clipping.

    Returns:
        ``{audio_id: DataFrame}`` with columns ``onset, offset, <class>...``,
        one row per frame (``sed_scores_eval.utils.scores.create_score_dataframe``).

    Taught in notebook 04.
    """
    x = _to_numpy(scores).astype(np.float64)
    _check_score_shape(x, filenames, classes)
    if not frame_seconds > 0:
        raise ValueError(f"frame_seconds={frame_seconds!r} must be > 0.")
    if clip_seconds is None or isinstance(clip_seconds, (int, float)):
        clips = [clip_seconds] * len(filenames)
    else:
        clips = list(clip_seconds)
        if len(clips) != len(filenames):
            raise ValueError(f"Got {len(clips)} clip lengths for {len(filenames)} clips.")
    n_frames = x.shape[2]
    out: dict[str, pd.DataFrame] = {}
    for name, clip_scores, clip in zip(filenames, x, clips):
        key = audio_id(name)
        if key in out:
            raise ValueError(f"File {name!r} appears twice in filenames; each clip must be listed once.")
        times = np.arange(n_frames + 1) * frame_seconds  # frame edges
        keep = n_frames
        if clip is not None:
            keep = int(np.sum(times[:-1] < clip - 1e-9))  # frames that start inside the clip
            if keep == 0:
                raise ValueError(f"Clip {name!r} of {clip} s is shorter than one frame.")
            times = np.minimum(times[: keep + 1], clip)
        out[key] = create_score_dataframe(clip_scores[:, :keep].T, times, list(classes))
    return out


def write_scores_dir(scores: Mapping[str, pd.DataFrame], folder: PathLike) -> Path:
    """Write score tables as ``<folder>/<audio_id>.tsv`` (``sed_scores_eval`` format).

    Returns the folder. Taught in notebook 04.
    """
    if not scores:
        raise ValueError("scores is empty; nothing to write.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for key, df in scores.items():
        write_sed_scores(df, folder / f"{audio_id(key)}.tsv")
    return folder


def read_scores_dir(folder: PathLike) -> dict[str, pd.DataFrame]:
    """Read a folder of ``sed_scores_eval`` score TSVs -> ``{audio_id: DataFrame}``.

    Taught in notebook 04.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Scores folder {folder} does not exist; write one with write_scores_dir().")
    files = sorted(folder.glob("*.tsv"))
    if not files:
        raise ValueError(f"Scores folder {folder} has no .tsv files; expected one score table per clip.")
    return {f.stem: read_sed_scores(f) for f in files}
