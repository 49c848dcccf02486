"""Exercises of notebook 02 (features and label encoding): registered when ``exercises.check("2.x", fn)`` first asks.

Taught in notebook 02.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


from dualkd_lib.teaching.exercises.common import register, safe_array


# ---------------------------------------------------------------------------
# Notebook 02: features and label encoding
# ---------------------------------------------------------------------------
def event_frame_range(onset: Any, offset: Any, frame_seconds: float, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames an event covers: ``(first, end)`` int64 arrays, ``end`` exclusive.

    ``first = floor(onset / frame_seconds)``, ``end = ceil(offset / frame_seconds)``
    (with a 1e-6-frame tolerance against float rounding), clipped to the
    ``n_frames`` grid, at least one frame. The convention of
    :meth:`dualkd_lib.features.ManyHotEncoder.time_to_frames`, which this calls.
    Taught in notebook 02 (Exercise 2.1).
    """
    from dualkd_lib.features import ManyHotEncoder

    enc = ManyHotEncoder(("event",), clip_seconds=n_frames * frame_seconds, n_frames=n_frames,
                         frame_seconds=frame_seconds)
    return enc.time_to_frames(onset, offset)


def encode_strong(events: Any, n_frames: int, frame_seconds: float, classes: Sequence[str]) -> np.ndarray:
    """Events ``[(label, onset_s, offset_s), ...]`` -> frame labels ``[classes, n_frames]`` (float32 0/1).

    Frames as in :func:`event_frame_range`; the reference is
    :meth:`dualkd_lib.features.ManyHotEncoder.encode_strong`. Taught in notebook 02 (Exercise 2.2).
    """
    from dualkd_lib.features import ManyHotEncoder

    enc = ManyHotEncoder(tuple(classes), clip_seconds=n_frames * frame_seconds, n_frames=n_frames,
                         frame_seconds=frame_seconds)
    return enc.encode_strong(list(events))


def standardise(features: Any, mean: Any, std: Any) -> Any:
    """Per-mel standardisation ``(x - mean[mel]) / std[mel]`` of ``[batch, n_mels, frames]``.

    ``mean``, ``std``: ``[n_mels]`` tensors fitted on training data. The reference is
    :class:`dualkd_lib.features.Scaler`, loaded with these statistics.
    Taught in notebook 02 (Exercise 2.3).
    """
    import torch

    from dualkd_lib.features import Scaler

    mean = torch.as_tensor(mean, dtype=torch.float32)
    scaler = Scaler(len(mean))
    scaler.load_state_dict({"mean": mean, "std": torch.as_tensor(std, dtype=torch.float32),
                            "fitted": torch.tensor(True)})
    with torch.no_grad():
        return scaler(torch.as_tensor(features))


def _inputs_2_1(rng: np.random.Generator) -> dict:
    frame_seconds = float(rng.choice([0.064, 0.032, 0.1]))
    n_frames = int(10.0 / frame_seconds)
    n = 12
    onset = np.round(rng.uniform(0.0, 9.5, size=n), 3)
    offset = np.round(onset + rng.uniform(0.05, 3.0, size=n), 3)  # some run past the last frame
    # DESED-style times that sit exactly on frame edges (0.192 s = 3 frames of 64 ms)
    k = rng.integers(1, n_frames - 20, size=4)
    onset[:4] = np.round(k * frame_seconds, 3)
    offset[:4] = np.round((k + rng.integers(1, 15, size=4)) * frame_seconds, 3)
    return {"onset": onset, "offset": offset, "frame_seconds": frame_seconds, "n_frames": n_frames}


