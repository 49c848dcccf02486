"""The course's runs under ``torchrun`` (``dualkd ddp``): rank 0 computes the caches, every
process trains with :func:`dualkd_lib.train.distributed.ddp_train`. README "Running on real DESED".
"""
from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from dualkd_lib import layout, models
from dualkd_lib.distill import mode_uses
from dualkd_lib.config import get_preset
from dualkd_lib.train.distributed import ddp_train, init_distributed
from dualkd_lib.recipe.context import Context
from dualkd_lib.recipe.run_files import save_inference_bundle, write_run_info
from dualkd_lib.recipe.runs import student_run_dir

log = logging.getLogger(__name__)


def train_distributed(command: str, *, preset: str | None = None, data_root: str | Path | None = None,
                      work_dir: str | Path | None = None, mode: str = "dual", seed: int = 0,
                      split_batch: bool = True, backend: str | None = None) -> None:
    """``dualkd ddp {train-teacher,train-student}`` in each process started by ``torchrun``.

    Rank 0 first computes every cache the run needs (features, embeddings,
    teacher outputs) while the other processes wait, then all load them and
    train with :func:`dualkd_lib.train.distributed.ddp_train`. A student that
    needs the teacher requires a trained teacher (run ``train-teacher`` first).
    README "Running on real DESED".
    """
    from torch import distributed as dist

    if command not in ("train-teacher", "train-student"):
        raise ValueError(f"command must be 'train-teacher' or 'train-student', got {command!r}.")
    rank, world_size = init_distributed(backend)
    teacher = command == "train-teacher"
    needs_teacher = not teacher and mode_uses(mode, "kd")
    needs_emb = teacher or mode_uses(mode, "emb")

    def context() -> Context:
        return Context.create(preset, data_root=data_root, work_dir=work_dir,
                              make_data_if_missing=rank == 0, progress=rank == 0)

    work = Path(work_dir) if work_dir else layout.default_work_dir(get_preset(preset).name)
    teacher_ckpt = layout.teacher_checkpoint(work, seed)
    if needs_teacher and not teacher_ckpt.is_file():  # checked by every process: none waits forever
        raise FileNotFoundError(f"No trained teacher at {teacher_ckpt}; run "
                                "`torchrun ... -m dualkd_lib.cli ddp train-teacher` first.")
    if rank == 0:  # compute the caches once, alone
        ctx = context()
        data = ctx.training_datasets(with_teacher=needs_teacher, with_embeddings=needs_emb)
    if world_size > 1:
        dist.barrier()
    if rank != 0:
        ctx = context()
        data = ctx.training_datasets(with_teacher=needs_teacher, with_embeddings=needs_emb)

    if teacher:
        cfg = ctx.preset.teacher_config(seed)
        model: nn.Module = models.CRNN(ctx.preset.teacher, seed=seed)
        run_dir = ctx.teacher_path(seed).parent
    else:
        cfg = ctx.preset.student_config(mode, seed)
        model = models.SECRNN(ctx.preset.student, seed=seed)
        run_dir = student_run_dir(ctx, mode, seed)
    result = ddp_train(model, data, cfg, run_dir=run_dir, split_batch=split_batch,
                       teacher_needs_embeddings=teacher, progress=rank == 0, preset=ctx.preset.name,
                       data_fingerprint=ctx.data_fingerprint())
    if rank == 0:
        save_inference_bundle(ctx, run_dir)
        write_run_info(run_dir, result, cfg)
        log.info("Done: %s", result.final_path)
    if world_size > 1:
        dist.barrier()
        dist.destroy_process_group()

