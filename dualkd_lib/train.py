"""One readable training loop for the teacher and every student mode, plus checkpoints.

- :class:`TrainConfig`: every knob of a run (frozen, saved in each checkpoint).
- :func:`training_step`: the losses of one batch; TAKD and EEFD in a dozen lines.
- :func:`train`: Adam, learning-rate warm-up, mixup, the step, the EMA update,
  history, progress bar, validation, checkpoints and exact resume.
- :func:`save_checkpoint`, :func:`load_checkpoint`,
  :func:`load_model_from_checkpoint`: checkpoints that know which model they
  hold and refuse to be loaded into the wrong one.
- :func:`predict_scores`: frame and clip probabilities of a trained model.
- GPU and several GPUs: ``TrainConfig.device`` ("auto": CUDA when there is
  one) and ``TrainConfig.amp`` (mixed precision, CUDA only); inside a
  ``torch.distributed`` process group :func:`train` wraps the model in
  ``DistributedDataParallel`` (see :mod:`dualkd_lib.distributed`).

Files of a run directory: ``last.pt`` is the *rolling* training state (model,
mean model, optimiser, step, history), written every ``checkpoint_every`` steps
and at the end; the same run overwrites it each time (it is the run's own file).
``final.pt`` is the finished model; it is never replaced without
``overwrite=True``.

Taught in notebooks 03 (teacher), 06 (TAKD) and 08 (dual KD end to end).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from dualkd_lib.distill import (
    EEFD_KINDS,
    KD_KINDS,
    MODES,
    TAKD_GRADIENTS,
    _check_choice,
    blended_target,
    consistency_loss,
    eefd_loss,
    ema_alpha,
    kd_loss,
    mean_student_forward,
    mode_uses,
    sigmoid_rampup,
    supervised_loss,
    update_ema,
)

log = logging.getLogger(__name__)

#: Version of the checkpoint layout written by :func:`save_checkpoint`.
CHECKPOINT_FORMAT: int = 1
#: Model kinds a checkpoint can hold: the ``dualkd_lib.models`` class and config class of each.
MODEL_KINDS: dict[str, tuple[str, str]] = {
    "teacher": ("CRNN", "CRNNConfig"),
    "student": ("SECRNN", "CRNNConfig"),
    "embedding": ("EmbeddingModel", "EmbeddingModelConfig"),
}
#: TrainConfig fields that may change when a run is resumed (how long, how chatty, on which device).
RESUMABLE_CHANGES: tuple[str, ...] = ("epochs", "max_steps", "log_every", "checkpoint_every", "device", "amp")
#: Batch entries mixed by mixup (features, labels and cached targets, the same way).
MIXED_KEYS: tuple[str, ...] = ("features", "strong", "weak", "embeddings", "teacher_strong", "teacher_weak")


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


# --------------------------------------------------------------------------
# Seeding, data order, mixup
# --------------------------------------------------------------------------
def _derive_seed(*keys: int) -> int:
    """A 32-bit seed that depends only on ``keys`` (e.g. (seed, epoch, batch))."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def _seed_all(*keys: int) -> None:
    s = _derive_seed(*keys)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)


