"""Reading DESED TSVs: strong labels, weak labels, durations and detections, with checks that name the file, line and fix.

Taught in notebook 01.
"""
from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dualkd_lib.constants import CLASSES

logger = logging.getLogger(__name__)


#: Columns of a strong-label (and detection) table, in the order we return them.
STRONG_COLUMNS: tuple[str, ...] = ("filename", "onset", "offset", "event_label")
#: Columns of a weak-label table.
WEAK_COLUMNS: tuple[str, ...] = ("filename", "event_labels")
#: Columns of a durations table.
DURATION_COLUMNS: tuple[str, ...] = ("filename", "duration")

_MAKE_DATA_HINT = (
    "Create generated data with dualkd_lib.generate.make_dataset (on the command line: "
    "`dualkd make-data --preset PRESET --out DIR`, PRESET tiny or course), or point `root` at a real DESED root prepared by "
    "the DCASE 2023 Task 4 recipe (it holds audio/ and metadata/ folders)."
)



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
