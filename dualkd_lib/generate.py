"""A seeded, procedural, DESED-like soundscape generator.

Real DESED clips come from YouTube and cannot be downloaded here, so the course
*generates* its data: 10-s, 16 kHz mono soundscapes of the 10 DESED classes over
a coloured-noise background, with DESED's event statistics (durations, events
per clip, class frequencies, overlaps, events cut at the clip edges) and DESED's
folder layout and TSV files, so one loader serves generated and real data.

How one clip is built (:func:`compose_clip`):

1. a **background**: coloured noise ``1/f**beta`` with a random slope and
   high-frequency roll-off, an optional mains hum (50/60 Hz and harmonics), and
   slow level changes; its RMS level is drawn from ``background_db_range``;
2. the **event list**: how many distinct classes (``classes_per_clip_probs``),
   which ones (``class_weights``, DESED-like by default), how many events of each
   (short classes repeat, long ones rarely do), each event's duration from a
   per-class distribution fitted to the real DESED validation set, and where it
   sits (inside the clip, or cut at the start or end); same-class events never
   overlap, and at most ``max_polyphony`` events sound at once;
3. each event is **synthesised** by its class's sound model (a *family* of
   sounds: every event draws its own pitch, harmonics, modulation, envelope and
   noise colour) and scaled to a random SNR (``snr_db_range``) over the
   background; SNR = 20 log10(event RMS / background RMS), where the event RMS
   is taken over its active 20-ms frames (those within 20 dB of its loudest);
4. optional unlabeled **distractors** (thumps, rumbles, knocks) make the
   background less uniform.

Every clip draws from its own random generator, derived from
``(seed, split, index)`` with :class:`numpy.random.SeedSequence`, so a clip does
not depend on the order in which clips are generated and the same seed gives
byte-identical files.

Taught in notebook 01 (the SED task, the data, listening and looking).
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import scipy.signal
import soundfile as sf
from tqdm.auto import tqdm

from dualkd_lib.constants import CLASSES, CLIP_SECONDS, SAMPLE_RATE
from dualkd_lib import layout
from dualkd_lib.layout import SPLITS
from dualkd_lib.other_sounds import OTHER_CLASSES, synthesize_other
from dualkd_lib.recording import DRY, ROOM_MICROPHONE, RecordingDomain, draw_recording, render_event

logger = logging.getLogger(__name__)

SR = SAMPLE_RATE
CLIP_SAMPLES: int = int(round(CLIP_SECONDS * SAMPLE_RATE))  # 160000

#: Name of the file that records what :func:`make_dataset` wrote.
INFO_FILENAME = "generator_info.json"
#: Folder (under ``metadata/``) holding the hidden strong truth of the weak and
#: unlabeled splits, for analysis only; training code must not read it.
TRUTH_DIR = "metadata/_generator_truth"

#: Split name -> stream number used to derive each clip's random generator.
_SPLIT_STREAMS: dict[str, int] = {
    "strong": 0,
    "weak": 1,
    "unlabeled": 2,
    "validation": 3,
    "evaluation": 4,
}
_EMBEDDING_STREAM = 100  # the embedding corpus: a separate stream
_STREAM_TAG = 20240205  # constant mixed into every SeedSequence of this module

_REAL_DESED_TSV = layout.resources_dir() / "desed_validation" / "validation_groundtruth.tsv"


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratorConfig:
    """Clip counts per split and the knobs that set how hard the data are.

    Clip counts: ``n_strong`` (strongly labeled train), ``n_weak`` (weakly
    labeled train), ``n_unlabeled``, ``n_validation``, ``n_evaluation``.

    Difficulty knobs (defaults follow real DESED where it is measurable):

    - ``snr_db_range``: per-event SNR in dB over the background, drawn uniformly.
    - ``heavy_background_prob`` / ``heavy_background_db``: with this probability
      a clip's background is this many dB louder (all its SNRs drop).
    - ``background_db_range``: background RMS level in dBFS.
    - ``background_beta_range``: spectral slope of the background noise
      (0 white, 1 pink, 2 brown); ``background_level_wobble_db``: slow level
      changes of the background (peak deviation, dB); ``hum_prob``: probability
      of a mains hum.
    - ``classes_per_clip_probs``: probability of 1, 2, 3, ... distinct classes
      in a clip (real DESED validation: 52 %, 42 %, 6 %, 0.2 %).
    - ``class_weights``: relative frequency of each class (order of
      ``CLASSES``); ``None`` = fraction of real DESED validation clips that
      contain the class.
    - ``events_per_class_scale``: scales the number of *extra* events of a class
      already in the clip (short classes like Dog repeat ~3 times in DESED).
    - ``max_polyphony``: at most this many events at once.
    - ``edge_cut_scale``: scales each class's probability that an event is cut
      at a clip edge (onset 0 or offset 10); 0 disables cuts (except events
      that last the whole clip).
    - ``distractor_rate``: mean number of unlabeled distractor sounds per clip.
    - ``empty_clip_prob``: probability of a clip with background only.
    - ``ensure_all_classes``: clip ``i < 10`` of every labeled split is forced
      to contain ``CLASSES[i]``, so every class has ground truth in every
      labeled split (``sed_scores_eval`` refuses a class without any).
    - ``recorded_domain``: how every split *but the strong one* is recorded
      (:class:`~dualkd_lib.recording.RecordingDomain`). The strong split is always
      rendered dry, like DESED's synthetic strong clips; ``DRY`` here (the default)
      gives all splits one rendering, ``ROOM_MICROPHONE`` gives DESED's two domains.

    Taught in notebook 01.
    """

    n_strong: int = 1200
    n_weak: int = 600
    n_unlabeled: int = 1200
    n_validation: int = 300
    n_evaluation: int = 500
    snr_db_range: tuple[float, float] = (-5.0, 15.0)
    heavy_background_prob: float = 0.15
    heavy_background_db: float = 6.0
    background_db_range: tuple[float, float] = (-50.0, -30.0)
    background_beta_range: tuple[float, float] = (0.0, 2.0)
    background_level_wobble_db: float = 3.0
    hum_prob: float = 0.4
    classes_per_clip_probs: tuple[float, ...] = (0.52, 0.41, 0.065, 0.005)
    class_weights: tuple[float, ...] | None = None
    events_per_class_scale: float = 1.0
    max_polyphony: int = 3
    edge_cut_scale: float = 1.0
    distractor_rate: float = 0.5
    empty_clip_prob: float = 0.0
    ensure_all_classes: bool = True
    recorded_domain: RecordingDomain = DRY

    def domain(self, split: str) -> RecordingDomain:
        """The recording domain of ``split``: ``DRY`` for the strong split, else ``recorded_domain``."""
        return DRY if split == "strong" else self.recorded_domain

    def __post_init__(self) -> None:
        for name in ("n_strong", "n_weak", "n_unlabeled", "n_validation", "n_evaluation"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"GeneratorConfig.{name}={v!r}: must be an integer >= 0.")
        for name in ("snr_db_range", "background_db_range", "background_beta_range"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"GeneratorConfig.{name}={(lo, hi)!r}: need low <= high.")
        if self.background_db_range[1] > -6.0:
            raise ValueError(
                f"GeneratorConfig.background_db_range={self.background_db_range!r}: the background "
                "must stay well below full scale (upper end <= -6 dBFS)."
            )
        for name in ("heavy_background_prob", "hum_prob", "empty_clip_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"GeneratorConfig.{name}={v!r}: must be a probability in [0, 1].")
        p = np.asarray(self.classes_per_clip_probs, dtype=float)
        if p.ndim != 1 or len(p) == 0 or len(p) > len(CLASSES) or (p < 0).any() or p.sum() <= 0:
            raise ValueError(
                f"GeneratorConfig.classes_per_clip_probs={self.classes_per_clip_probs!r}: give 1 to "
                f"{len(CLASSES)} non-negative numbers (probability of 1, 2, ... classes per clip)."
            )
        if self.class_weights is not None:
            w = np.asarray(self.class_weights, dtype=float)
            if w.shape != (len(CLASSES),) or (w < 0).any() or (w > 0).sum() < len(p):
                raise ValueError(
                    f"GeneratorConfig.class_weights={self.class_weights!r}: give {len(CLASSES)} "
                    f"non-negative weights in the order of CLASSES, at least {len(p)} of them > 0."
                )
        if self.max_polyphony < 1:
            raise ValueError(f"GeneratorConfig.max_polyphony={self.max_polyphony!r}: must be >= 1.")
        for name in ("events_per_class_scale", "edge_cut_scale", "distractor_rate", "heavy_background_db",
                     "background_level_wobble_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"GeneratorConfig.{name}={getattr(self, name)!r}: must be >= 0.")

    def n_clips(self, split: str) -> int:
        """Number of clips of ``split`` (one of ``layout.SPLITS``)."""
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; valid splits are {list(SPLITS)}.")
        return int(getattr(self, f"n_{split}"))


#: Tests and CI: ~190 clips, a few seconds; every class in every labeled split. Two domains,
#: as the course: dry strong clips, every other split recorded in a room.
TINY_GENERATOR = GeneratorConfig(n_strong=40, n_weak=30, n_unlabeled=40, n_validation=40, n_evaluation=40,
                                 recorded_domain=ROOM_MICROPHONE)

#: The course on a laptop CPU. DESED's two domains: the strong split is rendered dry (DESED's
#: synthetic soundscapes), the weak, unlabeled, validation and evaluation splits are recorded
#: through a room and a microphone (DESED's real recordings).
COURSE_GENERATOR = GeneratorConfig(
    n_strong=1200, n_weak=600, n_unlabeled=1200, n_validation=300, n_evaluation=500,
    recorded_domain=ROOM_MICROPHONE,
)


# ---------------------------------------------------------------------------
# Per-class event statistics (fitted to the real DESED validation set)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassStats:
    """How events of one class are drawn.

    ``clip_weight``: relative frequency (started from the fraction of real
    DESED validation clips containing the class); ``events_when_present``: mean
    number of its events in a clip that has it; duration: with probability
    ``p_full`` the event lasts the whole clip, else
    log-normal with ``median_s`` and ``sigma`` (of the log), clipped to
    ``[min_s, 10]``; ``edge_prob``: probability that a (not whole-clip) event is
    cut at a clip edge, ``end_share``: how often that edge is the end (long
    sounds tend to go on after the clip). Numbers were read off
    ``resources/desed_validation/validation_groundtruth.tsv`` (see
    :func:`event_statistics`), then nudged so the generated medians match.
    Taught in notebook 01.
    """

    clip_weight: float
    events_when_present: float
    p_full: float
    median_s: float
    sigma: float
    min_s: float
    edge_prob: float
    end_share: float


CLASS_STATS: dict[str, ClassStats] = {
    #                               weight  ev/clip p_full median sigma  min   edge  end
    "Alarm_bell_ringing": ClassStats(0.151, 2.25, 0.03, 1.30, 1.20, 0.20, 0.20, 0.45),
    "Blender": ClassStats(0.073, 1.19, 0.20, 4.6, 0.80, 0.80, 0.42, 0.50),
    "Cat": ClassStats(0.091, 2.82, 0.00, 0.90, 0.65, 0.25, 0.16, 0.50),
    "Dishes": ClassStats(0.128, 3.29, 0.00, 0.40, 0.60, 0.20, 0.04, 0.50),
    "Dog": ClassStats(0.137, 3.56, 0.00, 1.00, 1.00, 0.20, 0.18, 0.50),
    "Electric_shaver_toothbrush": ClassStats(0.053, 1.05, 0.40, 5.0, 0.60, 1.00, 0.60, 0.74),
    "Frying": ClassStats(0.073, 1.06, 0.62, 5.0, 0.60, 1.00, 0.65, 0.65),
    "Running_water": ClassStats(0.162, 1.20, 0.15, 4.5, 0.80, 0.60, 0.50, 0.50),
    "Speech": ClassStats(0.611, 2.80, 0.00, 1.40, 0.75, 0.25, 0.25, 0.50),
    "Vacuum_cleaner": ClassStats(0.064, 1.01, 0.52, 5.5, 0.60, 1.00, 0.70, 0.67),
}


# ---------------------------------------------------------------------------
# Small DSP helpers (float32, vectorised)
# ---------------------------------------------------------------------------


def _time(n: int) -> np.ndarray:
    """Sample times in seconds, ``[n]`` float32."""
    return np.arange(n, dtype=np.float32) / np.float32(SR)


def _cycles(freq_hz: np.ndarray | float, n: int) -> np.ndarray:
    """Phase in cycles, wrapped to [0, 1), of an oscillator with frequency ``freq_hz`` (Hz, scalar or ``[n]``)."""
    if np.ndim(freq_hz) == 0:
        c = np.arange(n, dtype=np.float64) * (float(freq_hz) / SR)
    else:
        c = np.cumsum(np.asarray(freq_hz, dtype=np.float64)) / SR
    return (c - np.floor(c)).astype(np.float32)


def _sin(cycles: np.ndarray) -> np.ndarray:
    """``sin(2 pi cycles)``, float32."""
    return np.sin(np.float32(2 * np.pi) * cycles)


def _frac(x: np.ndarray) -> np.ndarray:
    """Fractional part (much faster than ``x % 1`` for float32)."""
    return x - np.floor(x)


def _unit(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to RMS 1 (left alone if silent)."""
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float32)))) if len(x) else 0.0
    return x / np.float32(r) if r > 1e-12 else x


