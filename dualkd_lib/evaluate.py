"""Evaluation: post-processing, PSDS and event F1 for sound event detection.

The last steps of the pipeline, from frame scores to numbers:

1. **Post-processing.** :func:`median_filter` smooths the frame scores of each
   class along time; :func:`binarize` thresholds them; :func:`decode_detections`
   turns active runs of frames into events ``(filename, onset, offset,
   event_label)``, the DESED detection format.
2. **Threshold-independent PSDS** (:func:`psds`, :func:`psds1`, :func:`psds2`).
   The scores of every clip become a ``sed_scores_eval`` score table
   (:func:`scores_to_dataframes`), and ``sed_scores_eval`` computes the exact
   PSD-ROC over *all* thresholds.
3. **PSDS from operating points** (:func:`psds_from_operating_points`), the
   classic ``psds_eval`` way used by DCASE 2020/2021: a handful of detection
   tables, one per threshold, each gives one point per class on the ROC. We
   implement the ``psds_eval`` 0.5.3 algorithm here, readably, and test that it
   gives the same figures as ``psds_eval`` on real DESED detections.
4. **Event F1** at one threshold: :func:`collar_f1` (onset/offset collars, as
   ``sed_eval``) and :func:`intersection_f1` (DTC/GTC, as ``psds_eval``).

The PSDS scenarios are defined once, here: :data:`PSDS1`, :data:`PSDS2`,
:data:`DCASE2020`.

Intersection-based counting (Bilen et al., ICASSP 2020), for one class ``c``:

- a detection passes the **DTC** when at least ``dtc`` of its length overlaps
  ground-truth events of class ``c``; otherwise it is a **false positive**;
- a ground-truth event is a **true positive** when the detections that passed
  the DTC cover at least ``gtc`` of its length (the **GTC**);
- a false positive that overlaps ground truth of another class ``k`` by at
  least ``cttc`` of its length is also a **cross-trigger** on ``k`` (CTTC).

Rates: TPR = TP / number of ground-truth events; FPR = FP per hour of audio;
cross-trigger rate on ``k`` = CT per hour of ``k``'s ground truth; effective
FPR = FPR + ``alpha_ct`` x (mean cross-trigger rate over the other classes).
The PSD-ROC averages the per-class TPR-vs-eFPR curves and subtracts
``alpha_st`` x their standard deviation; PSDS is its area up to ``max_efpr``,
divided by ``max_efpr``.

Conventions: the evaluation set is the set of files in the durations table;
files are matched by their *audio id*, the file name without its extension
(``Y00pK0GMmE9s_70.000_80.000.wav`` -> ``Y00pK0GMmE9s_70.000_80.000``), as in
``sed_scores_eval``. Ground-truth rows with an empty label (clips without
events, as in the real DESED validation TSV) are accepted and mean "no event".

Taught in notebook 04.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

with warnings.catch_warnings():  # dcase_util (imported by sed_scores_eval) imports pkg_resources: not ours to fix
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from sed_scores_eval import intersection_based
    from sed_scores_eval.base_modules.io import read_sed_scores, write_sed_scores
    from sed_scores_eval.base_modules.scores import create_score_dataframe, validate_score_dataframe
from tqdm.auto import tqdm

from dualkd_lib.constants import CLASSES, CLIP_SECONDS

log = logging.getLogger(__name__)

PathLike = Union[str, Path]
Array = Union[np.ndarray, torch.Tensor]
#: Score tables ``{audio_id: DataFrame}`` or a folder of score TSVs.
ScoresLike = Union[Mapping[str, pd.DataFrame], str, Path]
#: Event table (DataFrame or TSV path, columns filename onset offset event_label),
#: or a sed_scores_eval dict ``{audio_id: [(onset, offset, label), ...]}``.
EventsLike = Union[pd.DataFrame, str, Path, Mapping[str, Sequence]]
#: Durations table (DataFrame or TSV path, columns filename duration) or ``{filename: seconds}``.
DurationsLike = Union[pd.DataFrame, str, Path, Mapping[str, float]]

#: Seconds in the unit of time of false-positive rates (PSDS counts FPs per hour).
SECONDS_PER_HOUR: float = 3600.0

_EVENT_COLUMNS = ("filename", "onset", "offset", "event_label")


# =========================================================================== scenarios
@dataclass(frozen=True)
class PSDSScenario:
    """The parameters of one PSDS evaluation scenario.

    Attributes:
        dtc: detection tolerance criterion, fraction of a detection that must
            overlap ground truth of its class, in (0, 1].
        gtc: ground-truth intersection criterion, fraction of a ground-truth
            event that detections must cover, in (0, 1].
        cttc: cross-trigger tolerance criterion in (0, 1], or ``None`` when
            cross-triggers are not penalised (``alpha_ct == 0``).
        alpha_ct: weight of the cross-trigger rate in the effective FPR, in [0, 1].
        alpha_st: weight of the across-class standard deviation of the TPR, >= 0.
        max_efpr: largest effective FPR (per hour) the area is computed to, > 0.

    Taught in notebook 04.
    """

    dtc: float
    gtc: float
    cttc: float | None
    alpha_ct: float
    alpha_st: float
    max_efpr: float

    def __post_init__(self) -> None:
        _check_scenario(self.dtc, self.gtc, self.cttc, self.alpha_ct, self.alpha_st, self.max_efpr)

    def as_kwargs(self) -> dict[str, float | None]:
        """The fields as keyword arguments of :func:`psds` and friends."""
        return dataclasses.asdict(self)


def _check_scenario(
    dtc: float, gtc: float, cttc: float | None, alpha_ct: float, alpha_st: float, max_efpr: float
) -> None:
    """Raise ValueError naming the first bad scenario parameter."""
    for name, value in (("dtc", dtc), ("gtc", gtc)):
        if not (isinstance(value, (int, float)) and 0.0 < value <= 1.0):
            raise ValueError(f"{name}={value!r} must be a number in (0, 1], e.g. 0.7 (PSDS1) or 0.1 (PSDS2).")
    if cttc is not None and not (isinstance(cttc, (int, float)) and 0.0 < cttc <= 1.0):
        raise ValueError(f"cttc={cttc!r} must be None or a number in (0, 1], e.g. 0.3.")
    if not (isinstance(alpha_ct, (int, float)) and 0.0 <= alpha_ct <= 1.0):
        raise ValueError(f"alpha_ct={alpha_ct!r} must be a number in [0, 1].")
    if alpha_ct > 0 and cttc is None:
        raise ValueError(f"alpha_ct={alpha_ct} > 0 penalises cross-triggers, so cttc must be given (e.g. cttc=0.3).")
    if not (isinstance(alpha_st, (int, float)) and alpha_st >= 0.0):
        raise ValueError(f"alpha_st={alpha_st!r} must be a number >= 0.")
    if not (isinstance(max_efpr, (int, float)) and max_efpr > 0.0 and math.isfinite(max_efpr)):
        raise ValueError(f"max_efpr={max_efpr!r} must be a positive number of false positives per hour, e.g. 100.")


#: DCASE scenario 1: tight localisation, cross-triggers not penalised.
PSDS1 = PSDSScenario(dtc=0.7, gtc=0.7, cttc=None, alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0)
#: DCASE scenario 2: loose localisation, cross-triggers penalised.
PSDS2 = PSDSScenario(dtc=0.1, gtc=0.1, cttc=0.3, alpha_ct=0.5, alpha_st=1.0, max_efpr=100.0)
#: The single PSDS setting of DCASE 2020 Task 4 (cttc is unused because alpha_ct is 0).
DCASE2020 = PSDSScenario(dtc=0.5, gtc=0.5, cttc=0.3, alpha_ct=0.0, alpha_st=0.0, max_efpr=100.0)


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


def _audio_id(filename: str) -> str:
    """File name without its audio extension: the key sed_scores_eval uses.

    Only an audio extension is removed, so ids of DESED clips such as
    ``Y00pK0GMmE9s_70.000_80.000`` stay whole and the function is idempotent.
    """
    name = str(filename)
    return name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in _AUDIO_EXTENSIONS else name


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
    if x.ndim != 3:
        raise ValueError(f"scores must be [n_files, classes, frames]; got shape {tuple(x.shape)}.")
    if len(filenames) != x.shape[0]:
        raise ValueError(f"Got {len(filenames)} filenames for {x.shape[0]} score matrices; pass one per clip.")
    if len(classes) != x.shape[1]:
        raise ValueError(f"scores have {x.shape[1]} class rows but {len(classes)} classes were given.")
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
    if x.ndim != 3:
        raise ValueError(f"scores must be [n_files, classes, frames]; got shape {tuple(x.shape)}.")
    if len(filenames) != x.shape[0]:
        raise ValueError(f"Got {len(filenames)} filenames for {x.shape[0]} score matrices; pass one per clip.")
    if len(classes) != x.shape[1]:
        raise ValueError(f"scores have {x.shape[1]} class rows but {len(classes)} classes were given.")
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
        key = _audio_id(name)
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
        write_sed_scores(df, folder / f"{_audio_id(key)}.tsv")
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


# =========================================================================== input parsing
def _read_table(obj: pd.DataFrame | PathLike, what: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {path} does not exist.")
        return pd.read_csv(path, sep="\t")
    raise ValueError(f"{what} must be a pandas DataFrame or a TSV path, got {type(obj).__name__}.")


def _read_durations(durations: DurationsLike) -> dict[str, float]:
    """-> ``{audio_id: seconds}``; every duration must be a positive number."""
    if isinstance(durations, Mapping):
        table = pd.DataFrame({"filename": list(durations.keys()), "duration": list(durations.values())})
    else:
        table = _read_table(durations, "Durations")
    missing = {"filename", "duration"} - set(table.columns)
    if missing:
        raise ValueError(f"Durations table lacks columns {sorted(missing)}; expected 'filename' and 'duration'.")
    out: dict[str, float] = {}
    for name, seconds in zip(table["filename"], table["duration"]):
        seconds = float(seconds)
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"Duration {seconds!r} of file {name!r} must be a positive number of seconds.")
        key = _audio_id(name)
        if key in out and out[key] != seconds:
            raise ValueError(f"File {name!r} has two different durations ({out[key]} and {seconds}).")
        out[key] = seconds
    if not out:
        raise ValueError("The durations table is empty; it must list every file of the evaluation set.")
    return out


def _read_events(obj: EventsLike, what: str) -> pd.DataFrame:
    """Event table -> DataFrame ``audio_id, onset, offset, event_label`` without empty rows.

    Accepts a DataFrame or TSV path with columns ``filename onset offset
    event_label`` (any order), or a ``sed_scores_eval`` dict ``{audio_id:
    [(onset, offset, label), ...]}``. Rows with an empty label (clips without
    events) are dropped.
    """
    if isinstance(obj, Mapping):
        rows = [(key, ev[0], ev[1], ev[2]) for key, events in obj.items() for ev in events]
        table = pd.DataFrame(rows, columns=list(_EVENT_COLUMNS))
    else:
        table = _read_table(obj, what)
    missing = set(_EVENT_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(
            f"{what} table lacks columns {sorted(missing)}; expected {list(_EVENT_COLUMNS)} (any order)."
        )
    table = table[table["event_label"].notna() & (table["event_label"].astype(str) != "")]
    out = pd.DataFrame(
        {
            "audio_id": [_audio_id(f) for f in table["filename"]],
            "onset": pd.to_numeric(table["onset"], errors="coerce").to_numpy(dtype=np.float64),
            "offset": pd.to_numeric(table["offset"], errors="coerce").to_numpy(dtype=np.float64),
            "event_label": table["event_label"].astype(str).to_numpy(),
        }
    )
    bad = ~np.isfinite(out["onset"]) | ~np.isfinite(out["offset"])
    if bad.any():
        row = out[bad].iloc[0]
        raise ValueError(f"{what}: event {row.event_label!r} in {row.audio_id!r} has a missing or non-numeric time.")
    backwards = out["offset"] < out["onset"]
    if backwards.any():
        row = out[backwards].iloc[0]
        raise ValueError(
            f"{what}: event {row.event_label!r} in {row.audio_id!r} has offset {row.offset} before onset {row.onset}."
        )
    zero = out["offset"] == out["onset"]
    if zero.any():
        log.info("%s: dropping %d zero-length events.", what, int(zero.sum()))
        out = out[~zero]
    return out.sort_values(["audio_id", "event_label", "onset"], kind="stable").reset_index(drop=True)


def _check_events(
    events: pd.DataFrame,
    what: str,
    classes: Sequence[str],
    durations: Mapping[str, float],
    *,
    allow_touching: bool = True,
) -> None:
    """Labels known, files in durations, no overlap within a class.

    ``allow_touching=False`` also refuses two events of a class where one ends
    exactly where the next starts (``sed_scores_eval`` asserts on those).
    """
    unknown = sorted(set(events["event_label"]) - set(classes))
    if unknown:
        raise ValueError(
            f"{what} contain unknown event label(s) {unknown}; valid labels are {list(classes)}."
        )
    not_listed = sorted(set(events["audio_id"]) - set(durations))
    if not_listed:
        raise ValueError(
            f"{what} mention {len(not_listed)} file(s) missing from the durations table, e.g. {not_listed[0]!r}; "
            "add them to the durations TSV (filename, duration)."
        )
    # Events are sorted by file, label and onset, so comparing each with the one
    # before finds any overlap between two events of one class in one clip.
    same = events["audio_id"].eq(events["audio_id"].shift()) & events["event_label"].eq(events["event_label"].shift())
    previous_end = events["offset"].shift()
    overlap = same & ((events["onset"] < previous_end) if allow_touching else (events["onset"] <= previous_end))
    if overlap.any():
        row = events[overlap].iloc[0]
        raise ValueError(
            f"{what}: overlapping {row.event_label!r} events in {row.audio_id!r} (one starts at {row.onset}); "
            "merge them into one event."
        )


def _check_every_class_has_ground_truth(gt: pd.DataFrame, classes: Sequence[str]) -> None:
    absent = [c for c in classes if c not in set(gt["event_label"])]
    if absent:
        raise ValueError(
            f"Class(es) {absent} have no ground-truth event in this evaluation set, so their TPR is undefined; "
            "evaluate on a set where every class occurs, or pass classes=... without them."
        )


def _prepare_events(
    detections: EventsLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    classes: Sequence[str],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    dur = _read_durations(durations)
    gt = _read_events(ground_truth, "Ground truth")
    _check_events(gt, "Ground truth", classes, dur)
    _check_every_class_has_ground_truth(gt, classes)
    det = _read_events(detections, "Detections")
    _check_events(det, "Detections", classes, dur)
    return det, gt, dur


# =========================================================================== intersection-based counting
@dataclass(frozen=True)
class IntersectionCounts:
    """Intersection-based counts of one detection table (one operating point).

    Attributes:
        classes: class order of the arrays.
        tp: ``[classes]`` ground-truth events detected (DTC and GTC met).
        fp: ``[classes]`` detections that fail the DTC.
        ct: ``[classes, classes]`` ``ct[c, k]``: false positives of ``c`` that
            meet the CTTC on ground truth of ``k`` (zeros when ``cttc`` is None).
        n_ref: ``[classes]`` number of ground-truth events.
        ref_seconds: ``[classes]`` total ground-truth duration (s).
        total_seconds: total audio duration of the evaluation set (s).

    Taught in notebook 04.
    """

    classes: tuple[str, ...]
    tp: np.ndarray
    fp: np.ndarray
    ct: np.ndarray
    n_ref: np.ndarray
    ref_seconds: np.ndarray
    total_seconds: float

    def rates(self, alpha_ct: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(TPR [classes], effective FPR per hour [classes])``."""
        tpr = self.tp / self.n_ref
        fpr = self.fp * SECONDS_PER_HOUR / self.total_seconds
        if alpha_ct == 0:
            return tpr, fpr
        n = len(self.classes)
        ct_rate = self.ct * SECONDS_PER_HOUR / self.ref_seconds[None, :]  # per hour of class k
        others = ~np.eye(n, dtype=bool)
        mean_ct_rate = np.array([ct_rate[c, others[c]].mean() for c in range(n)])
        return tpr, fpr + alpha_ct * mean_ct_rate


