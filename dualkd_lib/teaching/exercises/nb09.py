"""Exercises of notebook 09 (edge deployment): registered when ``exercises.check("9.x", fn)`` first asks.

Taught in notebook 09.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dualkd_lib.teaching.exercises.common import register


def _inputs_9_1(rng: np.random.Generator) -> dict:
    return {
        "ms_per_clip": float(rng.uniform(0.5, 200.0)),
        "macs": float(rng.uniform(1e6, 1e9)),
        "clip_seconds": float(rng.choice([10.0, 5.0, 1.0])),
    }


def _rtf_in_ms(user: Any, ref: Any, inputs: dict) -> bool:
    try:
        return np.isclose(user["realtime_factor"], ref["realtime_factor"] * 1000)
    except (TypeError, KeyError):
        return False


def _rtf_inverted(user: Any, ref: Any, inputs: dict) -> bool:
    try:
        return np.isclose(user["realtime_factor"], 1.0 / ref["realtime_factor"])
    except (TypeError, KeyError, ZeroDivisionError):
        return False


def _gmacs_not_scaled(user: Any, ref: Any, inputs: dict) -> bool:
    try:
        return np.isclose(user["gmacs_per_second"], ref["gmacs_per_second"] * 1e9) or np.isclose(
            user["gmacs_per_second"], ref["gmacs_per_second"] / 1000)
    except (TypeError, KeyError):
        return False


register(
    "9.1",
    "dualkd_lib.deploy.benchmark:latency_summary",
    _inputs_9_1,
    hints=[
        ("type", "Return a dict with the keys 'realtime_factor', 'clips_per_second' and 'gmacs_per_second'."),
        ("keys", "The dict needs exactly the keys 'realtime_factor', 'clips_per_second' and 'gmacs_per_second'."),
        (_rtf_in_ms, "The real-time factor has no unit: convert milliseconds to seconds before dividing by the clip length."),
        (_rtf_inverted, "Real-time factor = compute time / audio time (small is fast), not audio time / compute time."),
        (_gmacs_not_scaled, "GMAC/s: MACs per clip divided by *seconds* per clip, then by 1e9."),
    ],
    task="turn a latency into a real-time factor, clips per second and GMAC/s",
    rtol=1e-6,
    atol=1e-9,
    check_dtype=False,
)
