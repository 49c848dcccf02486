"""The sounds: small DSP helpers, one sound model per DESED class, the background and the distractors.

Taught in notebook 01.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.signal

from dualkd_lib.constants import CLASSES
from dualkd_lib.generate.config import GeneratorConfig, SR


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