def _epoch_batches(loader: Any, seed: int, epoch: int, skip: int, *rank_key: int) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, batch)`` of one epoch; the order depends only on (seed, epoch).

    Random generators are re-seeded from (seed, epoch) before the iterator is
    created and from (seed, epoch, index) before every batch is fetched, so a
    run resumed at any step sees exactly the batches (and dropout noise) of an
    uninterrupted one. The first ``skip`` batches are fetched and dropped.
    ``rank_key`` (the process rank, in distributed runs) is added to the
    per-batch seed, so the processes draw different dropout noise.
    """
    _seed_all(seed, epoch)
    for obj in (getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
    it = iter(loader)
    index = 0
    while True:
        _seed_all(seed, epoch, index + 1, *rank_key)
        try:
            batch = next(it)
        except StopIteration:
            return
        if index >= skip:
            yield index, batch
        index += 1


def mixup_batch(batch: Mapping[str, Any], rng: np.random.Generator, *, prob: float, beta: float) -> dict[str, Any]:
    """DCASE-style mixup inside the batch, with probability ``prob``.

    One weight ``c ~ Beta(beta, beta)`` (taken as ``max(c, 1-c)``) per batch;
    each clip is mixed with another clip *of the same group* (strong, weak or
    unlabeled, from the masks), so the masks stay true. Features, labels and
    cached embeddings / teacher outputs (:data:`MIXED_KEYS`) are mixed the same
    way: ``c·x + (1-c)·x[perm]``. (DCASE mixes only the labeled groups; we mix
    the unlabeled one too, its cached targets stay consistent.) Returns a new
    dict; the input is not changed. Taught in notebook 03.
    """
    out = dict(batch)
    if prob <= 0 or rng.random() >= prob:
        return out
    c = float(rng.beta(beta, beta))
    c = max(c, 1.0 - c)
    has_strong = batch["has_strong"].bool().cpu().numpy()
    has_weak = batch["has_weak"].bool().cpu().numpy()
    groups = [has_strong, has_weak & ~has_strong, ~has_weak & ~has_strong]
    perm = np.arange(len(has_strong))
    for g in groups:
        idx = np.flatnonzero(g)
        perm[idx] = idx[rng.permutation(len(idx))]
    perm_t = torch.from_numpy(perm)
    for key in MIXED_KEYS:
        value = batch.get(key)
        if isinstance(value, torch.Tensor):
            out[key] = c * value + (1.0 - c) * value[perm_t.to(value.device)]
    return out


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


#: Learning-rate schedules after the warm-up (:attr:`TrainConfig.lr_decay`).
LR_DECAYS: tuple[str, ...] = ("none", "cosine")


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
    with _autocast(autocast_device):
        out = model(x, emb_in)  # student: strong, weak, embedding_pred
        if mode_uses(cfg.mode, "takd") and not blended:  # mean student with a gradient path to the student
            a = ema_alpha(step, cfg.ema_alpha)
            out_mean = mean_student_forward(core, mean_model, x, alpha=a, gradient=cfg.takd_gradient,
                                            embeddings=emb_in)
        else:
            with torch.no_grad():
                out_mean = mean_model(x, emb_in)
    if autocast_device is not None:  # losses (BCE, logs) in float32
        out, out_mean = _to_float32(out), _to_float32(out_mean)

    target = out_mean
    if blended:  # one teacher-corrected target: lam * mean student + (1 - lam) * teacher
        target = blended_target(out_mean, _require(batch, "teacher_strong", f"mode {cfg.mode!r}"),
                                _require(batch, "teacher_weak", f"mode {cfg.mode!r}"), cfg.takd_blend)
    terms = {"sup": supervised_loss(out, batch), "cons": consistency_loss(out, target)}
    loss = terms["sup"] + cfg.cons_max * sigmoid_rampup(step, cfg.cons_rampup_steps) * terms["cons"]
    if mode_uses(cfg.mode, "kd"):  # TAKD: through the mean student; KD: straight to the student
        t_strong = _require(batch, "teacher_strong", f"mode {cfg.mode!r}")
        t_weak = _require(batch, "teacher_weak", f"mode {cfg.mode!r}")
        kd_out = out_mean if mode_uses(cfg.mode, "takd") else out
        # blended: the KD term *is* the consistency term to the blended target (weight w_cons(t) + w_kd)
        terms["kd"] = terms["cons"] if blended else kd_loss(kd_out, t_strong, t_weak,
                                                             temperature=cfg.kd_temperature, kind=cfg.kd_kind)
        loss = loss + cfg.w_kd * terms["kd"]
    if mode_uses(cfg.mode, "emb"):  # EEFD: the embedding distillation layer predicts the frozen embeddings
        target = _require(batch, "embeddings", f"mode {cfg.mode!r} (EEFD targets)")
        terms["emb"] = eefd_loss(out.embedding_pred, target, kind=cfg.eefd_kind)
        loss = loss + cfg.w_emb * terms["emb"]

    if batch.get("teacher_strong") is not None and batch.get("teacher_weak") is not None:
        with torch.no_grad():  # diagnostics for the plots: how far student and mean student are from the teacher
            for name, o in (("kd_student", out), ("kd_mean", out_mean)):
                terms[name] = kd_loss(o, batch["teacher_strong"], batch["teacher_weak"],
                                      temperature=cfg.kd_temperature, kind=cfg.kd_kind)
    return loss, terms


def _autocast(device_type: str | None) -> Any:
    """``torch.autocast`` for ``device_type`` (float16 on CUDA, bfloat16 on CPU), or no-op for None."""
    if device_type is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else torch.bfloat16)


def _to_float32(out: Any) -> Any:
    """The model output (a NamedTuple such as ``SEDOutput``) with its tensors in float32."""
    return type(out)(*(v.float() if isinstance(v, torch.Tensor) else v for v in out))


# --------------------------------------------------------------------------
# Devices and processes
# --------------------------------------------------------------------------
def resolve_device(name: str, model: nn.Module | None = None) -> torch.device:
    """The ``torch.device`` of ``TrainConfig.device``.

    "auto": the model's device if it is already on a GPU; else ``cuda`` if
    available (``cuda:LOCAL_RANK`` in a ``torchrun`` process); else ``cpu``.
    Taught in notebook 08.
    """
    if name != "auto":
        return torch.device(name)
    if model is not None:
        current = next(model.parameters()).device
        if current.type != "cpu":
            return current
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
    return torch.device("cpu")


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` outside a ``torch.distributed`` group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _mean_over_ranks(values: dict[str, torch.Tensor], world_size: int) -> dict[str, torch.Tensor]:
    """Each scalar averaged over the processes (one all-reduce), for the history."""
    if world_size == 1 or not values:
        return values
    stacked = torch.stack([v.detach().float().reshape(()) for v in values.values()])
    dist.all_reduce(stacked)
    return dict(zip(values, stacked / world_size))


def _average_buffers(model: nn.Module, world_size: int) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over the processes, in place.

    DDP averages gradients, so the weights stay equal on every process; the
    BatchNorm statistics are updated from each process's own clips and would
    drift apart. Averaging them after every step keeps model *and* mean model
    identical everywhere (with SyncBatchNorm they are already equal).
    """
    for b in model.buffers():
        if b.dtype.is_floating_point:
            dist.all_reduce(b)
            b.div_(world_size)


# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------
def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def train(
    model: nn.Module,
    train_loader: Any,
    cfg: TrainConfig,
    *,
    run_dir: str | Path,
    val_fn: Callable[[nn.Module], Mapping[str, float]] | None = None,
    teacher_needs_embeddings: bool = False,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    preset: str | None = None,
    data_fingerprint: str | None = None,
) -> TrainResult:
    """Train ``model`` (and its mean model) on ``train_loader``; checkpoints in ``run_dir``.

    ``train_loader`` yields batch dicts (``features``, ``strong``, ``weak``,
    ``has_strong``, ``has_weak`` and, per mode, ``embeddings``,
    ``teacher_strong``, ``teacher_weak``) and must have a length (batches per
    epoch). ``teacher_needs_embeddings``: the model is the CRNN teacher and takes
    ``batch["embeddings"]`` as input. ``val_fn(mean model or model) -> dict`` runs
    after every epoch (``cfg.validate_on``).

    Hardware: the model is moved to ``cfg.device``; on CUDA with ``cfg.amp`` the
    forward passes use float16 autocast and the loss a ``GradScaler``.
    Distributed: called in every process of an initialised ``torch.distributed``
    group (see :func:`dualkd_lib.distributed.ddp_train`), the model is wrapped
    in ``DistributedDataParallel`` (gradients averaged), BatchNorm buffers are
    averaged after each step, the EMA update runs identically on every process,
    and only rank 0 logs, validates and writes checkpoints. Each process's
    ``train_loader`` must yield its own shard (``MixedBatchSampler``
    ``num_replicas``/``rank``). The returned models are unwrapped.

    Run directory rules: with ``resume=True`` an interrupted run continues from
    ``last.pt`` with the same results as an uninterrupted run, and a finished run
    of the same length is loaded instead of retrained. A ``final.pt`` (finished
    run) is replaced only with ``overwrite=True`` (e.g. to train longer). With
    ``resume=False`` an existing run needs ``overwrite=True``. ``data_fingerprint`` (any
    string that names the training data) is stored in the checkpoints; a run made on other
    data is not resumed or reused. Taught in notebook 03.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last_path, final_path = run_dir / "last.pt", run_dir / "final.pt"
    try:
        steps_per_epoch = len(train_loader)
    except TypeError:
        raise ValueError("train_loader has no len(); use a DataLoader whose batch sampler has a length.") from None
    if steps_per_epoch < 1:
        raise ValueError("train_loader is empty (0 batches per epoch); check the dataset and batch sizes.")
    total = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * steps_per_epoch
    kind, model_config = describe_model(model)
    rank, world_size = world()
    is_main = rank == 0
    device = resolve_device(cfg.device, model)
    core = model.to(device)  # the plain model; `model` is its DDP wrapper in distributed runs
    frozen: list[nn.Parameter] = []
    if world_size > 1:
        head = getattr(core, "embedding_head", None)
        if head is not None and not mode_uses(cfg.mode, "emb"):
            # Without EEFD the embedding distillation layer gets no gradient, but its output is
            # part of the model's output, so DDP would wait for one forever. Freeze it for the run.
            frozen = [p for p in head.parameters() if p.requires_grad]
            for p in frozen:
                p.requires_grad_(False)
        # broadcast_buffers=False: _average_buffers syncs them after each step instead.
        # static_graph=True: TAKD's mean-student forward reaches the parameters outside DDP's forward.
        model = DistributedDataParallel(core, device_ids=[device.index] if device.type == "cuda" else None,
                                        broadcast_buffers=False, static_graph=True)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    mean_model = copy.deepcopy(core).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(core.parameters(), lr=cfg.lr)
    history: list[dict[str, float]] = []
    val_history: list[dict[str, float]] = []
    step = 0
    state = _resume_state(last_path, final_path, cfg, kind, total, steps_per_epoch, resume, overwrite,
                          data_fingerprint)
    if state is not None:
        try:
            core.load_state_dict(state["model_state"])
            mean_model.load_state_dict(state["mean_model_state"])
            if state.get("optimizer_state") is not None:
                optimizer.load_state_dict(state["optimizer_state"])
        except RuntimeError as err:
            raise ValueError(f"{state['path']} does not fit this model ({kind}): {err}") from None
        step, history = state["step"], list(state["history"])
        val_history = list((state.get("extra") or {}).get("val_history", []))
        if use_amp and (state.get("extra") or {}).get("grad_scaler"):
            scaler.load_state_dict(state["extra"]["grad_scaler"])
        if step < total:
            log.info("Resuming %s from step %d of %d (%s).", run_dir, step, total, state["path"].name)
        else:
            log.info("Loaded the finished run %s (%d steps): nothing to train.", run_dir.name, step)
    resumed_from = step
    start_time = time.perf_counter()

    def checkpoint(path: Path, with_optimizer: bool) -> None:
        if not is_main:  # one writer: rank 0
            return
        extra = {"val_history": val_history, "steps_per_epoch": steps_per_epoch, "total_steps": total,
                 "data_fingerprint": data_fingerprint}
        if use_amp:
            extra["grad_scaler"] = scaler.state_dict()
        save_checkpoint(
            path, model=core, mean_model=mean_model, optimizer=optimizer if with_optimizer else None,
            step=step, epoch=step // steps_per_epoch, history=history, model_kind=kind,
            model_config=model_config, train_config=cfg, preset=preset, overwrite=True, extra=extra,
        )

    model.train()
    bar = tqdm(total=total, initial=step, disable=not progress or not is_main or step >= total,
               desc=f"train {cfg.mode}", unit="step")
    rank_key = (rank,) if world_size > 1 else ()
    while step < total:
        epoch, skip = divmod(step, steps_per_epoch)
        seen = skip
        for _, batch in _epoch_batches(train_loader, cfg.seed, epoch, skip, *rank_key):
            seen += 1
            batch = mixup_batch(_to_device(batch, device), np.random.default_rng([cfg.seed, step, 7]),
                                prob=cfg.mixup_prob, beta=cfg.mixup_beta)
            lr = learning_rate(cfg, step, total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, terms = training_step(model, mean_model, batch, cfg, step,
                                        model_needs_embeddings=teacher_needs_embeddings,
                                        autocast_device="cuda" if use_amp else None)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # the scaler is a no-op without AMP
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(core.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if world_size > 1:
                _average_buffers(core, world_size)
            alpha = update_ema(mean_model, core, cfg.ema_alpha, step)  # identical on every process

            logged = _mean_over_ranks({"loss": loss, **terms}, world_size)
            history.append({"step": step, "epoch": epoch, "lr": lr, "alpha": alpha,
                            "w_cons": cfg.cons_max * sigmoid_rampup(step, cfg.cons_rampup_steps),
                            **{k: float(v.detach()) for k, v in logged.items()}})
            step += 1
            bar.update(1)
            if is_main and (step % cfg.log_every == 0 or step == total):
                running = float(np.mean([h["loss"] for h in history[-cfg.log_every:]]))
                bar.set_postfix(loss=f"{running:.4f}")
                log.info("step %d/%d loss %.4f", step, total, running)
            if is_main and step % steps_per_epoch == 0 and val_fn is not None:
                val_history.append(_validate(val_fn, mean_model if cfg.validate_on == "mean" else core, epoch, step))
                model.train()
            if step % cfg.checkpoint_every == 0 and step < total:
                checkpoint(last_path, with_optimizer=True)
            if step >= total:
                break
        if step < total and seen != steps_per_epoch:
            raise ValueError(
                f"train_loader gave {seen} batches in epoch {epoch} but len() says {steps_per_epoch}; "
                "its length must be the number of batches it yields."
            )
    bar.close()
    seconds = time.perf_counter() - start_time
    if step > resumed_from or not final_path.exists():
        checkpoint(last_path, with_optimizer=True)
        checkpoint(final_path, with_optimizer=False)
    if world_size > 1:
        dist.barrier()  # every process returns after rank 0 has written final.pt
    for p in frozen:
        p.requires_grad_(True)
    if is_main and step > resumed_from:
        log.info("Trained %s for %d steps in %.1f s; final model in %s.", kind, step - resumed_from, seconds,
                 final_path)
    return TrainResult(core, mean_model, history, val_history, step, run_dir, final_path, resumed_from, seconds)


def _validate(val_fn: Callable, model: nn.Module, epoch: int, step: int) -> dict[str, float]:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics = dict(val_fn(model))
    model.train(was_training)
    log.info("epoch %d validation: %s", epoch, metrics)
    return {"epoch": epoch, "step": step, **{k: float(v) for k, v in metrics.items()}}


def _resume_state(
    last_path: Path,
    final_path: Path,
    cfg: TrainConfig,
    kind: str,
    total: int,
    steps_per_epoch: int,
    resume: bool,
    overwrite: bool,
    data_fingerprint: str | None = None,
) -> dict[str, Any] | None:
    """Apply the run-directory rules of :func:`train`; return the state to resume from or None."""
    run_dir = last_path.parent
    if not resume:
        if (last_path.exists() or final_path.exists()) and not overwrite:
            raise FileExistsError(
                f"{run_dir} already holds a training run (last.pt/final.pt). Pass resume=True to continue it, "
                "overwrite=True to start again from scratch, or use another run_dir."
            )
        return None
    if final_path.exists():
        done = load_checkpoint(final_path, expected_kind=kind)
        _check_same_run(done, final_path, cfg, steps_per_epoch, data_fingerprint)
        if done["step"] == total:
            done["path"] = final_path
            return done  # a finished run of this length: load it, train nothing
        if not overwrite:
            raise FileExistsError(
                f"{final_path} holds a finished run of {done['step']} steps but this config asks for {total}. "
                "Pass overwrite=True to continue training it and replace final.pt, or use another run_dir."
            )
    if not last_path.exists():
        return None
    state = load_checkpoint(last_path, expected_kind=kind)
    _check_same_run(state, last_path, cfg, steps_per_epoch, data_fingerprint)
    if state["step"] > total:
        if not overwrite:
            raise ValueError(
                f"{last_path} is at step {state['step']}, beyond the {total} steps this config asks for; "
                "use another run_dir, or overwrite=True with resume=False to start again."
            )
        return None
    state["path"] = last_path
    return state


def _check_same_run(state: Mapping[str, Any], path: Path, cfg: TrainConfig, steps_per_epoch: int,
                    data_fingerprint: str | None = None) -> None:
    _check_same_data(state, path, data_fingerprint)
    diffs = _config_diffs(state.get("train_config") or {}, cfg.to_dict(), ignored=RESUMABLE_CHANGES,
                          defaults=_field_defaults(cfg))
    if diffs:
        details = ", ".join(diffs)
        raise ValueError(
            f"The run in {path} was trained with another config "
            f"({details}); use another run_dir, or resume=False, overwrite=True to start again."
        )
    old_spe = (state.get("extra") or {}).get("steps_per_epoch")
    if old_spe is not None and old_spe != steps_per_epoch:
        raise ValueError(
            f"The run in {path} was trained with {old_spe} batches per epoch, this loader has {steps_per_epoch}; "
            "resume with the same data and batch sizes, or start a new run_dir."
        )


def _check_same_data(state: Mapping[str, Any], path: Path, data_fingerprint: str | None) -> None:
    """Raise when the run at ``path`` was trained on other data (both fingerprints known and different)."""
    stored = (state.get("extra") or {}).get("data_fingerprint")
    if stored is not None and data_fingerprint is not None and stored != data_fingerprint:
        raise ValueError(
            f"The run in {path.parent} was trained on other data (data fingerprint {stored} -> {data_fingerprint}: "
            "the dataset was regenerated or changed since). It is kept as it is: move its folder away (or use "
            "another --work-dir) and the model is trained again on the current data."
        )


def _config_diffs(old: Mapping[str, Any], new: Mapping[str, Any], *, ignored: Sequence[str] = (),
                  defaults: Mapping[str, Any] | None = None) -> list[str]:
    """``["field: old -> new", ...]`` for every config field that differs (lists and tuples alike).

    A field missing from ``old`` (a config saved before the field existed) counts as its
    value in ``defaults``: fields are added with defaults that keep the old behaviour.
    """
    old = {**{k: v for k, v in (defaults or {}).items() if k not in old}, **old}
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if key not in ignored and _tuples(old.get(key)) != _tuples(new.get(key))]


def _field_defaults(config: Any) -> dict[str, Any]:
    """Default values of a config dataclass's fields (empty for anything else)."""
    if not dataclasses.is_dataclass(config):
        return {}
    return {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------
def describe_model(model: nn.Module) -> tuple[str, Any]:
    """``(model_kind, model_config)`` of a model.

    Kinds: "teacher" (:class:`~dualkd_lib.models.CRNN`), "student"
    (:class:`~dualkd_lib.models.SECRNN`), "embedding"
    (:class:`~dualkd_lib.models.EmbeddingModel`), or "custom" for any other
    module (it trains, but :func:`load_model_from_checkpoint` cannot rebuild it).
    ``model_config`` is the model's ``cfg`` dataclass (None if it has none).
    Taught in notebook 03.
    """
    name = type(model).__name__
    kind = next((k for k, (cls_name, _) in MODEL_KINDS.items() if cls_name == name), "custom")
    return kind, getattr(model, "cfg", None)


def _config_dict(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise ValueError(f"model_config/train_config must be a dataclass, a dict or None, got {type(config).__name__}.")


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    mean_model: nn.Module | None,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    epoch: int,
    history: list[dict[str, float]],
    model_kind: str,
    model_config: Any,
    train_config: Any,
    preset: str | None,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a checkpoint atomically (temporary file + rename); return its path.

    Holds the model and mean-model weights, the optimiser state (or None), the
    step, epoch, history, which model it is (``model_kind``, ``model_config`` to
    rebuild it, ``preset``) and the ``train_config``. Only plain Python types
    and tensors are stored, so it loads with ``torch.load(weights_only=True)``.
    An existing file is replaced only with ``overwrite=True`` (else
    ``FileExistsError``). Taught in notebook 03.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass overwrite=True to replace it, or choose another path (checkpoints are "
            "never replaced silently)."
        )
    if model_kind not in (*MODEL_KINDS, "custom"):
        raise ValueError(f"model_kind={model_kind!r} is not valid; choose one of {[*MODEL_KINDS, 'custom']}.")
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "model_kind": model_kind,
        "model_class": type(model).__name__,
        "model_config": _config_dict(model_config),
        "model_config_class": type(model_config).__name__ if model_config is not None else None,
        "preset": preset,
        "train_config": _config_dict(train_config),
        "model_state": model.state_dict(),
        "mean_model_state": mean_model.state_dict() if mean_model is not None else None,
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "epoch": int(epoch),
        "history": list(history),
        "extra": dict(extra) if extra is not None else {},
        "torch_version": str(torch.__version__),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(ckpt, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, *, expected_kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (on CPU).

    ``expected_kind`` ("teacher", "student", "embedding"): raise ``ValueError``
    if the checkpoint holds another model, naming both and the preset it was
    made with. Taught in notebook 03.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; train the model first or check the path.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling error means "not our checkpoint"
        raise ValueError(f"{path} is not a readable dualkd checkpoint ({type(err).__name__}: {err}).") from None
    if not isinstance(ckpt, dict) or "model_kind" not in ckpt or "model_state" not in ckpt:
        raise ValueError(f"{path} is not a dualkd checkpoint (no model_kind/model_state); was it saved by train()?")
    if expected_kind is not None and ckpt["model_kind"] != expected_kind:
        raise ValueError(
            f"{path} holds a {ckpt['model_kind']} model ({ckpt.get('model_class')}, preset "
            f"{ckpt.get('preset')!r}), but a {expected_kind} model was expected; load the right checkpoint."
        )
    return ckpt


#: TrainConfig fields that do not change what a finished run learned (ignored by :func:`check_cached_run`).
COSMETIC_CHANGES: tuple[str, ...] = ("log_every", "checkpoint_every", "device", "amp")


def check_cached_run(path: str | Path, *, kind: str, model_config: Any, train_config: Any,
                     data_fingerprint: str | None = None) -> None:
    """Refuse a cached finished run made with other settings, or on other data, than the ones given.

    Compares the model and training configs stored in the checkpoint at ``path`` with
    ``model_config`` and ``train_config`` field by field (ignoring :data:`COSMETIC_CHANGES`),
    and its data fingerprint with ``data_fingerprint`` (when both are known), and raises
    ``ValueError`` naming every difference, so that a changed preset or regenerated data are
    never answered with an old model. The run is left where it is. Taught in notebook 03.
    """
    path = Path(path)
    ckpt = load_checkpoint(path, expected_kind=kind)
    _check_same_data(ckpt, path, data_fingerprint)
    diffs: list[str] = []
    for what, old, config, ignored in (
        ("model", ckpt.get("model_config") or {}, model_config, ()),
        ("training", ckpt.get("train_config") or {}, train_config, COSMETIC_CHANGES),
    ):
        diffs += [f"{what} {diff}" for diff in _config_diffs(old, _config_dict(config) or {}, ignored=ignored,
                                                            defaults=_field_defaults(config))]
    if diffs:
        raise ValueError(
            f"The cached {kind} run in {path.parent} was made with other settings than the current ones "
            f"({'; '.join(diffs)}). It is kept as it is: move its folder away (or use another --work-dir) "
            "and the model is trained again with the current settings."
        )


def _tuples(v: Any) -> Any:
    """Lists back to tuples, recursively (config fields such as ``pooling`` are tuples)."""
    return tuple(_tuples(x) for x in v) if isinstance(v, (list, tuple)) else v


def build_model(model_kind: str, model_config: Mapping[str, Any]) -> nn.Module:
    """A fresh model of ``model_kind`` built from a stored config dict (see :data:`MODEL_KINDS`).

    Taught in notebook 03.
    """
    from dualkd_lib import models

    if model_kind not in MODEL_KINDS:
        raise ValueError(
            f"Cannot rebuild a {model_kind!r} model; only {list(MODEL_KINDS)} checkpoints can be rebuilt."
        )
    if model_config is None:
        raise ValueError(f"The checkpoint of the {model_kind} model has no model_config to rebuild it from.")
    cls_name, config_name = MODEL_KINDS[model_kind]
    config = getattr(models, config_name)(**{k: _tuples(v) for k, v in model_config.items()})
    return getattr(models, cls_name)(config)


def kept_weights(checkpoint: str | Path) -> str:
    """Which weights of a run to deploy: ``"student"`` (its own) or ``"mean"`` (its mean model).

    The ablation chooses them on the validation split and records the choice in the run's
    ``metrics.json`` (``pipeline.run_metrics``); without that record, ``"mean"``, the model
    the DCASE recipe evaluates. Used by ``dualkd export`` and ``dualkd predict``. Taught in
    notebook 09.
    """
    record = Path(checkpoint).parent / "metrics.json"
    if record.is_file():
        try:
            weights = json.loads(record.read_text()).get("weights")
        except (OSError, json.JSONDecodeError):
            weights = None
        if weights in ("student", "mean"):
            return weights
    return "mean"


def kept_model(checkpoint: str | Path, model: nn.Module, mean: nn.Module | None) -> nn.Module:
    """Of a run's ``model`` and ``mean`` model (as loaded from ``checkpoint``), the one
    :func:`kept_weights` names; the model itself when the run has no mean model."""
    return mean if (mean is not None and kept_weights(checkpoint) == "mean") else model


def load_model_from_checkpoint(
    path: str | Path, *, expected_kind: str | None = None
) -> tuple[nn.Module, nn.Module | None, dict[str, Any]]:
    """Rebuild ``(model, mean_model, checkpoint)`` from a checkpoint, in eval mode.

    The model class comes from ``model_kind`` and its config from
    ``model_config``. A checkpoint of another kind, or weights that do not fit
    the rebuilt model, raise ``ValueError`` naming the model the checkpoint
    holds, the one expected and the preset it was made with. ``mean_model`` is
    None if the checkpoint has none. Taught in notebook 03.
    """
    ckpt = load_checkpoint(path, expected_kind=expected_kind)
    kind = ckpt["model_kind"]
    model = build_model(kind, ckpt["model_config"])
    mean_model = None
    try:
        model.load_state_dict(ckpt["model_state"])
        if ckpt.get("mean_model_state") is not None:
            mean_model = copy.deepcopy(model)
            mean_model.load_state_dict(ckpt["mean_model_state"])
    except RuntimeError as err:
        raise ValueError(
            f"The weights in {path} (a {kind} model, {ckpt.get('model_class')}, preset {ckpt.get('preset')!r}) do "
            f"not fit the {MODEL_KINDS[kind][0]} rebuilt from its config"
            f"{'' if expected_kind is None else f' (expected a {expected_kind} model)'}: {err} If it is a cached run made by an older version of the course, move its folder away (or use another --work-dir) and the model is trained again."
        ) from None
    model.eval()
    if mean_model is not None:
        mean_model.eval().requires_grad_(False)
    return model, mean_model, ckpt


# --------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------
def predict_scores(
    model: nn.Module,
    features: torch.Tensor | np.ndarray,
    *,
    embeddings: torch.Tensor | np.ndarray | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Frame and clip probabilities of ``model`` (eval mode, no gradient).

    ``features`` [N, n_mels, frames] (standardised log-mel); ``embeddings``
    [N, D, T] for a teacher that fuses them. Returns numpy float32
    ``strong`` [N, C, T_out] and ``weak`` [N, C]. The model's train/eval mode
    is restored afterwards. Taught in notebook 03.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    x = torch.as_tensor(features, dtype=torch.float32)
    if x.ndim != 3:
        raise ValueError(f"features must be [N, n_mels, frames], got shape {tuple(x.shape)}.")
    emb = None if embeddings is None else torch.as_tensor(embeddings, dtype=torch.float32)
    if emb is not None and len(emb) != len(x):
        raise ValueError(f"embeddings has {len(emb)} clips but features has {len(x)}; they must match.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    strong, weak = [], []
    with torch.no_grad():
        for i in tqdm(range(0, len(x), batch_size), disable=not progress, desc="predict", unit="batch"):
            xb = x[i : i + batch_size].to(device)
            out = model(xb) if emb is None else model(xb, emb[i : i + batch_size].to(device))
            strong.append(out.strong.float().cpu().numpy())
            weak.append(out.weak.float().cpu().numpy())
    model.train(was_training)
    if not strong:
        raise ValueError("features is empty (N = 0); nothing to predict.")
    return np.concatenate(strong), np.concatenate(weak)