def _count(
    det: pd.DataFrame,
    gt: pd.DataFrame,
    dur: Mapping[str, float],
    classes: Sequence[str],
    dtc: float,
    gtc: float,
    cttc: float | None,
) -> IntersectionCounts:
    """The counting behind :func:`count_intersections`, on validated tables."""
    index = {c: i for i, c in enumerate(classes)}
    n = len(classes)
    det = det.reset_index(drop=True)
    gt = gt.reset_index(drop=True)
    det_len = (det["offset"] - det["onset"]).to_numpy()
    gt_len = (gt["offset"] - gt["onset"]).to_numpy()

    # Every (detection, ground-truth event) pair of the same clip, with their overlap in seconds.
    pairs = det.reset_index(names="det").merge(gt.reset_index(names="gt"), on="audio_id", suffixes=("_det", "_gt"))
    overlap = np.minimum(pairs["offset_det"], pairs["offset_gt"]) - np.maximum(pairs["onset_det"], pairs["onset_gt"])
    pairs["overlap"] = overlap.to_numpy()
    pairs = pairs[pairs["overlap"] > 0]
    same_class = pairs["event_label_det"] == pairs["event_label_gt"]

    # DTC: which fraction of each detection lies on ground truth of its own class?
    on_own_class = pairs[same_class].groupby("det")["overlap"].sum()
    det_precision = np.zeros(len(det))
    det_precision[on_own_class.index.to_numpy()] = on_own_class.to_numpy() / det_len[on_own_class.index.to_numpy()]
    passes_dtc = det_precision >= dtc

    # GTC: which fraction of each ground-truth event do the DTC-passing detections cover?
    good = pairs[same_class & passes_dtc[pairs["det"].to_numpy()]]
    covered = good.groupby("gt")["overlap"].sum()
    gt_coverage = np.zeros(len(gt))
    gt_coverage[covered.index.to_numpy()] = covered.to_numpy() / gt_len[covered.index.to_numpy()]
    detected = gt_coverage >= gtc

    det_class = det["event_label"].map(index).to_numpy(dtype=np.int64)
    gt_class = gt["event_label"].map(index).to_numpy(dtype=np.int64)
    tp = np.bincount(gt_class[detected], minlength=n)
    # A detection entirely outside its clip (real systems emit a few past the end
    # of short clips) is not counted at all, as in psds_eval.
    clip_end = det["audio_id"].map(dur).to_numpy()
    inside = (det["onset"].to_numpy() < clip_end) & (det["offset"].to_numpy() > 0)
    fp = np.bincount(det_class[~passes_dtc & inside], minlength=n)

    # CTTC: false positives lying (at least cttc of their length) on another class's ground truth.
    ct = np.zeros((n, n), dtype=np.int64)
    if cttc is not None:
        wrong = pairs[~same_class & ~passes_dtc[pairs["det"].to_numpy()]]
        on_other = wrong.groupby(["det", "event_label_gt"])["overlap"].sum().reset_index()
        fraction = on_other["overlap"].to_numpy() / det_len[on_other["det"].to_numpy()]
        hits = on_other[fraction >= cttc]
        np.add.at(
            ct,
            (det_class[hits["det"].to_numpy()], hits["event_label_gt"].map(index).to_numpy(dtype=np.int64)),
            1,
        )

    n_ref = np.bincount(gt_class, minlength=n)
    ref_seconds = np.bincount(gt_class, weights=gt_len, minlength=n)
    return IntersectionCounts(
        classes=tuple(classes),
        tp=tp,
        fp=fp,
        ct=ct,
        n_ref=n_ref,
        ref_seconds=ref_seconds,
        total_seconds=float(sum(dur.values())),
    )


