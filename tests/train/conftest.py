"""Fixtures of the tests of dualkd_lib/train/: the toy problem's three parts, one torch thread."""
from __future__ import annotations

import pytest

from dualkd_lib import datasets
from dualkd_lib.deploy.benchmark.measure import torch_threads

from toy_training import toy_part


@pytest.fixture(scope="module")
def parts() -> tuple[datasets.SEDDataset, ...]:
    return tuple(toy_part(kind, 16, seed) for seed, kind in enumerate(("strong", "weak", "unlabeled")))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is faster and keeps CI's two cores free."""
    with torch_threads(1):
        yield
