"""Edge deployment, part 3: detecting sound events while the audio arrives.

Offline, the student sees a whole 10-s clip. On a device, audio arrives in short chunks
and we want scores *soon*. Two things stand in the way:

- the **bidirectional GRU** reads the clip backwards as well as forwards, so a frame's
  score depends on audio that has not arrived yet (and the squeeze-and-excitation
  blocks average each channel over the whole input, which does the same);
- the conv stack and the STFT window look a little to the left and right of each frame.

:class:`StreamingDetector` pays for the future with **latency**: every ``hop_seconds`` it
runs the model on a window of ``context_seconds`` of past audio, the hop's new frames, and
``lookahead_seconds`` of future audio, and emits the scores of the hop's frames only.
A frame is therefore reported ``hop + lookahead`` seconds after it started (plus the
compute time). The longer the context and the lookahead, the closer the scores get to
the offline pass; with enough of both they equal it up to float rounding. The
alternative (recompute a sliding 10-s window every hop and report its newest frames
immediately) has lower latency but scores the newest frames with no future context at
all, which is where the backward GRU has seen nothing yet.

Time is counted in model output frames (``hop_length * net_pooling`` samples, 64 ms at
hop 256): hop, context and lookahead are rounded to whole frames, and windows start on a
frame boundary, so window frame ``i`` is global frame ``start + i`` exactly.

Taught in notebook 09.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dualkd_lib.features import FeatureConfig, LogMel, Scaler, output_frame_seconds

log = logging.getLogger(__name__)

__all__ = ["StreamingConfig", "StreamChunk", "StreamingDetector", "offline_scores", "stream_waveform"]


@dataclass(frozen=True)
class StreamingConfig:
    """How :class:`StreamingDetector` cuts the stream (seconds; rounded to whole output frames).

    Attributes:
        hop_seconds: how often the model runs; each run emits this much new score.
        context_seconds: past audio the model sees before the hop's frames (left context).
        lookahead_seconds: future audio it waits for after them (right context); adds latency.

    Taught in notebook 09.
    """

    hop_seconds: float = 1.0
    context_seconds: float = 4.0
    lookahead_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.hop_seconds <= 0:
            raise ValueError(f"StreamingConfig.hop_seconds={self.hop_seconds} must be > 0.")
        if self.context_seconds < 0 or self.lookahead_seconds < 0:
            raise ValueError(
                f"StreamingConfig context_seconds={self.context_seconds} and lookahead_seconds="
                f"{self.lookahead_seconds} must be >= 0."
            )


@dataclass
class StreamChunk:
    """Scores emitted by one step: ``scores [classes, n_frames]`` for global frames
    ``start_frame .. start_frame + n_frames - 1``, their onset ``times`` (s), and
    ``compute_seconds`` (wall-clock time of features + model for this step)."""

    start_frame: int
    scores: np.ndarray
    times: np.ndarray
    compute_seconds: float


class StreamingDetector:
    """Frame scores of a student model from audio that arrives in chunks.

    ``StreamingDetector(model, feature_cfg, scaler, *, hop_seconds=1.0, context_seconds=4.0,
    lookahead_seconds=2.0)``. ``model``: a student (``nn.Module``; its embedding distillation
    layer is dropped) or an ONNX Runtime session of an exported student (input ``features``).
    ``feature_cfg`` and ``scaler`` are those the model was trained with. Call :meth:`push`
    with each new chunk of 16 kHz mono audio (any length); it returns the
    :class:`StreamChunk` objects that became ready. Call :meth:`flush` when the stream ends
    to score the remaining frames. :meth:`scores` gives everything emitted so far
    ``[classes, frames]``. Algorithmic latency: :attr:`latency_seconds` (hop + lookahead).
    Taught in notebook 09.
    """

    def __init__(
        self,
        model: Any,
        feature_cfg: FeatureConfig,
        scaler: Scaler,
        *,
        hop_seconds: float = 1.0,
        context_seconds: float = 4.0,
        lookahead_seconds: float = 2.0,
    ) -> None:
        self.cfg = StreamingConfig(hop_seconds, context_seconds, lookahead_seconds)
        self.feature_cfg = feature_cfg
        if hasattr(model, "run") and hasattr(model, "get_inputs"):  # an onnxruntime.InferenceSession
            names = [i.name for i in model.get_inputs()]
            if names != ["features"]:
                raise ValueError(f"The ONNX model has inputs {names}; streaming needs a student (input 'features' only).")
            self.model: Any = model
        elif isinstance(model, nn.Module):
            if getattr(model, "fusion", None) is not None:
                raise ValueError("This model fuses embeddings (a teacher); stream a student, which needs none.")
            if getattr(model, "embedding_head", None) is not None:
                model = model.without_embedding_head()
            else:
                model = copy.deepcopy(model)
            self.model = model.cpu().eval()
        else:
            raise ValueError(f"model must be an nn.Module or an onnxruntime InferenceSession, got {type(model).__name__}.")
        self.logmel = LogMel(feature_cfg)
        self.scaler = copy.deepcopy(scaler).eval()
        self.frame_samples = feature_cfg.hop_length * feature_cfg.net_pooling
        self.frame_seconds = output_frame_seconds(feature_cfg)
        self.hop_frames = max(1, round(hop_seconds / self.frame_seconds))
        self.context_frames = math.ceil(context_seconds / self.frame_seconds - 1e-9)
        self.lookahead_frames = math.ceil(lookahead_seconds / self.frame_seconds - 1e-9)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the stream: start again at time 0."""
        self._audio = np.zeros(0, dtype=np.float32)  # kept audio, from global sample self._offset
        self._offset = 0
        self._received = 0
        self._emitted = 0  # global output frames emitted so far
        self._chunks: list[StreamChunk] = []
        self._finished = False

    @property
    def latency_seconds(self) -> float:
        """Algorithmic latency: a frame is scored ``hop + lookahead`` seconds after it starts."""
        return (self.hop_frames + self.lookahead_frames) * self.frame_seconds

    @property
    def step_seconds(self) -> list[float]:
        """Compute time (s) of every step so far."""
        return [c.compute_seconds for c in self._chunks]

    def scores(self) -> np.ndarray:
        """Every score emitted so far, ``[classes, frames]`` (frames from time 0)."""
        if not self._chunks:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate([c.scores for c in self._chunks], axis=1)

    # ------------------------------------------------------------------ work
    def _strong(self, wave: np.ndarray) -> np.ndarray:
        """Model frame scores ``[classes, out_frames]`` of one window of audio."""
        with torch.no_grad():
            x = self.scaler(self.logmel(torch.from_numpy(wave)[None]))
            if isinstance(self.model, nn.Module):
                return self.model(x).strong[0].numpy()
            return self.model.run(["strong"], {"features": x.numpy()})[0][0]

    def _step(self, first: int, n: int, end_sample: int) -> StreamChunk:
        """Score global frames ``first .. first + n - 1`` from audio up to ``end_sample``."""
        t0 = time.perf_counter()
        start = max(0, first - self.context_frames)
        wave = self._audio[start * self.frame_samples - self._offset:end_sample - self._offset]
        strong = self._strong(wave)
        scores = strong[:, first - start:first - start + n]
        if scores.shape[1] != n:  # cannot happen with the frame arithmetic above; a guard for edits
            raise RuntimeError(f"window gave {strong.shape[1]} frames, needed {first - start + n}.")
        chunk = StreamChunk(first, scores, (first + np.arange(n)) * self.frame_seconds, time.perf_counter() - t0)
        self._chunks.append(chunk)
        self._emitted = first + n
        keep_from = max(0, self._emitted - self.context_frames) * self.frame_samples
        if keep_from > self._offset:  # drop audio no later window needs
            self._audio = self._audio[keep_from - self._offset:]
            self._offset = keep_from
        return chunk

    def push(self, chunk: np.ndarray | torch.Tensor) -> list[StreamChunk]:
        """Add new audio ``[samples]`` (float, 16 kHz mono); return the steps that became ready."""
        if self._finished:
            raise ValueError("This stream was flushed; call reset() to start a new one.")
        x = chunk.detach().cpu().numpy() if isinstance(chunk, torch.Tensor) else np.asarray(chunk)
        if x.ndim != 1:
            raise ValueError(f"push expects mono audio [samples], got shape {x.shape}; average the channels first.")
        self._audio = np.concatenate([self._audio, x.astype(np.float32, copy=False)])
        self._received += len(x)
        ready = []
        while (self._emitted + self.hop_frames + self.lookahead_frames) * self.frame_samples <= self._received:
            end = (self._emitted + self.hop_frames + self.lookahead_frames) * self.frame_samples
            ready.append(self._step(self._emitted, self.hop_frames, end))
        return ready

    def flush(self) -> list[StreamChunk]:
        """The stream ended: score the frames left (their future is the end of the stream, as offline)."""
        if self._finished:
            return []
        self._finished = True
        total = (1 + self._received // self.feature_cfg.hop_length) // self.feature_cfg.net_pooling
        if total <= self._emitted:
            return []
        return [self._step(self._emitted, total - self._emitted, self._received)]


def offline_scores(model: nn.Module, feature_cfg: FeatureConfig, scaler: Scaler, waveform: np.ndarray | torch.Tensor
                   ) -> np.ndarray:
    """The offline pass the streaming output is compared with: ``[classes, frames]`` of one clip.

    Taught in notebook 09.
    """
    det = StreamingDetector(model, feature_cfg, scaler, hop_seconds=1.0, context_seconds=0.0)
    wave = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
    return det._strong(wave.astype(np.float32))


def stream_waveform(detector: StreamingDetector, waveform: np.ndarray | torch.Tensor, chunk_seconds: float = 0.1
                    ) -> np.ndarray:
    """Feed ``waveform`` to ``detector`` in chunks of ``chunk_seconds``, flush, return all scores ``[C, T]``.

    Taught in notebook 09.
    """
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds={chunk_seconds} must be > 0.")
    wave = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
    detector.reset()
    step = max(1, int(round(chunk_seconds * detector.feature_cfg.sample_rate)))
    for i in range(0, len(wave), step):
        detector.push(wave[i:i + step])
    detector.flush()
    return detector.scores()
