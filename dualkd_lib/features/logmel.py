"""Log-mel features: :class:`FeatureConfig`, the presets' features, frame counts and :class:`LogMel`.

Taught in notebook 02.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchaudio.transforms import MelSpectrogram

from dualkd_lib.constants import CLIP_SECONDS, SAMPLE_RATE


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
