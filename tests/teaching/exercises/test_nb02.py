"""Tests of dualkd_lib/teaching/exercises/nb02.py: the references of notebook 02 follow the library."""
from __future__ import annotations

import numpy as np
import torch

from dualkd_lib.teaching.exercises.nb02 import encode_strong, event_frame_range, standardise
from dualkd_lib.features import ManyHotEncoder, Scaler


def test_notebook_02_references_follow_the_library() -> None:
    first, end = event_frame_range([0.192, 0.0, 9.99], [0.2, 0.05, 12.0], 0.064, 156)
    assert first.tolist() == [3, 0, 156 - 1] and end.tolist() == [4, 1, 156]
    labels = encode_strong([("Dog", 0.192, 0.4)], 156, 0.064, ["Cat", "Dog"])
    assert labels.shape == (2, 156) and labels.dtype == np.float32
    assert np.flatnonzero(labels[1]).tolist() == [3, 4, 5, 6] and labels[0].sum() == 0
    assert np.array_equal(labels, ManyHotEncoder(["Cat", "Dog"]).encode_strong([("Dog", 0.192, 0.4)]))
    x = torch.randn(2, 4, 9)
    scaler = Scaler(4).fit(x)
    assert torch.allclose(standardise(x, scaler.mean, scaler.std), scaler(x))
