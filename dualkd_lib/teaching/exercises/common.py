"""Helpers the exercise modules share: seeded random inputs, a tolerant comparison, registration.

Taught in notebook 00 (how a checker works).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dualkd_lib.teaching.exercises import checker


def tensor(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def probs(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(0.02, 0.98, size=shape).astype(np.float32))


def close(a: Any, b: Any, atol: float = 1e-5) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=1e-4))


def register(exercise_id: str, *args: Any, **kwargs: Any) -> None:
    """:func:`~dualkd_lib.teaching.exercises.checker.register_exercise`, again without error when a module is re-imported (``importlib.reload``)."""
    checker.register_exercise(exercise_id, *args, replace=exercise_id in checker._REGISTRY, **kwargs)


def safe_array(x: Any) -> np.ndarray:
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