def count_intersections(
    detections: EventsLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None = None,
    classes: Sequence[str] = CLASSES,
) -> IntersectionCounts:
    """Count TP, FP and cross-triggers of one detection table (psds_eval's rules).

    Args:
        detections: DESED detection table (``filename onset offset event_label``,
            any column order) or its TSV path.
        ground_truth: strong labels (table, TSV path or ``sed_scores_eval`` dict);
            rows with an empty label are clips without events.
        durations: ``filename duration`` table, TSV path or ``{filename: seconds}``;
            it defines the evaluation set (its total length is the FP-rate denominator).
        dtc, gtc, cttc: the criteria (see the module docstring); ``cttc=None``
            skips cross-trigger counting.
        classes: the classes evaluated; every one must have ground truth.

    Taught in notebook 04.
    """
    _check_scenario(dtc, gtc, cttc, 0.0, 0.0, 1.0)
    det, gt, dur = _prepare_events(detections, ground_truth, durations, classes)
    return _count(det, gt, dur, classes, dtc, gtc, cttc)


# =========================================================================== PSDS results
@dataclass(frozen=True, eq=False)
class PSDSResult:
    """A PSDS value with the curves behind it.

    Attributes:
        value: the PSDS, in [0, 1].
        per_class: ``{class: area under that class's TPR-vs-eFPR curve / max_efpr}``.
        efpr: summary PSD-ROC x values, effective FPR per hour, ascending, ending at ``max_efpr``.
        etpr: summary PSD-ROC y values (effective TPR: mean - alpha_st x std), a
            right-continuous staircase (plot with ``where="post"``).
        class_curves: ``{class: (efpr, tpr)}`` per-class staircases up to ``max_efpr``.
        scenario: the scenario evaluated.

    Taught in notebook 04.
    """

    value: float
    per_class: dict[str, float]
    efpr: np.ndarray
    etpr: np.ndarray
    class_curves: dict[str, tuple[np.ndarray, np.ndarray]]
    scenario: PSDSScenario

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: value, per-class values and the scenario."""
        return {
            "psds": float(self.value),
            "per_class": {c: float(v) for c, v in self.per_class.items()},
            "scenario": self.scenario.as_kwargs(),
        }


def _staircase_area(x: np.ndarray, y: np.ndarray, max_x: float) -> float:
    """Area under the right-continuous step curve through ``(x, y)`` from ``x[0]`` to ``max_x``.

    ``x`` ascending; ``y[i]`` holds on ``[x[i], x[i+1])``; the last value holds up to ``max_x``.
    """
    keep = x < max_x
    x_edges = np.append(x[keep], max_x)
    return float(np.sum(np.diff(x_edges) * y[keep]))


def psds(
    scores: ScoresLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None,
    alpha_ct: float,
    alpha_st: float,
    max_efpr: float,
) -> PSDSResult:
    """Threshold-independent PSDS of frame scores (exact PSD-ROC, ``sed_scores_eval``).

    Args:
        scores: ``{audio_id: score DataFrame}`` (see :func:`scores_to_dataframes`)
            or a folder of score TSVs (see :func:`write_scores_dir`). The score
            columns define the classes.
        ground_truth: strong labels (table, TSV path or ``sed_scores_eval`` dict);
            empty-label rows are clips without events; scored clips absent from
            it have no events.
        durations: ``filename duration`` table, TSV path or dict; must list
            exactly the scored clips.
        dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr: the scenario (keyword-only;
            see :class:`PSDSScenario`). ``cttc`` is ignored when ``alpha_ct == 0``.

    Returns:
        :class:`PSDSResult`.

    Taught in notebook 04.
    """
    scenario = PSDSScenario(dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr)
    if isinstance(scores, (str, Path)):
        scores = read_scores_dir(scores)
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty {audio_id: DataFrame} dict or a folder of score TSVs.")
    scores = {_audio_id(k): v for k, v in scores.items()}
    first = next(iter(scores))
    _, classes = validate_score_dataframe(scores[first])
    for key, df in scores.items():
        validate_score_dataframe(df, event_classes=classes)  # same classes in every table

    dur = _read_durations(durations)
    not_listed = sorted(set(scores) - set(dur))
    if not_listed:
        raise ValueError(
            f"{len(not_listed)} scored file(s) are missing from the durations table, e.g. {not_listed[0]!r}; "
            "add them to the durations TSV (filename, duration)."
        )
    unscored = sorted(set(dur) - set(scores))
    if unscored:
        raise ValueError(
            f"{len(unscored)} file(s) of the durations table have no scores (no score file or table), "
            f"e.g. {unscored[0]!r}; "
            "score every clip, pass durations of the scored clips only, or, if their audio is missing (common "
            "with DESED), evaluate only the clips on disk (dualkd evaluate --audio-dir AUDIO_DIR)."
        )
    gt = _read_events(ground_truth, "Ground truth")
    _check_events(gt, "Ground truth", classes, dur, allow_touching=False)
    _check_every_class_has_ground_truth(gt, classes)
    gt_dict: dict[str, list[tuple[float, float, str]]] = {key: [] for key in scores}
    for row in gt.itertuples(index=False):
        gt_dict[row.audio_id].append((float(row.onset), float(row.offset), row.event_label))

    value, per_class, (etpr, efpr), curves = intersection_based.psds(
        scores=scores,
        ground_truth=gt_dict,
        audio_durations={key: dur[key] for key in scores},
        dtc_threshold=dtc,
        gtc_threshold=gtc,
        cttc_threshold=cttc if alpha_ct > 0 else None,
        alpha_ct=alpha_ct,
        alpha_st=alpha_st,
        unit_of_time="hour",
        max_efpr=max_efpr,
    )
    class_curves = {c: (np.asarray(curves[c][1]), np.asarray(curves[c][0])) for c in classes}
    return PSDSResult(
        value=float(value),
        per_class={c: float(per_class[c]) for c in classes},
        efpr=np.asarray(efpr),
        etpr=np.asarray(etpr),
        class_curves=class_curves,
        scenario=scenario,
    )


def psds_scenario(
    scores: ScoresLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    scenario: PSDSScenario,
) -> PSDSResult:
    """:func:`psds` with the parameters of ``scenario`` (e.g. :data:`PSDS1`). Taught in notebook 04."""
    if not isinstance(scenario, PSDSScenario):
        raise ValueError(f"scenario must be a PSDSScenario such as PSDS1 or PSDS2, got {scenario!r}.")
    return psds(scores, ground_truth, durations, **scenario.as_kwargs())


def psds1(scores: ScoresLike, ground_truth: EventsLike, durations: DurationsLike) -> PSDSResult:
    """PSDS in DCASE scenario 1 (:data:`PSDS1`). Taught in notebook 04."""
    return psds_scenario(scores, ground_truth, durations, PSDS1)


def psds2(scores: ScoresLike, ground_truth: EventsLike, durations: DurationsLike) -> PSDSResult:
    """PSDS in DCASE scenario 2 (:data:`PSDS2`). Taught in notebook 04."""
    return psds_scenario(scores, ground_truth, durations, PSDS2)


# =========================================================================== PSDS from operating points
def _read_operating_points(
    detections: Mapping[float, pd.DataFrame | PathLike] | PathLike,
) -> dict[float, pd.DataFrame | PathLike]:
    """``{threshold: table or path}`` from a dict or a folder of ``<threshold>.tsv`` files."""
    if isinstance(detections, Mapping):
        ops = dict(detections)
    elif isinstance(detections, (str, Path)):
        folder = Path(detections)
        if not folder.is_dir():
            raise FileNotFoundError(f"Operating-points folder {folder} does not exist.")
        ops = {}
        for path in sorted(folder.glob("*.tsv")):
            try:
                threshold = float(path.stem)
            except ValueError:
                raise ValueError(
                    f"Detection file {path.name!r} in {folder} is not named by its threshold; "
                    "name each file like '0.500.tsv'."
                ) from None
            ops[threshold] = path
    else:
        raise ValueError(
            "detections must be {threshold: DataFrame or TSV path} or a folder of threshold-named TSVs, "
            f"got {type(detections).__name__}."
        )
    if not ops:
        raise ValueError("No operating points given; a PSD-ROC needs at least one detection table.")
    return dict(sorted(ops.items()))


def _psd_roc_from_points(
    tpr: np.ndarray, efpr: np.ndarray, classes: Sequence[str], alpha_st: float, max_efpr: float
) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """PSD-ROC from per-class operating points ``tpr, efpr [n_points, classes]``.

    Each class's ROC at eFPR ``x`` is the best TPR of its points with eFPR <= x
    (a staircase), evaluated on the union of all eFPR values; the point (0, 0),
    "detect nothing", is always included. Returns ``(grid, etpr, class_curves)``.
    """
    tpr = np.vstack([np.zeros(len(classes)), tpr])
    efpr = np.vstack([np.zeros(len(classes)), efpr])
    grid = np.unique(efpr)  # sorted union of all eFPR values
    class_tpr = np.empty((len(classes), len(grid)))
    for c in range(len(classes)):
        order = np.argsort(efpr[:, c], kind="stable")
        x = efpr[order, c]
        best = np.maximum.accumulate(tpr[order, c])  # best TPR reachable at eFPR <= x
        class_tpr[c] = best[np.searchsorted(x, grid, side="right") - 1]
    etpr = np.maximum(class_tpr.mean(axis=0) - alpha_st * class_tpr.std(axis=0), 0.0)
    curves = {c: (grid, class_tpr[i]) for i, c in enumerate(classes)}
    return grid, etpr, curves


def _cut_curve(x: np.ndarray, y: np.ndarray, max_x: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep the points with x < max_x and end the staircase at ``(max_x, last y)``."""
    keep = x < max_x
    return np.append(x[keep], max_x), np.append(y[keep], y[keep][-1] if keep.any() else 0.0)


