"""Exercises of notebook 00 (warm-up): registered when ``exercises.check("0.x", fn)`` first asks.

Taught in notebook 00.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dualkd_lib.constants import SAMPLE_RATE
from dualkd_lib.teaching.exercises.common import register



# ---------------------------------------------------------------------------
# Notebook 00: warm-up
# ---------------------------------------------------------------------------
def seconds_to_frames(seconds: Any, hop_length: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Index of the feature frame that contains each time: ``floor(seconds * sample_rate / hop_length)``.

    ``seconds``: array-like of times (s); ``hop_length``: samples between frames;
    returns ``int64`` frame indices, same shape. Frame ``k`` covers samples
    ``[k * hop_length, (k + 1) * hop_length)``. Taught in notebook 00 (Exercise 0.1).
    """
    if hop_length <= 0 or sample_rate <= 0:
        raise ValueError(f"hop_length and sample_rate must be positive, got {hop_length} and {sample_rate}.")
    samples = np.asarray(seconds, dtype=np.float64) * sample_rate
    return np.floor(samples / hop_length).astype(np.int64)


def _inputs_0_1(rng: np.random.Generator) -> dict:
    n = int(rng.integers(3, 12))
    return {"seconds": rng.uniform(0.0, 10.0, size=n), "hop_length": int(rng.choice([160, 256, 320, 512]))}


def _used_round(user: Any, ref: Any, inputs: dict) -> bool:
    r = np.round(np.asarray(inputs["seconds"]) * SAMPLE_RATE / inputs["hop_length"])
    return np.array_equal(np.asarray(user), r) and not np.array_equal(r, ref)


def _forgot_sample_rate(user: Any, ref: Any, inputs: dict) -> bool:
    return np.allclose(np.asarray(user, dtype=float), np.floor(np.asarray(inputs["seconds"]) / inputs["hop_length"]))


register(
    "0.1",
    seconds_to_frames,
    _inputs_0_1,
    hints=[
        (_used_round, "You rounded to the nearest frame. A time belongs to the frame that has already *started*: use np.floor."),
        (_forgot_sample_rate, "Go through samples: seconds × sample_rate gives samples, samples / hop_length gives frames."),
        ("dtype", "Frame indices are whole numbers: finish with .astype(np.int64)."),
        ("type", "Return a numpy array (np.floor(...) of an array is one), not a list or a tensor."),
    ],
    task="convert times in seconds to frame indices",
)
