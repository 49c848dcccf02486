"""The one seeding helper: derive a seed from several keys, and seed every generator with it.

Taught in notebook 00 (the notebooks' set-up seeds with it) and 03 (the training loop
re-seeds from (seed, epoch, batch) so that a resumed run sees the same batches).
"""
from __future__ import annotations

import random

import numpy as np
import torch


def derive_seed(*keys: int) -> int:
    """A 32-bit seed that depends only on ``keys`` (e.g. (seed, epoch, batch))."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and CUDA)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA devices