def psds_from_operating_points(
    detections: Mapping[float, pd.DataFrame | PathLike] | PathLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None,
    alpha_ct: float,
    alpha_st: float,
    max_efpr: float,
    classes: Sequence[str] = CLASSES,
) -> PSDSResult:
    """PSDS from detection tables at several thresholds, as ``psds_eval`` 0.5.3 computes it.

    Each table (one operating point) gives, per class, a TPR and an effective
    FPR (see :class:`IntersectionCounts`). A class's ROC is the best TPR reached
    at or below each eFPR; the PSD-ROC is the mean over classes minus
    ``alpha_st`` x the standard deviation (clipped at 0); PSDS is its area up to
    ``max_efpr`` divided by ``max_efpr``. With few thresholds this
    under-estimates the threshold-independent :func:`psds`.

    Args:
        detections: ``{threshold: DataFrame or TSV path}`` or a folder of TSVs named
            by threshold (``0.510.tsv``), columns ``event_label onset offset filename``.
        ground_truth, durations: as in :func:`count_intersections`.
        dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr: the scenario (keyword-only).
            ``cttc`` is ignored when ``alpha_ct == 0``.
        classes: classes evaluated; every one must have ground truth.

    Taught in notebook 04.
    """
    scenario = PSDSScenario(dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr)
    ops = _read_operating_points(detections)
    dur = _read_durations(durations)
    gt = _read_events(ground_truth, "Ground truth")
    _check_events(gt, "Ground truth", classes, dur)
    _check_every_class_has_ground_truth(gt, classes)

    tprs, efprs = [], []
    for threshold, table in tqdm(ops.items(), desc="operating points", leave=False, disable=len(ops) < 5):
        det = _read_events(table, f"Detections at threshold {threshold}")
        _check_events(det, f"Detections at threshold {threshold}", classes, dur)
        counts = _count(det, gt, dur, classes, dtc, gtc, cttc if alpha_ct > 0 else None)
        tpr, efpr = counts.rates(alpha_ct)
        tprs.append(tpr)
        efprs.append(efpr)

    grid, etpr, curves = _psd_roc_from_points(np.array(tprs), np.array(efprs), classes, alpha_st, max_efpr)
    value = _staircase_area(grid, etpr, max_efpr) / max_efpr
    per_class = {c: _staircase_area(x, y, max_efpr) / max_efpr for c, (x, y) in curves.items()}
    efpr_out, etpr_out = _cut_curve(grid, etpr, max_efpr)
    return PSDSResult(
        value=float(value),
        per_class=per_class,
        efpr=efpr_out,
        etpr=etpr_out,
        class_curves={c: _cut_curve(x, y, max_efpr) for c, (x, y) in curves.items()},
        scenario=scenario,
    )


