"""The training step: the losses of one batch for the teacher and every student mode.

Taught in notebooks 03 (teacher), 06 (TAKD) and 08 (dual KD end to end).
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dualkd_lib.distill import (
    blended_target,
    consistency_loss,
    eefd_loss,
    ema_alpha,
    kd_loss,
    mean_student_forward,
    mode_uses,
    sigmoid_rampup,
    supervised_loss,
    total_loss,
)

from dualkd_lib.train.config import TrainConfig
from dualkd_lib.train.devices import autocast, to_float32

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# The training step
# --------------------------------------------------------------------------
def _require(batch: Mapping[str, Any], key: str, why: str) -> torch.Tensor:
    if batch.get(key) is None:
        raise ValueError(
            f"The batch has no {key!r}, needed for {why}; build the training loader with it cached "
            "(see dualkd_lib.datasets.build_train_loader)."
        )
    return batch[key]



def learning_rate(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate at optimiser step ``step`` of ``total_steps``.

    ``cfg.lr`` times the sigmoid warm-up of ``cfg.lr_rampup_steps`` steps; with
    ``cfg.lr_decay="cosine"`` also times ``(1 + cos(pi * step / total_steps)) / 2``, which
    falls from 1 to 0 over the run (DCASE keeps the rate constant: "none").
    Taught in notebook 05.
    """
    lr = cfg.lr * sigmoid_rampup(step, cfg.lr_rampup_steps)
    if cfg.lr_decay == "cosine":
        lr *= 0.5 * (1.0 + math.cos(math.pi * min(step / max(total_steps, 1), 1.0)))
    return lr


def training_step(
    model: nn.Module,
    mean_model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    cfg: TrainConfig,
    step: int,
    *,
    model_needs_embeddings: bool = False,
    autocast_device: str | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss of one (already mixed) batch and its terms, for mode ``cfg.mode``.

    L = L_sup + w_cons(step)·L_cons [+ w_kd·L_KD] [+ w_emb·L_EEFD]. In the
    ``takd`` and ``dual`` modes the KD term is measured on the *mean student*,
    computed with :func:`~dualkd_lib.distill.mean_student_forward` so that its
    gradient reaches the student; the same output (detached) is the consistency
    target (with ``takd_gradient="interpolated"`` it is the mean student after
    this step's EMA update, θ_mix, a (1-α) step closer to the student than θ̄).
    Returns ``(loss, terms)``; terms are tensors keyed
    ``sup``, ``cons``, ``kd``, ``emb``. ``model`` may be wrapped in
    ``DistributedDataParallel``. ``autocast_device`` ("cuda"; "cpu" in tests):
    the forward passes run under ``torch.autocast`` (float16 on CUDA, bfloat16
    on CPU) and the losses in float32. Taught in notebook 06.
    """
    x = batch["features"]
    emb_in = _require(batch, "embeddings", "the teacher's embedding fusion") if model_needs_embeddings else None
    core = model.module if isinstance(model, DistributedDataParallel) else model
    blended = mode_uses(cfg.mode, "takd") and cfg.takd_blend is not None
    with autocast(autocast_device):
        out = model(x, emb_in)  # student: strong, weak, embedding_pred
        if mode_uses(cfg.mode, "takd") and not blended:  # mean student with a gradient path to the student
            a = ema_alpha(step, cfg.ema_alpha)
            out_mean = mean_student_forward(core, mean_model, x, alpha=a, gradient=cfg.takd_gradient,
                                            embeddings=emb_in)
        else:
            with torch.no_grad():
                out_mean = mean_model(x, emb_in)
    if autocast_device is not None:  # losses (BCE, logs) in float32
        out, out_mean = to_float32(out), to_float32(out_mean)

    target = out_mean
    if blended:  # one teacher-corrected target: lam * mean student + (1 - lam) * teacher
        target = blended_target(out_mean, _require(batch, "teacher_strong", f"mode {cfg.mode!r}"),
                                _require(batch, "teacher_weak", f"mode {cfg.mode!r}"), cfg.takd_blend)
    terms = {"sup": supervised_loss(out, batch), "cons": consistency_loss(out, target)}
    if mode_uses(cfg.mode, "kd"):  # TAKD: through the mean student; KD: straight to the student
        t_strong = _require(batch, "teacher_strong", f"mode {cfg.mode!r}")
        t_weak = _require(batch, "teacher_weak", f"mode {cfg.mode!r}")
        kd_out = out_mean if mode_uses(cfg.mode, "takd") else out
        # blended: the KD term *is* the consistency term to the blended target (weight w_cons(t) + w_kd)
        terms["kd"] = terms["cons"] if blended else kd_loss(kd_out, t_strong, t_weak,
                                                             temperature=cfg.kd_temperature, kind=cfg.kd_kind)
    if mode_uses(cfg.mode, "emb"):  # EEFD: the embedding distillation layer predicts the frozen embeddings
        target = _require(batch, "embeddings", f"mode {cfg.mode!r} (EEFD targets)")
        terms["emb"] = eefd_loss(out.embedding_pred, target, kind=cfg.eefd_kind)
    w_cons = cfg.cons_max * sigmoid_rampup(step, cfg.cons_rampup_steps)
    loss = total_loss(terms, cfg.mode, w_cons, cfg.w_kd, cfg.w_emb)

    if batch.get("teacher_strong") is not None and batch.get("teacher_weak") is not None:
        with torch.no_grad():  # diagnostics for the plots: how far student and mean student are from the teacher
            for name, o in (("kd_student", out), ("kd_mean", out_mean)):
                terms[name] = kd_loss(o, batch["teacher_strong"], batch["teacher_weak"],
                                      temperature=cfg.kd_temperature, kind=cfg.kd_kind)
    return loss, terms


