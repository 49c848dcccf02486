"""Real DESED: resample the DCASE recipe's folders once, and read pre-computed BEATs embeddings.

The DCASE 2023 Task 4 recipe downloads DESED at 44.1 kHz into folders such as
``audio/train/weak`` and ``audio/validation/validation``. The course reads the
16 kHz copies next to them (``audio/train/weak_16k``, ...: the layout of
:data:`dualkd_lib.layout.SPLITS`), so :func:`prepare_desed` makes those copies,
once, and reports what is missing or unreadable.

The DCASE 2023 BEATs baseline pre-computes the frozen BEATs embeddings of each
split into one HDF5 file (``extract_embeddings.py --pretrained_model beats``):

- ``filenames``: ``[N]`` variable-length UTF-8 strings, the clip names *without*
  ``.wav`` (the recipe keys clips by ``Path(wav).stem``);
- ``frame_embeddings``: ``[N, 768, 496]`` float32, channel first (496 BEATs frames
  per 10-s clip);
- ``global_embeddings``: ``[N, 768]`` float32, one clip embedding.

Row ``i`` of both arrays belongs to ``filenames[i]``; the rows are in no
particular order. :func:`load_beats_embeddings` reads such a file for a list of
clips and pools the 496 frames to the CRNN's output frames (156), as the
baseline does. :func:`write_beats_like_h5` writes a file in the same layout
(tests and notebooks use it to build a small fake one).

Nothing here downloads anything. See ``docs/REAL_DESED.md`` for the whole
recipe. Taught in notebook 01 (data) and notebook 07 (embeddings); the
``desed`` preset uses it.

The package's modules: :mod:`.prepare` (the recipe's folders resampled to 16 kHz once, with a
report) and :mod:`.beats` (BEATs embeddings in the DCASE 2023 baseline's HDF5 layout).
"""
from dualkd_lib.desed_real.prepare import (
    BEATS_DIM,
    BEATS_EVAL_H5_NAME,
    BEATS_FRAMES,
    BEATS_H5_NAMES,
    PrepareReport,
    SplitPrepareReport,
    prepare_desed,
    source_audio_dir,
)
from dualkd_lib.desed_real.beats import (
    beats_h5_path,
    cached_beats_embeddings,
    context_beats_h5_path,
    load_beats_embeddings,
    write_beats_like_h5,
)

__all__ = [
    "BEATS_DIM",
    "BEATS_EVAL_H5_NAME",
    "BEATS_FRAMES",
    "BEATS_H5_NAMES",
    "PrepareReport",
    "SplitPrepareReport",
    "beats_h5_path",
    "cached_beats_embeddings",
    "context_beats_h5_path",
    "load_beats_embeddings",
    "prepare_desed",
    "source_audio_dir",
    "write_beats_like_h5",
]