def psd_roc_data(result: PSDSResult) -> pd.DataFrame:
    """Long table of the PSD-ROC curves of a :class:`PSDSResult`, ready to plot.

    Columns ``curve`` (``"PSD-ROC"`` for the summary curve, else a class name),
    ``efpr`` (effective FPR per hour) and ``tpr``. Every curve starts at eFPR 0
    and ends at ``max_efpr``; draw it as a staircase, e.g.
    ``ax.step(d.efpr, d.tpr, where="post")`` per curve.

    Taught in notebook 04.
    """
    if not isinstance(result, PSDSResult):
        raise ValueError(
            "psd_roc_data needs a PSDSResult (from psds() or psds_from_operating_points()), "
            f"got {type(result).__name__}."
        )
    max_efpr = result.scenario.max_efpr
    frames = []
    for name, (x, y) in [("PSD-ROC", (result.efpr, result.etpr)), *result.class_curves.items()]:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) == 0 or x[0] > 0:  # the curve starts at (0, 0): nothing detected
            x, y = np.append(0.0, x), np.append(0.0, y)
        x, y = _cut_curve(x, y, max_efpr)
        frames.append(pd.DataFrame({"curve": name, "efpr": x, "tpr": y}))
    return pd.concat(frames, ignore_index=True)


# =========================================================================== F1 scores
@dataclass(frozen=True)
class F1Result:
    """Event F1 at one operating point.

    Attributes:
        micro: F1 of the counts summed over classes.
        macro: mean of the per-class F1 (what DCASE reports as "event-based F1").
        per_class: ``{class: F1}`` (0 for a class without true positives).
        precision, recall: micro-averaged.
        tp, fp, fn: ``{class: count}``.

    Taught in notebook 04.
    """

    micro: float
    macro: float
    per_class: dict[str, float]
    precision: float
    recall: float
    tp: dict[str, int]
    fp: dict[str, int]
    fn: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "micro": float(self.micro),
            "macro": float(self.macro),
            "per_class": {c: float(v) for c, v in self.per_class.items()},
            "precision": float(self.precision),
            "recall": float(self.recall),
            "tp": {c: int(v) for c, v in self.tp.items()},
            "fp": {c: int(v) for c, v in self.fp.items()},
            "fn": {c: int(v) for c, v in self.fn.items()},
        }


