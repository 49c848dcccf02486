"""The run folder of one training run: resume, checkpoints, overwrite refusal, data fingerprint.

Files of a run directory: ``last.pt`` is the *rolling* training state (model,
mean model, optimiser, step, history), written every ``checkpoint_every`` steps
and at the end; the same run overwrites it each time (it is the run's own file).
``final.pt`` is the finished model; it is never replaced without
``overwrite=True``.

Taught in notebook 03 (resume, and why a finished run is loaded instead of trained again).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dualkd_lib import layout
from dualkd_lib.distill import sigmoid_rampup
from dualkd_lib.train.checkpoint import COSMETIC_CHANGES, check_same_data, config_diffs, describe_model, field_defaults, load_checkpoint, save_checkpoint
from dualkd_lib.train.config import TrainConfig, TrainResult
from dualkd_lib.train.devices import Hardware

log = logging.getLogger(__name__)

#: TrainConfig fields that may change when a run is resumed: how long it trains, and the
#: cosmetic ones a finished run may differ in (:data:`~dualkd_lib.train.checkpoint.COSMETIC_CHANGES`).
RESUMABLE_CHANGES: tuple[str, ...] = ("epochs", "max_steps", *COSMETIC_CHANGES)


class Run:
    """One training run's folder and record: where it resumes, what it writes, what it has done.

    :meth:`open` applies the run-folder rules (a finished run of this length is loaded, an
    interrupted one resumed, anything else refused without ``overwrite``); :meth:`start`
    restores the saved state into the models; :meth:`record` and :meth:`after_step` keep the
    history, logs, validation and rolling checkpoints; :meth:`finish` writes ``final.pt``.
    Only rank 0 writes. Taught in notebook 03.
    """

    def __init__(self, run_dir: Path, cfg: TrainConfig, *, kind: str, model_config: Any, total: int,
                 steps_per_epoch: int, preset: str | None, data_fingerprint: str | None,
                 state: dict[str, Any] | None) -> None:
        self.run_dir, self.cfg, self.kind, self.model_config = run_dir, cfg, kind, model_config
        self.total, self.steps_per_epoch, self.preset = total, steps_per_epoch, preset
        self.data_fingerprint, self._state = data_fingerprint, state
        self.last_path, self.final_path = layout.last_checkpoint(run_dir), layout.final_checkpoint(run_dir)
        self.step = self.resumed_from = 0
        self.history: list[dict[str, float]] = []
        self.val_history: list[dict[str, float]] = []
        self.seconds = 0.0

    @classmethod
    def open(cls, run_dir: str | Path, cfg: TrainConfig, model: nn.Module, *, total: int, steps_per_epoch: int,
             resume: bool, overwrite: bool, preset: str | None = None, data_fingerprint: str | None = None) -> "Run":
        """The run in ``run_dir`` for ``model`` trained with ``cfg`` (see :func:`dualkd_lib.train.train`)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        kind, model_config = describe_model(model)
        state = _resume_state(layout.last_checkpoint(run_dir), layout.final_checkpoint(run_dir), cfg, kind, total,
                              steps_per_epoch, resume, overwrite, data_fingerprint)
        return cls(run_dir, cfg, kind=kind, model_config=model_config, total=total, steps_per_epoch=steps_per_epoch,
                   preset=preset, data_fingerprint=data_fingerprint, state=state)

    def start(self, hw: Hardware, mean_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Load the saved state (if any) into the models, optimiser and AMP scaler; start the clock."""
        self._hw, self._mean_model, self._optimizer = hw, mean_model, optimizer
        state = self._state
        if state is not None:
            try:
                hw.core.load_state_dict(state["model_state"])
                mean_model.load_state_dict(state["mean_model_state"])
                if state.get("optimizer_state") is not None:
                    optimizer.load_state_dict(state["optimizer_state"])
            except RuntimeError as err:
                raise ValueError(f"{state['path']} does not fit this model ({self.kind}): {err}") from None
            self.step, self.history = state["step"], list(state["history"])
            self.val_history = list((state.get("extra") or {}).get("val_history", []))
            if hw.use_amp and (state.get("extra") or {}).get("grad_scaler"):
                hw.scaler.load_state_dict(state["extra"]["grad_scaler"])
            if self.step < self.total:
                log.info("Resuming %s from step %d of %d (%s).", self.run_dir, self.step, self.total, state["path"].name)
            else:
                log.info("Loaded the finished run %s (%d steps): nothing to train.", self.run_dir.name, self.step)
        self.resumed_from = self.step
        self._start_time = time.perf_counter()

    def progress_bar(self, progress: bool) -> Any:
        """The tqdm bar of the run (rank 0 only, and not for a run that is already finished)."""
        return tqdm(total=self.total, initial=self.step, desc=f"train {self.cfg.mode}", unit="step",
                    disable=not progress or not self._hw.is_main or self.step >= self.total)

    def record(self, epoch: int, lr: float, alpha: float, logged: Mapping[str, torch.Tensor]) -> None:
        """One optimiser step's row of the history (``logged``: loss and terms, averaged over processes)."""
        cfg = self.cfg
        self.history.append({"step": self.step, "epoch": epoch, "lr": lr, "alpha": alpha,
                             "w_cons": cfg.cons_max * sigmoid_rampup(self.step, cfg.cons_rampup_steps),
                             **{k: float(v.detach()) for k, v in logged.items()}})
        self.step += 1

    def after_step(self, bar: Any, epoch: int, val_fn: Callable[[nn.Module], Mapping[str, float]] | None) -> None:
        """Log the running loss, validate at the end of an epoch, write the rolling checkpoint."""
        cfg, step, is_main = self.cfg, self.step, self._hw.is_main
        bar.update(1)
        if is_main and (step % cfg.log_every == 0 or step == self.total):
            running = float(np.mean([h["loss"] for h in self.history[-cfg.log_every:]]))
            bar.set_postfix(loss=f"{running:.4f}")
            log.info("step %d/%d loss %.4f", step, self.total, running)
        if is_main and step % self.steps_per_epoch == 0 and val_fn is not None:
            model = self._mean_model if cfg.validate_on == "mean" else self._hw.core
            self.val_history.append(_validate(val_fn, model, epoch, step))
            self._hw.model.train()
        if step % cfg.checkpoint_every == 0 and step < self.total:
            self._save(self.last_path, with_optimizer=True)

    def finish(self) -> TrainResult:
        """Write ``last.pt`` and ``final.pt`` when this call trained (or ``final.pt`` is missing)."""
        self.seconds = time.perf_counter() - self._start_time
        if self.step > self.resumed_from or not self.final_path.exists():
            self._save(self.last_path, with_optimizer=True)
            self._save(self.final_path, with_optimizer=False)
        if self._hw.is_main and self.step > self.resumed_from:
            log.info("Trained %s for %d steps in %.1f s; final model in %s.", self.kind, self.step - self.resumed_from,
                     self.seconds, self.final_path)
        return TrainResult(self._hw.core, self._mean_model, self.history, self.val_history, self.step, self.run_dir,
                           self.final_path, self.resumed_from, self.seconds)

    def _save(self, path: Path, with_optimizer: bool) -> None:
        hw = self._hw
        if not hw.is_main:  # one writer: rank 0
            return
        extra = {"val_history": self.val_history, "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total,
                 "data_fingerprint": self.data_fingerprint}
        if hw.use_amp:
            extra["grad_scaler"] = hw.scaler.state_dict()
        save_checkpoint(
            path, model=hw.core, mean_model=self._mean_model, optimizer=self._optimizer if with_optimizer else None,
            step=self.step, epoch=self.step // self.steps_per_epoch, history=self.history, model_kind=self.kind,
            model_config=self.model_config, train_config=self.cfg, preset=self.preset, overwrite=True, extra=extra,
        )


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