def _biquad(x: np.ndarray, kind: str, f0: float, q: float) -> np.ndarray:
    """Second-order filter (RBJ audio-EQ cookbook): ``kind`` in bandpass, lowpass, highpass."""
    f0 = min(max(f0, 20.0), 0.45 * SR)
    w0 = 2 * math.pi * f0 / SR
    alpha = math.sin(w0) / (2 * q)
    cw = math.cos(w0)
    if kind == "bandpass":  # 0 dB peak gain
        b = [alpha, 0.0, -alpha]
    elif kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    a = [1 + alpha, -2 * cw, 1 - alpha]
    return scipy.signal.lfilter(b, a, x).astype(np.float32)


def _onepole_lowpass(x: np.ndarray, fc: float) -> np.ndarray:
    k = 1.0 - math.exp(-2 * math.pi * fc / SR)
    return scipy.signal.lfilter([k], [1.0, -(1.0 - k)], x).astype(np.float32)


def _fade(n: int, attack_s: float, release_s: float) -> np.ndarray:
    """Envelope ``[n]``: raised-cosine attack and release (seconds), 1 in between."""
    env = np.ones(n, dtype=np.float32)
    na = min(int(attack_s * SR), n // 2)
    nr = min(int(release_s * SR), n - na)
    if na > 0:
        env[:na] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, na, dtype=np.float32))
    if nr > 0:
        env[n - nr:] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, nr, dtype=np.float32))
    return env


def _slow_curve(n: int, rng: np.random.Generator, rate_hz: float, low: float, high: float) -> np.ndarray:
    """A smooth random curve ``[n]`` with values in [low, high], changing about ``rate_hz`` times per second."""
    n_knots = max(2, int(n / SR * rate_hz) + 2)
    knots = rng.uniform(low, high, n_knots).astype(np.float32)
    hop = 32  # control rate 500 Hz, then hold: cheap and smooth enough
    n_ctrl = n // hop + 1
    ctrl = np.interp(np.linspace(0, n_knots - 1, n_ctrl), np.arange(n_knots), knots).astype(np.float32)
    return np.repeat(ctrl, hop)[:n]


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n, dtype=np.float32)