def _frame_variant(inputs: dict, on_rule: Callable, off_rule: Callable, tol: float = 1e-6, clip: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Frame ranges computed with other rounding rules, to recognise typical mistakes."""
    on = np.asarray(inputs["onset"]) / inputs["frame_seconds"]
    off = np.asarray(inputs["offset"]) / inputs["frame_seconds"]
    first, end = on_rule(on + tol).astype(np.int64), off_rule(off - tol).astype(np.int64)
    if clip:
        first, end = np.clip(first, 0, inputs["n_frames"] - 1), np.clip(end, 0, inputs["n_frames"])
        end = np.maximum(end, first + 1)
    return first, end


def _same_pair(user: Any, other: tuple[np.ndarray, np.ndarray]) -> bool:
    return len(user) == 2 and all(np.array_equal(safe_array(u), o) for u, o in zip(user, other))


def _hint_2_1_end_floor(user: Any, ref: Any, inputs: dict) -> bool:
    end = safe_array(user[1])
    return any(np.array_equal(end, _frame_variant(inputs, np.floor, np.floor, tol=tol)[1]) for tol in (1e-6, 0.0))


def _hint_2_1_inclusive(user: Any, ref: Any, inputs: dict) -> bool:
    return np.array_equal(safe_array(user[0]), ref[0]) and np.array_equal(safe_array(user[1]), ref[1] - 1)


def _hint_2_1_round(user: Any, ref: Any, inputs: dict) -> bool:
    return _same_pair(user, _frame_variant(inputs, np.round, np.round, tol=0.0))


def _hint_2_1_tolerance(user: Any, ref: Any, inputs: dict) -> bool:
    return _same_pair(user, _frame_variant(inputs, np.floor, np.ceil, tol=0.0))


def _hint_2_1_no_clip(user: Any, ref: Any, inputs: dict) -> bool:
    return int(np.max(safe_array(user[1]))) > inputs["n_frames"]


register(
    "2.1",
    event_frame_range,
    _inputs_2_1,
    hints=[
        (_hint_2_1_no_clip, "Some events run past the last frame: clip first to [0, n_frames - 1] and end to "
                            "[0, n_frames] (np.clip)."),
        (_hint_2_1_end_floor, "The offset's own frame is active too: use np.ceil for the end (and np.floor for "
                              "the onset), so every frame the event touches is labelled."),
        (_hint_2_1_inclusive, "Return `end` exclusive, like a Python slice (labels[first:end]): one more than the "
                              "last active frame."),
        (_hint_2_1_round, "Don't round to the nearest frame: floor the onset, ceil the offset."),
        (_hint_2_1_tolerance, "Float rounding: 0.192 / 0.064 = 2.9999999999999996, so floor gives 2. Add a "
                              "tolerance of 1e-6 frames: floor(x + 1e-6) for onsets, ceil(x - 1e-6) for offsets."),
        ("dtype", "Frame indices are whole numbers: finish with .astype(np.int64)."),
        ("type", "Return a tuple (first, end) of two numpy arrays."),
        ("length", "Return a tuple of exactly two arrays: (first, end)."),
    ],
    task="turn onset/offset times into frame ranges",
)


def _inputs_2_2(rng: np.random.Generator) -> dict:
    from dualkd_lib.constants import CLASSES

    classes = list(CLASSES[: int(rng.integers(3, len(CLASSES) + 1))])
    frame_seconds = float(rng.choice([0.064, 0.1]))
    n_frames = int(10.0 / frame_seconds)
    events = []
    for _ in range(int(rng.integers(2, 7))):
        onset = round(float(rng.uniform(0.0, 9.0)), 3)
        events.append((str(rng.choice(classes)), onset, round(min(onset + float(rng.uniform(0.1, 4.0)), 10.0), 3)))
    events.append((classes[0], round(3 * frame_seconds, 3), round(7 * frame_seconds, 3)))  # on frame edges
    return {"events": events, "n_frames": n_frames, "frame_seconds": frame_seconds, "classes": classes}


def _hint_2_2_transposed(user: Any, ref: Any, inputs: dict) -> bool:
    return safe_array(user).shape == ref.shape[::-1]


def _hint_2_2_end_floor(user: Any, ref: Any, inputs: dict) -> bool:
    u = safe_array(user)
    return u.shape == ref.shape and u.sum() < ref.sum() and np.all(u <= ref)


def _hint_2_2_inclusive(user: Any, ref: Any, inputs: dict) -> bool:
    u = safe_array(user)
    return u.shape == ref.shape and u.sum() > ref.sum() and np.all(u >= ref)


register(
    "2.2",
    encode_strong,
    _inputs_2_2,
    hints=[
        (_hint_2_2_transposed, "Rows are classes and columns frames: np.zeros((len(classes), n_frames)), "
                               "then labels[class_index, first:end] = 1."),
        (_hint_2_2_end_floor, "Some active frames are missing: the offset's frame counts (ceil, with the 1e-6 "
                              "tolerance), and `end` is exclusive. Reuse event_frame_range from Exercise 2.1."),
        (_hint_2_2_inclusive, "Too many active frames: `end` is exclusive (labels[c, first:end]), and onsets "
                              "use floor with a +1e-6 tolerance so 0.192 s starts frame 3, not 2."),
        ("dtype", "Labels are float32 (the loss compares them with float scores): np.zeros(..., dtype=np.float32)."),
        ("type", "Return a numpy array [classes, n_frames]."),
    ],
    task="encode events as frame labels",
)


def _inputs_2_3(rng: np.random.Generator) -> tuple:
    import torch

    n_mels = int(rng.choice([8, 16, 64]))
    frames = int(rng.integers(20, 40))
    mean = rng.normal(-20.0, 10.0, size=n_mels)
    std = rng.uniform(5.0, 15.0, size=n_mels)
    x = mean[None, :, None] + std[None, :, None] * rng.standard_normal((3, n_mels, frames)) + 3.0
    as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    return (as_t(x), as_t(mean), as_t(std))


def _hint_2_3_batch_stats(user: Any, ref: Any, inputs: tuple) -> bool:
    x = inputs[0]
    own = (x - x.mean()) / x.std()
    per_mel = (x - x.mean(dim=(0, 2), keepdim=True)) / x.std(dim=(0, 2), keepdim=True)
    return any(bool(np.allclose(safe_array(user), o.numpy(), atol=1e-3)) for o in (own, per_mel))


def _hint_2_3_variance(user: Any, ref: Any, inputs: tuple) -> bool:
    x, mean, std = inputs
    return bool(np.allclose(safe_array(user), ((x - mean[:, None]) / std[:, None] ** 2).numpy(), atol=1e-4))


register(
    "2.3",
    standardise,
    _inputs_2_3,
    hints=[
        ("error", "mean and std have one value per mel bin; index them as mean[:, None] so they broadcast "
                  "over [batch, n_mels, frames] along dim 1."),
        (_hint_2_3_batch_stats, "Use the given mean and std (fitted once on the training set), not statistics "
                                "of this batch: a test clip must be scaled exactly like the training data."),
        (_hint_2_3_variance, "Divide by the standard deviation, not the variance."),
        ("shape", "Keep the shape [batch, n_mels, frames]: mean[:, None] broadcasts over frames."),
        ("type", "Return a torch tensor (torch operations on the inputs give one)."),
    ],
    task="standardise features with the training mean and std",
)
