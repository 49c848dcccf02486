"""Hardware: the device of a run, mixed precision (CUDA only) and the process group of DDP.

Taught in notebook 03 (the device); DDP in README "Running on real DESED".
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import torch
from torch import distributed as dist
from torch import nn



log = logging.getLogger(__name__)

def autocast(device_type: str | None) -> Any:
    """``torch.autocast`` for ``device_type`` (float16 on CUDA, bfloat16 on CPU), or no-op for None."""
    if device_type is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else torch.bfloat16)


def to_float32(out: Any) -> Any:
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


def mean_over_ranks(values: dict[str, torch.Tensor], world_size: int) -> dict[str, torch.Tensor]:
    """Each scalar averaged over the processes (one all-reduce), for the history."""
    if world_size == 1 or not values:
        return values
    stacked = torch.stack([v.detach().float().reshape(()) for v in values.values()])
    dist.all_reduce(stacked)
    return dict(zip(values, stacked / world_size))


def average_buffers(model: nn.Module, world_size: int) -> None:
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


