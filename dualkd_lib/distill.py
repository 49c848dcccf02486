"""Distillation building blocks: the mean student (EMA), the losses, TAKD and EEFD.

Everything the training step of :mod:`dualkd_lib.train` combines into

    L = L_sup + w_cons(t) * L_cons + w_kd * L_KD + w_emb * L_EEFD

lives here as a small, separately tested function:

- :func:`ema_alpha`, :func:`update_ema`: the *mean student*, an exponential
  moving average of the student's weights with the DCASE warm start.
- :func:`sigmoid_rampup`: the ramp-up of the consistency weight (and of the
  learning rate) used by the mean-teacher papers and the DCASE baseline.
- :func:`supervised_loss`, :func:`consistency_loss`: the semi-supervised
  mean-teacher losses of the DCASE baseline.
- :func:`kd_loss`: soft-target distillation from the frozen teacher.
- :func:`mean_student_forward`: TAKD, the student learns from the teacher
  *through* the mean student.
- :func:`eefd_loss`: EEFD, the student's embedding distillation layer predicts
  the frozen embedding model's frame embeddings.

Taught in notebooks 06 (EMA, KD, TAKD) and 07 (EEFD).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

#: Distillation modes of the training loop (see :data:`MODE_TERMS`).
MODES: tuple[str, ...] = ("teacher", "supervised", "kd", "takd", "eefd", "dual")
KD_KINDS: tuple[str, ...] = ("bce", "mse")
EEFD_KINDS: tuple[str, ...] = ("mse", "cosine", "mse+cosine")
TAKD_GRADIENTS: tuple[str, ...] = ("straight_through", "interpolated", "compensated")

#: Probabilities are clamped to [EPS, 1 - EPS] before taking logarithms.
EPS: float = 1e-7


# --------------------------------------------------------------------------
# Which terms each mode uses
# --------------------------------------------------------------------------
#: The loss terms each mode adds to ``L_sup + w_cons(t) * L_cons``:
#: teacher / supervised: none (the CRNN teacher, and the student alone);
#: kd: ``w_kd * kd_loss(student, teacher)``; takd: ``w_kd * kd_loss(mean student,
#: teacher)``; eefd: ``w_emb * eefd_loss(student.embedding_pred, embeddings)``;
#: dual: takd + eefd. Taught in notebook 06.
MODE_TERMS: dict[str, tuple[str, ...]] = {
    "teacher": (),
    "supervised": (),
    "kd": ("kd",),
    "takd": ("kd", "takd"),
    "eefd": ("emb",),
    "dual": ("kd", "takd", "emb"),
}
#: The five student modes of the ablation, in table order (every mode but the teacher's).
STUDENT_MODES: tuple[str, ...] = tuple(m for m in MODE_TERMS if m != "teacher")


def mode_uses(mode: str, term: str) -> bool:
    """True when ``mode`` uses ``term`` ("kd", "takd" = KD through the mean student, "emb")."""
    _check_choice("mode", mode, MODES)
    return term in MODE_TERMS[mode]


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(choices)}.")


# --------------------------------------------------------------------------
# The mean student (EMA of the weights)
# --------------------------------------------------------------------------
def ema_alpha(step: int, alpha: float) -> float:
    """EMA decay used at optimiser step ``step`` (0-based): ``min(1 - 1/(step+1), alpha)``.

    The DCASE warm start: at step 0 the mean model copies the student (decay 0),
    at step 1 it averages two states (0.5), at step 2 three (2/3), ... so that
    until ``1/(1-alpha)`` steps the mean model is the *plain average* of all the
    student's states so far, and afterwards an EMA with decay ``alpha``.
    Taught in notebook 06.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}.")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}.")
    return min(1.0 - 1.0 / (step + 1), alpha)


