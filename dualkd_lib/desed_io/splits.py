"""A split of the DESED layout: its folders checked (what is missing, and how to make it) and loaded.

Taught in notebook 01.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dualkd_lib.constants import CLASSES
from dualkd_lib.layout import SPLITS, split_paths
from dualkd_lib.desed_io.readers import _MAKE_DATA_HINT, read_durations_tsv, read_strong_tsv, read_weak_tsv

logger = logging.getLogger(__name__)


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
