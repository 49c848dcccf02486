"""One clip: events of the sound models placed on a background, and the clip's labels.

Taught in notebook 01.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from dualkd_lib.constants import CLASSES, CLIP_SECONDS
from dualkd_lib.layout import SPLITS
from dualkd_lib.other_sounds import OTHER_CLASSES, synthesize_other
from dualkd_lib.recording import DRY, RecordingDomain, draw_recording, render_event
from dualkd_lib.generate.config import (
    CLASS_STATS,
    CLIP_SAMPLES,
    ClassStats,
    GeneratorConfig,
    SR,
    _EMBEDDING_STREAM,
    _SPLIT_STREAMS,
    _STREAM_TAG,
)
from dualkd_lib.generate.sounds import SOUND_MODELS, _background, _check_label, _distractor, _unit


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
