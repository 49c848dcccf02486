"""What the generator makes: :class:`GeneratorConfig`, the presets' generators, and the per-class event statistics fitted to real DESED.

Taught in notebook 01.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dualkd_lib.constants import CLASSES, CLIP_SECONDS, SAMPLE_RATE
from dualkd_lib import layout
from dualkd_lib.layout import SPLITS
from dualkd_lib.recording import DRY, ROOM_MICROPHONE, RecordingDomain


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

_REAL_DESED_TSV = layout.desed_validation_dir() / "validation_groundtruth.tsv"


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
