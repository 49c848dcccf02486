"""How a generated clip is "recorded": DESED's two domains, synthetic and real.

In DESED the strongly labelled training clips are *synthetic* soundscapes (dry
events mixed over backgrounds by Scaper), while the weak, unlabelled, validation
and evaluation clips are *real* recordings (rooms, microphones, other sounds).
A model trained on the synthetic strong labels has to cross that gap; a large
pre-trained model (BEATs) has heard both kinds of audio and carries across it.

A :class:`RecordingDomain` says how the events of a clip are rendered: dry
(``DRY``, today's rendering) or through a room and a microphone
(``ROOM_MICROPHONE``): a random room impulse response (exponentially decaying
noise, RT60 drawn per clip), a microphone band (high-pass and low-pass), an SNR
offset and extra unlabelled sounds. :func:`render_event` applies it to one event.
Taught in notebook 01.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.signal

from dualkd_lib.constants import SAMPLE_RATE

SR = SAMPLE_RATE


@dataclass(frozen=True)
class RecordingDomain:
    """How the events of one clip are rendered (see the module docstring).

    - ``name``: shown in ``generator_info.json``.
    - ``reverb_prob``: chance that a clip is recorded in a room (all its events share it).
    - ``rt60_range``: reverberation time of that room in seconds, drawn uniformly.
    - ``wet_db_range``: level of the reverberant part relative to the direct sound, dB.
    - ``mic_highpass_hz`` / ``mic_lowpass_hz``: the microphone's band edges, drawn uniformly
      per clip (``(0, 0)``: no filter).
    - ``snr_offset_db``: added to every event's SNR (recordings are noisier: negative).
    - ``extra_distractor_rate``: mean number of extra unlabelled sounds per clip.

    ``DRY`` changes nothing: it draws no random numbers, so the data of a preset
    without domains are byte-identical to before. Taught in notebook 01.
    """

    name: str = "dry"
    reverb_prob: float = 0.0
    rt60_range: tuple[float, float] = (0.2, 0.8)
    wet_db_range: tuple[float, float] = (-12.0, 0.0)
    mic_highpass_hz: tuple[float, float] = (0.0, 0.0)
    mic_lowpass_hz: tuple[float, float] = (0.0, 0.0)
    snr_offset_db: float = 0.0
    extra_distractor_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.reverb_prob <= 1.0:
            raise ValueError(f"RecordingDomain.reverb_prob={self.reverb_prob!r}: must be a probability in [0, 1].")
        for name in ("rt60_range", "wet_db_range", "mic_highpass_hz", "mic_lowpass_hz"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"RecordingDomain.{name}={(lo, hi)!r}: need low <= high.")
        if self.rt60_range[0] <= 0:
            raise ValueError(f"RecordingDomain.rt60_range={self.rt60_range!r}: reverberation times must be > 0 s.")
        if self.extra_distractor_rate < 0:
            raise ValueError(f"RecordingDomain.extra_distractor_rate={self.extra_distractor_rate!r}: must be >= 0.")

    @property
    def is_dry(self) -> bool:
        """True when rendering changes nothing (and draws no random numbers)."""
        return (self.reverb_prob == 0.0 and self.mic_highpass_hz == (0.0, 0.0) and self.mic_lowpass_hz == (0.0, 0.0)
                and self.snr_offset_db == 0.0 and self.extra_distractor_rate == 0.0)


#: Today's rendering: dry events over the background (DESED's synthetic strong clips).
DRY = RecordingDomain()

#: Real recordings: most clips in a room, a band-limited microphone, 3 dB lower SNRs and
#: more unlabelled sounds (DESED's weak, unlabelled, validation and evaluation clips).
ROOM_MICROPHONE = RecordingDomain(
    name="room+microphone", reverb_prob=0.8, rt60_range=(0.3, 1.0), wet_db_range=(-9.0, 3.0),
    mic_highpass_hz=(80.0, 400.0), mic_lowpass_hz=(3500.0, 7500.0), snr_offset_db=-3.0, extra_distractor_rate=1.0,
)


@dataclass(frozen=True)
class ClipRecording:
    """The room and microphone drawn for one clip (``None``: not used).

    ``rir``: room impulse response; ``mic_sos``: the microphone's band filter as
    second-order sections (high-pass then low-pass), designed once per clip.
    """

    rir: np.ndarray | None
    mic_sos: np.ndarray | None

    @property
    def microphone_only(self) -> "ClipRecording":
        """The same microphone without the room (for the background, recorded where the mic is)."""
        return ClipRecording(None, self.mic_sos)


def microphone_filter(highpass_hz: float | None, lowpass_hz: float | None) -> np.ndarray | None:
    """Second-order sections of a microphone band: 2nd-order Butterworth high-pass and low-pass."""
    parts = [scipy.signal.butter(2, min(edge, 0.45 * SR), btype=kind, fs=SR, output="sos")
             for kind, edge in (("highpass", highpass_hz), ("lowpass", lowpass_hz)) if edge is not None]
    return np.concatenate(parts) if parts else None


def room_impulse_response(rt60: float, wet_db: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a direct path, then exponentially decaying noise.

    The tail decays by 60 dB in ``rt60`` seconds (amplitude ``exp(-6.9 t / rt60)``), is
    low-passed a little (air and walls absorb high frequencies), and carries ``wet_db``
    of energy relative to the direct path. Returns float32 ``[round(rt60 * 16000)]``.
    Taught in notebook 01.
    """
    if rt60 <= 0:
        raise ValueError(f"rt60={rt60!r} s: must be > 0.")
    n = max(2, int(round(rt60 * SR)))
    t = np.arange(n, dtype=np.float32) / SR
    tail = rng.standard_normal(n).astype(np.float32) * np.exp(np.float32(-6.9 / rt60) * t)
    tail = scipy.signal.lfilter([0.4], [1.0, -0.6], tail).astype(np.float32)
    tail[: int(0.002 * SR)] = 0.0  # the first reflections arrive after the direct sound
    energy = float(np.sum(np.square(tail)))
    if energy > 0:
        tail *= np.float32(math.sqrt(10 ** (wet_db / 10) / energy))
    tail[0] = 1.0
    return tail


def draw_recording(domain: RecordingDomain, rng: np.random.Generator) -> ClipRecording:
    """The room (maybe none) and microphone of one clip in ``domain``. Draws nothing for a dry domain."""
    if domain.is_dry:
        return ClipRecording(None, None)
    rir = None
    if rng.random() < domain.reverb_prob:
        rir = room_impulse_response(rng.uniform(*domain.rt60_range), rng.uniform(*domain.wet_db_range), rng)
    hp = rng.uniform(*domain.mic_highpass_hz) if domain.mic_highpass_hz[1] > 0 else None
    lp = rng.uniform(*domain.mic_lowpass_hz) if domain.mic_lowpass_hz[1] > 0 else None
    return ClipRecording(rir, microphone_filter(hp, lp))


def render_event(audio: np.ndarray, recording: ClipRecording) -> np.ndarray:
    """``audio`` as the clip's room and microphone hear it; same length, float32.

    The reverberant tail past the event's end is cut (the labels keep the dry event's
    onset and offset, as DESED's annotations ignore tails). Taught in notebook 01.
    """
    x = audio.astype(np.float32, copy=False)
    if recording.rir is not None:
        x = scipy.signal.fftconvolve(x, recording.rir)[: len(audio)].astype(np.float32)
    if recording.mic_sos is not None:
        x = scipy.signal.sosfilt(recording.mic_sos, x).astype(np.float32)
    return x
