"""Fixtures of the tests of dualkd_lib/evaluate/: a synthetic ground truth with a perfect and a noisy detector."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dualkd_lib import evaluate as ev
from dualkd_lib.constants import CLASSES

from evaluation_data import FRAME, N_FRAMES


def _synthetic_set(n_clips: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ground truth (events on the 0.1-s frame grid, every class present) and durations."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_clips):
        name = f"clip{i:03d}.wav"
        labels = [CLASSES[i % len(CLASSES)], *rng.choice(CLASSES, size=2, replace=False)]
        for label in dict.fromkeys(labels):  # unique, so no same-class overlap
            start = int(rng.integers(0, 80))
            length = int(rng.integers(3, 100 - start + 1))
            rows.append((name, round(start * FRAME, 3), round((start + length) * FRAME, 3), label))
    gt = pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])
    dur = pd.DataFrame({"filename": [f"clip{i:03d}.wav" for i in range(n_clips)], "duration": 10.0})
    return gt, dur


def _frames_of(gt: pd.DataFrame, filenames: list[str]) -> np.ndarray:
    """Ground-truth activity ``[n_files, classes, frames]`` (1 inside events)."""
    out = np.zeros((len(filenames), len(CLASSES), N_FRAMES))
    index = {f: i for i, f in enumerate(filenames)}
    for row in gt.itertuples():
        a, b = int(round(row.onset / FRAME)), int(round(row.offset / FRAME))
        out[index[row.filename], CLASSES.index(row.event_label), a:b] = 1.0
    return out


@pytest.fixture(scope="module")
def synthetic() -> SimpleNamespace:
    gt, dur = _synthetic_set()
    files = list(dur.filename)
    perfect = _frames_of(gt, files)
    rng = np.random.default_rng(1)
    # An imperfect detector: events raise the score by 0.4, every (clip, class)
    # gets a random offset (whole-clip false alarms) plus a little frame noise.
    offset = 0.6 * rng.random(perfect.shape[:2] + (1,))
    noisy = np.clip(0.4 * perfect + offset + 0.2 * rng.random(perfect.shape), 0, 1)
    noisy = ev.median_filter(noisy, 3)
    return SimpleNamespace(gt=gt, dur=dur, files=files, perfect=perfect, noisy=noisy)
