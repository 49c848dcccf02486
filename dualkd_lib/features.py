"""Features and label encoding: log-mel spectrograms, standardisation, events <-> frames.

The pieces between a waveform and a model:

- :class:`FeatureConfig` says how a 10-s clip becomes a log-mel "image"
  ``[n_mels, frames]`` and how many frames the model outputs (``net_pooling``).
- :class:`LogMel` turns waveforms ``[batch, samples]`` into log-mel features
  ``[batch, n_mels, frames]`` exactly as the DCASE baseline does (magnitude
  mel spectrogram, Hamming window, dB with an amplitude floor, clamped).
- :class:`Scaler` standardises every mel bin with a mean and std fitted on
  training features; its statistics are buffers, so they travel inside
  checkpoints and ONNX exports.
- :class:`ManyHotEncoder` converts event lists ``(label, onset s, offset s)``
  into frame labels ``[classes, frames]`` at the *model output* resolution and
  back.
- :class:`FeatureCache` computes the features of a set of WAV files once and
  keeps them on disk (float16 ``.npy``) for later epochs and notebooks.

Taught in notebook 02.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from torch import nn
from torchaudio.transforms import MelSpectrogram
from tqdm.auto import tqdm

from dualkd_lib.constants import CLASSES, CLIP_SECONDS, SAMPLE_RATE

log = logging.getLogger(__name__)

#: Amplitude floor before taking the log (DCASE baseline): 20*log10(1e-5) = -100 dB.
AMPLITUDE_FLOOR: float = 1e-5
#: Range the dB values are clamped to (DCASE baseline), in dB.
DB_MIN: float = -50.0
DB_MAX: float = 80.0


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class FeatureConfig:
    """How a clip becomes log-mel features, and how coarse the model output is.

    Attributes (units in brackets):
        sample_rate: waveform sample rate [Hz].
        n_fft: FFT size [samples].
        win_length: analysis window length [samples] (Hamming window).
        hop_length: hop between feature frames [samples].
        n_mels: number of mel bins.
        f_min, f_max: frequency range of the mel filterbank [Hz].
        clip_seconds: clip length [s]; shorter clips are zero-padded, longer cut.
        net_pooling: total time pooling of the CNN: one model output frame
            covers ``net_pooling`` feature frames.

    The defaults are the DCASE 2023 Task 4 baseline settings. Taught in notebook 02.
    """

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 2048
    win_length: int = 2048
    hop_length: int = 256
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = 8000.0
    clip_seconds: float = CLIP_SECONDS
    net_pooling: int = 4

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "net_pooling"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"FeatureConfig.{name}={value!r} must be a positive int.")
        if self.win_length > self.n_fft:
            raise ValueError(
                f"FeatureConfig.win_length={self.win_length} is larger than n_fft={self.n_fft}; "
                "use win_length <= n_fft."
            )
        if not 0.0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"FeatureConfig f_min={self.f_min}, f_max={self.f_max} must satisfy "
                f"0 <= f_min < f_max <= sample_rate/2 = {self.sample_rate / 2}."
            )
        if self.clip_seconds <= 0:
            raise ValueError(f"FeatureConfig.clip_seconds={self.clip_seconds} must be > 0.")

    @property
    def clip_samples(self) -> int:
        """Samples in one clip (160000 for 10 s at 16 kHz)."""
        return int(round(self.clip_seconds * self.sample_rate))


#: DCASE 2023 Task 4 baseline features (128 mels, 2048-sample window, hop 256).
DESED_FEATURES = FeatureConfig()
#: Laptop-sized features of the ``course`` preset: 64 mels, 1024-sample window and a
#: 512-sample hop (313 frames, 78 output frames of 128 ms). The hop halves the cost of
#: every model on a 2-core CPU (measured with benchmarks/profile_models.py: course
#: teacher 24 -> 52 training clips per CPU-second, student 53 -> 107).
COURSE_FEATURES = FeatureConfig(n_fft=1024, win_length=1024, hop_length=512, n_mels=64)
#: Features of the ``tiny`` preset (tests and CI): the same as the course.
TINY_FEATURES = COURSE_FEATURES


def n_frames(cfg: FeatureConfig) -> int:
    """Log-mel frames of one clip with centre padding: ``1 + clip_samples // hop``.

    626 for a 10-s clip at 16 kHz with hop 256. Taught in notebook 02.
    """
    return 1 + cfg.clip_samples // cfg.hop_length


def n_output_frames(cfg: FeatureConfig) -> int:
    """Frames of the model output (DCASE convention).

    ``int(int(clip_seconds * sr / hop) / net_pooling)``: 156 for 10 s, hop 256,
    pooling 4. The CNN's pooling floors ``n_frames(cfg) / net_pooling``, which
    gives the same number. Taught in notebook 02.
    """
    return int(int(cfg.clip_seconds * cfg.sample_rate / cfg.hop_length) / cfg.net_pooling)


def output_frame_seconds(cfg: FeatureConfig) -> float:
    """Duration of one model output frame in seconds: ``hop * net_pooling / sr``.

    0.064 s for hop 256, pooling 4, 16 kHz. Taught in notebook 02.
    """
    return cfg.hop_length * cfg.net_pooling / cfg.sample_rate


def _hz_to_mel_htk(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_center_frequencies(cfg: FeatureConfig) -> np.ndarray:
    """Centre frequency of each mel bin in Hz, shape ``[n_mels]`` (HTK mel scale).

    Useful to label the frequency axis of a log-mel plot. Taught in notebook 02.
    """
    mels = np.linspace(_hz_to_mel_htk(cfg.f_min), _hz_to_mel_htk(cfg.f_max), cfg.n_mels + 2)
    return _mel_to_hz_htk(mels[1:-1])


# --------------------------------------------------------------------------- log-mel
class LogMel(nn.Module):
    """Waveform ``[batch, samples]`` (or ``[samples]``) -> log-mel ``[batch, n_mels, frames]``.

    Choices (all as in the DCASE baseline):

    - magnitude spectrogram (``power=1``), symmetric Hamming window of
      ``win_length`` samples, ``center=True`` with reflect padding, so a clip of
      ``S`` samples gives ``1 + S // hop`` frames;
    - HTK mel scale, triangular filters without area normalisation
      (``mel_scale="htk"``, ``norm=None``, torchaudio's defaults);
    - ``20 * log10(max(mel, 1e-5))`` clamped to ``[-50, 80]`` dB.

    No learnable parameters; deterministic. Taught in notebook 02.
    """

    def __init__(self, cfg: FeatureConfig = DESED_FEATURES) -> None:
        super().__init__()
        self.cfg = cfg
        self.mel = MelSpectrogram(
            sample_rate=cfg.sample_rate,
            n_fft=cfg.n_fft,
            win_length=cfg.win_length,
            hop_length=cfg.hop_length,
            f_min=cfg.f_min,
            f_max=cfg.f_max,
            n_mels=cfg.n_mels,
            window_fn=torch.hamming_window,
            wkwargs={"periodic": False},
            power=1.0,
            center=True,
            pad_mode="reflect",
            norm=None,
            mel_scale="htk",
        )

    def forward(self, waveform: torch.Tensor, sample_rate: int | None = None) -> torch.Tensor:
        """Log-mel features in dB, ``[batch, n_mels, frames]``.

        ``sample_rate`` (optional) is checked against the config, so a 44.1 kHz
        waveform is not silently treated as 16 kHz.
        """
        if sample_rate is not None and sample_rate != self.cfg.sample_rate:
            raise ValueError(
                f"LogMel expects {self.cfg.sample_rate} Hz audio but got sample_rate={sample_rate}; "
                f"resample first (torchaudio.functional.resample(x, {sample_rate}, "
                f"{self.cfg.sample_rate}))."
            )
        if waveform.ndim == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.ndim != 2:
            raise ValueError(
                f"LogMel expects a waveform [batch, samples] or [samples], got shape "
                f"{tuple(waveform.shape)}; average stereo channels to mono first."
            )
        mel = self.mel(waveform.float())
        return amplitude_to_db(mel)


def amplitude_to_db(mel: torch.Tensor) -> torch.Tensor:
    """Magnitude -> dB: ``20 * log10(max(mel, 1e-5))`` clamped to ``[-50, 80]``.

    Same shape as the input. Taught in notebook 02.
    """
    db = 20.0 * torch.log10(torch.clamp(mel, min=AMPLITUDE_FLOOR))
    return torch.clamp(db, min=DB_MIN, max=DB_MAX)


# --------------------------------------------------------------------------- scaler
def instance_minmax(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each example to ``[0, 1]`` by its own min and max over mels and frames.

    The DCASE baseline's default normalisation ("instance", "minmax"); needs no
    fitting. ``x``: ``[batch, n_mels, frames]``. Taught in notebook 02.
    """
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    return (x - lo) / (hi - lo + eps)


class Scaler(nn.Module):
    """Per-mel-bin standardisation: ``(x - mean[mel]) / std[mel]``.

    ``mode="dataset"`` (default): mean and std of each mel bin over all
    training examples and frames, fitted with :meth:`fit` and stored as buffers
    (``mean``, ``std``: ``[n_mels]``), so they are saved in the model's
    ``state_dict`` and exported to ONNX as constants.
    ``mode="instance_minmax"``: the DCASE baseline's per-clip min-max scaling
    (:func:`instance_minmax`); nothing to fit.

    We default to dataset statistics: a clip's loudness then stays visible to
    the model, and the statistics are a small, checkable object a student can
    plot. Taught in notebook 02.
    """

    MODES = ("dataset", "instance_minmax")

    def __init__(self, n_mels: int, mode: str = "dataset", eps: float = 1e-8) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"Scaler mode={mode!r} is unknown; valid modes are {self.MODES}.")
        if n_mels <= 0:
            raise ValueError(f"Scaler n_mels={n_mels} must be > 0.")
        self.n_mels = n_mels
        self.mode = mode
        self.eps = eps
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))
        # ``fitted`` travels in the state_dict; ``_is_fitted`` is its Python copy,
        # read in forward (a plain bool keeps tracing and ONNX export clean).
        self.register_buffer("fitted", torch.tensor(mode == "instance_minmax"))
        self._is_fitted = mode == "instance_minmax"
        self.register_load_state_dict_post_hook(Scaler._sync_fitted)

    @staticmethod
    def _sync_fitted(module: nn.Module, incompatible_keys: Any) -> None:
        module._is_fitted = bool(module.fitted)

    @torch.no_grad()
    def fit(self, features: torch.Tensor | Iterable[torch.Tensor]) -> Scaler:
        """Fit mean/std per mel bin from a tensor ``[n, n_mels, frames]`` or an
        iterable of such batches (e.g. a DataLoader of features). Returns ``self``.

        Sums are accumulated in float64, so the order of batches does not matter
        beyond rounding.
        """
        if self.mode != "dataset":
            raise ValueError(f"Scaler mode={self.mode!r} needs no fit; use mode='dataset' to fit.")
        batches = [features] if isinstance(features, torch.Tensor) else features
        total = torch.zeros(self.n_mels, dtype=torch.float64)
        total_sq = torch.zeros(self.n_mels, dtype=torch.float64)
        count = 0
        for batch in batches:
            batch = torch.as_tensor(batch)
            if batch.ndim == 2:
                batch = batch.unsqueeze(0)
            if batch.ndim != 3 or batch.shape[1] != self.n_mels:
                raise ValueError(
                    f"Scaler.fit expects features [n, {self.n_mels}, frames], got shape "
                    f"{tuple(batch.shape)}; check n_mels of the Scaler and the features."
                )
            b = batch.to(torch.float64)
            total += b.sum(dim=(0, 2))
            total_sq += (b * b).sum(dim=(0, 2))
            count += b.shape[0] * b.shape[2]
        if count == 0:
            raise ValueError("Scaler.fit got no features; pass a non-empty tensor or iterable.")
        mean = total / count
        var = (total_sq / count - mean * mean).clamp(min=0.0)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(var.sqrt().clamp(min=self.eps).to(self.std.dtype))
        self.fitted.fill_(True)
        self._is_fitted = True
        log.info("Scaler fitted on %d frames: mean %.2f dB, std %.2f dB (averaged over mels)",
                 count, float(mean.mean()), float(var.sqrt().mean()))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised features, same shape as ``x`` (``[batch, n_mels, frames]``)."""
        if self.mode == "instance_minmax":
            return instance_minmax(x, self.eps)
        if not self._is_fitted:
            raise ValueError(
                "Scaler is not fitted; call scaler.fit(train_features) or load a state_dict "
                "saved from a fitted Scaler."
            )
        if not torch.jit.is_tracing() and x.shape[-2] != self.n_mels:
            raise ValueError(
                f"Scaler expects {self.n_mels} mel bins at dim -2, got shape {tuple(x.shape)}."
            )
        return (x - self.mean[:, None]) / self.std[:, None]

    def extra_repr(self) -> str:
        return f"n_mels={self.n_mels}, mode={self.mode!r}"


# --------------------------------------------------------------------------- encoder
Event = tuple[str, float, float]


class ManyHotEncoder:
    """Event lists <-> many-hot frame labels at the model output resolution.

    Frame ``i`` covers ``[i * frame_seconds, (i + 1) * frame_seconds)``.
    Encoding convention (as the DCASE baseline): an event ``(label, onset,
    offset)`` is active in frames ``floor(onset / frame_seconds)`` up to (not
    including) ``ceil(offset / frame_seconds)``, clipped to ``[0, n_frames]``;
    so every frame the event touches is active. An event shorter than a frame
    still gets one frame. A tolerance of 1e-6 frames absorbs float rounding,
    so ``onset = 3 * frame_seconds`` lands in frame 3, not 2.
    Decoding merges runs of active frames into ``(label, start edge, end edge)``
    in seconds. So events -> frames -> events is exact to one frame, and
    frames -> events -> frames is exact.

    With the default 156 frames of 0.064 s the frames end at 9.984 s; the last
    16 ms of a 10-s clip fall into the last frame. Taught in notebook 02.
    """

    _TOL = 1e-6

    def __init__(
        self,
        classes: Sequence[str] = CLASSES,
        clip_seconds: float = CLIP_SECONDS,
        n_frames: int = 156,
        frame_seconds: float = 0.064,
    ) -> None:
        if len(classes) == 0 or len(set(classes)) != len(classes):
            raise ValueError(f"classes={list(classes)!r} must be non-empty and without duplicates.")
        if n_frames <= 0 or frame_seconds <= 0 or clip_seconds <= 0:
            raise ValueError(
                f"n_frames={n_frames}, frame_seconds={frame_seconds}, clip_seconds={clip_seconds} "
                "must all be > 0."
            )
        if n_frames * frame_seconds > clip_seconds + frame_seconds:
            raise ValueError(
                f"{n_frames} frames of {frame_seconds} s overrun a {clip_seconds}-s clip; "
                "use ManyHotEncoder.from_config(cfg) to get consistent values."
            )
        self.classes: tuple[str, ...] = tuple(classes)
        self.clip_seconds = float(clip_seconds)
        self.n_frames = int(n_frames)
        self.frame_seconds = float(frame_seconds)
        self._index = {c: i for i, c in enumerate(self.classes)}

    @classmethod
    def from_config(cls, cfg: FeatureConfig, classes: Sequence[str] = CLASSES) -> ManyHotEncoder:
        """Encoder whose frames match the model output of features ``cfg``."""
        return cls(classes, cfg.clip_seconds, n_output_frames(cfg), output_frame_seconds(cfg))

    def __repr__(self) -> str:
        return (f"ManyHotEncoder({len(self.classes)} classes, n_frames={self.n_frames}, "
                f"frame_seconds={self.frame_seconds}, clip_seconds={self.clip_seconds})")

    # -- helpers
    def class_index(self, label: str) -> int:
        """Row of ``label`` in the label matrices; ValueError for unknown labels."""
        try:
            return self._index[label]
        except KeyError:
            raise ValueError(
                f"Unknown event label {label!r}; valid labels are {list(self.classes)}."
            ) from None

    def frame_times(self) -> np.ndarray:
        """Start time of each frame in seconds, ``[n_frames]``."""
        return np.arange(self.n_frames) * self.frame_seconds

    def frame_edges(self) -> np.ndarray:
        """Frame boundaries in seconds, ``[n_frames + 1]`` (start of each frame, then
        the end of the last one)."""
        return np.arange(self.n_frames + 1) * self.frame_seconds

    def time_to_frames(
        self, onset: np.ndarray | float, offset: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Onset/offset times (s) -> ``(first_frame, end_frame)`` (end exclusive), int arrays.

        Implements the convention in the class docstring; vectorised.
        """
        on = np.asarray(onset, dtype=np.float64)
        off = np.asarray(offset, dtype=np.float64)
        if np.any(~np.isfinite(on)) or np.any(~np.isfinite(off)):
            raise ValueError("Event onset/offset must be finite numbers (found NaN or inf).")
        if np.any(off < on):
            bad = int(np.argmax(off < on))
            raise ValueError(
                f"Event offset {float(np.ravel(off)[bad])} is before its onset "
                f"{float(np.ravel(on)[bad])}; swap or fix the annotation."
            )
        first = np.floor(on / self.frame_seconds + self._TOL).astype(np.int64)
        end = np.ceil(off / self.frame_seconds - self._TOL).astype(np.int64)
        first = np.clip(first, 0, self.n_frames - 1)
        end = np.clip(end, 0, self.n_frames)
        end = np.maximum(end, first + 1)  # at least one frame
        return first, end

    @staticmethod
    def _as_event_tuples(events: Any) -> list[Event]:
        if isinstance(events, pd.DataFrame):
            missing = {"onset", "offset", "event_label"} - set(events.columns)
            if missing:
                raise ValueError(
                    f"Events DataFrame lacks columns {sorted(missing)}; expected "
                    "'onset', 'offset', 'event_label' (DESED strong TSV)."
                )
            df = events.dropna(subset=["event_label"])
            return list(zip(df["event_label"], df["onset"], df["offset"]))
        out = []
        for ev in events:
            if len(ev) != 3:
                raise ValueError(f"Event {ev!r} must be a tuple (label, onset_s, offset_s).")
            out.append((ev[0], ev[1], ev[2]))
        return out

    # -- strong labels
    def encode_strong(self, events: pd.DataFrame | Iterable[Event]) -> np.ndarray:
        """Events of one clip -> frame labels ``[classes, n_frames]`` (float32, 0/1).

        ``events``: a DataFrame with columns ``onset``, ``offset``, ``event_label``
        (rows with an empty label, i.e. clips without events, are skipped) or a
        list of ``(label, onset_s, offset_s)`` tuples.
        """
        labels = np.zeros((len(self.classes), self.n_frames), dtype=np.float32)
        tuples = self._as_event_tuples(events)
        if not tuples:
            return labels
        rows = np.array([self.class_index(t[0]) for t in tuples])
        first, end = self.time_to_frames([t[1] for t in tuples], [t[2] for t in tuples])
        for r, a, b in zip(rows, first, end):
            labels[r, a:b] = 1.0
        return labels

    def encode_strong_dataframe(self, df: pd.DataFrame, filenames: Sequence[str]) -> np.ndarray:
        """Strong labels of a whole split, ``[len(filenames), classes, n_frames]`` (float32).

        ``df``: DESED strong TSV (``filename``, ``onset``, ``offset``,
        ``event_label``). Files without rows get all-zero labels; rows of files
        not in ``filenames`` are ignored. Vectorised: +1 at each event's first
        frame, -1 after its last, cumulative sum along time.
        """
        missing = {"filename", "onset", "offset", "event_label"} - set(df.columns)
        if missing:
            raise ValueError(f"Strong labels DataFrame lacks columns {sorted(missing)}.")
        file_index = {f: i for i, f in enumerate(filenames)}
        if len(file_index) != len(filenames):
            raise ValueError("encode_strong_dataframe: filenames contains duplicates.")
        df = df.dropna(subset=["event_label"])
        df = df[df["filename"].isin(file_index)]
        counts = np.zeros((len(filenames), len(self.classes), self.n_frames + 1), dtype=np.int32)
        if len(df):
            unknown = sorted(set(df["event_label"]) - set(self.classes))
            if unknown:
                raise ValueError(
                    f"Unknown event label(s) {unknown}; valid labels are {list(self.classes)}."
                )
            f_idx = df["filename"].map(file_index).to_numpy()
            c_idx = df["event_label"].map(self._index).to_numpy()
            first, end = self.time_to_frames(df["onset"].to_numpy(), df["offset"].to_numpy())
            np.add.at(counts, (f_idx, c_idx, first), 1)
            np.add.at(counts, (f_idx, c_idx, end), -1)
        active = np.cumsum(counts, axis=-1)[..., : self.n_frames] > 0
        return active.astype(np.float32)

    def decode_strong(self, frames: np.ndarray | torch.Tensor, threshold: float = 0.5
                      ) -> list[Event]:
        """Frame labels/scores ``[classes, n_frames]`` -> ``[(label, onset_s, offset_s), ...]``.

        A frame is active when its value is above ``threshold``; runs of active
        frames become one event from the run's first frame edge to its last.
        Events are sorted by class order, then onset.
        """
        arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        if arr.shape != (len(self.classes), self.n_frames):
            raise ValueError(
                f"decode_strong expects [classes, n_frames] = "
                f"{(len(self.classes), self.n_frames)}, got {arr.shape}."
            )
        active = (arr > threshold).astype(np.int8)
        padded = np.pad(active, ((0, 0), (1, 1)))
        change = np.diff(padded, axis=1)  # +1 at run starts, -1 one past run ends
        edges = self.frame_edges()
        events: list[Event] = []
        for c, label in enumerate(self.classes):
            starts = np.flatnonzero(change[c] == 1)
            stops = np.flatnonzero(change[c] == -1)
            for a, b in zip(starts, stops):
                events.append((label, float(edges[a]), float(min(edges[b], self.clip_seconds))))
        return events

    # -- weak labels
    def encode_weak(self, labels: str | Iterable[str]) -> np.ndarray:
        """Clip labels -> many-hot vector ``[classes]`` (float32).

        ``labels``: an iterable of class names or a DESED weak-TSV string
        ``"Dog,Speech"``; an empty string means no event.
        """
        if isinstance(labels, str):
            labels = [s for s in (p.strip() for p in labels.split(",")) if s]
        out = np.zeros(len(self.classes), dtype=np.float32)
        for label in labels:
            out[self.class_index(label)] = 1.0
        return out

    def decode_weak(self, vector: np.ndarray | torch.Tensor, threshold: float = 0.5) -> list[str]:
        """Many-hot vector or clip scores ``[classes]`` -> class names above ``threshold``."""
        arr = vector.detach().cpu().numpy() if isinstance(vector, torch.Tensor) else np.asarray(vector)
        if arr.shape != (len(self.classes),):
            raise ValueError(f"decode_weak expects [{len(self.classes)}] values, got {arr.shape}.")
        return [c for c, v in zip(self.classes, arr) if v > threshold]


