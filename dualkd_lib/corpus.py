"""The embedding model's pre-training corpus: a broader, AudioSet-like world with clip labels only.

BEATs never saw DESED's frame labels: it was pre-trained self-supervised and
fine-tuned on AudioSet's *clip-level* labels of 527 classes, on real recordings
of every kind. Our stand-in gets the same kind of knowledge:

- a taxonomy broader than the course's 10 classes (:data:`TAXONOMY`: the DESED
  classes plus the sounds of :mod:`dualkd_lib.other_sounds`);
- clip-level (weak) labels only, never onsets and offsets;
- both recording domains (:mod:`dualkd_lib.recording`): half the clips dry, half
  through a room and a microphone, so what it learns carries across DESED's gap
  between synthetic strong clips and real recordings;
- its own seed stream, so no clip of the course data ever appears in it.

Taught in notebook 03.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from dualkd_lib.constants import CLASSES
from dualkd_lib.generate import CLIP_SAMPLES, GeneratorConfig, clip_rng, compose_clip
from dualkd_lib.other_sounds import OTHER_CLASSES
from dualkd_lib.recording import DRY, ROOM_MICROPHONE, RecordingDomain

#: Clip labels of the pre-training corpus: the 10 DESED classes, then the other sounds.
TAXONOMY: tuple[str, ...] = tuple(CLASSES) + OTHER_CLASSES


def corpus_generator(cfg: GeneratorConfig | None) -> GeneratorConfig:
    """The generator settings of the corpus: the preset's, with 20 % of clips free of DESED classes."""
    return dataclasses.replace(cfg or GeneratorConfig(), empty_clip_prob=0.2)


def taxonomy_clips(
    n_clips: int, seed: int = 0, cfg: GeneratorConfig | None = None, *, recorded_share: float = 0.5,
    recorded: RecordingDomain = ROOM_MICROPHONE, other_rate: float = 1.2, progress: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The clips of :func:`make_taxonomy_corpus` one at a time: ``(waveform [160000], labels [len(TAXONOMY)])``.

    Clip ``i`` depends on ``seed`` and ``i`` only, so a consumer can turn each batch into
    features and drop the waveforms (the whole corpus is 0.64 MB per clip). Taught in notebook 03.
    """
    if not isinstance(n_clips, (int, np.integer)) or n_clips < 1:
        raise ValueError(f"n_clips={n_clips!r}: give a positive integer.")
    if not 0.0 <= recorded_share <= 1.0:
        raise ValueError(f"recorded_share={recorded_share!r}: must be in [0, 1].")
    return _clips(int(n_clips), seed, corpus_generator(cfg), recorded_share, recorded, other_rate, progress)


def _clips(n_clips: int, seed: int, gen: GeneratorConfig, recorded_share: float, recorded: RecordingDomain,
           other_rate: float, progress: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for i in tqdm(range(n_clips), desc="pre-training corpus", disable=not progress, unit="clip"):
        rng = clip_rng(seed, "embedding", i)
        domain = recorded if rng.random() < recorded_share else DRY
        n_other = int(rng.poisson(other_rate))
        others = [str(o) for o in rng.choice(OTHER_CLASSES, size=min(n_other, len(OTHER_CLASSES)), replace=False)]
        forced = [CLASSES[i]] if i < len(CLASSES) else None
        parts = compose_clip(rng, gen, classes=forced, domain=domain, others=others)
        labels = np.zeros(len(TAXONOMY), dtype=np.float32)
        for lab in set(parts.events["event_label"]) | set(parts.others):
            labels[TAXONOMY.index(lab)] = 1.0
        yield np.asarray(parts.mixture, dtype=np.float32), labels


def make_taxonomy_corpus(
    n_clips: int, seed: int = 0, cfg: GeneratorConfig | None = None, *, recorded_share: float = 0.5,
    recorded: RecordingDomain = ROOM_MICROPHONE, other_rate: float = 1.2, progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_clips`` clips with clip-level labels over :data:`TAXONOMY`.

    Returns ``(waveforms, labels)``: float32 ``[n_clips, 160000]`` and float32
    ``[n_clips, len(TAXONOMY)]`` many-hot clip labels. A clip holds DESED events as the
    course data do (or none, 20 % of clips), plus Poisson(``other_rate``) sounds of other
    classes; a share ``recorded_share`` of the clips is recorded in ``recorded``, the rest
    dry. Memory: 0.64 MB per clip (:func:`taxonomy_clips` gives them one at a time).
    Taught in notebook 03.
    """
    clips = taxonomy_clips(n_clips, seed, cfg, recorded_share=recorded_share, recorded=recorded,
                           other_rate=other_rate, progress=progress)
    waves = np.empty((int(n_clips), CLIP_SAMPLES), dtype=np.float32)
    labels = np.zeros((int(n_clips), len(TAXONOMY)), dtype=np.float32)
    for i, (wave, label) in enumerate(clips):
        waves[i], labels[i] = wave, label
    return waves, labels
