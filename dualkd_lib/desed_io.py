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
"""
from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
import torchaudio.functional as AF
from tqdm.auto import tqdm

from dualkd_lib.constants import CLASSES, SAMPLE_RATE
from dualkd_lib.layout import SPLITS, split_paths

logger = logging.getLogger(__name__)

__all__ = [
    "STRONG_COLUMNS",
    "WEAK_COLUMNS",
    "DURATION_COLUMNS",
    "read_strong_tsv",
    "read_weak_tsv",
    "read_durations_tsv",
    "read_detections_tsv",
    "files_in_tsv",
    "write_strong_tsv",
    "write_weak_tsv",
    "write_durations_tsv",
    "load_wav",
    "pad_or_trim",
    "durations_from_wavs",
    "SplitReport",
    "SplitData",
    "check_split",
    "load_split",
]

#: Columns of a strong-label (and detection) table, in the order we return them.
STRONG_COLUMNS: tuple[str, ...] = ("filename", "onset", "offset", "event_label")
#: Columns of a weak-label table.
WEAK_COLUMNS: tuple[str, ...] = ("filename", "event_labels")
#: Columns of a durations table.
DURATION_COLUMNS: tuple[str, ...] = ("filename", "duration")

_MAKE_DATA_HINT = (
    "Create generated data with `dualkd make-data --preset tiny --out DIR` (or "
    "dualkd_lib.generate.make_dataset), or point `root` at a real DESED root prepared by "
    "the DCASE 2023 Task 4 recipe (it holds audio/ and metadata/ folders)."
)

# Sample rates / channel counts we already logged a note about (log once, not per file).
_NOTED_RATES: set[tuple[int, int]] = set()
_NOTED_CHANNELS: set[int] = set()


# --------------------------------------------------------------------------------------
# Low-level table reading
# --------------------------------------------------------------------------------------
@dataclass
class _Table:
    """A TSV read as strings, with where each row came from (for error messages)."""

    frame: pd.DataFrame  # all columns as they came (strings, or any dtype for DataFrames)
    where: list[str]  # "file.tsv, line 17" or "DataFrame row 3", one per row
    source: str  # the file path, or "DataFrame"


def _read_table(path_or_df: str | Path | pd.DataFrame, what: str) -> _Table:
    """Read a tab-separated file with a header (or take a DataFrame) and keep line numbers."""
    if isinstance(path_or_df, pd.DataFrame):
        frame = path_or_df.reset_index(drop=True).copy()
        frame.columns = [str(c).strip() for c in frame.columns]
        return _Table(frame, [f"DataFrame row {i}" for i in range(len(frame))], "DataFrame")
    if not isinstance(path_or_df, (str, Path)):
        raise ValueError(
            f"Expected a path or a pandas.DataFrame for the {what} table, got "
            f"{type(path_or_df).__name__}."
        )
    path = Path(path_or_df)
    if not path.is_file():
        raise FileNotFoundError(
            f"{what.capitalize()} TSV not found: {path}. Check the path (folder "
            f"{path.parent} {'exists' if path.parent.is_dir() else 'does not exist either'})."
        )
    text = path.read_text(encoding="utf-8-sig")  # -sig drops a byte-order mark if present
    header: list[str] | None = None
    rows: list[list[str]] = []
    where: list[str] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines carry no information
        fields = [f.strip() for f in line.split("\t")]
        if header is None:
            header = fields
            continue
        if len(fields) > len(header):
            raise ValueError(
                f"{path}, line {line_no}: {len(fields)} tab-separated fields but the header has "
                f"{len(header)} ({header}). Remove the extra tabs or fix the header."
            )
        fields += [""] * (len(header) - len(fields))  # "name.wav" alone = name with empty fields
        rows.append(fields)
        where.append(f"{path}, line {line_no}")
    if header is None:
        raise ValueError(f"{path} is empty: a {what} TSV needs at least a header row.")
    return _Table(pd.DataFrame(rows, columns=header, dtype=object), where, str(path))


def _require_columns(table: _Table, expected: Sequence[str], what: str) -> None:
    missing = [c for c in expected if c not in table.frame.columns]
    if missing:
        found = list(table.frame.columns)
        hint = ""
        if len(found) == 1 and " " in found[0]:
            hint = " The header has a single column with spaces in it: is the file separated by spaces instead of tabs?"
        raise ValueError(
            f"{table.source}: missing column(s) {missing} in the {what} table. Expected the "
            f"header {' <TAB> '.join(expected)} (tab separated, any order); found {found}.{hint}"
        )


def _blank(series: pd.Series) -> np.ndarray:
    """True where a cell is empty (NaN, None or only whitespace)."""
    return (series.isna() | (series.astype(str).str.strip() == "")).to_numpy()


def _to_seconds(table: _Table, column: str, blank: np.ndarray) -> np.ndarray:
    """Parse a column of times (seconds) where not blank; raise on text or non-finite values."""
    raw = table.frame[column]
    values = pd.to_numeric(raw.where(~blank), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~blank & ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{table.where[i]}: {column} {raw.iloc[i]!r} is not a number. Times are seconds "
            f"written as decimal numbers (e.g. 1.250); fix or delete the row."
        )
    return values


def _check_label(label: str, classes: Sequence[str], where: str) -> None:
    if label in classes:
        return
    close = difflib.get_close_matches(label, list(classes), n=1, cutoff=0.6)
    maybe = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"{where}: unknown event label {label!r}{maybe}. Valid labels are: "
        f"{', '.join(classes)}. Fix the label in the file, or pass classes=... with your own "
        f"class list."
    )


def _unique_in_order(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _check_filenames(table: _Table) -> pd.Series:
    names = table.frame["filename"]
    blank = _blank(names)
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise ValueError(f"{table.where[i]}: the filename is empty. Every row needs a WAV filename.")
    return names.astype(str).str.strip()


def _check_duplicates(table: _Table, names: pd.Series, what: str) -> None:
    dup = names.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((names == names.iloc[i]).to_numpy())[0])
        raise ValueError(
            f"{table.where[i]}: {names.iloc[i]!r} appears twice in the {what} table (also at "
            f"{table.where[first]}). A {what} table has one row per file; merge the rows."
        )


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------
def _read_events(
    path_or_df: str | Path | pd.DataFrame, classes: Sequence[str], what: str
) -> pd.DataFrame:
    """Shared reader of strong labels and detections (same four columns)."""
    table = _read_table(path_or_df, what)
    _require_columns(table, STRONG_COLUMNS, what)
    extra = [c for c in table.frame.columns if c not in STRONG_COLUMNS]
    if extra:
        logger.debug("%s: ignoring extra columns %s", table.source, extra)
    names = _check_filenames(table)

    blank = {c: _blank(table.frame[c]) for c in ("onset", "offset", "event_label")}
    empty_row = blank["onset"] & blank["offset"] & blank["event_label"]
    for column in ("onset", "offset", "event_label"):
        partial = blank[column] & ~empty_row
        if partial.any():
            i = int(np.flatnonzero(partial)[0])
            raise ValueError(
                f"{table.where[i]}: {column} is empty but the row has other fields. Fill it "
                f"in, or leave onset, offset and event_label all empty to say that "
                f"{names.iloc[i]!r} has no event."
            )
    onset = _to_seconds(table, "onset", empty_row)
    offset = _to_seconds(table, "offset", empty_row)
    labels = table.frame["event_label"].astype(str).str.strip()

    unknown = ~empty_row & ~labels.isin(list(classes)).to_numpy()
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        _check_label(labels.iloc[i], classes, table.where[i])
    negative = ~empty_row & (onset < 0)
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"{table.where[i]}: onset {onset[i]:.3f} s is negative. Onsets are seconds "
            f"from the clip start (>= 0); clip the event at 0."
        )
    reversed_ = ~empty_row & (offset < onset)
    if reversed_.any():
        i = int(np.flatnonzero(reversed_)[0])
        raise ValueError(
            f"{table.where[i]}: offset {offset[i]:.3f} s is before onset {onset[i]:.3f} s. "
            f"Swap the two values or check the column order of the header."
        )

    keep = ~empty_row
    df = pd.DataFrame(
        {
            "filename": names[keep].to_numpy(dtype=object),
            "onset": onset[keep],
            "offset": offset[keep],
            "event_label": labels[keep].to_numpy(dtype=object),
        }
    )
    files = _unique_in_order(names)
    with_events = set(df["filename"])
    df.attrs["files"] = files
    df.attrs["empty_files"] = [f for f in files if f not in with_events]
    df.attrs["source"] = table.source
    return df


def read_strong_tsv(
    path_or_df: str | Path | pd.DataFrame, *, classes: Sequence[str] = CLASSES
) -> pd.DataFrame:
    """Read and check a strong-label table ``filename onset offset event_label``.

    Returns one row per event with columns ``filename`` (str), ``onset`` and
    ``offset`` (float seconds) and ``event_label`` (str, one of ``classes``), in file
    order. Rows whose onset, offset and label are all empty (DESED's way of listing a
    clip with no event) are not events: they are left out of the rows and reported
    in ``df.attrs["empty_files"]``; ``df.attrs["files"]`` lists every filename of
    the table in order of first appearance (see also :func:`files_in_tsv`).

    Columns may come in any order (by header); extra columns are ignored. Offsets
    past the clip end are allowed (real DESED has a few).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the
    file, line, bad value and fix) for missing columns, non-numeric times, a
    negative onset, an offset before its onset or an unknown class label.

    Taught in notebook 01.
    """
    return _read_events(path_or_df, classes, "strong-label")


def read_detections_tsv(
    path_or_df: str | Path | pd.DataFrame, *, classes: Sequence[str] = CLASSES
) -> pd.DataFrame:
    """Read DCASE detections (``event_label onset offset filename``, any column order).

    Same checks and the same returned columns as :func:`read_strong_tsv`
    (``filename, onset, offset, event_label``); a file with only a header gives an
    empty table. Taught in notebook 04.
    """
    return _read_events(path_or_df, classes, "detections")


def read_weak_tsv(
    path_or_df: str | Path | pd.DataFrame, *, classes: Sequence[str] = CLASSES
) -> pd.DataFrame:
    """Read and check a weak-label table ``filename event_labels``.

    Returns one row per file: ``filename`` (str) and ``event_labels`` (str, the clip's
    labels comma-separated in the order of ``classes``, duplicates removed; ``""`` for
    a clip with no event). ``df.attrs["files"]`` and ``df.attrs["empty_files"]`` are
    set as in :func:`read_strong_tsv`.

    Raises ``ValueError`` for missing columns, a filename listed twice or an unknown
    label (naming the file, line and the valid labels). Taught in notebook 01.
    """
    table = _read_table(path_or_df, "weak-label")
    _require_columns(table, WEAK_COLUMNS, "weak-label")
    names = _check_filenames(table)
    _check_duplicates(table, names, "weak-label")

    order = {c: k for k, c in enumerate(classes)}
    normalised: list[str] = []
    for i, value in enumerate(table.frame["event_labels"]):
        if isinstance(value, (list, tuple, set)):
            labels = [str(v).strip() for v in value]
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            labels = []
        else:
            labels = [v.strip() for v in str(value).split(",")]
        labels = [v for v in labels if v]
        for label in labels:
            _check_label(label, classes, table.where[i])
        normalised.append(",".join(sorted(set(labels), key=order.__getitem__)))

    df = pd.DataFrame({"filename": names.to_numpy(dtype=object), "event_labels": normalised})
    df["event_labels"] = df["event_labels"].astype(object)
    df.attrs["files"] = list(df["filename"])
    df.attrs["empty_files"] = [f for f, lab in zip(df["filename"], normalised) if not lab]
    df.attrs["source"] = table.source
    return df


def read_durations_tsv(path_or_df: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read and check a durations table ``filename duration`` (seconds, > 0).

    Returns columns ``filename`` (str) and ``duration`` (float seconds), one row per
    file. Raises ``ValueError`` for missing columns, a non-numeric or non-positive
    duration, or a filename listed twice. Taught in notebook 04.
    """
    table = _read_table(path_or_df, "durations")
    _require_columns(table, DURATION_COLUMNS, "durations")
    names = _check_filenames(table)
    _check_duplicates(table, names, "durations")
    blank = _blank(table.frame["duration"])
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise ValueError(f"{table.where[i]}: the duration of {names.iloc[i]!r} is empty; give it in seconds.")
    duration = _to_seconds(table, "duration", blank)
    bad = duration <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{table.where[i]}: duration {duration[i]} s of {names.iloc[i]!r} is not positive. "
            f"Give the clip length in seconds (e.g. 10.0)."
        )
    df = pd.DataFrame({"filename": names.to_numpy(dtype=object), "duration": duration})
    df.attrs["files"] = list(df["filename"])
    df.attrs["source"] = table.source
    return df


