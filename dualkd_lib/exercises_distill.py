"""Exercises of the model and distillation notebooks (03, 05, 06, 07, 08).

Importing this module registers exercises 3.1, 3.2, 5.1, 5.2, 6.1, 6.2, 7.1 and 8.1 with
:func:`dualkd_lib.exercises.register_exercise`; a notebook does

    from dualkd_lib import exercises, exercises_distill  # noqa: F401 (registers)
    my_fn = exercises.check("6.1", my_fn)

Each reference is the library itself, or a few lines here that are tested against the
library's module in ``tests/test_exercises_distill.py`` (e.g. :func:`attention_pooling`
equals what :class:`dualkd_lib.models.CRNN`'s weak head computes).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from dualkd_lib import distill, models
from dualkd_lib.exercises import register_exercise, registered_exercises

__all__ = [
    "attention_pooling",
    "se_block",
    "conv_cost",
    "ema_update",
    "binary_kd_loss",
    "eefd",
    "total_loss",
]


def _t(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def _probs(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(0.02, 0.98, size=shape).astype(np.float32))


def _close(a: Any, b: Any, atol: float = 1e-5) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=1e-4))


def _register(exercise_id: str, *args: Any, **kwargs: Any) -> None:
    # Re-importing the module (e.g. importlib.reload in a notebook) must not fail.
    register_exercise(exercise_id, *args, replace=exercise_id in registered_exercises(), **kwargs)


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


# ----------------------------------------------------------------------------------------
# Notebook 05: the SE-CRNN student
# ----------------------------------------------------------------------------------------
def se_block(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Squeeze-and-excitation with given weights: ``x [batch, C, time, freq]`` -> same shape.

    ``w1 [H, C]``, ``b1 [H]``, ``w2 [C, H]``, ``b2 [C]``: squeeze = mean over time and
    frequency; excite = ``sigmoid(w2 @ relu(w1 @ s + b1) + b2)``; output = ``x`` scaled per
    channel. Computed by the library's :class:`dualkd_lib.models.SEBlock` with these
    weights copied in (the library's block has no biases, ``bias=False`` as in lightSED;
    here its two layers get the given ones). Taught in notebook 05 (Exercise 5.1).
    """
    channels, hidden = x.shape[1], w1.shape[0]
    if w1.shape != (hidden, channels) or w2.shape != (channels, hidden) or b1.shape != (hidden,) or b2.shape != (channels,):
        raise ValueError(
            f"weights do not fit x with {channels} channels: w1 {tuple(w1.shape)} must be [H, C], b1 {tuple(b1.shape)} "
            f"[H], w2 {tuple(w2.shape)} [C, H], b2 {tuple(b2.shape)} [C]."
        )
    block = models.SEBlock(channels, reduction=max(1, channels // hidden))
    block.squeeze = nn.Linear(channels, hidden)
    block.excite = nn.Linear(hidden, channels)
    with torch.no_grad():
        block.squeeze.weight.copy_(w1)
        block.squeeze.bias.copy_(b1)
        block.excite.weight.copy_(w2)
        block.excite.bias.copy_(b2)
        return block(x)


def _inputs_5_1(rng: np.random.Generator) -> tuple:
    c = int(rng.choice([8, 16, 32]))
    h = max(c // 4, 4)
    x = _t(rng, int(rng.integers(1, 3)), c, int(rng.integers(4, 12)), int(rng.integers(2, 8)))
    return (x, _t(rng, h, c, scale=0.5), _t(rng, h, scale=0.5), _t(rng, c, h, scale=0.5), _t(rng, c, scale=0.5))


def _se_variant(inputs: tuple, *, squeeze_dims: tuple[int, ...] = (2, 3), biases: bool = True, act=torch.relu,
                gate=torch.sigmoid) -> torch.Tensor:
    x, w1, b1, w2, b2 = inputs
    s = x.mean(dim=squeeze_dims)
    h = act(s @ w1.T + (b1 if biases else 0))
    w = gate(h @ w2.T + (b2 if biases else 0))
    return x * w[:, :, None, None]


_register(
    "5.1",
    se_block,
    _inputs_5_1,
    hints=[
        (lambda u, r, i: _close(u, _se_variant(i, biases=False), 1e-4),
         "Add the biases: relu(s @ w1.T + b1) and sigmoid(... @ w2.T + b2)."),
        (lambda u, r, i: _close(u, _se_variant(i, gate=lambda z: z), 1e-4),
         "The channel weights go through a sigmoid so each lies in (0, 1)."),
        (lambda u, r, i: _close(u, _se_variant(i, act=lambda z: z), 1e-4),
         "Put a ReLU between the two layers."),
        (lambda u, r, i: isinstance(u, torch.Tensor) and u.shape == i[0].shape and _close(u, i[0]),
         "Your output equals the input: multiply x by the channel weights."),
        ("shape", "Squeeze with x.mean(dim=(2, 3)) -> [batch, C]; scale with weights[:, :, None, None]."),
        ("error", "Linear layers as matrices: s @ w1.T (w1 is [H, C], PyTorch's Linear weight layout)."),
    ],
    task="write the squeeze-and-excitation block",
)


class _ConvProbe(nn.Module):
    """One Conv2d reading a one-channel image repeated over ``in_channels`` (for count_macs)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [1, time, freq]
        return self.conv(x.unsqueeze(1).expand(-1, self.conv.in_channels, -1, -1))


def conv_cost(in_channels: int, out_channels: int, kernel_size: int, n_time: int, n_freq: int) -> dict[str, int]:
    """Parameters and multiply-accumulates of one ``k x k`` Conv2d (with bias, "same" padding).

    The layer maps ``[in_channels, n_time, n_freq]`` to ``[out_channels, n_time, n_freq]``.
    ``params = out * in * k * k + out`` (weights + biases); ``macs = out * n_time * n_freq *
    in * k * k`` (every output value is a dot product over ``in * k * k`` inputs; biases not
    counted). Counted by the library (:func:`dualkd_lib.models.count_parameters`,
    :func:`dualkd_lib.models.count_macs`) on a real ``nn.Conv2d``. Returns
    ``{"params": int, "macs": int}``. Taught in notebook 05 (Exercise 5.2).
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    macs = models.count_macs(_ConvProbe(conv), input_shape=(1, n_time, n_freq))
    return {"params": int(models.count_parameters(conv)), "macs": int(macs)}


def _inputs_5_2(rng: np.random.Generator) -> tuple:
    return (int(rng.choice([1, 8, 16, 32])), int(rng.choice([8, 16, 64])), int(rng.choice([1, 3, 5])),
            int(rng.integers(4, 80)), int(rng.choice([4, 8, 16, 32])))


def _params_without_bias(u: Any, r: Any, i: tuple) -> bool:
    return isinstance(u, dict) and u.get("params") == r["params"] - i[1]


def _macs_without_in(u: Any, r: Any, i: tuple) -> bool:
    return isinstance(u, dict) and i[0] > 1 and u.get("macs") == r["macs"] // i[0]


def _macs_without_kernel(u: Any, r: Any, i: tuple) -> bool:
    return isinstance(u, dict) and i[2] > 1 and u.get("macs") == r["macs"] // (i[2] * i[2])


_register(
    "5.2",
    conv_cost,
    _inputs_5_2,
    hints=[
        (_params_without_bias, "Each output channel also has one bias: params = out·in·k·k + out."),
        (_macs_without_in, "Each output value sums over all input channels: macs = out·T·F · in·k·k."),
        (_macs_without_kernel, "Each output value reads a k×k patch of every input channel: include k·k."),
        ("keys", "Return a dict with exactly the keys 'params' and 'macs'."),
        ("type", "Return a dict {'params': int, 'macs': int}."),
    ],
    task="count the parameters and MACs of a conv layer",
)


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


# ----------------------------------------------------------------------------------------
# Notebook 08: the total loss
# ----------------------------------------------------------------------------------------
def total_loss(terms: Mapping[str, torch.Tensor], mode: str, w_cons: float, w_kd: float, w_emb: float) -> torch.Tensor:
    """The student's total loss for one ``mode`` from already computed loss terms.

    ``L = sup + w_cons·cons [+ w_kd·kd] [+ w_emb·emb]``: ``kd`` counts in the modes kd,
    takd and dual (in takd/dual it is the *mean student's* KD term), ``emb`` in eefd and
    dual (:data:`dualkd_lib.distill.MODE_TERMS`). Other entries of ``terms`` (such as the
    ``kd_student``/``kd_mean`` diagnostics) never count. ``w_cons`` is this step's
    ramped-up consistency weight. Equals the loss of :func:`dualkd_lib.train.training_step`.
    Taught in notebook 08 (Exercise 8.1).
    """
    loss = terms["sup"] + w_cons * terms["cons"]
    if distill.mode_uses(mode, "kd"):
        loss = loss + w_kd * terms["kd"]
    if distill.mode_uses(mode, "emb"):
        loss = loss + w_emb * terms["emb"]
    return loss


def _inputs_8_1(rng: np.random.Generator) -> tuple:
    names = ("sup", "cons", "kd", "emb", "kd_student", "kd_mean")
    terms = {k: torch.tensor(float(rng.uniform(0.05, 2.0))) for k in names}
    mode = str(rng.choice(["supervised", "kd", "takd", "eefd", "dual"]))
    return (terms, mode, float(rng.uniform(0.1, 2.0)), float(rng.uniform(0.2, 2.0)), float(rng.uniform(0.2, 2.0)))


def _all_terms(u: Any, r: Any, i: tuple) -> bool:
    terms, mode, wc, wk, we = i
    return mode != "dual" and _close(u, terms["sup"] + wc * terms["cons"] + wk * terms["kd"] + we * terms["emb"])


def _diagnostics(u: Any, r: Any, i: tuple) -> bool:
    terms = i[0]
    extras = (terms["kd_student"], terms["kd_mean"], terms["kd_student"] + terms["kd_mean"])
    return any(_close(u, r + x) for x in extras)


_register(
    "8.1",
    total_loss,
    _inputs_8_1,
    hints=[
        (_all_terms, "Only the terms of the mode count: kd in kd/takd/dual, emb in eefd/dual "
                     "(distill.mode_uses(mode, 'kd') tells you)."),
        (_diagnostics, "kd_student and kd_mean are diagnostics for plots; they never enter the loss."),
        ("error", "Use terms['sup'], terms['cons'], terms['kd'], terms['emb'] (a dict of scalar tensors)."),
    ],
    task="assemble the total loss of a distillation mode",
)
