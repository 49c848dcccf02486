"""Fixtures of the tests of dualkd_lib/deploy/ and deploy/benchmark/: one torch thread."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
