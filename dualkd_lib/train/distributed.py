"""Training on several processes (GPUs, or CPU cores for tests) with DistributedDataParallel.

One process per GPU, started by ``torchrun``::

    torchrun --nproc_per_node 4 -m dualkd_lib.cli ddp train-teacher --preset desed --data /data/desed
    torchrun --nproc_per_node 4 -m dualkd_lib.cli ddp train-student --preset desed --data /data/desed --mode dual

(:func:`dualkd_lib.recipe.distributed.train_distributed` builds the run from a preset)

or from Python with :func:`ddp_train` inside processes you started (:func:`spawn`
starts them on this machine). What changes compared with one process:

- each process sees its own shard of every batch: the
  :class:`~dualkd_lib.datasets.MixedBatchSampler` draws the same global batch
  everywhere and process ``rank`` keeps its slice (``num_replicas``, ``rank``);
  with ``split_batch=True`` ``cfg.batch_sizes`` is the *global* batch, so N
  processes train like one process with the same batch;
- ``DistributedDataParallel`` averages the gradients, so every process takes
  the same optimiser step and the weights stay equal; the BatchNorm running
  statistics are averaged after each step, and the EMA update of the mean
  student then runs identically on every process (no communication needed);
- TAKD's mean-student forward uses the unwrapped model (``model.module``);
- rank 0 alone logs, validates and writes checkpoints.

BatchNorm: on GPUs :func:`ddp_train` converts BatchNorm to ``SyncBatchNorm``
(statistics over the global batch, as with one process). PyTorch's
SyncBatchNorm needs GPUs; on CPU (gloo) each process normalises with its own
clips' statistics, which is why N CPU processes match one process exactly only
for a model without BatchNorm (``tests/train/test_distributed.py`` checks both facts).
Mixup permutes clips within each process's shard, so with ``mixup_prob > 0``
runs differ from one process (statistically equivalent).

Taught in notebook 08 (the ``desed`` preset; README "Running on real DESED").
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import distributed as dist
from torch import nn

from dualkd_lib.datasets import SEDDataset, build_train_loader
from dualkd_lib.train import TrainConfig, TrainResult, resolve_device, train, world

log = logging.getLogger(__name__)

__all__ = ["init_distributed", "split_batch_sizes", "ddp_train", "spawn", "free_port"]


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group described by ``torchrun``'s environment; return ``(rank, world_size)``.

    Reads ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` (and
    ``LOCAL_RANK`` for the GPU). ``backend``: "nccl" when CUDA is available,
    else "gloo". Does nothing if the group already exists; outside torchrun
    (no ``WORLD_SIZE``) returns ``(0, 1)`` without a group. Taught in notebook 08.
    """
    if dist.is_initialized():
        return world()
    if "WORLD_SIZE" not in os.environ:
        return 0, 1
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    return world()


def split_batch_sizes(batch_sizes: Sequence[int], world_size: int) -> tuple[int, int, int]:
    """Per-process (strong, weak, unlabeled) batch of a global batch: each divided by ``world_size``.

    Raises ``ValueError`` if a size does not divide. Taught in notebook 08.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}.")
    bad = [b for b in batch_sizes if b % world_size]
    if bad:
        raise ValueError(
            f"batch_sizes {tuple(batch_sizes)} cannot be split over {world_size} processes ({bad} do not divide); "
            f"use sizes that are multiples of {world_size}, or split_batch=False (batch_sizes per process)."
        )
    s, w, u = (int(b) // world_size for b in batch_sizes)
    return s, w, u


def ddp_train(
    model: nn.Module,
    parts: Sequence[SEDDataset | None],
    cfg: TrainConfig,
    *,
    run_dir: str | Path,
    split_batch: bool = True,
    sync_batchnorm: bool = True,
    teacher_needs_embeddings: bool = False,
    val_fn: Callable[[nn.Module], Any] | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    preset: str | None = None,
    data_fingerprint: str | None = None,
) -> TrainResult:
    """:func:`dualkd_lib.train.train` in one process of a distributed group (call it in every process).

    ``parts`` = (strong, weak, unlabeled) datasets, the same in every process;
    this process's loader takes its shard (``num_replicas = world_size``,
    ``rank``). ``split_batch``: ``cfg.batch_sizes`` is the global batch, divided
    over the processes (:func:`split_batch_sizes`); else it is per process.
    ``sync_batchnorm``: convert BatchNorm to SyncBatchNorm (GPU only; ignored
    on CPU, see the module docstring). Without a process group this is plain
    :func:`~dualkd_lib.train.train`. Returns rank's :class:`TrainResult` (the
    same weights on every rank; checkpoints written by rank 0). Taught in notebook 08.
    """
    rank, world_size = world()
    sizes = split_batch_sizes(cfg.batch_sizes, world_size) if split_batch else tuple(cfg.batch_sizes)
    loader = build_train_loader(*parts, batch_sizes=sizes, seed=cfg.seed, num_replicas=world_size, rank=rank)
    device = resolve_device(cfg.device, model)
    if world_size > 1 and sync_batchnorm:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif rank == 0:
            log.info("SyncBatchNorm needs GPUs; on %s each process uses its own BatchNorm statistics.", device)
    if rank == 0:
        log.info("Distributed training on %d process(es), batch %s per process.", world_size, sizes)
    return train(model, loader, cfg, run_dir=run_dir, val_fn=val_fn, teacher_needs_embeddings=teacher_needs_embeddings,
                 resume=resume, overwrite=overwrite, progress=progress, preset=preset,
                 data_fingerprint=data_fingerprint)


# --------------------------------------------------------------------------
# Local processes (tests, a single multi-GPU machine without torchrun)
# --------------------------------------------------------------------------
def free_port() -> int:
    """A free TCP port on localhost (for ``MASTER_PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_entry(rank: int, fn: Callable[..., Any], world_size: int, port: int, backend: str,
                 args: tuple) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size)})
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], world_size: int, *args: Any, backend: str = "gloo") -> None:
    """Run ``fn(*args)`` in ``world_size`` new local processes joined in a process group.

    ``fn`` must be importable (a module-level function); inside it,
    :func:`dualkd_lib.train.world` gives ``(rank, world_size)``. Localhost only,
    on a free port. Raises if any process fails. Taught in notebook 08.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}.")
    torch.multiprocessing.spawn(_spawn_entry, args=(fn, world_size, free_port(), backend, args),
                                nprocs=world_size, join=True)
