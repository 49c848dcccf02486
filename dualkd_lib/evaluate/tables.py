"""Reading and checking event tables and clip durations (DataFrames or DESED TSV files).

Taught in notebook 04.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dualkd_lib import desed_io
from dualkd_lib.evaluate.scenarios import DurationsLike, EventsLike, PathLike, _EVENT_COLUMNS
from dualkd_lib.evaluate.decoding import audio_id

log = logging.getLogger(__name__)


# =========================================================================== input parsing
def _read_table(obj: pd.DataFrame | PathLike, what: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {path} does not exist.")
        return desed_io.read_tsv_frame(path)
    raise ValueError(f"{what} must be a pandas DataFrame or a TSV path, got {type(obj).__name__}.")


def _read_durations(durations: DurationsLike) -> dict[str, float]:
    """-> ``{audio_id: seconds}``, read by :func:`dualkd_lib.desed_io.read_durations_tsv` (one row per
    file, every duration a positive number); two names of one audio id must agree."""
    if isinstance(durations, Mapping):
        durations = pd.DataFrame({"filename": list(durations.keys()), "duration": list(durations.values())})
    table = _with_context("Durations", desed_io.read_durations_tsv, durations)
    out: dict[str, float] = {}
    for name, seconds in zip(table["filename"], table["duration"]):
        key = audio_id(name)
        if key in out and out[key] != seconds:
            raise ValueError(f"File {name!r} has two different durations ({out[key]} and {seconds}).")
        out[key] = float(seconds)
    if not out:
        raise ValueError("The durations table is empty; it must list every file of the evaluation set.")
    return out


def _with_context(what: str, reader: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> pd.DataFrame:
    """``reader(*args, **kwargs)``, its ``ValueError`` prefixed with what was being read."""
    try:
        return reader(*args, **kwargs)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


def _read_events(obj: EventsLike, what: str, classes: Sequence[str]) -> pd.DataFrame:
    """Event table -> DataFrame ``audio_id, onset, offset, event_label`` of the events, sorted.

    Accepts a DataFrame or TSV path with columns ``filename onset offset event_label`` (any
    order), or a ``sed_scores_eval`` dict ``{audio_id: [(onset, offset, label), ...]}``. All
    are read by :mod:`dualkd_lib.desed_io` with its rules (known labels, numeric times, onset
    >= 0, offset >= onset; rows with onset, offset and label all empty are clips without
    events, as in the real DESED validation TSV); zero-length events are dropped.
    """
    if isinstance(obj, Mapping):
        rows = [(key, ev[0], ev[1], ev[2]) for key, events in obj.items() for ev in events]
        obj = pd.DataFrame(rows, columns=list(_EVENT_COLUMNS))
    reader = desed_io.read_detections_tsv if what.startswith("Detections") else desed_io.read_strong_tsv
    table = _with_context(what, reader, obj, classes=classes)
    out = pd.DataFrame(
        {
            "audio_id": [audio_id(f) for f in table["filename"]],
            "onset": table["onset"].to_numpy(dtype=np.float64),
            "offset": table["offset"].to_numpy(dtype=np.float64),
            "event_label": table["event_label"].astype(str).to_numpy(),
        }
    )
    zero = out["offset"] == out["onset"]
    if zero.any():
        log.info("%s: dropping %d zero-length events.", what, int(zero.sum()))
        out = out[~zero]
    return out.sort_values(["audio_id", "event_label", "onset"], kind="stable").reset_index(drop=True)


def _check_events(
    events: pd.DataFrame,
    what: str,
    durations: Mapping[str, float],
    *,
    allow_touching: bool = True,
) -> None:
    """Files in durations, no overlap within a class (the labels were checked on reading).

    ``allow_touching=False`` also refuses two events of a class where one ends
    exactly where the next starts (``sed_scores_eval`` asserts on those).
    """
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
    gt = _read_events(ground_truth, "Ground truth", classes)
    _check_events(gt, "Ground truth", dur)
    _check_every_class_has_ground_truth(gt, classes)
    det = _read_events(detections, "Detections", classes)
    _check_events(det, "Detections", dur)
    return det, gt, dur
