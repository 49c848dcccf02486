"""Reading and writing a DESED-style dataset: TSV labels, WAV audio, folder checks.

One set of functions serves the generated data of the course and the real DESED
dataset, because both use the same folder layout (:mod:`dualkd_lib.layout`) and
the same TSV files:

- strong labels ``filename  onset  offset  event_label`` (seconds),
- weak labels ``filename  event_labels`` (labels comma-separated),
- durations ``filename  duration`` (seconds),
- detections ``event_label  onset  offset  filename`` (any column order).

All files are tab separated with a header row. Readers accept a path or an
in-memory ``pandas.DataFrame`` and check the contract up front: a bad row raises
``ValueError`` naming the file, the line, the bad value and the fix.

Clips with no event. Real DESED strong-label files list such clips with a row
whose onset, offset and label are empty (``Y0IxyUtHw6Ec_0.000_10.000.wav`` then
three tabs). They are not events, so :func:`read_strong_tsv` leaves them out of
the returned rows, but it remembers them: ``df.attrs["files"]`` lists every
filename of the table (order of first appearance) and ``df.attrs["empty_files"]``
the ones that have no event. :func:`files_in_tsv` returns the same list for any
TSV or DataFrame, and :func:`write_strong_tsv` writes the empty rows back.

Taught in notebook 01.

The package's modules: :mod:`.readers` (strong, weak, durations and detection tables, checked),
:mod:`.writers` (the same tables, checked before they are written), :mod:`.audio` (WAV loading,
resampling, durations) and :mod:`.splits` (a split's folders checked and loaded).
"""
from dualkd_lib.desed_io.readers import (
    DURATION_COLUMNS,
    STRONG_COLUMNS,
    WEAK_COLUMNS,
    files_in_tsv,
    read_detections_tsv,
    read_durations_tsv,
    read_strong_tsv,
    read_weak_tsv,
)
from dualkd_lib.desed_io.writers import (
    write_clip_durations,
    write_clip_labels,
    read_tsv_frame,
    write_detections_tsv,
    write_durations_tsv,
    write_strong_tsv,
    write_weak_tsv,
)
from dualkd_lib.desed_io.audio import (
    durations_from_wavs,
    load_wav,
    pad_or_trim,
)
from dualkd_lib.desed_io.splits import (
    SplitData,
    SplitReport,
    check_split,
    load_split,
)

__all__ = [
    "DURATION_COLUMNS",
    "STRONG_COLUMNS",
    "SplitData",
    "SplitReport",
    "WEAK_COLUMNS",
    "check_split",
    "durations_from_wavs",
    "files_in_tsv",
    "load_split",
    "load_wav",
    "pad_or_trim",
    "read_detections_tsv",
    "read_durations_tsv",
    "read_strong_tsv",
    "read_tsv_frame",
    "read_weak_tsv",
    "write_detections_tsv",
    "write_clip_durations",
    "write_clip_labels",
    "write_durations_tsv",
    "write_strong_tsv",
    "write_weak_tsv",
]
