"""Tests of dualkd_lib/seeding.py: one seed gives the same numbers from every generator; derived seeds depend only on their keys."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dualkd_lib.seeding import derive_seed, seed_everything


def _draw() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_repeats_python_numpy_and_torch() -> None:
    seed_everything(11)
    first = _draw()
    seed_everything(11)
    assert _draw() == first
    seed_everything(12)
    assert _draw() != first


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_seed_everything_refuses_what_is_not_a_seed(bad) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="non-negative int"):
        seed_everything(bad)


def test_derived_seeds_depend_only_on_their_keys() -> None:
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    seeds = {derive_seed(0, epoch, batch) for epoch in range(3) for batch in range(50)}
    assert len(seeds) == 150 and all(0 <= s < 2**32 for s in seeds)
    assert derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
