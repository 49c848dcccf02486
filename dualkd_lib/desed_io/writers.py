"""Writing DESED TSVs: every table is checked with its reader before it is written.

Taught in notebook 01.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from dualkd_lib.constants import CLASSES
from dualkd_lib.desed_io.readers import (
    DURATION_COLUMNS,
    STRONG_COLUMNS,
    WEAK_COLUMNS,
    _unique_in_order,
    read_durations_tsv,
    read_strong_tsv,
    read_weak_tsv,
)


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------
def read_tsv_frame(path: str | Path, *, as_text: bool = False) -> pd.DataFrame:
    """A TSV file as pandas reads it: numbers parsed (or, with ``as_text``, every field a string, empty kept).

    The lenient reader the metrics use for detections and durations from anywhere (any
    columns; :mod:`dualkd_lib.evaluate` checks what it needs), where :func:`read_strong_tsv`
    is the strict one for labels. Taught in notebook 04.
    """
    if as_text:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return pd.read_csv(path, sep="\t")


def write_detections_tsv(detections: pd.DataFrame, path: str | Path) -> Path:
    """Write a detection table (DCASE: ``event_label onset offset filename``) with 3-decimal seconds.

    The columns are written in the table's order; parent folders are created. Returns the
    path. Taught in notebook 09 (``dualkd predict``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    detections.to_csv(path, sep="\t", index=False, float_format="%.3f")
    return path


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


def write_clip_labels(path: str | Path, clips: Sequence[tuple[str, pd.DataFrame]], *, kind: str) -> Path:
    """Labels of clips in their order (the generator's): ``kind`` "strong" or "weak".

    ``clips`` holds ``(filename, events)`` with events columns ``onset, offset, event_label``.
    Strong: one row per event (3-decimal seconds), and a clip without events keeps one empty
    row in its place (DESED's way); weak: the clip's labels, sorted and comma-separated.
    Parent folders are created. Returns the path. Taught in notebook 01.
    """
    if kind == "strong":
        lines = ["\t".join(STRONG_COLUMNS)]
        for fname, ev in clips:
            if len(ev) == 0:
                lines.append(f"{fname}\t\t\t")
            for on, off, lab in zip(ev["onset"], ev["offset"], ev["event_label"]):
                lines.append(f"{fname}\t{on:.3f}\t{off:.3f}\t{lab}")
    elif kind == "weak":
        lines = ["\t".join(WEAK_COLUMNS)]
        lines += [f"{fname}\t{','.join(sorted(set(ev['event_label'])))}" for fname, ev in clips]
    else:
        raise ValueError(f"kind must be 'strong' or 'weak', got {kind!r}.")
    return _write_text(path, "\n".join(lines) + "\n")


def write_clip_durations(path: str | Path, filenames: Sequence[str], seconds: float) -> Path:
    """Durations of clips that all last ``seconds`` (3 decimals), in their order. Taught in notebook 01."""
    return _write_text(path, "\t".join(DURATION_COLUMNS) + "\n" + "".join(f"{f}\t{seconds:.3f}\n" for f in filenames))


def _write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
