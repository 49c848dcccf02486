"""The training loop for the teacher and every student mode: seeded batches, mixup, the step.

The run folder's bookkeeping (resume, checkpoints, overwrite refusal, data fingerprint) is
:class:`dualkd_lib.train.run.Run`'s; the hardware (device, AMP, DDP) is
:class:`dualkd_lib.train.devices.Hardware`'s.

Taught in notebooks 03 (teacher), 06 (TAKD) and 08 (dual KD end to end).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from dualkd_lib.datasets import mixup_batch
from dualkd_lib.seeding import derive_seed, seed_everything
from dualkd_lib.train.config import TrainConfig, TrainResult
from dualkd_lib.train.devices import Hardware
from dualkd_lib.train.run import Run
from dualkd_lib.train.step import optimiser_step, training_step


# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------
def _epoch_batches(loader: Any, seed: int, epoch: int, skip: int, *rank_key: int) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, batch)`` of one epoch; the order depends only on (seed, epoch).

    Random generators are re-seeded from (seed, epoch) before the iterator is
    created and from (seed, epoch, index) before every batch is fetched, so a
    run resumed at any step sees exactly the batches (and dropout noise) of an
    uninterrupted one. The first ``skip`` batches are fetched and dropped.
    ``rank_key`` (the process rank, in distributed runs) is added to the
    per-batch seed, so the processes draw different dropout noise.
    """
    seed_everything(derive_seed(seed, epoch))
    for obj in (getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
    it = iter(loader)
    index = 0
    while True:
        seed_everything(derive_seed(seed, epoch, index + 1, *rank_key))
        try:
            batch = next(it)
        except StopIteration:
            return
        if index >= skip:
            yield index, batch
        index += 1


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
    group (see :func:`dualkd_lib.train.distributed.ddp_train`), the model is wrapped
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
    steps_per_epoch = _batches_per_epoch(train_loader)
    total = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * steps_per_epoch
    run = Run.open(run_dir, cfg, model, total=total, steps_per_epoch=steps_per_epoch, resume=resume,
                   overwrite=overwrite, preset=preset, data_fingerprint=data_fingerprint)
    hw = Hardware.setup(model, cfg.device, amp=cfg.amp, mode=cfg.mode)
    mean_model = copy.deepcopy(hw.core).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(hw.core.parameters(), lr=cfg.lr)
    run.start(hw, mean_model, optimizer)

    hw.model.train()
    bar = run.progress_bar(progress)
    while run.step < total:
        epoch, skip = divmod(run.step, steps_per_epoch)
        seen = skip
        for _, batch in _epoch_batches(train_loader, cfg.seed, epoch, skip, *hw.rank_key):
            seen, step = seen + 1, run.step
            batch = mixup_batch(hw.to_device(batch), np.random.default_rng([cfg.seed, step, 7]),
                                prob=cfg.mixup_prob, beta=cfg.mixup_beta)
            loss, terms = training_step(hw.model, mean_model, batch, cfg, step, autocast_device=hw.autocast_device,
                                        model_needs_embeddings=teacher_needs_embeddings)
            lr, alpha = optimiser_step(loss, optimizer, hw, mean_model, cfg, step, total)
            run.record(epoch, lr, alpha, hw.mean_over_ranks({"loss": loss, **terms}))
            run.after_step(bar, epoch, val_fn)
            if run.step >= total:
                break
        _check_epoch_length(seen, steps_per_epoch, epoch, finished=run.step >= total)
    bar.close()
    result = run.finish()  # writes final.pt (rank 0) and logs what this call trained
    hw.release()  # every process returns after rank 0 has written final.pt
    return result


def _batches_per_epoch(train_loader: Any) -> int:
    try:
        steps_per_epoch = len(train_loader)
    except TypeError:
        raise ValueError("train_loader has no len(); use a DataLoader whose batch sampler has a length.") from None
    if steps_per_epoch < 1:
        raise ValueError("train_loader is empty (0 batches per epoch); check the dataset and batch sizes.")
    return steps_per_epoch


def _check_epoch_length(seen: int, steps_per_epoch: int, epoch: int, *, finished: bool) -> None:
    if not finished and seen != steps_per_epoch:
        raise ValueError(
            f"train_loader gave {seen} batches in epoch {epoch} but len() says {steps_per_epoch}; "
            "its length must be the number of batches it yields."
        )