def _poisson_impulses(n: int, rng: np.random.Generator, rate_hz: float, shape: float = 1.5) -> np.ndarray:
    """Sparse impulses ``[n]``: Poisson times, random signs, heavy-tailed (Pareto) amplitudes."""
    x = np.zeros(n, dtype=np.float32)
    m = rng.poisson(rate_hz * n / SR)
    if m:
        pos = rng.integers(0, n, m)
        amp = np.minimum(rng.pareto(shape, m) + 0.2, 8.0) * rng.choice([-1.0, 1.0], m)
        np.add.at(x, pos, amp.astype(np.float32))
    return x


# ---------------------------------------------------------------------------
# Sound models, one per class.
# Each takes (n samples, rng for this event, voice rng for the source) and
# returns float32 [n]. The "voice" generator draws what stays the same for one
# source within a clip (the same dog, the same speaker); ``rng`` draws what
# changes from event to event.
# ---------------------------------------------------------------------------


def _alarm(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Beeping tones, a struck bell (inharmonic decaying partials, repeated), or a two-tone trill."""
    t = _time(n)
    kind = voice.integers(3)
    if kind == 0:  # beeper: harmonic tone gated on/off
        f0 = voice.uniform(700, 3200) * rng.uniform(0.98, 1.02)
        c = _cycles(f0, n)
        x = _sin(c) + voice.uniform(0, 0.5) * _sin(2 * c) + voice.uniform(0, 0.3) * _sin(3 * c)
        period = voice.uniform(0.12, 0.6)
        gate = (_frac(t / np.float32(period)) < voice.uniform(0.3, 0.7)).astype(np.float32)
        x *= _onepole_lowpass(gate, 150.0)
    elif kind == 1:  # bell: inharmonic partials, exponentially decaying, struck repeatedly
        f0 = voice.uniform(500, 2500) * rng.uniform(0.98, 1.02)
        ratios = (1.0, voice.uniform(2.0, 2.8), voice.uniform(3.8, 4.6), voice.uniform(5.5, 7.0))
        if voice.random() < 0.6:
            rate, tau = voice.uniform(10, 22), voice.uniform(0.03, 0.08)  # electric bell
        else:
            rate, tau = voice.uniform(1.0, 3.0), voice.uniform(0.2, 0.6)  # door / hand bell
        since = _frac(t * np.float32(rate)) / np.float32(rate)  # time since the last strike
        x = np.zeros(n, dtype=np.float32)
        for k, r in enumerate(ratios):
            if f0 * r < 0.45 * SR:
                x += (0.7**k) * _sin(_cycles(f0 * r, n)) * np.exp(-since * np.float32((1 + 0.7 * k) / tau))
    else:  # phone-like trill: two tones alternating fast, in bursts
        f1 = voice.uniform(600, 1800)
        f2 = f1 * voice.uniform(1.1, 1.5)
        rate = voice.uniform(12, 25)
        freq = np.where(_frac(t * np.float32(rate)) < 0.5, np.float32(f1), np.float32(f2))
        c = _cycles(freq, n)
        x = _sin(c) + 0.3 * _sin(3 * c)
        on, off = voice.uniform(0.4, 1.2), voice.uniform(0.2, 0.8)
        x *= _onepole_lowpass((_frac(t / np.float32(on + off)) < on / (on + off)).astype(np.float32), 150.0)
    return x * _fade(n, 0.005, 0.02)


def _blender(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Loud broadband motor noise plus a harmonic motor hum; the speed changes now and then."""
    t = _time(n)
    speed = _slow_curve(n, rng, rng.uniform(0.5, 2.0), 0.75, 1.35)
    speed *= 1 - 0.5 * np.exp(-t / np.float32(0.15))  # spin-up
    c = _cycles(voice.uniform(70, 200) * speed, n)
    hum = _unit(_biquad(2 * c - 1, "lowpass", voice.uniform(1500, 4000), 0.7))  # sawtooth: all harmonics
    noise = _unit(_biquad(_noise(n, rng), "bandpass", voice.uniform(800, 3500), voice.uniform(0.4, 1.0)))
    rough = 1 + voice.uniform(0.2, 0.6) * _sin(c)  # noise pulsing with the rotation
    chop = 1 + rng.uniform(0, 0.4) * _sin(_cycles(rng.uniform(2, 6), n))  # ingredients bouncing
    x = (noise * rough + voice.uniform(0.5, 1.5) * hum) * chop * speed
    return x * _fade(n, rng.uniform(0.05, 0.2), rng.uniform(0.1, 0.3))


def _cat(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """A meow: rising-falling pitch contour, harmonics shaped by a moving formant (m-ia-ow)."""
    t = _time(n)
    f_start = voice.uniform(350, 700) * rng.uniform(0.9, 1.1)
    peak_at = rng.uniform(0.3, 0.6)
    f0 = np.interp(
        np.linspace(0, 1, n, dtype=np.float32),
        [0.0, peak_at, 1.0],
        [f_start, f_start * rng.uniform(1.2, 1.8), f_start * rng.uniform(0.7, 1.1)],
    ).astype(np.float32)
    f0 *= 1 + np.float32(rng.uniform(0.01, 0.03)) * _sin(_cycles(rng.uniform(4, 8), n))  # vibrato
    formant = np.interp(
        np.linspace(0, 1, n, dtype=np.float32),
        [0.0, 0.35, 1.0],
        [voice.uniform(500, 800), voice.uniform(1300, 2200), voice.uniform(700, 1100)],
    ).astype(np.float32)
    bw = np.float32(voice.uniform(300, 600))
    c = _cycles(f0, n)
    x = np.zeros(n, dtype=np.float32)
    for k in range(1, 9):
        fk = k * f0
        w = np.exp(-0.5 * np.square((fk - formant) / bw)) + np.float32(0.15 / k)
        w = np.where(fk < 0.45 * SR, w, np.float32(0.0))
        x += w * _sin(k * c)
    x = _unit(x) + 0.05 * _unit(_biquad(_noise(n, rng), "bandpass", 2500.0, 1.0))  # breath
    return x * _fade(n, rng.uniform(0.04, 0.12), rng.uniform(0.08, 0.25))


def _clink(length: int, f_base: float, tau: float, rng: np.random.Generator) -> np.ndarray:
    """One clink: a click plus 3-5 high inharmonic partials decaying in ``tau`` seconds."""
    t = _time(length)
    x = np.zeros(length, dtype=np.float32)
    for k, r in enumerate(np.sort(rng.uniform(1.0, 3.0, rng.integers(3, 6)))):
        f = f_base * r
        if f < 0.45 * SR:
            x += rng.uniform(0.3, 1.0) * _sin(_cycles(f, length)) * np.exp(-t * np.float32((1 + 0.5 * k) / tau))
    nc = min(64, length)
    x[:nc] += rng.standard_normal(nc).astype(np.float32) * np.exp(-np.arange(nc, dtype=np.float32) / 12)
    return x


def _dishes(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Short clicky clinks of plates and cutlery, often several in one event."""
    f_center = voice.uniform(1500, 5000)
    m = 1 + rng.poisson(n / SR * rng.uniform(1.5, 5.0))
    taus = rng.uniform(0.03, 0.15, m)
    # first clink at 0, last one ending (about) at n, the others in between
    last = max(0, n - int(4 * taus[-1] * SR))
    starts = np.concatenate([[0], np.sort(rng.integers(0, last + 1, max(0, m - 2))), [last]])[:m]
    x = np.zeros(n, dtype=np.float32)
    for s, tau in zip(starts, taus):
        length = n - int(s)
        if length > 0:
            x[s:] += rng.uniform(0.4, 1.0) * _clink(length, f_center * rng.uniform(0.8, 1.25), tau, rng)
    return x * _fade(n, 0.0, 0.01)


def _bark(length: int, f0: float, formant: float, noisiness: float, rng: np.random.Generator) -> np.ndarray:
    """One bark: a noisy harmonic burst with a quick pitch rise and fall, fast attack, decay."""
    t = _time(length)
    dur = np.float32(length / SR)
    f = f0 * (1 + np.float32(rng.uniform(0.2, 0.5)) * np.sin(np.float32(np.pi) * t / dur))
    src = (1 - noisiness) * (2 * _cycles(f, length) - 1) + noisiness * _noise(length, rng)
    x = _biquad(src, "bandpass", formant, 2.5) + 0.5 * _biquad(src, "bandpass", formant * 2.2, 3.0)
    env = np.minimum(1, t / np.float32(0.008)) * np.exp(-t / (dur / 3))
    return _unit(x) * env


def _dog(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Barks in a group: one dog (pitch, formant) per clip, each bark slightly different."""
    f0 = voice.uniform(250, 650)
    formant = voice.uniform(600, 1600)
    noisiness = voice.uniform(0.15, 0.5)
    x = np.zeros(n, dtype=np.float32)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.12, 0.3) * SR)
        if pos + length > n or n - (pos + length) < int(0.1 * SR):
            length = n - pos  # the last bark ends with the event
        x[pos:pos + length] = _bark(length, f0 * rng.uniform(0.9, 1.1), formant, noisiness, rng)
        pos += length + int(rng.uniform(0.08, 0.35) * SR)
    return x


def _shaver(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Buzz: a pulse wave (harmonic comb) through a narrow band-pass; toothbrushes add a brushing stroke."""
    toothbrush = voice.random() < 0.5
    f0 = voice.uniform(200, 350) if toothbrush else voice.uniform(90, 260)
    f = f0 * _slow_curve(n, rng, 2.0, 0.97, 1.03)
    c = _cycles(f, n)
    duty = np.float32(voice.uniform(0.1, 0.5))
    pulse = (c < duty).astype(np.float32) - duty
    x = _unit(_biquad(pulse, "bandpass", voice.uniform(1000, 4000), voice.uniform(2.0, 6.0)))
    x += 0.3 * _unit(_biquad(pulse, "lowpass", 800.0, 0.7)) + 0.05 * _noise(n, rng)
    if toothbrush:
        x *= 1 + np.float32(voice.uniform(0.3, 0.8)) * _sin(_cycles(rng.uniform(2, 5), n))
    return x * _fade(n, 0.03, 0.05)


def _frying(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Sparse crackles (ringing impulses) over a high hiss."""
    hiss = _unit(_biquad(_noise(n, rng), "highpass", voice.uniform(2000, 5000), 0.7))
    crackle = _biquad(_poisson_impulses(n, rng, voice.uniform(30, 250)), "bandpass",
                      voice.uniform(2500, 6000), voice.uniform(1.0, 3.0))
    pops = _biquad(_poisson_impulses(n, rng, voice.uniform(2, 15)), "bandpass", voice.uniform(600, 1500), 2.0)
    x = voice.uniform(0.1, 0.4) * hiss + _unit(crackle) + 0.5 * _unit(pops)
    return x * _slow_curve(n, rng, 1.0, 0.7, 1.0) * _fade(n, 0.1, 0.1)


def _running_water(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Band-passed rushing noise with bubbly amplitude modulation, plus ringing bubble blips."""
    rush = _unit(_biquad(_noise(n, rng), "bandpass", voice.uniform(400, 2000), voice.uniform(0.8, 2.0)))
    rush *= _slow_curve(n, rng, voice.uniform(8, 30), 0.2, 1.4)
    blips = np.zeros(n, dtype=np.float32)
    for _ in range(3):
        imp = _poisson_impulses(n, rng, voice.uniform(10, 60))
        blips += _biquad(imp, "bandpass", voice.uniform(300, 1500), voice.uniform(5.0, 15.0))
    x = rush + voice.uniform(0.6, 1.5) * _unit(blips)
    return x * _fade(n, rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3))


_VOWELS = ((730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240),
           (660, 1720, 2410), (440, 1020, 2240))


def _syllable(length: int, f0: float, fscale: float, rng: np.random.Generator) -> np.ndarray:
    """A consonant-vowel syllable: optional fricative or burst, then a voiced, formant-filtered vowel."""
    x = np.zeros(length, dtype=np.float32)
    start = 0
    if rng.random() < 0.6 and length > int(0.12 * SR):
        nc = int(rng.uniform(0.01, 0.07) * SR)
        burst = _biquad(_noise(nc, rng), "bandpass", rng.uniform(2500, 6000), 1.5)
        x[:nc] = 0.3 * _unit(burst) * _fade(nc, 0.005, 0.005)
        start = nc
    nv = length - start
    t = _time(nv)
    contour = f0 * (1 + np.float32(rng.uniform(-0.15, 0.2)) * t / np.float32(max(nv / SR, 1e-3)))
    contour *= 1 + np.float32(0.01) * _noise(nv, rng).cumsum(dtype=np.float32) / np.float32(np.sqrt(nv))  # jitter
    c = _cycles(contour, nv)
    src = (2 * c - 1) + 0.05 * _noise(nv, rng)
    formants = np.array(_VOWELS[rng.integers(len(_VOWELS))]) * fscale * rng.uniform(0.93, 1.07, 3)
    v = (_biquad(src, "bandpass", formants[0], 6.0) + 0.6 * _biquad(src, "bandpass", formants[1], 9.0)
         + 0.25 * _biquad(src, "bandpass", formants[2], 12.0))
    x[start:] = _unit(v) * _fade(nv, rng.uniform(0.015, 0.03), rng.uniform(0.03, 0.06))
    return x


def _speech(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """An utterance: syllables with a falling pitch contour (declination), short gaps and pauses."""
    f0 = voice.uniform(85, 260)
    fscale = voice.uniform(0.85, 1.2) * (1.1 if f0 > 160 else 1.0)
    x = np.zeros(n, dtype=np.float32)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.1, 0.3) * SR)
        if pos + length > n or n - (pos + length) < int(0.1 * SR):
            length = n - pos
        decl = 1.0 - 0.2 * pos / n
        x[pos:pos + length] = _syllable(length, f0 * decl * rng.uniform(0.9, 1.15), fscale, rng)
        gap = rng.uniform(0.15, 0.4) if rng.random() < 0.15 else rng.uniform(0.02, 0.08)
        pos += length + int(gap * SR)
    return x


def _vacuum(n: int, rng: np.random.Generator, voice: np.random.Generator) -> np.ndarray:
    """Broadband airflow noise with a turbine whine and a motor hum; long; slow level changes."""
    t = _time(n)
    white = _noise(n, rng)
    air = _unit(0.5 * white + _onepole_lowpass(white, voice.uniform(300, 1500)) * 4.0)
    air = _unit(_biquad(air, "highpass", voice.uniform(80, 300), 0.7))
    spin = 1 - 0.6 * np.exp(-t / np.float32(rng.uniform(0.3, 0.8)))  # spin-up
    fw = voice.uniform(800, 4000) * spin * _slow_curve(n, rng, 0.5, 0.97, 1.03)
    cw = _cycles(fw, n)
    whine = _sin(cw) + 0.4 * _sin(2 * cw)
    hum = 2 * _cycles(voice.uniform(100, 300) * spin, n) - 1
    x = air + voice.uniform(0.15, 0.5) * whine + 0.1 * hum
    return x * _slow_curve(n, rng, 0.5, 0.7, 1.0) * _fade(n, 0.2, 0.3)


SOUND_MODELS: dict[str, Callable[[int, np.random.Generator, np.random.Generator], np.ndarray]] = {
    "Alarm_bell_ringing": _alarm,
    "Blender": _blender,
    "Cat": _cat,
    "Dishes": _dishes,
    "Dog": _dog,
    "Electric_shaver_toothbrush": _shaver,
    "Frying": _frying,
    "Running_water": _running_water,
    "Speech": _speech,
    "Vacuum_cleaner": _vacuum,
}


def _check_label(label: str) -> None:
    if label not in SOUND_MODELS:
        raise ValueError(f"Unknown event label {label!r}; valid labels are {list(CLASSES)}.")


def synthesize_event(label: str, duration: float, rng: np.random.Generator) -> np.ndarray:
    """One sound of class ``label``, ``duration`` seconds long, peak-normalised to 0.5.

    Returns float32 ``[round(duration * 16000)]``. Each call with a different
    ``rng`` gives a different member of the class's family (pitch, harmonics,
    modulation, envelope, noise colour). Taught in notebook 01 (listen to one
    sound of each class).
    """
    _check_label(label)
    if not (0.0 < duration <= 60.0):
        raise ValueError(f"duration={duration!r} s: give a length in (0, 60] seconds.")
    n = max(1, int(round(duration * SR)))
    x = SOUND_MODELS[label](n, rng, rng)
    peak = float(np.max(np.abs(x)))
    return (x * np.float32(0.5 / peak) if peak > 0 else x).astype(np.float32)


# ---------------------------------------------------------------------------
# Background and distractors
# ---------------------------------------------------------------------------


def _background(n: int, rng: np.random.Generator, cfg: GeneratorConfig) -> np.ndarray:
    """Coloured noise (1/f**beta, random roll-off), optional mains hum, slow level changes; RMS 1."""
    n_bins = n // 2 + 1
    freqs = np.fft.rfftfreq(n, 1.0 / SR).astype(np.float32)
    beta = rng.uniform(*cfg.background_beta_range)
    shape = np.exp(np.float32(-beta / 2) * np.log(np.maximum(freqs, np.float32(20.0))))  # amplitude ~ f**(-beta/2)
    r = np.square(freqs / np.float32(rng.uniform(2000, 8000)))
    shape /= 1 + r * r  # high-frequency roll-off (room, microphone)
    spec = np.empty(n_bins, dtype=np.complex64)  # white Gaussian spectrum
    spec.real = rng.standard_normal(n_bins, dtype=np.float32)
    spec.imag = rng.standard_normal(n_bins, dtype=np.float32)
    x = _unit(np.fft.irfft(spec * shape, n).astype(np.float32))
    if rng.random() < cfg.hum_prob:
        mains = 50.0 if rng.random() < 0.5 else 60.0
        c = _cycles(mains, n)
        hum = sum(rng.uniform(0.2, 1.0) / k * _sin(k * c) for k in (1, 2, 3, 4))
        x += np.float32(10 ** (rng.uniform(-20, -6) / 20)) * _unit(hum)
    wobble = 10 ** (_slow_curve(n, rng, 0.3, -cfg.background_level_wobble_db, cfg.background_level_wobble_db) / 20)
    return _unit(x * wobble.astype(np.float32))


def _distractor(n: int, rng: np.random.Generator) -> np.ndarray:
    """An unlabeled sound: a low thump, a rumble swell, or a short knock."""
    kind = rng.integers(3)
    t = _time(n)
    if kind == 0:  # thump (footstep, door)
        x = _sin(_cycles(rng.uniform(50, 150), n)) * np.exp(-t / np.float32(rng.uniform(0.05, 0.2)))
    elif kind == 1:  # rumble (traffic, plane)
        x = _onepole_lowpass(_noise(n, rng), rng.uniform(80, 300)) * _fade(n, n / SR / 3, n / SR / 3)
    else:  # knock
        x = _biquad(_noise(n, rng), "lowpass", rng.uniform(300, 1200), 1.0) * np.exp(-t / np.float32(0.02))
    return x


# ---------------------------------------------------------------------------
# One clip
# ---------------------------------------------------------------------------


@dataclass
class ClipParts:
    """Everything that went into one clip (for notebook 01's "how a clip is built").

    ``mixture``: float32 ``[160000]``; ``background``: float32 ``[160000]`` at its
    final level; ``stems``: one ``(label, start_sample, audio)`` per event (``label``
    is ``None`` for distractors), already scaled; ``events``: DataFrame
    ``onset, offset, event_label, snr_db`` (seconds, 3 decimals), sorted by onset.
    Taught in notebook 01.
    """

    mixture: np.ndarray
    background: np.ndarray
    stems: list[tuple[str | None, int, np.ndarray]] = field(default_factory=list)
    events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["onset", "offset", "event_label"]))
    #: classes outside DESED in the clip (unlabelled for the course; the corpus labels them)
    others: list[str] = field(default_factory=list)


def _class_weights(cfg: GeneratorConfig) -> np.ndarray:
    if cfg.class_weights is not None:
        w = np.asarray(cfg.class_weights, dtype=float)
    else:
        w = np.array([CLASS_STATS[c].clip_weight for c in CLASSES])
    return w / w.sum()


def _sample_duration(st: ClassStats, rng: np.random.Generator) -> float:
    if rng.random() < st.p_full:
        return CLIP_SECONDS
    d = st.median_s * math.exp(st.sigma * rng.standard_normal())
    return float(min(max(d, st.min_s), CLIP_SECONDS))


def _plan_events(
    rng: np.random.Generator, cfg: GeneratorConfig, forced: list[str]
) -> list[tuple[str, float, float]]:
    """Choose classes, counts, durations and positions: ``[(label, onset, offset), ...]`` in seconds."""
    if not forced and rng.random() < cfg.empty_clip_prob:
        return []
    probs = np.asarray(cfg.classes_per_clip_probs, dtype=float)
    k = 1 + int(rng.choice(len(probs), p=probs / probs.sum()))
    w = _class_weights(cfg).copy()
    labels = list(dict.fromkeys(forced))
    for lab in labels:
        w[CLASSES.index(lab)] = 0.0
    n_more = min(max(0, k - len(labels)), int((w > 0).sum()))
    if n_more:
        labels += [CLASSES[i] for i in rng.choice(len(CLASSES), size=n_more, replace=False, p=w / w.sum())]

    grid = np.zeros(int(CLIP_SECONDS * 100), dtype=np.int16)  # polyphony on a 10-ms grid
    planned: list[tuple[str, float, float]] = []
    for lab in labels:
        st = CLASS_STATS[lab]
        n_events = 1 + rng.poisson(cfg.events_per_class_scale * (st.events_when_present - 1.0))
        mine: list[tuple[float, float]] = []
        for _ in range(n_events):
            for _attempt in range(10):
                d = _sample_duration(st, rng)
                if d >= CLIP_SECONDS:
                    on, off = 0.0, CLIP_SECONDS
                elif rng.random() < min(1.0, st.edge_prob * cfg.edge_cut_scale):
                    on = CLIP_SECONDS - d if rng.random() < st.end_share else 0.0
                    off = on + d
                else:
                    on = rng.uniform(0.0, CLIP_SECONDS - d)
                    off = on + d
                on, off = round(on, 3), round(off, 3)
                if off - on < 0.05:
                    continue
                # same-class events keep a 0.1-s gap; polyphony stays <= max_polyphony
                if any(on < o2 + 0.1 and o1 - 0.1 < off for o1, o2 in mine):
                    continue
                a, b = int(on * 100), max(int(on * 100) + 1, int(math.ceil(off * 100)))
                if grid[a:b].max() >= cfg.max_polyphony:
                    continue
                grid[a:b] += 1
                mine.append((on, off))
                planned.append((lab, on, off))
                break
    planned.sort(key=lambda e: (e[1], e[2], e[0]))
    return planned


def compose_clip(
    rng: np.random.Generator, cfg: GeneratorConfig | None = None, *, classes: Iterable[str] | None = None,
    domain: RecordingDomain = DRY, others: Iterable[str] = (),
) -> ClipParts:
    """Build one 10-s clip and keep its parts (background, scaled event stems, events).

    ``classes``: labels that must occur (at least one event each); the rest
    are drawn as configured. ``domain``: how the clip is recorded (events through a
    room and a microphone, lower SNRs, extra unlabelled sounds; ``DRY`` draws no
    random numbers for it). ``others``: sounds outside DESED that must occur
    (:mod:`dualkd_lib.other_sounds`, for the embedding corpus). Taught in notebook 01.
    """
    cfg = cfg or GeneratorConfig()
    forced = list(classes) if classes is not None else []
    for lab in forced:
        _check_label(lab)
    n = CLIP_SAMPLES
    bg_db = rng.uniform(*cfg.background_db_range)
    bg_rms = 10 ** (bg_db / 20)
    heavy = cfg.heavy_background_db if rng.random() < cfg.heavy_background_prob else 0.0
    background = _background(n, rng, cfg) * np.float32(bg_rms)
    mixture = background.copy()
    plan = _plan_events(rng, cfg, forced)
    wanted_others = list(others)
    rec_rng = None
    if not domain.is_dry or wanted_others:  # a separate stream: dry clips keep their exact draws
        rec_rng = np.random.default_rng(int(rng.integers(2**63)))
    recording = draw_recording(domain, rec_rng) if rec_rng is not None else draw_recording(DRY, rng)
    if recording.mic_sos is not None:  # the background is heard through the same microphone
        background = _unit(render_event(background, recording.microphone_only)) * np.float32(bg_rms)
        mixture = background.copy()

    voices = {lab: int(rng.integers(2**32)) for lab in dict.fromkeys(lab for lab, _, _ in plan)}
    stems: list[tuple[str | None, int, np.ndarray]] = []
    rows = []
    for lab, on, off in plan:
        start, stop = int(round(on * SR)), int(round(off * SR))
        # events cut at an edge started before / go on after the clip: synthesise the hidden part too
        pre = int(rng.uniform(0.2, 1.0) * SR) if on <= 0.0 else 0
        post = int(rng.uniform(0.2, 1.0) * SR) if off >= CLIP_SECONDS else 0
        audio = SOUND_MODELS[lab](pre + (stop - start) + post, rng, np.random.default_rng(voices[lab]))
        audio = render_event(audio, recording)[pre:pre + stop - start] if rec_rng is not None \
            else audio[pre:pre + stop - start]
        snr = rng.uniform(*cfg.snr_db_range) - heavy + domain.snr_offset_db
        audio = audio * np.float32(bg_rms * 10 ** (snr / 20) / max(_active_rms(audio), 1e-9))
        mixture[start:stop] += audio
        stems.append((lab, start, audio))
        rows.append((on, off, lab, round(snr, 2)))

    for _ in range(rng.poisson(cfg.distractor_rate)):
        d = rng.uniform(0.1, 3.0)
        start = int(rng.integers(0, n - int(0.1 * SR)))
        length = min(int(d * SR), n - start)
        audio = _distractor(length, rng)
        snr = rng.uniform(*cfg.snr_db_range) - heavy - 3.0
        audio = audio * np.float32(bg_rms * 10 ** (snr / 20) / max(_active_rms(audio), 1e-9))
        mixture[start:start + length] += audio
        stems.append((None, start, audio))

    other_labels: list[str] = []
    if rec_rng is not None:  # sounds outside DESED: the recorded domain's extras, and the ones asked for
        n_extra = int(rec_rng.poisson(domain.extra_distractor_rate))
        for lab in wanted_others + [str(rec_rng.choice(OTHER_CLASSES)) for _ in range(n_extra)]:
            d = rec_rng.uniform(0.5, 4.0)
            start = int(rec_rng.integers(0, n - int(0.5 * SR)))
            length = min(int(d * SR), n - start)
            audio = render_event(synthesize_other(lab, length, rec_rng), recording)
            snr = rec_rng.uniform(*cfg.snr_db_range) - heavy + domain.snr_offset_db
            audio = audio * np.float32(bg_rms * 10 ** (snr / 20) / max(_active_rms(audio), 1e-9))
            mixture[start:start + length] += audio
            stems.append((None, start, audio))
            other_labels.append(lab)

    peak = float(np.max(np.abs(mixture)))
    if peak > 0.98:  # keep clear of clipping: scale every part alike
        g = np.float32(0.98 / peak)
        mixture *= g
        background = background * g
        stems = [(lab, s, a * g) for lab, s, a in stems]
    events = pd.DataFrame(rows, columns=["onset", "offset", "event_label", "snr_db"])
    return ClipParts(mixture=mixture, background=background, stems=stems, events=events,
                     others=sorted(set(other_labels)))


def _active_rms(x: np.ndarray, frame: int = 320) -> float:
    """RMS over the 20-ms frames within 20 dB of the loudest frame (ignores pauses)."""
    m = len(x) // frame
    if m == 0:
        return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
    p = np.mean(np.square(x[: m * frame].reshape(m, frame)), axis=1)
    return float(np.sqrt(np.mean(p[p >= 0.01 * p.max()])))


def generate_clip(
    rng: np.random.Generator, cfg: GeneratorConfig | None = None, *, classes: Iterable[str] | None = None,
    domain: RecordingDomain = DRY,
) -> tuple[np.ndarray, pd.DataFrame]:
    """One 10-s soundscape and its strong labels.

    Returns ``(waveform, events)``: float32 ``[160000]`` at 16 kHz, and a DataFrame
    ``onset, offset, event_label`` (seconds, 3 decimals, sorted by onset).
    ``classes`` forces these labels to occur; ``domain`` is how it is recorded
    (see :func:`compose_clip`). Taught in notebook 01.
    """
    parts = compose_clip(rng, cfg, classes=classes, domain=domain)
    return parts.mixture, parts.events[["onset", "offset", "event_label"]].reset_index(drop=True)


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of clip ``index`` of ``split`` (or ``"embedding"``) for ``seed``.

    Derived with ``SeedSequence([tag, seed, stream, index])``, so clips are
    independent of generation order. Taught in notebook 01.
    """
    if split == "embedding":
        stream = _EMBEDDING_STREAM
    elif split in _SPLIT_STREAMS:
        stream = _SPLIT_STREAMS[split]
    else:
        raise ValueError(f"Unknown split {split!r}; valid: {list(_SPLIT_STREAMS) + ['embedding']}.")
    _check_seed(seed)
    return np.random.default_rng(np.random.SeedSequence([_STREAM_TAG, int(seed), stream, int(index)]))


def _check_seed(seed: int) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r}: give a non-negative integer.")


def _forced_classes(cfg: GeneratorConfig, split: str, index: int) -> list[str] | None:
    if cfg.ensure_all_classes and SPLITS.get(split) is not None and SPLITS[split].kind != "unlabeled" \
            and index < len(CLASSES):
        return [CLASSES[index]]
    return None


# ---------------------------------------------------------------------------
# Writing a dataset
# ---------------------------------------------------------------------------


def _clip_name(split: str, index: int) -> str:
    return f"{split}_{index:06d}.wav"


def _planned_files(cfg: GeneratorConfig) -> dict:
    """What :func:`make_dataset` writes, relative to the dataset root (recorded in ``generator_info.json``)."""
    audio = {}
    tables = []
    for name, sp in SPLITS.items():
        audio[name] = {"dir": sp.audio_dir, "pattern": f"{name}_{{index:06d}}.wav", "count": cfg.n_clips(name)}
        tables += [p for p in (sp.labels, sp.durations) if p]
        if sp.kind != "strong":
            tables.append(f"{TRUTH_DIR}/{name}.tsv")
    return {"audio": audio, "tables": tables}


def _files_from_record(root: Path, written: dict) -> list[Path]:
    files = []
    for name, a in written.get("audio", {}).items():
        d = root / a["dir"]
        files += [d / _clip_name(name, i) for i in range(int(a["count"]))]
    files += [root / t for t in written.get("tables", [])]
    files.append(root / INFO_FILENAME)
    out = []
    root_r = root.resolve()
    for f in files:  # never touch anything outside the dataset folder
        if root_r in f.resolve().parents:
            out.append(f)
    return out


def _clear_previous(root: Path) -> None:
    """Delete only what a previous run of :func:`make_dataset` recorded; keep unknown files."""
    info_path = root / INFO_FILENAME
    try:
        info = json.loads(info_path.read_text())
        written = info["written"]
    except (OSError, ValueError, KeyError) as err:
        raise FileExistsError(
            f"{info_path} is unreadable ({err}); cannot tell which files the generator wrote. "
            "Choose another output folder, or empty this one yourself."
        ) from err
    files = _files_from_record(root, written)
    dirs = set()
    n_removed = 0
    for f in files:
        if f.is_file():
            f.unlink()
            n_removed += 1
            dirs.add(f.parent)
    # remove folders the generator made, if they are now empty (deepest first)
    candidates = set()
    for d in dirs:
        while d != root and root in d.parents:
            candidates.add(d)
            d = d.parent
    for d in sorted(candidates, key=lambda p: len(p.parts), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    logger.info("Removed %d files of the previous generated dataset in %s", n_removed, root)


def _prepare_out_dir(root: Path, overwrite: bool) -> None:
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; choose another output folder.")
    if not root.exists() or not any(root.iterdir()):
        return
    has_info = (root / INFO_FILENAME).is_file()
    if not overwrite:
        hint = ("pass overwrite=True (CLI: --overwrite) to replace the dataset generated there before"
                if has_info else "it does not hold a generated dataset (no generator_info.json)")
        raise FileExistsError(
            f"Output folder {root} is not empty. Choose another (new or empty) folder, or {hint}."
        )
    if not has_info:
        raise FileExistsError(
            f"Output folder {root} is not empty and holds no {INFO_FILENAME}, so it was not written by the "
            "generator; refusing to delete anything even with overwrite=True. Choose another folder."
        )
    _clear_previous(root)


def _write_wav(path: Path, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    sf.write(str(path), pcm, SR, subtype="PCM_16", format="WAV")


def _strong_tsv(rows: list[tuple[str, pd.DataFrame]]) -> str:
    """DESED strong TSV text; a clip without events gets one row with empty fields."""
    lines = ["filename\tonset\toffset\tevent_label"]
    for fname, ev in rows:
        if len(ev) == 0:
            lines.append(f"{fname}\t\t\t")
        for on, off, lab in zip(ev["onset"], ev["offset"], ev["event_label"]):
            lines.append(f"{fname}\t{on:.3f}\t{off:.3f}\t{lab}")
    return "\n".join(lines) + "\n"


def _weak_tsv(rows: list[tuple[str, pd.DataFrame]]) -> str:
    lines = ["filename\tevent_labels"]
    for fname, ev in rows:
        lines.append(f"{fname}\t{','.join(sorted(set(ev['event_label'])))}")
    return "\n".join(lines) + "\n"


def _durations_tsv(names: list[str]) -> str:
    return "filename\tduration\n" + "".join(f"{f}\t{CLIP_SECONDS:.3f}\n" for f in names)


def make_dataset(
    out_dir: str | Path,
    cfg: GeneratorConfig = COURSE_GENERATOR,
    seed: int = 0,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Generate all five splits under ``out_dir`` in the DESED layout of ``layout.SPLITS``.

    Writes 16 kHz mono 16-bit WAVs of exactly 160000 samples named
    ``<split>_<index:06d>.wav``; strong TSVs (strong, validation, evaluation),
    the weak TSV (clip labels only), duration TSVs (validation, evaluation), the
    hidden strong truth of the weak and unlabeled splits in
    ``metadata/_generator_truth/<split>.tsv`` (analysis only, never for
    training), and ``generator_info.json`` (config, seed, version, counts,
    timing: ``seconds``, ``clips_per_second`` (wall clock), ``cpu_seconds``,
    ``clips_per_cpu_second``; and under ``written`` what was written). Same
    seed and config give byte-identical audio and TSV files
    (``generator_info.json`` differs only in its timing fields).

    Refuses (``FileExistsError``) a non-empty ``out_dir`` unless
    ``overwrite=True`` *and* the folder holds a ``generator_info.json``; then it
    deletes only the files that run recorded and keeps anything else.
    Returns the info dict. Taught in notebook 01.
    """
    from dualkd_lib import __version__

    if not isinstance(cfg, GeneratorConfig):
        raise ValueError(f"cfg={cfg!r}: give a GeneratorConfig (e.g. TINY_GENERATOR or COURSE_GENERATOR).")
    _check_seed(seed)
    root = Path(out_dir)
    _prepare_out_dir(root, overwrite)
    root.mkdir(parents=True, exist_ok=True)

    info: dict = {
        "generator": "dualkd_lib.generate",
        "version": __version__,
        "seed": int(seed),
        "config": asdict(cfg),
        "complete": False,
        "written": _planned_files(cfg),
    }
    info_path = root / INFO_FILENAME
    info_path.write_text(json.dumps(info, indent=1))  # written first: a crashed run can still be cleaned up

    t0, cpu0 = time.perf_counter(), time.process_time()
    splits_info = {}
    for name, sp in SPLITS.items():
        n_clips = cfg.n_clips(name)
        if cfg.ensure_all_classes and sp.kind != "unlabeled" and 0 < n_clips < len(CLASSES):
            logger.warning("Split %r has %d < %d clips: not every class can occur in it; give it at least "
                           "%d clips if evaluation needs every class.", name, n_clips, len(CLASSES), len(CLASSES))
        audio_dir = root / sp.audio_dir
        audio_dir.mkdir(parents=True, exist_ok=True)
        rows: list[tuple[str, pd.DataFrame]] = []
        for i in tqdm(range(n_clips), desc=f"generate {name}", disable=not progress, unit="clip"):
            wav, ev = generate_clip(clip_rng(seed, name, i), cfg, classes=_forced_classes(cfg, name, i),
                                    domain=cfg.domain(name))
            fname = _clip_name(name, i)
            _write_wav(audio_dir / fname, wav)
            rows.append((fname, ev))
        names = [f for f, _ in rows]
        if sp.kind == "strong":
            _write_text(root / sp.labels, _strong_tsv(rows))
        else:
            if sp.kind == "weak":
                _write_text(root / sp.labels, _weak_tsv(rows))
            _write_text(root / TRUTH_DIR / f"{name}.tsv", _strong_tsv(rows))
        if sp.durations:
            _write_text(root / sp.durations, _durations_tsv(names))
        splits_info[name] = {"n_clips": n_clips, "n_events": int(sum(len(e) for _, e in rows))}
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - cpu0
    n_total = sum(s["n_clips"] for s in splits_info.values())
    info.update(
        complete=True,
        splits=splits_info,
        n_clips=n_total,
        audio_hours=round(n_total * CLIP_SECONDS / 3600, 4),
        seconds=round(seconds, 3),
        clips_per_second=round(n_total / seconds, 2) if seconds > 0 else None,
        cpu_seconds=round(cpu_seconds, 3),
        clips_per_cpu_second=round(n_total / cpu_seconds, 2) if cpu_seconds > 0 else None,
    )
    info_path.write_text(json.dumps(info, indent=1))
    logger.info("Generated %d clips in %.1f s (%.1f clips/s; %.1f clips per CPU-second) under %s", n_total,
                seconds, n_total / max(seconds, 1e-9), n_total / max(cpu_seconds, 1e-9), root)
    return info


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ---------------------------------------------------------------------------
# The embedding-model corpus (stand-in for BEATs pre-training data)
# ---------------------------------------------------------------------------


def make_embedding_corpus(
    n_clips: int, seed: int = 0, cfg: GeneratorConfig | None = None, *, progress: bool = True
) -> tuple[np.ndarray, list[pd.DataFrame]]:
    """A separate in-memory corpus to pre-train the frozen embedding model.

    Returns ``(waveforms, events)``: float32 ``[n_clips, 160000]`` and one
    ``onset, offset, event_label`` DataFrame per clip. Drawn from its own seed
    stream, so it never repeats a clip of :func:`make_dataset` for any seed.
    Memory: 0.64 MB per clip. Taught in notebook 03.
    """
    if not isinstance(n_clips, (int, np.integer)) or n_clips < 1:
        raise ValueError(f"n_clips={n_clips!r}: give a positive integer.")
    _check_seed(seed)
    cfg = cfg or GeneratorConfig()
    waves = np.empty((int(n_clips), CLIP_SAMPLES), dtype=np.float32)
    events: list[pd.DataFrame] = []
    for i in tqdm(range(int(n_clips)), desc="embedding corpus", disable=not progress, unit="clip"):
        forced = [CLASSES[i]] if cfg.ensure_all_classes and i < len(CLASSES) else None
        waves[i], ev = generate_clip(clip_rng(seed, "embedding", i), cfg, classes=forced)
        events.append(ev)
    return waves, events


# ---------------------------------------------------------------------------
# Statistics: generated versus real DESED
# ---------------------------------------------------------------------------


def load_real_desed_validation() -> pd.DataFrame:
    """The real DESED validation ground truth shipped with the library.

    Columns ``filename, onset, offset, event_label``; clips without events have
    one row with NaN onset/offset/label. 1168 clips, 4245 events. Taught in notebook 01.
    """
    if not _REAL_DESED_TSV.is_file():
        raise FileNotFoundError(f"{_REAL_DESED_TSV} is missing; reinstall the package (pip install -e .).")
    return pd.read_csv(_REAL_DESED_TSV, sep="\t")


def _with_filenames(strong_df: pd.DataFrame) -> pd.DataFrame:
    missing = {"onset", "offset", "event_label"} - set(strong_df.columns)
    if missing:
        raise ValueError(
            f"strong_df lacks columns {sorted(missing)}; expected filename, onset, offset, event_label "
            "(a DESED strong TSV read with pandas.read_csv(path, sep='\\t'))."
        )
    df = strong_df.copy()
    if "filename" not in df.columns:
        df["filename"] = "clip"
    return df


def event_statistics(strong_df: pd.DataFrame) -> pd.DataFrame:
    """Per-class statistics of a strong label table.

    ``strong_df``: columns ``filename, onset, offset, event_label`` (rows with
    empty label = clips without events). Returns one row per class (order of
    ``CLASSES``) with ``n_events``, ``frac_events`` (share of all events),
    ``n_clips`` and ``frac_clips`` (clips containing the class), ``events_per_clip``
    (when present), ``median_s``, ``mean_s``, ``q25_s``, ``q75_s`` (durations),
    ``frac_cut_onset`` (onset 0), ``frac_cut_offset`` (offset 10) and
    ``frac_whole_clip``. Taught in notebook 01.
    """
    df = _with_filenames(strong_df)
    n_clips_total = df["filename"].nunique()
    ev = df.dropna(subset=["event_label"]).copy()
    ev["dur"] = ev["offset"].astype(float) - ev["onset"].astype(float)
    rows = []
    for c in CLASSES:
        e = ev[ev["event_label"] == c]
        nc = e["filename"].nunique()
        d = e["dur"]
        rows.append({
            "event_label": c,
            "n_events": len(e),
            "frac_events": len(e) / max(len(ev), 1),
            "n_clips": nc,
            "frac_clips": nc / max(n_clips_total, 1),
            "events_per_clip": len(e) / nc if nc else float("nan"),
            "median_s": d.median(),
            "mean_s": d.mean(),
            "q25_s": d.quantile(0.25),
            "q75_s": d.quantile(0.75),
            "frac_cut_onset": (e["onset"] <= 0.0005).mean() if len(e) else float("nan"),
            "frac_cut_offset": (e["offset"] >= CLIP_SECONDS - 0.0005).mean() if len(e) else float("nan"),
            "frac_whole_clip": (d >= CLIP_SECONDS - 0.1).mean() if len(e) else float("nan"),
        })
    return pd.DataFrame(rows).set_index("event_label")


def clip_statistics(strong_df: pd.DataFrame) -> dict[str, float]:
    """Clip-level statistics: clips, events per clip, classes per clip, polyphony.

    ``overlap_fraction``: mean share of a clip's time with >= 2 events;
    ``active_fraction``: with >= 1 event (10-ms grid). Taught in notebook 01.
    """
    df = _with_filenames(strong_df)
    ev = df.dropna(subset=["event_label"])
    n = df["filename"].nunique()
    over, act = [], []
    for _, g in df.groupby("filename"):
        grid = np.zeros(int(CLIP_SECONDS * 100), dtype=np.int16)
        for on, off in zip(g["onset"].dropna(), g["offset"].dropna()):
            grid[int(round(on * 100)):int(round(off * 100))] += 1
        over.append((grid >= 2).mean())
        act.append((grid >= 1).mean())
    return {
        "n_clips": n,
        "n_events": len(ev),
        "events_per_clip": len(ev) / max(n, 1),
        "classes_per_clip": float(ev.groupby("filename")["event_label"].nunique().sum()) / max(n, 1),
        "overlap_fraction": float(np.mean(over)) if over else 0.0,
        "active_fraction": float(np.mean(act)) if act else 0.0,
    }


def compare_with_desed(strong_df: pd.DataFrame) -> pd.DataFrame:
    """Generated versus real DESED validation statistics, per class.

    Columns: ``generated_median_s``, ``desed_median_s``, ``median_ratio``
    (generated / real), ``generated_frac_events``, ``desed_frac_events``,
    ``generated_frac_clips``, ``desed_frac_clips``. Taught in notebook 01.
    """
    gen = event_statistics(strong_df)
    real = event_statistics(load_real_desed_validation())
    out = pd.DataFrame({
        "generated_median_s": gen["median_s"],
        "desed_median_s": real["median_s"],
        "median_ratio": gen["median_s"] / real["median_s"],
        "generated_frac_events": gen["frac_events"],
        "desed_frac_events": real["frac_events"],
        "generated_frac_clips": gen["frac_clips"],
        "desed_frac_clips": real["frac_clips"],
    })
    return out


__all__ = [
    "CLASS_STATS",
    "CLIP_SAMPLES",
    "COURSE_GENERATOR",
    "ClassStats",
    "ClipParts",
    "GeneratorConfig",
    "INFO_FILENAME",
    "SOUND_MODELS",
    "TINY_GENERATOR",
    "TRUTH_DIR",
    "clip_rng",
    "clip_statistics",
    "compare_with_desed",
    "compose_clip",
    "event_statistics",
    "generate_clip",
    "load_real_desed_validation",
    "make_dataset",
    "make_embedding_corpus",
    "synthesize_event",
]