def _f1_result(classes: Sequence[str], tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> F1Result:
    def f1(t: float, p: float, n: float) -> float:
        return 2 * t / (2 * t + p + n) if t > 0 else 0.0

    per_class = {c: f1(tp[i], fp[i], fn[i]) for i, c in enumerate(classes)}
    tp_all, fp_all, fn_all = int(tp.sum()), int(fp.sum()), int(fn.sum())
    return F1Result(
        micro=f1(tp_all, fp_all, fn_all),
        macro=float(np.mean(list(per_class.values()))),
        per_class=per_class,
        precision=tp_all / max(tp_all + fp_all, 1),
        recall=tp_all / max(tp_all + fn_all, 1),
        tp={c: int(tp[i]) for i, c in enumerate(classes)},
        fp={c: int(fp[i]) for i, c in enumerate(classes)},
        fn={c: int(fn[i]) for i, c in enumerate(classes)},
    )


def intersection_f1(
    detections: EventsLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float = 0.5,
    gtc: float = 0.5,
    cttc: float = 0.3,
    classes: Sequence[str] = CLASSES,
) -> F1Result:
    """Intersection-based event F1 (``psds_eval``'s ``compute_macro_f_score``).

    TP, FP as in :func:`count_intersections`; FN = ground-truth events not
    detected. A cross-trigger is just a false positive here, so ``cttc`` does
    not change the F1 (it is kept for parity with ``psds_eval``). Note:
    ``psds_eval`` 0.5.3 leaves a class with no true positive out of the macro
    average (its F1 is NaN there); we count it as 0, so the two differ only
    when some class has no true positive.

    Taught in notebook 04.
    """
    counts = count_intersections(detections, ground_truth, durations, dtc=dtc, gtc=gtc, cttc=cttc, classes=classes)
    return _f1_result(classes, counts.tp, counts.fp, counts.n_ref - counts.tp)


def collar_f1(
    detections: EventsLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    onset_collar: float = 0.2,
    offset_collar: float = 0.2,
    offset_collar_rate: float = 0.2,
    classes: Sequence[str] = CLASSES,
) -> F1Result:
    """Collar-based event F1 (as ``sed_eval``'s event-based metrics, DCASE setting).

    A detection matches a ground-truth event of its class when its onset is
    within ``onset_collar`` seconds of the event's onset and its offset within
    ``max(offset_collar, offset_collar_rate x event length)`` of the event's
    offset. Each event and each detection is matched at most once, and the
    matching with the most pairs is used (maximum bipartite matching). TP =
    matched pairs, FP = unmatched detections, FN = unmatched events.

    Taught in notebook 04.
    """
    for name, value in (("onset_collar", onset_collar), ("offset_collar", offset_collar),
                        ("offset_collar_rate", offset_collar_rate)):
        if not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"{name}={value!r} must be a number >= 0 (seconds, or a fraction for the rate).")
    det, gt, _ = _prepare_events(detections, ground_truth, durations, classes)
    n = len(classes)
    tp = np.zeros(n, dtype=np.int64)
    det_groups = dict(tuple(det.groupby(["audio_id", "event_label"])))
    for (audio_id, label), ref in gt.groupby(["audio_id", "event_label"]):
        est = det_groups.get((audio_id, label))
        if est is None:
            continue
        onset_ok = np.abs(est["onset"].to_numpy()[:, None] - ref["onset"].to_numpy()[None, :]) <= onset_collar
        ref_len = (ref["offset"] - ref["onset"]).to_numpy()
        tolerance = np.maximum(offset_collar, offset_collar_rate * ref_len)
        offset_ok = np.abs(est["offset"].to_numpy()[:, None] - ref["offset"].to_numpy()[None, :]) <= tolerance
        hits = csr_matrix((onset_ok & offset_ok).astype(np.int8))  # [detections, events]
        matched = maximum_bipartite_matching(hits, perm_type="column")  # event matched to each detection, or -1
        tp[classes.index(label)] += int(np.sum(matched >= 0))
    n_det = det["event_label"].value_counts().reindex(classes, fill_value=0).to_numpy()
    n_ref = gt["event_label"].value_counts().reindex(classes, fill_value=0).to_numpy()
    return _f1_result(classes, tp, n_det - tp, n_ref - tp)