# --------------------------------------------------------------------------- cache
Loader = Callable[[Path], torch.Tensor]

#: Bump when the cache file format or the feature computation changes.
CACHE_VERSION = 1


def soundfile_loader(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Minimal WAV reader: mono float32 waveform ``[samples]``.

    Averages channels; refuses a file whose rate is not ``sample_rate`` (use
    ``desed_io.load_wav`` to resample). Taught in notebook 02.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WAV file not found: {path}")
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != sample_rate:
        raise ValueError(
            f"{path} has sample rate {sr} Hz, expected {sample_rate} Hz; resample it "
            "(desed_io.load_wav does) or pass a loader that resamples."
        )
    return torch.from_numpy(data.mean(axis=1))


def _fit_length(wave: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Zero-pad or cut a ``[samples]`` waveform to ``n_samples``."""
    if wave.shape[0] >= n_samples:
        return wave[:n_samples]
    return torch.nn.functional.pad(wave, (0, n_samples - wave.shape[0]))


def _sha1(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """Log-mel features of WAV files, computed once and kept on disk.

    One ``.npy`` file (float16, memory-mappable) per (audio folder, feature
    config, set of files), named ``<folder>-<key>.npy``, where ``key`` hashes
    the config's log-mel fields, the folder and the sorted file names. A JSON
    sidecar records each file's size and modification time; if any of them
    changed, the cache is stale and is recomputed (and overwritten).
    Writes go to a temporary file that is renamed when complete, and the
    sidecar is written last, so an interrupted run never leaves a cache that
    looks valid.

    float16 on disk: half the disk and RAM of float32; log-mel values lie in
    [-50, 80] dB where float16 rounds by at most 0.03 dB, far below the ~10 dB
    spread of the features. Convert batches with ``.float()`` before the model.
    Taught in notebook 02.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _feature_fields(cfg: FeatureConfig) -> dict[str, Any]:
        fields = dataclasses.asdict(cfg)
        fields.pop("net_pooling")  # does not change the log-mel features
        fields["cache_version"] = CACHE_VERSION
        return fields

    def paths_for(self, wav_paths: Sequence[str | Path], cfg: FeatureConfig) -> tuple[Path, Path]:
        """``(npy_path, sidecar_json_path)`` used for these files and config."""
        resolved = sorted(Path(p).resolve() for p in wav_paths)
        if not resolved:
            raise ValueError("FeatureCache needs at least one WAV path.")
        folder = Path(os.path.commonpath([str(p.parent) for p in resolved]))
        names = [str(p.relative_to(folder)) for p in resolved]
        key = _sha1({"cfg": self._feature_fields(cfg), "folder": str(folder), "files": names})
        slug = folder.name or "root"
        stem = f"{slug}-{key[:16]}"
        return self.cache_dir / f"{stem}.npy", self.cache_dir / f"{stem}.json"

    @staticmethod
    def _fingerprint(paths: Sequence[Path]) -> list[list[Any]]:
        out = []
        for p in paths:
            try:
                st = p.stat()
            except FileNotFoundError:
                raise FileNotFoundError(f"WAV file not found: {p}") from None
            out.append([str(p), st.st_size, st.st_mtime_ns])
        return out

    def is_valid(self, wav_paths: Sequence[str | Path], cfg: FeatureConfig) -> bool:
        """True when a complete, up-to-date cache exists for these files and config."""
        npy_path, meta_path = self.paths_for(wav_paths, cfg)
        resolved = sorted(Path(p).resolve() for p in wav_paths)
        if not (npy_path.is_file() and meta_path.is_file()):
            return False
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return (
            meta.get("fingerprint") == self._fingerprint(resolved)
            and meta.get("shape") == [len(resolved), cfg.n_mels, n_frames(cfg)]
        )

    def relocate(self, old_root: str | Path, new_root: str | Path, cfg: FeatureConfig) -> int:
        """Re-point the entries computed from WAVs under ``old_root`` to the same files under ``new_root``.

        For a data folder that was moved or copied with its content checked (a classroom
        cache, :mod:`dualkd_lib.course.classroom_cache`): the entries' names and fingerprints hold
        absolute paths and time stamps, so without this every split would be computed
        again. An entry whose files are not all under ``old_root``, or whose new files
        differ in size, is left alone (it is then recomputed when used). Returns the number
        of entries re-pointed. Taught in notebook 00.
        """
        old_root, new_root = Path(old_root), Path(new_root).resolve()
        moved = 0
        for meta_path in sorted(self.cache_dir.glob("*.json")):
            try:
                meta = json.loads(meta_path.read_text())
                old = [Path(p) for p, _, _ in meta["fingerprint"]]
                sizes = [size for _, size, _ in meta["fingerprint"]]
            except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            try:
                new = [new_root / p.relative_to(old_root) for p in old]
            except ValueError:
                continue  # not computed from this data folder
            if not all(p.is_file() and p.stat().st_size == size for p, size in zip(new, sizes)):
                continue
            npy_new, meta_new = self.paths_for(new, cfg)
            npy_old = meta_path.with_suffix(".npy")
            if not npy_old.is_file():
                continue
            if npy_old != npy_new:
                npy_old.replace(npy_new)
            meta["fingerprint"] = self._fingerprint(sorted(new))
            _atomic_write_text(meta_new, json.dumps(meta, indent=1))
            if meta_path != meta_new:
                meta_path.unlink()
            moved += 1
        return moved

    def features_for(
        self,
        wav_paths: Sequence[str | Path],
        cfg: FeatureConfig,
        *,
        progress: bool = True,
        loader: Loader | None = None,
        batch_size: int = 16,
        description: str | None = None,
    ) -> torch.Tensor:
        """Log-mel features of ``wav_paths`` in their given order, ``[n, n_mels, frames]`` float16.

        Computed and saved on the first call (or when a file changed), read
        from disk afterwards. Waveforms are zero-padded or cut to
        ``cfg.clip_seconds``. ``loader(path) -> Tensor [samples]`` reads one
        file (default :func:`soundfile_loader`). When ``wav_paths`` is already
        sorted, the result is a copy-on-write memory map of the file.
        """
        order = [Path(p).resolve() for p in wav_paths]
        resolved = sorted(order)
        if len(set(resolved)) != len(resolved):
            raise ValueError("FeatureCache.features_for: wav_paths contains duplicates.")
        npy_path, meta_path = self.paths_for(wav_paths, cfg)
        if self.is_valid(wav_paths, cfg):
            log.info("Feature cache hit: %s", npy_path.name)
        else:
            fingerprint = self._fingerprint(resolved)
            desc = description or f"log-mel features: {npy_path.stem.rsplit('-', 1)[0]}"
            self._compute(resolved, cfg, npy_path, loader, batch_size, progress, desc)
            meta = {
                "fingerprint": fingerprint,
                "shape": [len(resolved), cfg.n_mels, n_frames(cfg)],
                "config": self._feature_fields(cfg),
                "dtype": "float16",
            }
            _atomic_write_text(meta_path, json.dumps(meta, indent=1))
        data = torch.from_numpy(np.load(npy_path, mmap_mode="c"))
        if order == resolved:
            return data
        position = {p: i for i, p in enumerate(resolved)}
        return data[torch.tensor([position[p] for p in order])]

    def _compute(
        self,
        paths: Sequence[Path],
        cfg: FeatureConfig,
        npy_path: Path,
        loader: Loader | None,
        batch_size: int,
        progress: bool,
        desc: str,
    ) -> None:
        load: Loader = loader if loader is not None else (
            lambda p: soundfile_loader(p, cfg.sample_rate))
        meta_path = npy_path.with_suffix(".json")
        meta_path.unlink(missing_ok=True)  # the old sidecar must not vouch for a new file
        logmel = LogMel(cfg).eval()
        shape = (len(paths), cfg.n_mels, n_frames(cfg))
        fd, tmp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=npy_path.stem, suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        n_fit = 0
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
            with torch.no_grad(), tqdm(total=len(paths), desc=desc, disable=not progress,
                                       unit="clip") as bar:
                for start in range(0, len(paths), batch_size):
                    waves = []
                    for p in paths[start:start + batch_size]:
                        wave = torch.as_tensor(load(p)).float()
                        if wave.ndim != 1:
                            raise ValueError(
                                f"loader returned shape {tuple(wave.shape)} for {p}; it must "
                                "return a mono waveform [samples]."
                            )
                        n_fit += wave.shape[0] != cfg.clip_samples
                        waves.append(_fit_length(wave, cfg.clip_samples))
                    feats = logmel(torch.stack(waves))
                    out[start:start + len(waves)] = feats.numpy().astype(np.float16)
                    bar.update(len(waves))
            out.flush()
            del out
            os.replace(tmp, npy_path)
        finally:
            tmp.unlink(missing_ok=True)
        if n_fit:
            log.info("%d of %d clips were padded or cut to %.1f s", n_fit, len(paths),
                     cfg.clip_seconds)
        log.info("Feature cache written: %s %s", npy_path.name, shape)


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