@torch.no_grad()
def update_ema(mean_model: nn.Module, model: nn.Module, alpha: float, step: int) -> float:
    """Move ``mean_model`` towards ``model`` in place; return the decay used.

    For every parameter ``θ̄ ← a·θ̄ + (1-a)·θ`` with ``a = ema_alpha(step, alpha)``.
    Buffers: floating-point buffers (BatchNorm ``running_mean``/``running_var``)
    are **averaged the same way**, so the mean model's normalisation statistics
    belong to its averaged weights; integer buffers (``num_batches_tracked``)
    are **copied**. Call it after each optimiser step. Taught in notebook 06.
    """
    a = ema_alpha(step, alpha)
    mean_params = dict(mean_model.named_parameters())
    for name, p in model.named_parameters():
        if name not in mean_params:
            raise ValueError(f"mean_model has no parameter {name!r}; it must be a deepcopy of the model.")
        mean_params[name].mul_(a).add_(p.detach(), alpha=1.0 - a)
    mean_buffers = dict(mean_model.named_buffers())
    for name, b in model.named_buffers():
        if name not in mean_buffers:
            raise ValueError(f"mean_model has no buffer {name!r}; it must be a deepcopy of the model.")
        if b.dtype.is_floating_point:
            mean_buffers[name].mul_(a).add_(b, alpha=1.0 - a)
        else:
            mean_buffers[name].copy_(b)
    return a


