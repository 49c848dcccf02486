"""The training step on one screen: :func:`forward`, :func:`loss_terms` and :func:`optimiser_step`.

:func:`training_step` is the first half (outputs, terms, the total loss of the mode); the loop
(:func:`dualkd_lib.train.train`) calls it, then :func:`optimiser_step`.

Taught in notebooks 03 (teacher), 06 (TAKD) and 08 (dual KD end to end).
"""
from __future__ import annotations

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
    update_ema,
)
from dualkd_lib.train.config import TrainConfig
from dualkd_lib.train.devices import Hardware, autocast, to_float32


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


def forward(model: nn.Module, mean_model: nn.Module, batch: Mapping[str, torch.Tensor], cfg: TrainConfig, step: int,
            *, model_needs_embeddings: bool = False, autocast_device: str | None = None) -> tuple[Any, Any]:
    """The outputs of the student (or teacher) and of its mean model on one batch.

    In the ``takd`` and ``dual`` modes the mean student is computed with
    :func:`~dualkd_lib.distill.mean_student_forward`, so that its KD term's gradient reaches
    the student (with ``takd_gradient="interpolated"``: the mean student after this step's EMA
    update). Taught in notebook 06.
    """
    x = batch["features"]
    emb_in = _require(batch, "embeddings", "the teacher's embedding fusion") if model_needs_embeddings else None
    core = model.module if isinstance(model, DistributedDataParallel) else model
    with autocast(autocast_device):
        out = model(x, emb_in)  # student: strong, weak, embedding_pred
        if mode_uses(cfg.mode, "takd") and cfg.takd_blend is None:  # a gradient path to the student
            out_mean = mean_student_forward(core, mean_model, x, alpha=ema_alpha(step, cfg.ema_alpha),
                                            gradient=cfg.takd_gradient, embeddings=emb_in)
        else:
            with torch.no_grad():
                out_mean = mean_model(x, emb_in)
    if autocast_device is not None:  # losses (BCE, logs) in float32
        out, out_mean = to_float32(out), to_float32(out_mean)
    return out, out_mean


def loss_terms(out: Any, out_mean: Any, batch: Mapping[str, torch.Tensor], cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The loss terms of one batch: ``sup`` and ``cons`` always, ``kd`` and ``emb`` as the mode uses them.

    TAKD measures KD on the mean student, KD on the student; EEFD compares the embedding
    distillation layer's output with the frozen embeddings. Taught in notebooks 06 and 07.
    """
    blended = mode_uses(cfg.mode, "takd") and cfg.takd_blend is not None
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
    return terms


def optimiser_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, hw: Hardware, mean_model: nn.Module,
                   cfg: TrainConfig, step: int, total_steps: int) -> tuple[float, float]:
    """The other half of a step: warm-up, backward, clipping, Adam, BatchNorm sync, EMA; returns ``(lr, alpha)``.

    Taught in notebooks 03 (the warm-up) and 06 (the EMA update of the mean student).
    """
    lr = learning_rate(cfg, step, total_steps)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    hw.scaler.scale(loss).backward()  # the scaler is a no-op without AMP
    if cfg.grad_clip is not None:
        hw.scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(hw.core.parameters(), cfg.grad_clip)
    hw.scaler.step(optimizer)
    hw.scaler.update()
    hw.sync_buffers()
    alpha = update_ema(mean_model, hw.core, cfg.ema_alpha, step)  # identical on every process
    return lr, alpha


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

    L = L_sup + w_cons(step)·L_cons [+ w_kd·L_KD] [+ w_emb·L_EEFD]
    (:func:`dualkd_lib.distill.total_loss`), from :func:`forward` and :func:`loss_terms`.
    Returns ``(loss, terms)``; terms are tensors keyed ``sup``, ``cons``, ``kd``, ``emb``, and,
    with teacher outputs in the batch, the diagnostics ``kd_student`` and ``kd_mean`` (never
    in the loss). ``model`` may be wrapped in ``DistributedDataParallel``.
    ``autocast_device`` ("cuda"; "cpu" in tests): the forward passes run under
    ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU) and the losses in float32.
    Taught in notebook 06.
    """
    out, out_mean = forward(model, mean_model, batch, cfg, step, model_needs_embeddings=model_needs_embeddings,
                            autocast_device=autocast_device)
    terms = loss_terms(out, out_mean, batch, cfg)
    w_cons = cfg.cons_max * sigmoid_rampup(step, cfg.cons_rampup_steps)
    loss = total_loss(terms, cfg.mode, w_cons, cfg.w_kd, cfg.w_emb)
    terms.update(teacher_distances(out, out_mean, batch, cfg))
    return loss, terms


def teacher_distances(out: Any, out_mean: Any, batch: Mapping[str, torch.Tensor], cfg: TrainConfig
                      ) -> dict[str, torch.Tensor]:
    """Diagnostics for the plots: the KD distance of student and mean student to the teacher (no gradient)."""
    if batch.get("teacher_strong") is None or batch.get("teacher_weak") is None:
        return {}
    with torch.no_grad():
        return {name: kd_loss(o, batch["teacher_strong"], batch["teacher_weak"], temperature=cfg.kd_temperature,
                              kind=cfg.kd_kind) for name, o in (("kd_student", out), ("kd_mean", out_mean))}