def files_in_tsv(path_or_df: str | Path | pd.DataFrame) -> list[str]:
    """Every filename listed in a DESED TSV, in order of first appearance.

    Unlike the rows returned by :func:`read_strong_tsv`, this includes the clips
    listed with empty rows (no event). Works for strong, weak, durations and
    detection tables; for a DataFrame it uses ``df.attrs["files"]`` when a reader
    set it, else the ``filename`` column. Taught in notebook 01.
    """
    if isinstance(path_or_df, pd.DataFrame) and "files" in path_or_df.attrs:
        return list(path_or_df.attrs["files"])
    table = _read_table(path_or_df, "DESED")
    _require_columns(table, ("filename",), "DESED")
    return _unique_in_order(_check_filenames(table))


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------
def _write_lines(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    return path


def write_strong_tsv(
    events: pd.DataFrame,
    path: str | Path,
    *,
    empty_files: Iterable[str] | None = None,
    classes: Sequence[str] = CLASSES,
) -> Path:
    """Write strong labels as ``filename onset offset event_label`` (3-decimal seconds).

    ``events`` is checked with :func:`read_strong_tsv` first, so a bad table is never
    written. Clips with no event are written as DESED's empty rows at the end:
    ``empty_files`` (default: ``events.attrs["empty_files"]`` if present). Parent
    folders are created. Returns the path written. Taught in notebook 01.
    """
    df = read_strong_tsv(events, classes=classes)
    if empty_files is None:
        empty_files = events.attrs.get("empty_files", ())
    with_events = set(df["filename"])
    empties = [f for f in _unique_in_order(empty_files) if f not in with_events]
    rows = [
        (name, f"{on:.3f}", f"{off:.3f}", label)
        for name, on, off, label in zip(df["filename"], df["onset"], df["offset"], df["event_label"])
    ]
    rows += [(name, "", "", "") for name in empties]
    return _write_lines(path, STRONG_COLUMNS, rows)


def write_weak_tsv(
    labels: pd.DataFrame, path: str | Path, *, classes: Sequence[str] = CLASSES
) -> Path:
    """Write weak labels as ``filename event_labels`` (labels comma-separated).

    ``labels`` has columns ``filename`` and ``event_labels`` (a comma-separated
    string or a list of labels per row); it is checked with :func:`read_weak_tsv`
    first. Returns the path written. Taught in notebook 01.
    """
    df = read_weak_tsv(labels, classes=classes)
    return _write_lines(path, WEAK_COLUMNS, zip(df["filename"], df["event_labels"]))


def write_durations_tsv(
    durations: pd.DataFrame | Mapping[str, float], path: str | Path
) -> Path:
    """Write clip durations as ``filename duration`` (3-decimal seconds).

    ``durations`` is a DataFrame with columns ``filename, duration`` or a mapping
    ``{filename: seconds}``. Returns the path written. Taught in notebook 04.
    """
    if isinstance(durations, Mapping):
        durations = pd.DataFrame(
            {"filename": list(durations.keys()), "duration": list(durations.values())}
        )
    df = read_durations_tsv(durations)
    return _write_lines(
        path, DURATION_COLUMNS, ((n, f"{d:.3f}") for n, d in zip(df["filename"], df["duration"]))
    )


# --------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------
def load_wav(
    path: str | Path, *, target_sr: int = SAMPLE_RATE, mono: bool = True
) -> torch.Tensor:
    """Load a WAV file as float32 in [-1, 1] at ``target_sr`` Hz.

    Returns ``[samples]`` when ``mono`` (channels averaged), else
    ``[channels, samples]``. Another sample rate is resampled with
    ``torchaudio.functional.resample`` (real DESED is 44.1 kHz); a note is logged
    once per rate and once per channel count, not per file.

    Raises ``FileNotFoundError`` for a missing file (naming it and its folder) and
    ``ValueError`` for a file soundfile cannot read or one with 0 samples.

    Taught in notebook 01.
    """
    if not isinstance(target_sr, int) or target_sr <= 0:
        raise ValueError(f"target_sr must be a positive integer (Hz), got {target_sr!r}.")
    path = Path(path)
    if not path.is_file():
        folder = path.parent
        state = "exists" if folder.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"WAV file not found: {path}. Its split folder {folder} {state}. Run "
            f"dualkd_lib.desed_io.check_split(root, split) to list missing clips, or "
            f"load_split(...) to skip them."
        )
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [samples, channels]
    except (sf.SoundFileError, RuntimeError) as err:
        raise ValueError(
            f"Cannot read {path} as audio: {err}. The file is corrupt or not a WAV; "
            f"re-create or re-download it, or delete it (load_split skips missing clips)."
        ) from err
    if data.shape[0] == 0:
        raise ValueError(
            f"{path} is empty (0 samples). Re-create or re-download it, or delete it "
            f"(load_split skips missing clips)."
        )
    wave = torch.from_numpy(np.ascontiguousarray(data.T))  # [channels, samples]
    channels = wave.shape[0]
    if mono and channels > 1:
        if channels not in _NOTED_CHANNELS:
            logger.info("Averaging %d channels to mono (first seen in %s).", channels, path.name)
            _NOTED_CHANNELS.add(channels)
        wave = wave.mean(dim=0, keepdim=True)
    if sr != target_sr:
        if (sr, target_sr) not in _NOTED_RATES:
            logger.info("Resampling audio from %d Hz to %d Hz (first seen in %s).", sr, target_sr, path.name)
            _NOTED_RATES.add((sr, target_sr))
        wave = AF.resample(wave, orig_freq=int(sr), new_freq=target_sr)
    wave = wave.to(torch.float32).contiguous()
    return wave[0] if mono else wave