# =========================================================================== one-call evaluation (CLI)
_SCENARIO_KEYS = ("dtc", "gtc", "cttc", "alpha_ct", "alpha_st", "max_efpr")


def _custom_scenario(overrides: Mapping[str, float | None]) -> PSDSScenario | None:
    """PSDS1 with the given fields replaced, or None when nothing is overridden."""
    unknown = sorted(set(overrides) - set(_SCENARIO_KEYS))
    if unknown:
        raise ValueError(f"Unknown scenario parameter(s) {unknown}; valid ones are {list(_SCENARIO_KEYS)}.")
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return None
    if given.get("alpha_ct", PSDS1.alpha_ct) == 0 and "cttc" in given:
        log.info("cttc=%s is unused because alpha_ct is 0.", given["cttc"])
    return dataclasses.replace(PSDS1, **given)


def _restrict_to_audio(
    ground_truth: pd.DataFrame | Mapping, durations: dict[str, float], audio_dir: PathLike
) -> tuple[pd.DataFrame | Mapping, dict[str, float], list[str]]:
    """Keep the files of ``ground_truth``/``durations`` whose audio is in ``audio_dir``.

    Real DESED copies often lack a few clips; their ground truth would count as misses.
    Returns the restricted tables and the sorted ids of the files left out.
    """
    folder = Path(audio_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"Audio folder {folder} does not exist; give the folder of the evaluated clips.")
    on_disk = {_audio_id(f.name) for f in folder.iterdir() if f.suffix.lower() in _AUDIO_EXTENSIONS}
    left_out = sorted(set(durations) - on_disk)
    kept = {key: seconds for key, seconds in durations.items() if key in on_disk}
    if not kept:
        raise ValueError(
            f"None of the {len(durations)} files of the durations table is in {folder}, e.g. {left_out[0]!r}; "
            "is it the audio folder of this evaluation set?"
        )
    if left_out:
        log.warning("%d of %d files of the durations table are not in %s (e.g. %r): evaluating the other %d.",
                    len(left_out), len(durations), folder, left_out[0], len(kept))
    if isinstance(ground_truth, Mapping):
        gt = {key: events for key, events in ground_truth.items() if _audio_id(key) in on_disk}
    else:
        gt = ground_truth[[_audio_id(f) in on_disk for f in ground_truth["filename"]]].reset_index(drop=True)
    return gt, kept, left_out


