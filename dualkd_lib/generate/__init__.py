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

The package's modules: :mod:`.config` (``GeneratorConfig``, the presets' generators, the per-class
event statistics), :mod:`.sounds` (DSP helpers, one sound model per class, background and
distractors), :mod:`.scenes` (one clip: events placed on a background, with its labels),
:mod:`.dataset` (writing a dataset in the DESED layout; the embedding model's corpus) and
:mod:`.stats` (generated versus real DESED).
"""
from dualkd_lib.generate.config import (
    CLASS_STATS,
    CLIP_SAMPLES,
    COURSE_GENERATOR,
    ClassStats,
    GeneratorConfig,
    INFO_FILENAME,
    SR,
    TINY_GENERATOR,
    TRUTH_DIR,
)
from dualkd_lib.generate.sounds import (
    SOUND_MODELS,
    synthesize_event,
)
from dualkd_lib.generate.scenes import (
    ClipParts,
    clip_rng,
    compose_clip,
    generate_clip,
)
from dualkd_lib.generate.dataset import (
    make_dataset,
    make_embedding_corpus,
)
from dualkd_lib.generate.stats import (
    clip_statistics,
    compare_with_desed,
    event_statistics,
    load_real_desed_validation,
)

__all__ = [
    "CLASS_STATS",
    "CLIP_SAMPLES",
    "COURSE_GENERATOR",
    "ClassStats",
    "ClipParts",
    "GeneratorConfig",
    "INFO_FILENAME",
    "SOUND_MODELS",
    "SR",
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
