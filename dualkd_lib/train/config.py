"""Every setting of one training run (:class:`TrainConfig`) and what a run returns (:class:`TrainResult`).

Taught in notebooks 03 and 06.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from dualkd_lib.distill import EEFD_KINDS, KD_KINDS, MODES, TAKD_GRADIENTS, _check_choice


#: Learning-rate schedules after the warm-up (:attr:`TrainConfig.lr_decay`).
LR_DECAYS: tuple[str, ...] = ("none", "cosine")


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run (defaults: DCASE 2023 baseline where it has one).

    Length: ``epochs`` passes over the loader, or ``max_steps`` optimiser steps
    if set (wins over ``epochs``). Optimiser: Adam, ``lr`` reached after a
    sigmoid warm-up of ``lr_rampup_steps`` steps, then constant or, with
    ``lr_decay="cosine"``, falling to 0 (:func:`learning_rate`); gradients clipped to norm
    ``grad_clip`` (None: no clipping). ``batch_sizes`` = (strong, weak,
    unlabeled) clips per batch, read by the batch sampler. Mean student:
    ``ema_alpha``; consistency weight ramps up to ``cons_max`` over
    ``cons_rampup_steps``. ``mixup_prob``: chance that a batch is mixed
    (DCASE mixup, Beta(``mixup_beta``, ``mixup_beta``)). Distillation:
    ``mode`` in :data:`dualkd_lib.distill.MODES`, ``w_kd``, ``kd_temperature``,
    ``kd_kind``, ``w_emb``, ``eefd_kind``, ``takd_gradient``, ``takd_blend``
    (None: TAKD is a KD term on the mean student, its gradient reaching the student
    as ``takd_gradient`` says; a number λ: TAKD is one blended consistency target
    λ·mean student + (1-λ)·teacher, see :func:`~dualkd_lib.distill.blended_target`).
    Book-keeping:
    ``seed``, ``log_every`` and ``checkpoint_every`` (steps), ``validate_on``
    ("mean" or "student": which model ``val_fn`` sees). Hardware: ``device``
    ("auto": the model's GPU, else ``cuda`` if available, else ``cpu``; or any
    ``torch.device`` string); ``amp``: mixed precision (float16 autocast and a
    gradient scaler), used only on CUDA, ignored on CPU. Taught in notebook 03.
    """

    mode: str = "supervised"
    epochs: int = 10
    max_steps: int | None = None
    lr: float = 1e-3
    lr_rampup_steps: int = 500
    batch_sizes: tuple[int, int, int] = (12, 12, 24)
    ema_alpha: float = 0.999
    cons_max: float = 2.0
    cons_rampup_steps: int = 1000
    mixup_prob: float = 0.5
    mixup_beta: float = 0.2
    w_kd: float = 1.0
    kd_temperature: float = 1.0
    kd_kind: str = "bce"
    w_emb: float = 1.0
    eefd_kind: str = "mse"
    takd_gradient: str = "interpolated"
    takd_blend: float | None = None
    lr_decay: str = "none"
    grad_clip: float | None = 5.0
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500
    validate_on: str = "mean"
    device: str = "auto"
    amp: bool = True

    def __post_init__(self) -> None:
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(f"device={self.device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'.") from None
        _check_choice("mode", self.mode, MODES)
        _check_choice("kd_kind", self.kd_kind, KD_KINDS)
        _check_choice("eefd_kind", self.eefd_kind, EEFD_KINDS)
        _check_choice("takd_gradient", self.takd_gradient, TAKD_GRADIENTS)
        _check_choice("lr_decay", self.lr_decay, LR_DECAYS)
        _check_choice("validate_on", self.validate_on, ("mean", "student"))
        if self.takd_blend is not None and not 0.0 <= self.takd_blend <= 1.0:
            raise ValueError(f"takd_blend must be None or in [0, 1], got {self.takd_blend}.")
        if self.epochs < 1 and self.max_steps is None:
            raise ValueError(f"epochs must be >= 1 (got {self.epochs}) unless max_steps is set.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}.")
        if not 0.0 <= self.ema_alpha < 1.0:
            raise ValueError(f"ema_alpha must be in [0, 1), got {self.ema_alpha}.")
        if not 0.0 <= self.mixup_prob <= 1.0:
            raise ValueError(f"mixup_prob must be in [0, 1], got {self.mixup_prob}.")
        if self.lr <= 0 or self.kd_temperature <= 0 or self.mixup_beta <= 0:
            raise ValueError("lr, kd_temperature and mixup_beta must be > 0.")
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise ValueError("log_every and checkpoint_every must be >= 1 (steps).")
        if len(self.batch_sizes) != 3 or min(self.batch_sizes) < 0:
            raise ValueError(f"batch_sizes must be (strong, weak, unlabeled) >= 0, got {self.batch_sizes}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for checkpoints and JSON)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict` (unknown keys raise ``ValueError``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"Unknown TrainConfig fields {sorted(unknown)}; valid fields are {sorted(names)}.")
        d = dict(d)
        if "batch_sizes" in d:
            d["batch_sizes"] = tuple(d["batch_sizes"])
        return cls(**d)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    ``history``: one dict per optimiser step (``step``, ``epoch``, ``lr``,
    ``alpha``, ``w_cons``, ``loss`` and each loss term; with teacher outputs in
    the batch also ``kd_student`` and ``kd_mean``, the KD distance of student and
    mean student, for plots). ``val_history``: one dict per epoch from ``val_fn``.
    """

    model: nn.Module
    mean_model: nn.Module
    history: list[dict[str, float]]
    val_history: list[dict[str, float]]
    steps: int
    run_dir: Path
    final_path: Path
    resumed_from: int = 0
    seconds: float = 0.0

    def history_frame(self):
        """``history`` as a pandas DataFrame (one row per step)."""
        import pandas as pd

        return pd.DataFrame(self.history)


