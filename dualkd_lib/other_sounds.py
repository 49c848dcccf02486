"""Sounds outside the 10 DESED classes: the rest of an AudioSet-like world.

Real recordings hold many sounds nobody labelled for DESED (birds, engines, music,
wind, footsteps, typing, doors). They appear in two places of the course:

- as unlabelled distractors in the *recorded* splits (:mod:`dualkd_lib.recording`);
- as labelled classes of the embedding model's pre-training corpus
  (:mod:`dualkd_lib.corpus`), whose taxonomy, like AudioSet's, is broader than the
  course's 10 classes.

Each model takes ``(n samples, rng)`` and returns float32 ``[n]``, peak about 1.
Taught in notebook 03.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.signal

from dualkd_lib.constants import SAMPLE_RATE

SR = SAMPLE_RATE


def _t(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) / np.float32(SR)


def _band(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    sos = scipy.signal.butter(2, [max(lo, 20.0), min(hi, 0.45 * SR)], btype="bandpass", fs=SR, output="sos")
    return scipy.signal.sosfilt(sos, x).astype(np.float32)


def _norm(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x / np.float32(peak)).astype(np.float32) if peak > 0 else x.astype(np.float32)


def _bird(n: int, rng: np.random.Generator) -> np.ndarray:
    """Chirps: fast upward or downward frequency sweeps of 40-150 ms, 2-8 kHz."""
    x = np.zeros(n, dtype=np.float32)
    pos = 0
    while pos < n:
        m = int(rng.uniform(0.04, 0.15) * SR)
        f0, f1 = rng.uniform(2000, 8000, 2)
        f = np.linspace(f0, f1, min(m, n - pos), dtype=np.float32)
        seg = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.hanning(len(f)).astype(np.float32)
        x[pos:pos + len(seg)] += seg.astype(np.float32)
        pos += len(seg) + int(rng.uniform(0.03, 0.4) * SR)
    return _norm(x)


def _engine(n: int, rng: np.random.Generator) -> np.ndarray:
    """A low harmonic rumble (20-60 Hz firing rate) with slow speed changes."""
    f = rng.uniform(20, 60) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * _t(n)))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12)).astype(np.float32)
    return _norm(x + 0.3 * _band(rng.standard_normal(n).astype(np.float32), 50, 800))


def _music(n: int, rng: np.random.Generator) -> np.ndarray:
    """Notes of a few harmonics on a scale, 0.2-0.6 s each, with decaying envelopes."""
    x = np.zeros(n, dtype=np.float32)
    pos, root = 0, rng.uniform(110, 440)
    while pos < n:
        m = min(int(rng.uniform(0.2, 0.6) * SR), n - pos)
        f = root * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
        t = _t(m)
        note = sum(np.sin(2 * np.pi * k * f * t) * 0.6 ** k for k in range(1, 6))
        x[pos:pos + m] += (note * np.exp(-t / np.float32(rng.uniform(0.1, 0.5)))).astype(np.float32)
        pos += m
    return _norm(x)


def _wind(n: int, rng: np.random.Generator) -> np.ndarray:
    """Broadband noise with slow gusts, band-limited below 1-3 kHz."""
    gust = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * _t(n) + rng.uniform(0, 6.3))
    return _norm(_band(rng.standard_normal(n).astype(np.float32), 40, rng.uniform(1000, 3000)) * gust)


def _footsteps(n: int, rng: np.random.Generator) -> np.ndarray:
    """Regular low thuds, 1.5-2.5 steps per second."""
    x = np.zeros(n, dtype=np.float32)
    period = int(SR / rng.uniform(1.5, 2.5))
    step = np.exp(-_t(int(0.08 * SR)) / np.float32(0.02)) * np.sin(2 * np.pi * rng.uniform(60, 150) * _t(int(0.08 * SR)))
    for start in range(int(rng.uniform(0, period)), n, period):
        seg = step[: n - start]
        x[start:start + len(seg)] += seg.astype(np.float32) * np.float32(rng.uniform(0.6, 1.0))
    return _norm(x + 0.2 * _band(rng.standard_normal(n).astype(np.float32), 100, 2000) * (x != 0))


def _typing(n: int, rng: np.random.Generator) -> np.ndarray:
    """Fast irregular clicks: 5-10 keys per second, 5-ms bursts of high noise."""
    x = np.zeros(n, dtype=np.float32)
    for start in np.sort(rng.integers(0, max(1, n - 80), rng.poisson(rng.uniform(5, 10) * n / SR))):
        x[start:start + 80] += rng.standard_normal(80).astype(np.float32) * np.exp(-np.arange(80, dtype=np.float32) / 20)
    return _norm(_band(x, 1500, 7000))


def _door(n: int, rng: np.random.Generator) -> np.ndarray:
    """A creak (slow frequency glide of a rough tone) followed by a slam."""
    t = _t(n)
    f = np.linspace(rng.uniform(200, 400), rng.uniform(500, 900), n, dtype=np.float32)
    creak = np.sign(np.sin(2 * np.pi * np.cumsum(f) / SR)) * 0.3
    slam_at = int(0.8 * n)
    slam = np.zeros(n, dtype=np.float32)
    m = n - slam_at
    slam[slam_at:] = rng.standard_normal(m).astype(np.float32) * np.exp(-t[:m] / np.float32(0.05))
    return _norm(_band(creak.astype(np.float32), 150, 3000) + _band(slam, 50, 1500))


#: Sound models of the classes outside DESED (see the module docstring).
OTHER_SOUND_MODELS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "Bird": _bird,
    "Engine": _engine,
    "Music": _music,
    "Wind": _wind,
    "Footsteps": _footsteps,
    "Typing": _typing,
    "Door": _door,
}
OTHER_CLASSES: tuple[str, ...] = tuple(OTHER_SOUND_MODELS)


def synthesize_other(label: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """One sound of the non-DESED class ``label``, ``n`` samples, float32 with peak 1."""
    if label not in OTHER_SOUND_MODELS:
        raise ValueError(f"Unknown other-sound class {label!r}; choose one of {list(OTHER_CLASSES)}.")
    if n < 1:
        raise ValueError(f"n={n!r}: give at least one sample.")
    return OTHER_SOUND_MODELS[label](int(n), rng)
