"""Checkpoints that know which model they hold and refuse to be loaded into the wrong one; the one stale-run differ.

Taught in notebooks 03 and 08.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from dualkd_lib.models import MODEL_CLASSES


#: Version of the checkpoint layout written by :func:`save_checkpoint`.
CHECKPOINT_FORMAT: int = 1
#: Model kinds a checkpoint can hold: the ``dualkd_lib.models`` class and config class of each.
MODEL_KINDS: dict[str, tuple[str, str]] = {kind: (cls.__name__, config.__name__)
                                         for kind, (cls, config) in MODEL_CLASSES.items()}


def config_diffs(old: Mapping[str, Any], new: Mapping[str, Any], *, ignored: Sequence[str] = (),
                  defaults: Mapping[str, Any] | None = None) -> list[str]:
    """``["field: old -> new", ...]`` for every config field that differs (lists and tuples alike).

    A field missing from ``old`` (a config saved before the field existed) counts as its
    value in ``defaults``: fields are added with defaults that keep the old behaviour.
    """
    old = {**{k: v for k, v in (defaults or {}).items() if k not in old}, **old}
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if key not in ignored and _tuples(old.get(key)) != _tuples(new.get(key))]


def field_defaults(config: Any) -> dict[str, Any]:
    """Default values of a config dataclass's fields (empty for anything else)."""
    if not dataclasses.is_dataclass(config):
        return {}
    return {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}


def check_same_data(state: Mapping[str, Any], path: Path, data_fingerprint: str | None) -> None:
    """Raise when the run at ``path`` was trained on other data (both fingerprints known and different)."""
    stored = (state.get("extra") or {}).get("data_fingerprint")
    if stored is not None and data_fingerprint is not None and stored != data_fingerprint:
        raise ValueError(
            f"The run in {path.parent} was trained on other data (data fingerprint {stored} -> {data_fingerprint}: "
            "the dataset was regenerated or changed since). It is kept as it is: move its folder away (or use "
            "another work folder: work_dir=..., --work-dir on the command line) and the model is trained "
            "again on the current data."
        )


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
    kind = next((k for k, (cls, _) in MODEL_CLASSES.items() if type(model) is cls), "custom")
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
    check_same_data(ckpt, path, data_fingerprint)
    diffs: list[str] = []
    for what, old, config, ignored in (
        ("model", ckpt.get("model_config") or {}, model_config, ()),
        ("training", ckpt.get("train_config") or {}, train_config, COSMETIC_CHANGES),
    ):
        diffs += [f"{what} {diff}" for diff in config_diffs(old, _config_dict(config) or {}, ignored=ignored,
                                                            defaults=field_defaults(config))]
    if diffs:
        raise ValueError(
            f"The cached {kind} run in {path.parent} was made with other settings than the current ones "
            f"({'; '.join(diffs)}). It is kept as it is: move its folder away (or use another work folder: "
            "work_dir=..., --work-dir on the command line) and the model is trained again with the current settings."
        )


def _tuples(v: Any) -> Any:
    """Lists back to tuples, recursively (config fields such as ``pooling`` are tuples)."""
    return tuple(_tuples(x) for x in v) if isinstance(v, (list, tuple)) else v


def build_model(model_kind: str, model_config: Mapping[str, Any]) -> nn.Module:
    """A fresh model of ``model_kind`` built from a stored config dict (see :data:`MODEL_KINDS`).

    Taught in notebook 03.
    """
    if model_kind not in MODEL_CLASSES:
        raise ValueError(
            f"Cannot rebuild a {model_kind!r} model; only {list(MODEL_KINDS)} checkpoints can be rebuilt."
        )
    if model_config is None:
        raise ValueError(f"The checkpoint of the {model_kind} model has no model_config to rebuild it from.")
    cls, config_cls = MODEL_CLASSES[model_kind]
    return cls(config_cls(**{k: _tuples(v) for k, v in model_config.items()}))


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
            f"{'' if expected_kind is None else f' (expected a {expected_kind} model)'}: {err} If it is a cached run made by an older version of the course, move its folder away (or use another work folder: work_dir=..., --work-dir on the command line) and the model is trained again."
        ) from None
    model.eval()
    if mean_model is not None:
        mean_model.eval().requires_grad_(False)
    return model, mean_model, ckpt


