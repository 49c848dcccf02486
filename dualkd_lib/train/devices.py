"""Hardware: the device of a run, mixed precision (CUDA only) and the process group of DDP.

Taught in notebook 03 (the device); DDP in README "Running on real DESED".
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dualkd_lib.distill import mode_uses


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


# --------------------------------------------------------------------------
# The hardware of one run
# --------------------------------------------------------------------------
@dataclass
class Hardware:
    """Where a run trains: its device, mixed precision (CUDA only) and, in a process group, DDP.

    ``model`` is what the step calls (the DDP wrapper in distributed runs), ``core`` the plain
    model (optimiser, EMA, checkpoints). Made by :meth:`setup`; :meth:`release` undoes what
    the run changed. Taught in notebook 03 (the device) and README "Running on real DESED".
    """

    device: torch.device
    model: nn.Module
    core: nn.Module
    rank: int
    world_size: int
    use_amp: bool
    scaler: Any
    frozen: list[nn.Parameter] = field(default_factory=list)

    @classmethod
    def setup(cls, model: nn.Module, device_name: str, *, amp: bool, mode: str) -> "Hardware":
        """Move ``model`` to the device of ``device_name`` and, inside a process group, wrap it in DDP."""
        rank, world_size = world()
        device = resolve_device(device_name, model)
        core = model.to(device)
        frozen: list[nn.Parameter] = []
        if world_size > 1:
            head = getattr(core, "embedding_head", None)
            if head is not None and not mode_uses(mode, "emb"):
                # Without EEFD the embedding distillation layer gets no gradient, but its output is
                # part of the model's output, so DDP would wait for one forever. Freeze it for the run.
                frozen = [p for p in head.parameters() if p.requires_grad]
                for p in frozen:
                    p.requires_grad_(False)
            # broadcast_buffers=False: average_buffers syncs them after each step instead.
            # static_graph=True: TAKD's mean-student forward reaches the parameters outside DDP's forward.
            model = DistributedDataParallel(core, device_ids=[device.index] if device.type == "cuda" else None,
                                            broadcast_buffers=False, static_graph=True)
        use_amp = amp and device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        return cls(device, model, core, rank, world_size, use_amp, scaler, frozen)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, validates and writes checkpoints."""
        return self.rank == 0

    @property
    def autocast_device(self) -> str | None:
        """``"cuda"`` when the forward passes run under autocast, else None."""
        return "cuda" if self.use_amp else None

    @property
    def rank_key(self) -> tuple[int, ...]:
        """Added to the per-batch seed in distributed runs, so each process draws its own dropout."""
        return (self.rank,) if self.world_size > 1 else ()

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """The batch with its tensors on this run's device."""
        return {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}

    def sync_buffers(self) -> None:
        """Average BatchNorm statistics over the processes (nothing to do in one process)."""
        if self.world_size > 1:
            average_buffers(self.core, self.world_size)

    def mean_over_ranks(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each logged scalar averaged over the processes."""
        return mean_over_ranks(values, self.world_size)

    def release(self) -> None:
        """Wait for every process (rank 0 writes ``final.pt`` first), then unfreeze what :meth:`setup` froze."""
        if self.world_size > 1:
            dist.barrier()
        for p in self.frozen:
            p.requires_grad_(True)
