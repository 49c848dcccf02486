"""Exercises of notebook 03 (the CRNN teacher): registered when ``exercises.check("3.x", fn)`` first asks.

Taught in notebook 03.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dualkd_lib.teaching.exercises.common import close as _close, probs as _probs, register as _register, tensor as _t


# ----------------------------------------------------------------------------------------
# Notebook 03: the CRNN teacher
# ----------------------------------------------------------------------------------------
def attention_pooling(strong: torch.Tensor, attention_logits: torch.Tensor) -> torch.Tensor:
    """The CRNN's attention-pooled weak head: frame scores -> clip scores.

    ``strong``: frame probabilities ``[batch, classes, frames]``; ``attention_logits``:
    the attention layer's output ``[batch, classes, frames]``. As the DCASE baseline
    (``attention_softmax="class"``): ``att = softmax over the classes of each frame``
    (clamped to [1e-7, 1]), then ``weak = sum_t(strong * att) / sum_t(att)`` ``[batch,
    classes]``, a weighted average over time in which each class looks hardest at the
    frames where it wins the attention. Equals what :class:`dualkd_lib.models.CRNN`
    computes in ``heads``. Taught in notebook 03 (Exercise 3.1).
    """
    if strong.shape != attention_logits.shape or strong.dim() != 3:
        raise ValueError(
            f"strong {tuple(strong.shape)} and attention_logits {tuple(attention_logits.shape)} must both be "
            "[batch, classes, frames]."
        )
    att = torch.softmax(attention_logits, dim=1).clamp(min=1e-7, max=1.0)
    return (strong * att).sum(dim=2) / att.sum(dim=2)


def _inputs_3_1(rng: np.random.Generator) -> tuple:
    b, c, t = int(rng.integers(1, 4)), 10, int(rng.integers(5, 40))
    return (_probs(rng, b, c, t), _t(rng, b, c, t, scale=2.0))


def _softmax_over_time(user: Any, ref: Any, inputs: tuple) -> bool:
    strong, logits = inputs
    att = torch.softmax(logits, dim=2)
    return _close(user, (strong * att).sum(2) / att.sum(2), atol=1e-4)


def _no_normalisation(user: Any, ref: Any, inputs: tuple) -> bool:
    strong, logits = inputs
    return _close(user, (strong * torch.softmax(logits, dim=1)).sum(2), atol=1e-4)


def _plain_mean(user: Any, ref: Any, inputs: tuple) -> bool:
    return _close(user, inputs[0].mean(dim=2), atol=1e-4)


_register(
    "3.1",
    attention_pooling,
    _inputs_3_1,
    hints=[
        (_softmax_over_time, "The baseline's softmax runs over the *classes* of each frame (dim=1), not over time; "
                             "the time normalisation comes from dividing by att.sum over frames."),
        (_no_normalisation, "Divide by the attention summed over the frames, att.sum(dim=2): weak must stay a "
                            "probability in [0, 1]."),
        (_plain_mean, "That is the plain mean over frames: weight every frame by its attention first."),
        ("shape", "Sum over the frame axis (dim=2) so the result is [batch, classes]."),
    ],
    task="pool frame scores into clip scores with attention",
)


def _inputs_3_2(rng: np.random.Generator) -> tuple:
    n_frames = int(rng.integers(8, 40))
    t_emb = int(rng.choice([n_frames * 3 + int(rng.integers(0, 3)), max(2, n_frames // 2)]))
    return (_t(rng, int(rng.integers(1, 3)), int(rng.integers(3, 9)), t_emb), n_frames)


def _interpolated_down(user: Any, ref: Any, inputs: tuple) -> bool:
    emb, n = inputs
    return emb.shape[-1] > n and _close(
        user, torch.nn.functional.interpolate(emb, size=n, mode="linear", align_corners=False), atol=1e-4
    )


def _pooled_up(user: Any, ref: Any, inputs: tuple) -> bool:
    emb, n = inputs
    return emb.shape[-1] < n and _close(user, torch.nn.functional.adaptive_avg_pool1d(emb, n), atol=1e-4)


_register(
    "3.2",
    "dualkd_lib.models:align_embeddings",
    _inputs_3_2,
    hints=[
        (_interpolated_down, "With more embedding frames than model frames, *average* the frames that fall into "
                             "each model frame (adaptive average pooling), as the DCASE baseline does with BEATs; "
                             "interpolation just samples a few of them."),
        (_pooled_up, "With fewer embedding frames than model frames there is nothing to average: interpolate "
                     "linearly (F.interpolate(..., mode='linear', align_corners=False))."),
        ("shape", "Keep [batch, dim, frames] and change only the last axis to n_frames."),
    ],
    task="resample frame embeddings to the CRNN's frame rate",
)
