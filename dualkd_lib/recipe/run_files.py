"""What a run folder holds besides the weights, and whether a finished run may be reused.

:func:`cached_run_fits` decides reuse (the settings and the data fingerprint must match),
:func:`model_fingerprint` names what cached outputs were computed from, and every run leaves
``inference.pt`` (what ``dualkd predict`` needs) and ``run_info.json`` (its speed) beside
``final.pt``. Taught in notebook 03.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from dualkd_lib.constants import CLASSES
from dualkd_lib.train import check_cached_run
from dualkd_lib.recipe.pretrained import is_shipped, sha256

if TYPE_CHECKING:  # a type name only: at run time the Context imports this module (through .runs), not the reverse
    from dualkd_lib.recipe.context import Context

def cached_run_fits(ctx: Context, kind: str, path: Path, train_config, model_config=None) -> bool:
    """False when ``path`` holds no finished run; True when it holds one made with the preset's
    settings on this data; ``ValueError`` (:func:`~dualkd_lib.train.check_cached_run`) when it
    holds a stale one. The embedding model trains on its own corpus: no data fingerprint.
    ``model_config``: the architecture to compare with (default: the preset's for ``kind``)."""
    if not path.is_file():
        return False
    if model_config is None:
        model_config = {"embedding": ctx.preset.embedding, "teacher": ctx.preset.teacher,
                        "student": ctx.preset.student}[kind]
    binds = kind != "embedding" and not is_shipped(path.parent)  # shipped models serve any data of their preset
    check_cached_run(path, kind=kind, model_config=model_config, train_config=train_config,
                     data_fingerprint=ctx.data_fingerprint() if binds else None)
    return True


def model_fingerprint(path: Path) -> str:
    """``name:size:sha256[:16]`` of a model file: what its cached outputs were computed from.

    From the content, not the folder or the time stamp, so that a work folder that is
    copied or moved (a classroom cache) keeps its caches valid, and a retrained model
    (new content) never reuses the old one's."""
    return f"{path.name}:{path.stat().st_size}:{sha256(path)[:16]}"


def _inference_extra(ctx: Context) -> dict:
    """What ``dualkd predict`` needs besides the weights: features, scaler, post-processing."""
    return {
        "features": dataclasses.asdict(ctx.preset.features),
        "scaler_state": {k: v.clone() for k, v in ctx.scaler().state_dict().items()},
        "median_filter_frames": ctx.preset.evaluation.median_filter_frames,
        "threshold": ctx.preset.evaluation.threshold,
        "classes": list(CLASSES),
    }


def save_inference_bundle(ctx: Context, run_dir: Path, *, embedding_model: Path | None = None) -> None:
    """``inference.pt`` beside a run: what ``dualkd predict`` needs besides the weights. A teacher's
    also records where its embedding model is (``embedding_model_path``, relative to ``run_dir``)."""
    path = run_dir / "inference.pt"
    if not path.exists():
        bundle = _inference_extra(ctx)
        if embedding_model is not None:
            bundle["embedding_model_path"] = os.path.relpath(embedding_model, run_dir)
        torch.save(bundle, path)


def write_run_info(run_dir: Path, result, cfg) -> None:
    batch = sum(cfg.batch_sizes)
    trained = result.steps - result.resumed_from
    info = {"steps": result.steps, "seconds": result.seconds, "resumed_from": result.resumed_from,
            "clips_per_second": (trained * batch / result.seconds) if result.seconds > 0 and trained else None}
    path = run_dir / "run_info.json"
    if trained or not path.exists():
        path.write_text(json.dumps(info, indent=2))