def evaluate_detections_path(
    ground_truth: PathLike | pd.DataFrame,
    durations: PathLike | pd.DataFrame,
    detections_path: PathLike,
    *,
    audio_dir: PathLike | None = None,
    **scenario_overrides: float | None,
) -> dict[str, Any]:
    """Evaluate detections on disk: a folder of threshold-named TSVs, or one TSV.

    Returns a JSON-ready dict: ``psds1`` and ``psds2`` from the operating points
    (a single TSV is one operating point); for a single TSV also ``f1_collar``
    (macro), ``f1_collar_micro`` and ``f1_intersection`` (macro, dtc=gtc=0.5).
    When scenario overrides are given (``dtc=...``, ..., others taken from
    PSDS1), ``psds`` and ``scenario`` replace ``psds1``/``psds2``. With ``audio_dir``,
    only files whose audio is in that folder are evaluated, detections included
    (``n_files_left_out`` says how many were not). Used by ``dualkd evaluate --detections``. Taught in notebook 04.
    """
    path = Path(detections_path)
    if not path.exists():
        raise FileNotFoundError(f"Detections path {path} does not exist; give a TSV or a folder of '<threshold>.tsv'.")
    custom = _custom_scenario(scenario_overrides)
    ops = _read_operating_points(path) if path.is_dir() else {0.5: path}
    ops = {threshold: _read_table(table, "Detections") for threshold, table in ops.items()}  # read once
    gt = ground_truth if isinstance(ground_truth, Mapping) else _read_table(ground_truth, "Ground truth")
    dur = _read_durations(durations)  # tables read once, reused below
    result: dict[str, Any] = {"n_operating_points": len(ops)}
    if audio_dir is not None:
        gt, dur, left_out = _restrict_to_audio(gt, dur, audio_dir)
        result["n_files_left_out"] = len(left_out)
        ops = {threshold: table[[_audio_id(f) in dur for f in table["filename"]]] for threshold, table in ops.items()}
    result["n_files"] = len(dur)
    scenarios = {"psds": custom} if custom is not None else {"psds1": PSDS1, "psds2": PSDS2}
    for key, scenario in scenarios.items():
        result[key] = psds_from_operating_points(ops, gt, dur, **scenario.as_kwargs()).value
    if custom is not None:
        result["scenario"] = custom.as_kwargs()
    if path.is_file():
        collar = collar_f1(ops[0.5], gt, dur)
        result["f1_collar"] = collar.macro
        result["f1_collar_micro"] = collar.micro
        result["f1_intersection"] = intersection_f1(ops[0.5], gt, dur).macro
    return result


def evaluate_scores_path(
    ground_truth: PathLike | pd.DataFrame,
    durations: PathLike | pd.DataFrame,
    scores_path: PathLike,
    *,
    audio_dir: PathLike | None = None,
    **scenario_overrides: float | None,
) -> dict[str, Any]:
    """Threshold-independent PSDS of a folder of ``sed_scores_eval`` score TSVs.

    Returns a JSON-ready dict with ``psds1`` and ``psds2``, or, with scenario
    overrides (others from PSDS1), ``psds`` and ``scenario``. With ``audio_dir``, only
    files whose audio is in that folder are evaluated (``n_files_left_out`` says how many
    were not). Used by ``dualkd evaluate --scores``. Taught in notebook 04.
    """
    custom = _custom_scenario(scenario_overrides)
    scores = read_scores_dir(scores_path)
    gt = ground_truth if isinstance(ground_truth, Mapping) else _read_table(ground_truth, "Ground truth")
    dur = _read_durations(durations)
    result: dict[str, Any] = {"n_files": len(scores)}
    if audio_dir is not None:
        gt, dur, left_out = _restrict_to_audio(gt, dur, audio_dir)
        result["n_files_left_out"] = len(left_out)
    scenarios = {"psds": custom} if custom is not None else {"psds1": PSDS1, "psds2": PSDS2}
    for key, scenario in scenarios.items():
        result[key] = psds_scenario(scores, gt, dur, scenario).value
    if custom is not None:
        result["scenario"] = custom.as_kwargs()
    return result