def sigmoid_rampup(step: int, rampup_steps: int) -> float:
    """Ramp-up factor in (0, 1]: ``exp(-5 (1 - t)^2)`` with ``t = min(step / rampup_steps, 1)``.

    The schedule of the mean-teacher papers (Laine & Aila; Tarvainen & Valpola)
    and of the DCASE baseline's consistency weight and learning-rate warm-up.
    Returns 1.0 when ``rampup_steps`` is 0. Taught in notebook 06.
    """
    if rampup_steps < 0:
        raise ValueError(f"rampup_steps must be >= 0, got {rampup_steps}.")
    if rampup_steps == 0:
        return 1.0
    t = min(max(step, 0) / rampup_steps, 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


# --------------------------------------------------------------------------
# Semi-supervised losses (DCASE mean teacher)
# --------------------------------------------------------------------------
def supervised_loss(out: Any, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Binary cross-entropy on the labels the batch has.

    ``out.strong`` [B, C, T] and ``out.weak`` [B, C] are probabilities;
    ``batch["strong"]`` [B, C, T], ``batch["weak"]`` [B, C] the targets and
    ``batch["has_strong"]``, ``batch["has_weak"]`` [B] bool the masks.
    Strong term: mean BCE over the frames of the ``has_strong`` clips; weak
    term: mean BCE over the ``has_weak`` clips; the result is their sum (a term
    with no clip in the batch is 0). The masks are honoured exactly. Our
    datasets set ``has_weak`` on strong clips too (their clip labels follow
    from their events), so strongly labeled clips train the clip head as well;
    the DCASE recipe uses only the weak split for the weak term. We keep the
    extra supervision: it is exact, and costs nothing. Taught in notebook 03.
    """
    has_strong = batch["has_strong"].bool()
    has_weak = batch["has_weak"].bool()
    loss = out.strong.new_zeros(())
    if has_strong.any():
        loss = loss + F.binary_cross_entropy(out.strong[has_strong], batch["strong"][has_strong].float())
    if has_weak.any():
        loss = loss + F.binary_cross_entropy(out.weak[has_weak], batch["weak"][has_weak].float())
    return loss


def total_loss(terms: Mapping[str, torch.Tensor], mode: str, w_cons: float, w_kd: float, w_emb: float) -> torch.Tensor:
    """The student's total loss for one ``mode`` from already computed loss terms.

    ``L = sup + w_cons·cons [+ w_kd·kd] [+ w_emb·emb]``: ``kd`` counts in the modes kd,
    takd and dual (in takd/dual it is the *mean student's* KD term), ``emb`` in eefd and
    dual (:data:`MODE_TERMS`). Other entries of ``terms`` (such as the
    ``kd_student``/``kd_mean`` diagnostics) never count. ``w_cons`` is this step's
    ramped-up consistency weight. The training step (:func:`dualkd_lib.train.training_step`)
    calls it. Taught in notebook 08 (Exercise 8.1).
    """
    loss = terms["sup"] + w_cons * terms["cons"]
    if mode_uses(mode, "kd"):
        loss = loss + w_kd * terms["kd"]
    if mode_uses(mode, "emb"):
        loss = loss + w_emb * terms["emb"]
    return loss


def consistency_loss(out_student: Any, out_mean: Any) -> torch.Tensor:
    """Mean-teacher consistency: MSE between student and mean-student probabilities.

    ``MSE(strong_s, strong_m) + MSE(weak_s, weak_m)`` over every clip of the
    batch (labeled and unlabeled). The mean student's outputs are detached: the
    gradient only moves the student. Taught in notebook 06.
    """
    return F.mse_loss(out_student.strong, out_mean.strong.detach()) + F.mse_loss(
        out_student.weak, out_mean.weak.detach()
    )


# --------------------------------------------------------------------------
# Knowledge distillation from the frozen teacher
# --------------------------------------------------------------------------
def _soften(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sigmoid(logit(p) / T)``: a sigmoid output seen at temperature T."""
    if temperature == 1.0:
        return p
    p = p.clamp(EPS, 1.0 - EPS)
    return torch.sigmoid(torch.logit(p) / temperature)


def binary_kl(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Element-wise binary KL divergence ``KL(target || p)`` of Bernoulli probabilities.

    Equals ``BCE(p, target) - BCE(target, target)``: the cross-entropy minus the
    target's own entropy, so it is exactly 0 where ``p == target`` and > 0
    elsewhere. Both are clamped to [EPS, 1-EPS]. Taught in notebook 06.
    """
    p = p.clamp(EPS, 1.0 - EPS)
    t = target.clamp(EPS, 1.0 - EPS)
    return t * (torch.log(t) - torch.log(p)) + (1.0 - t) * (torch.log1p(-t) - torch.log1p(-p))


def kd_loss(
    student_out: Any,
    teacher_strong: torch.Tensor,
    teacher_weak: torch.Tensor,
    *,
    temperature: float = 1.0,
    kind: str = "bce",
) -> torch.Tensor:
    """Soft-target distillation on frame and clip outputs, all clips of the batch.

    ``student_out.strong`` [B, C, T] / ``.weak`` [B, C] (probabilities) against
    the frozen teacher's ``teacher_strong`` [B, C, T] / ``teacher_weak`` [B, C]
    (detached here). ``kind="bce"``: mean binary KL (:func:`binary_kl`, i.e.
    BCE(p, t) - BCE(t, t), zero on identical inputs); ``kind="mse"``: mean
    squared error. With ``temperature`` T ≠ 1 both sides are softened as
    ``sigmoid(logit(p)/T)`` and the loss is multiplied by T² (Hinton et al.),
    so the gradient size does not depend on T. Returns strong + weak terms.
    Taught in notebook 06.
    """
    _check_choice("kind", kind, KD_KINDS)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if student_out.strong.shape != teacher_strong.shape or student_out.weak.shape != teacher_weak.shape:
        raise ValueError(
            f"teacher outputs {tuple(teacher_strong.shape)}/{tuple(teacher_weak.shape)} do not match the "
            f"student's {tuple(student_out.strong.shape)}/{tuple(student_out.weak.shape)}; "
            "cache the teacher's outputs at the student's output frame rate."
        )
    terms = []
    for p, t in ((student_out.strong, teacher_strong), (student_out.weak, teacher_weak)):
        p = _soften(p, temperature)
        t = _soften(t.detach().to(p.dtype), temperature)
        terms.append(binary_kl(p, t).mean() if kind == "bce" else F.mse_loss(p, t))
    return (terms[0] + terms[1]) * temperature**2


# --------------------------------------------------------------------------
# TAKD: learning through the mean student
# --------------------------------------------------------------------------
def mean_student_forward(
    model: nn.Module,
    mean_model: nn.Module,
    features: torch.Tensor,
    *,
    alpha: float,
    gradient: str = "interpolated",
    embeddings: torch.Tensor | None = None,
) -> Any:
    """Forward pass of the mean student that lets gradients reach the student.

    Runs ``mean_model``'s architecture (with ``torch.func.functional_call``) on
    ``features`` [B, n_mels, frames] with parameters built from the mean
    student's θ̄ (detached) and the student's θ, so a loss on its output
    (the TAKD term) trains ``model``:

    - ``"interpolated"`` (default): θ_mix = α·θ̄ + (1-α)·θ, the mean student
      *as it will be after this step's EMA update*. Exact gradient, but scaled
      by (1-α): with α = 0.999 the teacher's signal reaches θ a thousand times
      weaker than plain KD's.
    - ``"straight_through"``: evaluates at θ̄ + (θ - θ.detach()), whose value
      is exactly θ̄ (the output equals ``mean_model``'s own) and whose gradient
      w.r.t. θ is the gradient at the mean student's weights, unscaled. The
      student takes the step that would move the mean student towards the
      teacher. That gradient is ~1/(1-α) steps old (the mean student lags), so
      with a large ``w_kd`` it overshoots: on a toy problem w_kd = 1 trained
      worse than no KD, w_kd = 0.1 about as well as "interpolated" at w_kd = 1.
    - ``"compensated"``: the value of ``"interpolated"`` (the output at θ_mix)
      with the gradient at θ_mix unscaled: θ_mix.detach() + (θ - θ.detach()).
      The same as ``"interpolated"`` with ``w_kd`` divided by (1-α), the factor
      that switches its KD signal off, without a loss value a thousand times
      too large in the logs.

    ``alpha`` is the decay of this step (``ema_alpha(step, cfg.ema_alpha)``);
    ``"interpolated"`` and ``"compensated"`` use it. BatchNorm: the mean student runs with its
    **own averaged buffers, in whatever mode ``mean_model`` is in**; the
    training loop keeps it in eval mode (running statistics, no dropout), the
    mode in which it is validated and deployed, so the buffers are never
    changed by this call. ``embeddings`` [B, D, frames'] is passed on for
    models that take them. Returns the model's ``SEDOutput``.
    Taught in notebook 06.
    """
    _check_choice("gradient", gradient, TAKD_GRADIENTS)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    mean_params = dict(mean_model.named_parameters())
    params: dict[str, torch.Tensor] = {}
    for name, theta in model.named_parameters():
        if name not in mean_params:
            raise ValueError(f"mean_model has no parameter {name!r}; it must be a deepcopy of the model.")
        theta_bar = mean_params[name].detach()
        if gradient == "interpolated":
            params[name] = alpha * theta_bar + (1.0 - alpha) * theta
        elif gradient == "compensated":
            params[name] = (alpha * theta_bar + (1.0 - alpha) * theta).detach() + (theta - theta.detach())
        else:
            params[name] = theta_bar + (theta - theta.detach())
    args = (features,) if embeddings is None else (features, embeddings)
    return torch.func.functional_call(mean_model, params, args)


def blended_target(out_mean: Any, teacher_strong: torch.Tensor, teacher_weak: torch.Tensor, lam: float) -> Any:
    """The teacher-corrected mean student: ``lam * mean student + (1 - lam) * teacher``.

    One consistency target instead of two that pull apart (the conventional
    dual-teacher setup: consistency to the mean student *and* KD to the
    teacher). ``out_mean.strong`` [B, C, T] and ``.weak`` [B, C] are the mean
    student's probabilities, ``teacher_strong``/``teacher_weak`` the frozen
    teacher's; all are detached. ``lam`` in [0, 1]: 1 is the plain mean
    teacher, 0 is plain KD with an MSE. Returns an object with ``strong`` and
    ``weak`` (a :class:`types.SimpleNamespace`). Taught in notebook 06.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}.")
    from types import SimpleNamespace

    return SimpleNamespace(
        strong=lam * out_mean.strong.detach() + (1.0 - lam) * teacher_strong.detach().to(out_mean.strong.dtype),
        weak=lam * out_mean.weak.detach() + (1.0 - lam) * teacher_weak.detach().to(out_mean.weak.dtype),
    )


# --------------------------------------------------------------------------
# EEFD: embedding-enhanced feature distillation
# --------------------------------------------------------------------------
def eefd_loss(embedding_pred: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> torch.Tensor:
    """Distance between the student's predicted and the frozen frame embeddings.

    ``embedding_pred`` and ``target`` are [B, D, T] (channel first, same frame
    rate); ``target`` is detached (the embedding model stays frozen).
    ``"mse"``: mean squared error over all elements; ``"cosine"``: mean over
    frames of ``1 - cos(pred[b, :, t], target[b, :, t])`` (scale-free);
    ``"mse+cosine"``: their sum. Zero (up to float rounding for the cosine) on
    identical inputs. Taught in notebook 07.
    """
    _check_choice("kind", kind, EEFD_KINDS)
    if embedding_pred is None:
        raise ValueError("embedding_pred is None: EEFD needs a student with an embedding distillation layer.")
    if embedding_pred.shape != target.shape:
        raise ValueError(
            f"embedding_pred {tuple(embedding_pred.shape)} and target {tuple(target.shape)} differ; "
            "both must be [batch, dim, frames] at the student's output frame rate."
        )
    target = target.detach().to(embedding_pred.dtype)
    loss = embedding_pred.new_zeros(())
    if kind in ("mse", "mse+cosine"):
        loss = loss + F.mse_loss(embedding_pred, target)
    if kind in ("cosine", "mse+cosine"):
        loss = loss + (1.0 - F.cosine_similarity(embedding_pred, target, dim=1, eps=1e-8)).mean()
    return loss
