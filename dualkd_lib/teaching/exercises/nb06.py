"""Exercises of notebook 06 (the mean student and KD): registered when ``exercises.check("6.x", fn)`` first asks.

Taught in notebook 06.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dualkd_lib import distill, models
from dualkd_lib.teaching.exercises.common import close as _close, probs as _probs, register as _register, tensor as _t


# ----------------------------------------------------------------------------------------
# Notebook 06: the mean student and KD
# ----------------------------------------------------------------------------------------
class _Holder(nn.Module):
    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(value.detach().clone())


def ema_update(theta_bar: torch.Tensor, theta: torch.Tensor, alpha: float, step: int) -> torch.Tensor:
    """The mean student's new weights after optimiser step ``step`` (0-based).

    ``a = min(1 - 1/(step+1), alpha)`` (the DCASE warm start), then ``a·θ̄ + (1-a)·θ``.
    Returns a new tensor (inputs unchanged). Computed by :func:`dualkd_lib.distill.update_ema`
    on two one-parameter modules. Taught in notebook 06 (Exercise 6.1).
    """
    mean, model = _Holder(theta_bar), _Holder(theta)
    distill.update_ema(mean, model, alpha, step)
    return mean.theta.detach().clone()


def _inputs_6_1(rng: np.random.Generator) -> tuple:
    shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
    step = int(rng.choice([0, 1, 4, 30, 5000]))
    return (_t(rng, *shape), _t(rng, *shape), float(rng.choice([0.99, 0.999])), step)


def _no_warm_start(u: Any, r: Any, i: tuple) -> bool:
    bar, th, alpha, _ = i
    return _close(u, alpha * bar + (1 - alpha) * th)


def _swapped(u: Any, r: Any, i: tuple) -> bool:
    bar, th, alpha, step = i
    a = min(1 - 1 / (step + 1), alpha)
    return _close(u, (1 - a) * bar + a * th)


def _off_by_one(u: Any, r: Any, i: tuple) -> bool:
    bar, th, alpha, step = i
    candidates = [min(1 - 1 / (step + 2), alpha)] + ([min(1 - 1 / step, alpha)] if step > 0 else [])
    return any(_close(u, a * bar + (1 - a) * th) for a in candidates)


_register(
    "6.1",
    ema_update,
    _inputs_6_1,
    hints=[
        (_no_warm_start, "Early steps need the warm start: use a = min(1 - 1/(step + 1), alpha); at step 0 the "
                         "mean student simply copies the student."),
        (_swapped, "The old mean keeps the large share: a·θ̄ + (1-a)·θ, not the other way round."),
        (_off_by_one, "Steps are 0-based: step 0 gives a = 0, step 1 gives a = 1/2 (1 - 1/(step + 1))."),
        ("shape", "Return a tensor of the same shape as theta."),
    ],
    task="update the mean student with the warm-started EMA",
)


def binary_kd_loss(student_strong: torch.Tensor, student_weak: torch.Tensor, teacher_strong: torch.Tensor,
                   teacher_weak: torch.Tensor) -> torch.Tensor:
    """KD loss from the teacher's soft outputs: mean binary KL, frame term + clip term.

    ``KL(t || p) = t·log(t/p) + (1-t)·log((1-t)/(1-p))`` per element (probabilities
    clamped to [1e-7, 1 - 1e-7]), averaged over ``[B, C, T]`` for the frames and over
    ``[B, C]`` for the clips, then added. Zero when the student copies the teacher.
    :func:`dualkd_lib.distill.kd_loss` at temperature 1. Taught in notebook 06 (Exercise 6.2).
    """
    out = models.SEDOutput(strong=student_strong, weak=student_weak)
    return distill.kd_loss(out, teacher_strong, teacher_weak)


def _inputs_6_2(rng: np.random.Generator) -> tuple:
    b, c, t = int(rng.integers(1, 4)), 10, int(rng.integers(4, 30))
    return (_probs(rng, b, c, t), _probs(rng, b, c), _probs(rng, b, c, t), _probs(rng, b, c))


def _bce(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy(p, t)


def _used_bce(u: Any, r: Any, i: tuple) -> bool:
    ps, pw, ts, tw = i
    return _close(u, _bce(ps, ts) + _bce(pw, tw), 1e-4)


def _reversed_kl(u: Any, r: Any, i: tuple) -> bool:
    ps, pw, ts, tw = i
    return _close(u, distill.binary_kl(ts, ps).mean() + distill.binary_kl(tw, pw).mean(), 1e-4)


def _strong_only(u: Any, r: Any, i: tuple) -> bool:
    ps, pw, ts, tw = i
    return _close(u, distill.binary_kl(ps, ts).mean(), 1e-4)


_register(
    "6.2",
    binary_kd_loss,
    _inputs_6_2,
    hints=[
        (_used_bce, "That is the binary cross-entropy; subtract the teacher's own entropy (BCE(t, t)) so the loss "
                    "is 0 when the student copies the teacher: that is the binary KL."),
        (_reversed_kl, "KL is not symmetric: weight the log-ratios by the *teacher's* probabilities, "
                       "t·log(t/p) + (1-t)·log((1-t)/(1-p))."),
        (_strong_only, "Add the clip-level term (student_weak vs teacher_weak) to the frame-level one."),
        ("shape", "Return a scalar: average each term over all its elements, then add the two."),
    ],
    task="write the binary KL distillation loss",
)
