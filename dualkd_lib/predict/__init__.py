"""Detecting sound events in anyone's recordings (``dualkd predict``).

A trained model meets audio it has never seen: any sample rate, mono or many
channels, a second or an hour long, and now and then a file that is not audio
at all. This module turns such a folder into a DESED detection table (and,
optionally, sed_scores_eval score files), without surprises:

- **Skip and report.** A file that cannot be read (corrupt, not audio, empty,
  zero channels, NaN or infinite samples) is skipped with a warning naming it
  and the reason, and listed in :meth:`PredictResult.summary`; the other files
  are predicted. ``strict=True`` (``--strict``) stops at the first bad file.
- **Bounded memory.** A file is read once, block by block
  (:class:`AudioStream`), mixed to mono, resampled to the model's rate block by
  block with the same result as resampling it whole (:class:`ChunkedResampler`),
  and scored in batches of 10-s windows. Only the scores of a file
  (``[classes, frames]`` float32, about 1 MB for an hour) are kept.
- **Exact times.** Window ``k`` starts at ``k * frames_per_window`` output
  frames, so the frames of consecutive windows join without drift; the padding
  of the last window is cut off, and no time in the outputs passes the file's
  duration.
- **Teacher or student.** A student runs alone. A teacher also needs the
  frozen embedding model it was trained with: its path is read from the
  teacher checkpoint (``"embedding_model_path"``) or given as
  ``embedding_model=`` (``--embedding-model``).

Taught in notebook 09.

The package's modules: :mod:`.inputs` (what a run reports, which files it reads),
:mod:`.audio` (reading and resampling block by block, bounded memory), :mod:`.model` (the trained
model and its inference bundle, windows over a long file) and :mod:`.files` (:func:`predict_files`,
the ``dualkd predict`` command).
"""
from dualkd_lib.predict.inputs import (
    AUDIO_SUFFIXES,
    AudioReadError,
    EMBEDDING_MODEL_KEY,
    PredictResult,
    SKIPPED_EXIT_CODE,
    SkippedFile,
    collect_audio_files,
)
from dualkd_lib.predict.audio import (
    AudioStream,
    ChunkedResampler,
)
from dualkd_lib.predict.model import (
    Predictor,
    embedding_model_path,
    load_predictor,
    score_file,
)
from dualkd_lib.predict.files import (
    predict_files,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioReadError",
    "AudioStream",
    "ChunkedResampler",
    "EMBEDDING_MODEL_KEY",
    "PredictResult",
    "Predictor",
    "SKIPPED_EXIT_CODE",
    "SkippedFile",
    "collect_audio_files",
    "embedding_model_path",
    "load_predictor",
    "predict_files",
    "score_file",
]
