"""Tests of dualkd_lib/models/configs.py: the configs refuse bad values."""
from __future__ import annotations

import dataclasses

import pytest

from dualkd_lib import models as M

from small_models import SMALL, SMALL_EMB


def test_configs_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="pools time by 2"):
        M.CRNNConfig(n_mels=16, channels=(4, 4), pooling=((2, 2), (1, 2)))
    with pytest.raises(ValueError, match="below one frequency bin"):
        M.CRNNConfig(n_mels=64)  # seven frequency halvings of 64 mels
    with pytest.raises(ValueError, match="one \\(time, freq\\) pooling per conv block"):
        M.CRNNConfig(n_mels=16, channels=(4, 4, 4), pooling=((2, 2), (2, 2)))
    with pytest.raises(ValueError, match="activation"):
        dataclasses.replace(SMALL, activation="tanh")
    with pytest.raises(ValueError, match="clip_pooling"):
        dataclasses.replace(SMALL_EMB, clip_pooling="max")
    with pytest.raises(ValueError, match="CRNNConfig"):
        M.CRNN(SMALL_EMB)  # type: ignore[arg-type]
