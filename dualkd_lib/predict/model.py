"""The trained model behind a prediction: checkpoint, features, scaler and embeddings, windows over a long recording.

Taught in notebook 09.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dualkd_lib import evaluate, layout
from dualkd_lib.features import FeatureConfig, LogMel, Scaler, n_output_frames, output_frame_seconds
from dualkd_lib.train import kept_model, load_checkpoint, load_model_from_checkpoint
from dualkd_lib.predict.inputs import EMBEDDING_MODEL_KEY
from dualkd_lib.predict.audio import AudioStream, _windows

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
@dataclass
class Predictor:
    """A checkpoint ready to score 10-s windows: model, features, scaler and post-processing.

    ``embedding_model`` is the frozen embedding model of a teacher (None for a
    student). Build it with :func:`load_predictor`. Taught in notebook 09.
    """

    kind: str
    checkpoint: Path
    model: nn.Module
    embedding_model: nn.Module | None
    features: FeatureConfig
    scaler: Scaler
    logmel: LogMel
    threshold: float | Sequence[float]
    median_filter_frames: int | Sequence[int]
    classes: tuple[str, ...]

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (0.128 s for the course features)."""
        return output_frame_seconds(self.features)

    @property
    def frames_per_window(self) -> int:
        """Output frames of one 10-s window (78 for the course features)."""
        return n_output_frames(self.features)

    @property
    def stride_samples(self) -> int:
        """Samples between window starts: exactly the audio its output frames cover (9.984 s)."""
        return self.frames_per_window * self.features.hop_length * self.features.net_pooling

    @torch.no_grad()
    def score_windows(self, windows: np.ndarray | torch.Tensor) -> np.ndarray:
        """Waveform windows ``[n, clip_samples]`` at the model rate -> frame scores ``[n, classes, frames]``."""
        x = self.scaler(self.logmel(torch.as_tensor(windows, dtype=torch.float32)))
        emb = None if self.embedding_model is None else self.embedding_model(x).frame
        strong = self.model(x, emb).strong if emb is not None else self.model(x).strong
        if strong.shape[-1] != self.frames_per_window:
            raise ValueError(
                f"{self.checkpoint}: the model gives {strong.shape[-1]} frames per 10-s window but its features "
                f"promise {self.frames_per_window}; the checkpoint and its inference.pt do not belong together."
            )
        return strong.float().numpy()


def embedding_model_path(checkpoint: str | Path, ckpt: dict[str, Any] | None = None) -> Path | None:
    """Where a teacher checkpoint says its embedding model is (``"embedding_model_path"``), or None.

    The key is read at the top level of the checkpoint, in its ``extra``, or in the
    run's ``inference.pt`` (where :func:`dualkd_lib.recipe.runs.train_teacher` records it); a
    relative path is relative to the checkpoint's folder. Taught in notebook 09.
    """
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint) if ckpt is None else ckpt
    value = ckpt.get(EMBEDDING_MODEL_KEY) or (ckpt.get("extra") or {}).get(EMBEDDING_MODEL_KEY)
    bundle = checkpoint.parent / "inference.pt"
    if not value and bundle.is_file():  # the pipeline records it in the run's inference bundle
        value = torch.load(bundle, map_location="cpu", weights_only=True).get(EMBEDDING_MODEL_KEY)
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else checkpoint.parent / path


def _teacher_embedding_model(checkpoint: Path, ckpt: dict[str, Any], given: str | Path | None,
                             teacher: nn.Module, n_mels: int) -> nn.Module:
    """The frozen embedding model of a teacher: ``given``, else the recorded path; clear errors otherwise."""
    recorded = embedding_model_path(checkpoint, ckpt)
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise FileNotFoundError(
                f"--embedding-model {path} does not exist; give the embedding model the teacher {checkpoint} was "
                f"trained with (the work folder's embedding/final.pt)."
            )
        if recorded is not None and recorded.resolve() != path.resolve():
            log.info("Using the embedding model %s given, not %s recorded in %s.", path, recorded, checkpoint.name)
    elif recorded is not None:
        path = recorded
        if not path.is_file():
            raise FileNotFoundError(
                f"{checkpoint} is a teacher trained with the embedding model {path}, which does not exist (moved "
                f"or deleted?). Give its new place with --embedding-model PATH, or predict with a student "
                "checkpoint, which needs no embedding model."
            )
    else:
        if ckpt.get("preset") == "desed":
            raise ValueError(
                f"{checkpoint} is a teacher of the desed preset: it was trained on BEATs embeddings read from the "
                "DCASE recipe's HDF5 files, which `dualkd predict` cannot compute for new recordings. Predict with "
                "a student checkpoint instead (it needs no embedding model)."
            )
        guess = layout.embedding_checkpoint(checkpoint.parent.parent.parent)
        hint = f"; next to this run that is {guess}" if guess.is_file() else ""
        raise ValueError(
            f"{checkpoint} is a teacher: it needs the frame embeddings of the embedding model it was trained with, "
            f"and the checkpoint does not record where that model is (no {EMBEDDING_MODEL_KEY!r}). Give it with "
            f"--embedding-model PATH (embedding/final.pt in the work folder the teacher was trained in{hint}), "
            "or predict with a student checkpoint, which runs alone."
        )
    model, _, _ = load_model_from_checkpoint(path, expected_kind="embedding")
    want = teacher.cfg.embedding_dim
    if model.cfg.emb_dim != want or model.cfg.n_mels != n_mels:
        raise ValueError(
            f"The embedding model {path} gives {model.cfg.emb_dim}-dim embeddings from {model.cfg.n_mels} mels, but "
            f"the teacher {checkpoint} expects {want}-dim embeddings from {n_mels} mels: it is not the model the "
            "teacher was trained with. Give the right one with --embedding-model PATH."
        )
    return model.freeze()


