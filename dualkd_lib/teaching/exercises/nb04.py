"""Exercises of notebook 04 (post-processing): registered when ``exercises.check("4.x", fn)`` first asks.

Taught in notebook 04.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


from dualkd_lib.teaching.exercises.checker import _describe, compare_outputs
from dualkd_lib.teaching.exercises.common import register, safe_array


# ---------------------------------------------------------------------------
# Notebook 04: post-processing
# ---------------------------------------------------------------------------
def _inputs_4_1(rng: np.random.Generator) -> tuple:
    frames = int(rng.integers(30, 80))
    scores = rng.random((10, frames))
    scores[:, : frames // 3] += 0.4 * (rng.random((10, 1)) > 0.5)  # a step, so edges matter
    return (np.clip(scores, 0.0, 1.0), int(rng.choice([3, 5, 7, 9])))


def _scipy_median(scores: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    from scipy.ndimage import median_filter as nd_median

    return nd_median(scores, size=size, mode=mode)


def _hint_4_1_axis(user: Any, ref: Any, inputs: tuple) -> bool:
    scores, length = inputs
    return bool(np.allclose(safe_array(user), _scipy_median(scores, (length, 1), "nearest")))


def _hint_4_1_edges(user: Any, ref: Any, inputs: tuple) -> bool:
    u = safe_array(user)
    half = inputs[1] // 2
    inner = slice(half, u.shape[-1] - half)
    return u.shape == ref.shape and np.allclose(u[:, inner], ref[:, inner]) and not np.allclose(u, ref)


register(
    "4.1",
    "dualkd_lib.evaluate:median_filter",
    _inputs_4_1,
    hints=[
        (_hint_4_1_axis, "You filtered across classes. Filter each class along time only: window (1, length), "
                         "or loop over the rows."),
        (_hint_4_1_edges, "The middle is right, the edges are not: pad each row by repeating its first and last "
                          "frame (np.pad(..., mode='edge'), or scipy's mode='nearest'), not with zeros or a mirror."),
        ("shape", "Return the same shape as the scores, [classes, frames]: pad the edges so the filter "
                  "keeps every frame."),
        ("type", "Return a numpy array."),
    ],
    task="median-filter the scores along time",
)


def decode_clip(scores: Any, threshold: float, frame_seconds: float, classes: Sequence[str] | None = None
                ) -> Any:
    """Scores of one clip ``[classes, frames]`` -> events ``event_label, onset, offset`` (s).

    A frame is active when its score is *above* ``threshold``; each run of active
    frames is one event from its first frame's start to its last frame's end.
    Rows sorted by class order, then onset. The reference is
    :func:`dualkd_lib.evaluate.decode_detections` on one clip. Taught in notebook 04
    (Exercise 4.2).
    """
    import pandas as pd

    from dualkd_lib.constants import CLASSES
    from dualkd_lib.evaluate import decode_detections

    classes = list(CLASSES if classes is None else classes)
    x = safe_array(scores).astype(np.float64)
    det = decode_detections(x[None], ["clip"], frame_seconds, threshold, classes=classes,
                            clip_seconds=x.shape[-1] * frame_seconds)
    det["order"] = det["event_label"].map({c: i for i, c in enumerate(classes)})
    det = det.sort_values(["order", "onset"]).reset_index(drop=True)
    return pd.DataFrame(det[["event_label", "onset", "offset"]])


def _inputs_4_2(rng: np.random.Generator) -> dict:
    from dualkd_lib.constants import CLASSES

    frames = int(rng.integers(40, 100))
    scores = np.round(rng.random((len(CLASSES), frames)) ** 2, 1)  # values on a 0.1 grid: some exactly 0.5
    scores[0, :3] = 0.9  # an event at the start of the clip
    scores[1, -3:] = 0.9  # and one that lasts to its end
    return {"scores": scores, "threshold": 0.5, "frame_seconds": float(rng.choice([0.064, 0.1]))}


def _as_events(table: Any) -> Any:
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, got {_describe(table)}")
    missing = {"event_label", "onset", "offset"} - set(table.columns)
    if missing:
        raise KeyError(f"missing columns {sorted(missing)}")
    out = table[["event_label", "onset", "offset"]].copy()
    out["onset"] = out["onset"].astype(float).round(3)
    out["offset"] = out["offset"].astype(float).round(3)
    return out.sort_values(["event_label", "onset"]).reset_index(drop=True)


def _compare_4_2(user: Any, ref: Any) -> str | None:
    try:
        u = _as_events(user)
    except (TypeError, KeyError) as err:
        return f"Return a DataFrame with columns event_label, onset, offset ({err})."
    r = _as_events(ref)
    if len(u) != len(r):
        return f"expected {len(r)} events, got {len(u)}."
    mismatch = compare_outputs(u, r, atol=1.5e-3, rtol=0.0, check_dtype=False)
    return None if mismatch is None else mismatch.message


def _variant_4_2(inputs: dict, active: np.ndarray, end_shift: int = 0, in_frames: bool = False) -> Any:
    import pandas as pd

    from dualkd_lib.constants import CLASSES

    fs = 1.0 if in_frames else inputs["frame_seconds"]
    rows = []
    for c, label in enumerate(CLASSES):
        edges = np.diff(np.concatenate([[0], active[c].astype(int), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            rows.append((label, a * fs, (b + end_shift) * fs))
    return pd.DataFrame(rows, columns=["event_label", "onset", "offset"])


def _matches(user: Any, other: Any) -> bool:
    return _compare_4_2(user, other) is None


def _hint_4_2_geq(user: Any, ref: Any, inputs: dict) -> bool:
    return _matches(user, _variant_4_2(inputs, inputs["scores"] >= inputs["threshold"]))


def _hint_4_2_end(user: Any, ref: Any, inputs: dict) -> bool:
    return _matches(user, _variant_4_2(inputs, inputs["scores"] > inputs["threshold"], end_shift=-1))


def _hint_4_2_frames(user: Any, ref: Any, inputs: dict) -> bool:
    return _matches(user, _variant_4_2(inputs, inputs["scores"] > inputs["threshold"], in_frames=True))


def _hint_4_2_edges(user: Any, ref: Any, inputs: dict) -> bool:
    return len(_as_events(user)) < len(ref)


register(
    "4.2",
    decode_clip,
    _inputs_4_2,
    hints=[
        (_hint_4_2_geq, "A frame is active when its score is strictly above the threshold: use `>`, not `>=`."),
        (_hint_4_2_end, "Offsets are one frame short: an event ends at the *end* of its last active frame, "
                        "(last + 1) × frame_seconds."),
        (_hint_4_2_frames, "Onsets and offsets must be in seconds: multiply frame indices by frame_seconds."),
        (_hint_4_2_edges, "Some events are missing: runs that start in the first frame or last until the final "
                          "frame need edges too. Pad the activity with a 0 on both sides before np.diff."),
        (lambda user, ref, inputs: True, "Binarize (scores > threshold), then for each class find where runs "
                                         "of active frames start (+1 in np.diff) and end (-1)."),
    ],
    task="binarize the scores and decode them into events",
    compare=_compare_4_2,
)
