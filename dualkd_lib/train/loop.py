"""The training loop for the teacher and every student mode: Adam, warm-up, mixup, the step, EMA, validation, checkpoints and exact resume.

Files of a run directory: ``last.pt`` is the *rolling* training state (model,
mean model, optimiser, step, history), written every ``checkpoint_every`` steps
and at the end; the same run overwrites it each time (it is the run's own file).
``final.pt`` is the finished model; it is never replaced without
``overwrite=True``.

Taught in notebooks 03 (teacher), 06 (TAKD) and 08 (dual KD end to end).
"""
from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from dualkd_lib.datasets import mixup_batch
from dualkd_lib.distill import mode_uses, sigmoid_rampup, update_ema
from dualkd_lib.seeding import derive_seed, seed_everything
from dualkd_lib.train.config import TrainConfig, TrainResult
from dualkd_lib.train.checkpoint import (
    check_same_data,
    config_diffs,
    describe_model,
    field_defaults,
    load_checkpoint,
    save_checkpoint,
)
from dualkd_lib.train.devices import average_buffers, mean_over_ranks, resolve_device, world
from dualkd_lib.train.step import learning_rate, training_step

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------
#: TrainConfig fields that may change when a run is resumed (how long, how chatty, on which device).
RESUMABLE_CHANGES: tuple[str, ...] = ("epochs", "max_steps", "log_every", "checkpoint_every", "device", "amp")


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
        # broadcast_buffers=False: average_buffers syncs them after each step instead.
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
                average_buffers(core, world_size)
            alpha = update_ema(mean_model, core, cfg.ema_alpha, step)  # identical on every process

            logged = mean_over_ranks({"loss": loss, **terms}, world_size)
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
    check_same_data(state, path, data_fingerprint)
    diffs = config_diffs(state.get("train_config") or {}, cfg.to_dict(), ignored=RESUMABLE_CHANGES,
                          defaults=field_defaults(cfg))
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