def load_predictor(checkpoint: str | Path, *, embedding_model: str | Path | None = None,
                   threshold: float | Sequence[float] | None = None) -> Predictor:
    """Load a student or teacher checkpoint with what predicting needs.

    ``inference.pt`` next to the checkpoint (written by training) gives the
    features, the scaler, the median filter and the threshold; ``threshold``
    overrides the saved one. A teacher also loads its embedding model (see
    :func:`embedding_model_path`; ``embedding_model`` wins over the recorded
    path). Errors say what is missing and how to give it. Taught in notebook 09.
    """
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    kind = ckpt["model_kind"]
    if kind not in ("student", "teacher"):
        raise ValueError(
            f"{checkpoint} holds {'an' if kind[0] in 'aeiou' else 'a'} {kind} model; `dualkd predict` runs a "
            "student checkpoint (or a teacher with its "
            "embedding model), e.g. data/cache/course/runs/student-dual-seed0/final.pt."
        )
    bundle_path = checkpoint.parent / "inference.pt"
    if not bundle_path.is_file():
        command = "train-student --mode MODE" if kind == "student" else "train-teacher"
        raise FileNotFoundError(
            f"{bundle_path} is missing: it holds the feature settings and scaler that go with {checkpoint.name}. "
            f"Copy inference.pt from the run folder together with the checkpoint, or train with "
            f"`dualkd {command}`, which writes both."
        )
    bundle = torch.load(bundle_path, map_location="cpu", weights_only=True)
    fcfg = FeatureConfig(**bundle["features"])
    model, mean, _ = load_model_from_checkpoint(checkpoint, expected_kind=kind)
    model = kept_model(checkpoint, model, mean).eval()  # the weights the ablation kept on validation
    emb_model = None
    if kind == "student":
        model = model.without_embedding_head().eval()
    else:
        emb_model = _teacher_embedding_model(checkpoint, ckpt, embedding_model, model, fcfg.n_mels)
    scaler = Scaler(fcfg.n_mels)
    scaler.load_state_dict(bundle["scaler_state"])
    return Predictor(
        kind=kind, checkpoint=checkpoint, model=model, embedding_model=emb_model, features=fcfg,
        scaler=scaler.eval(), logmel=LogMel(fcfg).eval(),
        threshold=bundle["threshold"] if threshold is None else threshold,
        median_filter_frames=bundle["median_filter_frames"], classes=tuple(bundle["classes"]),
    )


def score_file(predictor: Predictor, path: str | Path, *, batch_windows: int = 8) -> tuple[np.ndarray, float]:
    """Median-filtered frame scores ``[classes, frames]`` (float32) of one recording, and its duration (s).

    The file is read once in blocks, resampled and cut into 10-s windows that
    start every :attr:`Predictor.stride_samples`; ``batch_windows`` windows are
    scored at a time, so memory does not grow with the file's length. Frames
    that start at or after the duration are dropped. Raises
    :class:`AudioReadError` for a file that cannot be read. Taught in notebook 09.
    """
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be >= 1, got {batch_windows}.")
    fcfg = predictor.features
    frame_samples = fcfg.hop_length * fcfg.net_pooling
    parts: list[np.ndarray] = []
    with AudioStream(path, fcfg.sample_rate, block_seconds=batch_windows * fcfg.clip_seconds) as stream:
        windows = _windows(stream.blocks(), window=fcfg.clip_samples, stride=predictor.stride_samples,
                           min_tail=frame_samples, batch=batch_windows)
        for batch in windows:
            parts.append(predictor.score_windows(batch))  # [n, C, T]
        duration = stream.duration
    strong = np.concatenate(parts)  # [windows, C, T]
    scores = strong.transpose(1, 0, 2).reshape(strong.shape[1], -1)  # [C, windows * T], contiguous in time
    starts = np.arange(scores.shape[1]) * predictor.frame_seconds
    n_keep = max(1, int(np.sum(starts < duration - 1e-9)))
    scores = np.ascontiguousarray(scores[:, :n_keep])
    return evaluate.median_filter(scores, predictor.median_filter_frames).astype(np.float32), duration