def pad_or_trim(wave: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Zero-pad at the end or cut the last axis of ``wave`` to exactly ``n_samples``.

    ``wave``: ``[..., samples]``. Returns ``[..., n_samples]`` (the input itself if
    it already has that length). Taught in notebook 01.
    """
    if not isinstance(n_samples, int) or n_samples <= 0:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    length = wave.shape[-1]
    if length == n_samples:
        return wave
    if length > n_samples:
        return wave[..., :n_samples]
    return torch.nn.functional.pad(wave, (0, n_samples - length))


def durations_from_wavs(audio_dir: str | Path, filenames: Sequence[str]) -> pd.DataFrame:
    """Durations (seconds) of WAV files read from their headers, as a durations table.

    Useful for an evaluation split that ships without a durations TSV. Returns
    columns ``filename, duration``. Taught in notebook 04.
    """
    audio_dir = Path(audio_dir)
    seconds = []
    for name in tqdm(filenames, desc="reading durations", disable=len(filenames) < 500):
        path = audio_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"WAV file not found: {path}.")
        seconds.append(float(sf.info(str(path)).duration))
    return pd.DataFrame({"filename": list(filenames), "duration": seconds})


# --------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitReport:
    """What is on disk for one split, compared with what its TSV files list.

    ``listed_files`` are the clips named in the labels TSV (including clips listed
    with empty rows) or in the durations TSV; for the unlabeled split, the WAVs
    found. All names are bare WAV names, sorted. Taught in notebook 01.
    """

    split: str
    kind: str  # "strong", "weak" or "unlabeled"
    audio_dir: Path
    labels_tsv: Path | None
    durations_tsv: Path | None  # None when the split has none or the file is absent
    wav_files: tuple[str, ...]
    listed_files: tuple[str, ...]
    missing_wavs: tuple[str, ...]  # listed in a TSV, no WAV on disk
    unlisted_wavs: tuple[str, ...]  # WAV on disk, not in any TSV (no labels)
    missing_durations: tuple[str, ...] = field(default=())  # listed, absent from durations TSV

    @property
    def ok(self) -> bool:
        """True when every listed clip is on disk and every WAV is listed."""
        return not (self.missing_wavs or self.unlisted_wavs or self.missing_durations)

    def summary(self) -> str:
        """One line per fact, for printing in a notebook."""
        lines = [
            f"split {self.split!r} ({self.kind}) in {self.audio_dir}",
            f"  WAV files on disk: {len(self.wav_files)}",
            f"  files listed in TSVs: {len(self.listed_files)}",
            f"  listed but missing on disk: {len(self.missing_wavs)}",
            f"  WAVs without labels: {len(self.unlisted_wavs)}",
        ]
        if self.durations_tsv is not None:
            lines.append(f"  listed without a duration: {len(self.missing_durations)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class SplitData:
    """One split ready to use: only clips that are both listed and on disk.

    ``filenames`` is sorted; ``strong``/``weak``/``durations`` are restricted to
    those clips (``None`` when the split has no such table). For strong splits,
    clips listed only in the durations TSV are clips with no event and appear in
    ``strong.attrs["empty_files"]``. Taught in notebook 01.
    """

    split: str
    kind: str
    audio_dir: Path
    filenames: list[str]
    strong: pd.DataFrame | None
    weak: pd.DataFrame | None
    durations: pd.DataFrame | None
    report: SplitReport

    def paths(self) -> list[Path]:
        """Absolute WAV paths, in the order of ``filenames``."""
        return [self.audio_dir / name for name in self.filenames]


def _list_wavs(audio_dir: Path) -> list[str]:
    return sorted(
        p.name
        for p in audio_dir.iterdir()
        if p.is_file() and p.suffix.lower() == ".wav" and not p.name.startswith(".")
    )


def _inspect_split(
    root: str | Path, split: str, classes: Sequence[str]
) -> tuple[SplitReport, pd.DataFrame | None, pd.DataFrame | None]:
    """Check a split's folders and TSVs; return the report, the labels and the durations."""
    audio_dir, labels_tsv, durations_tsv = split_paths(root, split)  # ValueError for a bad split
    info = SPLITS[split]
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Dataset root {root} does not exist (looking for split {split!r} in "
            f"{audio_dir}). {_MAKE_DATA_HINT}"
        )
    if not audio_dir.is_dir():
        raise FileNotFoundError(
            f"Audio folder of split {split!r} not found: expected {audio_dir} "
            f"(root {root} + {info.audio_dir}). {_MAKE_DATA_HINT}"
        )
    if labels_tsv is not None and not labels_tsv.is_file():
        raise FileNotFoundError(
            f"Labels of split {split!r} not found: expected {labels_tsv} "
            f"(root {root} + {info.labels}). {_MAKE_DATA_HINT}"
        )

    labels: pd.DataFrame | None = None
    listed: list[str] = []
    if labels_tsv is not None:
        if info.kind == "strong":
            labels = read_strong_tsv(labels_tsv, classes=classes)
        else:
            labels = read_weak_tsv(labels_tsv, classes=classes)
        listed = list(labels.attrs["files"])

    durations: pd.DataFrame | None = None
    if durations_tsv is not None:
        if durations_tsv.is_file():
            durations = read_durations_tsv(durations_tsv)
            listed += list(durations["filename"])
        else:
            logger.warning(
                "Split %r: durations file %s not found; durations will be None "
                "(durations_from_wavs can read them from the WAV headers).",
                split,
                durations_tsv,
            )
            durations_tsv = None

    wavs = _list_wavs(audio_dir)
    if info.kind == "unlabeled":
        listed = wavs
    listed_set, wav_set = set(listed), set(wavs)
    with_duration = set(durations["filename"]) if durations is not None else listed_set
    report = SplitReport(
        split=split,
        kind=info.kind,
        audio_dir=audio_dir,
        labels_tsv=labels_tsv,
        durations_tsv=durations_tsv,
        wav_files=tuple(wavs),
        listed_files=tuple(sorted(listed_set)),
        missing_wavs=tuple(sorted(listed_set - wav_set)),
        unlisted_wavs=tuple(sorted(wav_set - listed_set)),
        missing_durations=tuple(sorted(listed_set - with_duration)),
    )
    return report, labels, durations


def check_split(root: str | Path, split: str, *, classes: Sequence[str] = CLASSES) -> SplitReport:
    """Compare a split's WAV folder with its TSV files, without loading audio.

    ``split`` is one of :data:`dualkd_lib.layout.SPLITS`. Raises
    ``FileNotFoundError`` (with the expected path and how to create generated data
    or point at a real DESED root) when the root, the audio folder or the labels
    TSV is missing, and ``ValueError`` for a bad TSV row. Taught in notebook 01.
    """
    return _inspect_split(root, split, classes)[0]


def _restrict(df: pd.DataFrame, keep: set[str]) -> pd.DataFrame:
    """Rows of ``df`` whose filename is in ``keep``, with ``attrs`` restricted too."""
    out = df[df["filename"].isin(keep)].reset_index(drop=True)
    out.attrs = {k: v for k, v in df.attrs.items()}
    for key in ("files", "empty_files"):
        if key in df.attrs:
            out.attrs[key] = [f for f in df.attrs[key] if f in keep]
    return out


def load_split(root: str | Path, split: str, *, classes: Sequence[str] = CLASSES) -> SplitData:
    """Load a split's file list and labels, skipping clips that are not usable.

    Clips listed in a TSV but missing on disk (real DESED downloads often miss
    some) and WAVs that no TSV lists are skipped with a warning that counts them,
    so later steps never meet a missing file. Errors as in :func:`check_split`.
    Taught in notebook 01.
    """
    report, labels, durations = _inspect_split(root, split, classes)
    if report.missing_wavs:
        logger.warning(
            "Split %r: %d of %d listed clips are missing from %s and are skipped (first: %s). "
            "Real DESED downloads often miss clips; this only lowers the clip count.",
            split,
            len(report.missing_wavs),
            len(report.listed_files),
            report.audio_dir,
            ", ".join(report.missing_wavs[:3]),
        )
    if report.unlisted_wavs:
        logger.warning(
            "Split %r: %d WAV files in %s have no row in its TSV files and are skipped "
            "(first: %s). List clips without events as rows with empty onset/offset/label.",
            split,
            len(report.unlisted_wavs),
            report.audio_dir,
            ", ".join(report.unlisted_wavs[:3]),
        )
    keep = set(report.listed_files) & set(report.wav_files)
    filenames = sorted(keep)

    strong = weak = None
    if labels is not None and report.kind == "strong":
        strong = _restrict(labels, keep)
        # Clips named only in the durations TSV are clips with no event.
        with_events = set(strong["filename"])
        listed = set(strong.attrs["files"])
        extra = [f for f in filenames if f not in listed]
        strong.attrs["files"] = list(strong.attrs["files"]) + extra
        strong.attrs["empty_files"] = [f for f in strong.attrs["files"] if f not in with_events]
    elif labels is not None:
        weak = _restrict(labels, keep)
    if durations is not None:
        durations = _restrict(durations, keep)
    return SplitData(
        split=split,
        kind=report.kind,
        audio_dir=report.audio_dir,
        filenames=filenames,
        strong=strong,
        weak=weak,
        durations=durations,
        report=report,
    )
