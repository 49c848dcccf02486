"""Training: one readable loop for the teacher and every student mode, and its checkpoints.

- :mod:`~dualkd_lib.train.config`: :class:`TrainConfig`, every knob of a run (frozen, saved in each
  checkpoint), and :class:`TrainResult`.
- :mod:`~dualkd_lib.train.step`: the step on one screen: :func:`forward`, :func:`loss_terms` (TAKD
  and EEFD in a dozen lines), :func:`optimiser_step` (warm-up, backward, clip, Adam, EMA);
  :func:`training_step` is forward + terms + the mode's total loss.
- :mod:`~dualkd_lib.train.loop`: :func:`train`, the loop: seeded batches, mixup, the step.
- :mod:`~dualkd_lib.train.run`: :class:`Run`, the run folder's bookkeeping (resume, rolling and
  final checkpoints, overwrite refusal, data fingerprint, history, validation).
- :mod:`~dualkd_lib.train.checkpoint`: checkpoints that know which model they hold and refuse to be
  loaded into the wrong one, and the one "is this cached run stale?" differ.
- :mod:`~dualkd_lib.train.devices`: :class:`Hardware`, the device, mixed precision (CUDA only) and DDP;
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
from dualkd_lib.train.devices import Hardware, resolve_device, world
from dualkd_lib.train.inference import predict_scores
from dualkd_lib.train.loop import train
from dualkd_lib.train.run import RESUMABLE_CHANGES, Run
from dualkd_lib.train.step import forward, learning_rate, loss_terms, optimiser_step, training_step

__all__ = [
    "CHECKPOINT_FORMAT", "COSMETIC_CHANGES", "LR_DECAYS", "MODEL_KINDS", "RESUMABLE_CHANGES",
    "Hardware", "Run", "TrainConfig", "TrainResult", "build_model", "check_cached_run", "describe_model", "kept_model",
    "forward", "kept_weights", "learning_rate", "loss_terms", "optimiser_step", "load_checkpoint", "load_model_from_checkpoint", "predict_scores",
    "resolve_device", "save_checkpoint", "train", "training_step", "world",
]
