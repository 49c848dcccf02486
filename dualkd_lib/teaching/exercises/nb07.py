"""Exercises of notebook 07 (EEFD): registered when ``exercises.check("7.x", fn)`` first asks.

Taught in notebook 07.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dualkd_lib import distill
from dualkd_lib.teaching.exercises.common import close as _close, register as _register, tensor as _t


# ----------------------------------------------------------------------------------------
# Notebook 07: EEFD
# ----------------------------------------------------------------------------------------
def eefd(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """EEFD loss between projected student features and frozen embeddings ``[B, D, T]``.

    ``"mse"``: mean squared error over every element; ``"cosine"``: mean over the
    ``B·T`` frames of ``1 - cos(pred[b, :, t], target[b, :, t])``. The library's
    :func:`dualkd_lib.distill.eefd_loss`. Taught in notebook 07 (Exercise 7.1).
    """
    return distill.eefd_loss(pred, target, kind=kind)


def _inputs_7_1(rng: np.random.Generator) -> tuple:
    b, d, t = int(rng.integers(1, 4)), int(rng.integers(4, 17)), int(rng.integers(3, 25))
    kind = "mse" if rng.random() < 0.5 else "cosine"
    return (_t(rng, b, d, t), _t(rng, b, d, t), kind)


def _cosine_wrong_axis(u: Any, r: Any, i: tuple) -> bool:
    p, t, kind = i
    return kind == "cosine" and _close(u, (1 - torch.nn.functional.cosine_similarity(p, t, dim=2)).mean(), 1e-4)


def _similarity_not_distance(u: Any, r: Any, i: tuple) -> bool:
    p, t, kind = i
    return kind == "cosine" and _close(u, torch.nn.functional.cosine_similarity(p, t, dim=1).mean(), 1e-4)


def _sum_not_mean(u: Any, r: Any, i: tuple) -> bool:
    p, t, kind = i
    return kind == "mse" and _close(u, ((p - t) ** 2).sum(), 1e-3)


_register(
    "7.1",
    eefd,
    _inputs_7_1,
    hints=[
        (_cosine_wrong_axis, "Compare the embedding *vectors* of each frame: the cosine runs over the dimension axis "
                             "(dim=1), not over time."),
        (_similarity_not_distance, "A loss must shrink as the vectors align: use 1 - cosine similarity."),
        (_sum_not_mean, "Average the squared errors (mean), don't sum them."),
        ("error", "Handle both kinds: kind == 'mse' and kind == 'cosine'."),
        ("shape", "Return a scalar (a 0-dimensional tensor)."),
    ],
    task="write the EEFD loss (MSE and cosine)",
)
