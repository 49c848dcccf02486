"""Training: one readable loop for the teacher and every student mode, and its checkpoints.

- :mod:`~dualkd_lib.train.config`: :class:`TrainConfig`, every knob of a run (frozen, saved in each
  checkpoint), and :class:`TrainResult`.
- :mod:`~dualkd_lib.train.step`: :func:`training_step`, the losses of one batch (TAKD and EEFD in a
  dozen lines), and the learning-rate schedule.
- :mod:`~dualkd_lib.train.loop`: :func:`train`, Adam, warm-up, mixup, the step, the EMA update,
  history, progress bar, validation, checkpoints and exact resume.
- :mod:`~dualkd_lib.train.checkpoint`: checkpoints that know which model they hold and refuse to be
  loaded into the wrong one, and the one "is this cached run stale?" differ.
- :mod:`~dualkd_lib.train.devices`: the device, mixed precision (CUDA only) and DDP helpers;
  :mod:`~dualkd_lib.train.distributed` runs :func:`train` under ``torchrun``.
- :mod:`~dualkd_lib.train.inference`: :func:`predict_scores`, frame and clip probabilities.

The names below are the package's public face: ``from dualkd_lib import train`` then
``train.train(...)``, ``train.TrainConfig(...)``, as the notebooks do.

Taught in notebooks 03 (teacher), 06 (TAKD) and 08 (dual KD end to end).
"""
from dualkd_lib.train.checkpoint import (
    CHECKPOINT_FORMAT,
    COSMETIC_CHANGES,
    MODEL_KINDS,
    build_model,
    check_cached_run,
    describe_model,
    kept_model,
    kept_weights,
    load_checkpoint,
    load_model_from_checkpoint,
    save_checkpoint,
)
from dualkd_lib.train.config import LR_DECAYS, TrainConfig, TrainResult
from dualkd_lib.train.devices import resolve_device, world
from dualkd_lib.train.inference import predict_scores
from dualkd_lib.train.loop import RESUMABLE_CHANGES, train
from dualkd_lib.train.step import learning_rate, training_step

__all__ = [
    "CHECKPOINT_FORMAT", "COSMETIC_CHANGES", "LR_DECAYS", "MODEL_KINDS", "RESUMABLE_CHANGES",
    "TrainConfig", "TrainResult", "build_model", "check_cached_run", "describe_model", "kept_model",
    "kept_weights", "learning_rate", "load_checkpoint", "load_model_from_checkpoint", "predict_scores",
    "resolve_device", "save_checkpoint", "train", "training_step", "world",
]
