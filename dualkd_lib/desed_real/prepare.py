"""Real DESED at 16 kHz: the recipe's folders resampled once, with a report of what is missing.

README "Running on real DESED".
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
import torchaudio.functional as AF
from tqdm.auto import tqdm

from dualkd_lib.constants import SAMPLE_RATE
from dualkd_lib.desed_io import read_tsv_frame
from dualkd_lib.layout import SPLITS

log = logging.getLogger(__name__)


#: Dimension of a BEATs embedding (BEATs iter3+ AS2M, as in the DCASE 2023 baseline).
BEATS_DIM: int = 768
#: BEATs frames of a 10-s clip in the DCASE 2023 baseline's HDF5 files.
BEATS_FRAMES: int = 496
#: File written by the DCASE 2023 ``extract_embeddings.py`` for each of our splits.
#: ``devtest`` is the validation folder (the DCASE 2023 "dev-test" set). The 2023
#: script extracts no public-evaluation file; see ``docs/REAL_DESED.md``.
BEATS_H5_NAMES: dict[str, str] = {
    "strong": "synth_train.hdf5",
    "weak": "weak_train.hdf5",
    "unlabeled": "unlabeled_train.hdf5",
    "validation": "devtest.hdf5",
}
#: Name under which the ``desed`` preset looks for the public evaluation set's BEATs file in
#: the embeddings folder: the ``devtest.hdf5`` of a second extraction run pointed at
#: ``audio/eval/public_16k`` (see docs/REAL_DESED.md), copied or linked under this name.
BEATS_EVAL_H5_NAME: str = "public_eval.hdf5"
_SUFFIX_16K = "_16k"
_TMP_PREFIX = ".dualkd-resample-"
_SHOW = 5  # names shown in messages


# --------------------------------------------------------------------------
# Resampling the recipe's folders to 16 kHz
# --------------------------------------------------------------------------
def source_audio_dir(split: str) -> str:
    """The recipe's 44.1 kHz folder of ``split`` (``SPLITS[split].audio_dir`` without ``_16k``).

    E.g. ``"weak"`` -> ``"audio/train/weak"``. Taught in notebook 01.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits are {sorted(SPLITS)}.")
    rel = SPLITS[split].audio_dir
    if not rel.endswith(_SUFFIX_16K):
        raise ValueError(f"Split {split!r} has audio folder {rel} without the {_SUFFIX_16K!r} suffix.")
    return rel[: -len(_SUFFIX_16K)]


@dataclass(frozen=True)
class SplitPrepareReport:
    """What :func:`prepare_desed` found and did for one split.

    ``status``: ``"resampled"`` (a source folder was read), ``"already_16k"`` (no
    source folder, but the ``_16k`` folder exists: nothing to do) or
    ``"missing"`` (neither folder exists). ``found``: clips usable at 16 kHz
    after the run. ``written``: files resampled (or copied, if already 16 kHz) in
    this run; ``kept``: 16 kHz files already there (earlier run, or the user's).
    ``listed_missing``: names in the split's TSVs with no audio anywhere;
    ``unreadable``: source files that could not be read (skipped);
    ``conflicts``: files in the ``_16k`` folder that are *not* 16 kHz (left
    alone, not usable; move them away and run again). Names are bare WAV names.
    """

    split: str
    source_dir: Path
    target_dir: Path
    status: str
    found: int = 0
    written: int = 0
    kept: int = 0
    listed: int = 0
    listed_missing: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    metadata_missing: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every listed clip is there at 16 kHz and nothing was unreadable."""
        return (self.status != "missing" and not self.listed_missing and not self.unreadable
                and not self.conflicts and not self.metadata_missing)

    def summary(self) -> str:
        """A few lines for a notebook or a terminal."""
        def names(items: tuple[str, ...]) -> str:
            more = f", ... (+{len(items) - _SHOW})" if len(items) > _SHOW else ""
            return ", ".join(items[:_SHOW]) + more

        if self.status == "missing":
            return (f"{self.split}: MISSING - neither {self.source_dir} nor {self.target_dir} exists; "
                    "download this split with the DCASE recipe (see docs/REAL_DESED.md).")
        lines = [f"{self.split}: {self.found} clips at 16 kHz in {self.target_dir} "
                 f"({self.status}; {self.written} written now, {self.kept} already there)"]
        if self.listed:
            lines.append(f"  listed in the TSVs: {self.listed}; listed but missing: {len(self.listed_missing)}"
                         + (f" ({names(self.listed_missing)})" if self.listed_missing else ""))
        if self.unreadable:
            lines.append(f"  unreadable source files (skipped): {len(self.unreadable)} ({names(self.unreadable)})")
        if self.conflicts:
            lines.append(f"  files in the 16 kHz folder at another rate (left alone, not used): "
                         f"{len(self.conflicts)} ({names(self.conflicts)})")
        if self.metadata_missing:
            lines.append(f"  metadata files not found: {', '.join(self.metadata_missing)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PrepareReport:
    """Per-split reports of :func:`prepare_desed` (``splits[name]``), in :data:`SPLITS` order."""

    desed_root: Path
    out_root: Path
    splits: dict[str, SplitPrepareReport] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every split is complete (see :attr:`SplitPrepareReport.complete`)."""
        return all(r.complete for r in self.splits.values())

    def missing_summary(self) -> str:
        """What is missing, split by split, or ``"nothing is missing"``."""
        lines = []
        for r in self.splits.values():
            if r.status == "missing":
                lines.append(f"- {r.split}: the whole split (no {r.source_dir.name} or {r.target_dir.name} folder)")
                continue
            parts = []
            if r.listed_missing:
                parts.append(f"{len(r.listed_missing)} of {r.listed} listed clips")
            if r.unreadable:
                parts.append(f"{len(r.unreadable)} unreadable files")
            if r.conflicts:
                parts.append(f"{len(r.conflicts)} files at the wrong rate in {r.target_dir.name}")
            if r.metadata_missing:
                parts.append("metadata " + ", ".join(r.metadata_missing))
            if parts:
                lines.append(f"- {r.split}: " + "; ".join(parts))
        return "\n".join(lines) if lines else "nothing is missing"

    def summary(self) -> str:
        """Every split's summary, then what is missing."""
        head = f"DESED in {self.desed_root}" + (f" -> 16 kHz copies in {self.out_root}"
                                                if self.out_root != self.desed_root else "")
        body = "\n".join(r.summary() for r in self.splits.values())
        tail = ("Complete: every listed clip is available at 16 kHz." if self.complete else
                "Incomplete (training still works; load_split skips missing clips):\n" + self.missing_summary())
        return f"{head}\n{body}\n{tail}"

    def to_frame(self) -> pd.DataFrame:
        """One row per split with the counts (for a notebook table)."""
        return pd.DataFrame([{
            "split": r.split, "status": r.status, "found": r.found, "written": r.written, "kept": r.kept,
            "listed": r.listed, "listed_missing": len(r.listed_missing), "unreadable": len(r.unreadable),
            "conflicts": len(r.conflicts),
        } for r in self.splits.values()])


def _wav_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() == ".wav" and not p.name.startswith("."))


def _listed_names(tsv: Path) -> list[str]:
    """Clip names in the ``filename`` column of a DESED TSV (empty rows included)."""
    df = read_tsv_frame(tsv, as_text=True)
    if "filename" not in df.columns:
        raise ValueError(f"{tsv} has no 'filename' column (columns: {list(df.columns)}); is it a DESED TSV?")
    return sorted({str(n).strip() for n in df["filename"] if str(n).strip()})


def _is_16k_wav(path: Path) -> bool:
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError):
        return False
    return info.samplerate == SAMPLE_RATE and info.frames > 0


def _resample_file(src: Path, dst: Path) -> None:
    """Write ``src`` at 16 kHz to ``dst`` atomically (temporary file + rename); keep channels."""
    info = sf.info(str(src))
    data, sr = sf.read(str(src), dtype="float32", always_2d=True)  # [samples, channels]
    if data.shape[0] == 0:
        raise ValueError("0 samples")
    if sr != SAMPLE_RATE:
        wave = torch.from_numpy(np.ascontiguousarray(data.T))  # [channels, samples]
        data = AF.resample(wave, orig_freq=int(sr), new_freq=SAMPLE_RATE).T.numpy()
    subtype = info.subtype if info.subtype in ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE") else "PCM_16"
    if subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0 - 2.0**-15)  # resampling can overshoot full scale slightly
    tmp = dst.parent / f"{_TMP_PREFIX}{dst.name}"
    try:
        sf.write(str(tmp), data, SAMPLE_RATE, subtype=subtype, format="WAV")
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_metadata(desed_root: Path, out_root: Path, rel: str | None) -> str | None:
    """Copy one metadata TSV to ``out_root`` if needed; return ``rel`` if it does not exist anywhere."""
    if rel is None:
        return None
    src, dst = desed_root / rel, out_root / rel
    if dst.is_file():
        if src.is_file() and src.read_bytes() != dst.read_bytes():
            log.warning("%s differs from %s; keeping the existing file (never overwritten).", dst, src)
        return None
    if not src.is_file():
        return rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return None


def prepare_desed(desed_root: str | Path, out_root: str | Path | None = None, *,
                  progress: bool = True) -> PrepareReport:
    """Resample every split of a DCASE-recipe DESED folder once to 16 kHz; report what is there.

    ``desed_root`` holds the recipe's folders (``audio/train/weak``,
    ``audio/train/synthetic21_train/soundscapes``, ``audio/train/unlabel_in_domain``,
    ``audio/validation/validation``, ``audio/eval/public`` and ``metadata/...``).
    Each WAV is written, resampled with ``torchaudio.functional.resample`` (its
    channels and sample format kept), to the split's ``_16k`` folder of
    :data:`dualkd_lib.layout.SPLITS` under ``out_root`` (default: ``desed_root``,
    next to the originals; another ``out_root`` also receives copies of the
    metadata TSVs). Files already at 16 kHz are copied as they are.

    Safe to run again: a 16 kHz file already in place is kept (so an
    interrupted run resumes where it stopped; each file is written to a
    temporary name and renamed, so no half-written file is ever left under a
    real name). Existing files are never overwritten: one that is not 16 kHz is
    reported as a conflict. A split with no source folder but a ``_16k`` folder
    is reported as ``already_16k``. Unreadable source files are skipped and
    counted, never fatal. Clips listed in the split's TSVs but absent are counted
    (first names in :meth:`PrepareReport.summary`). Raises
    ``FileNotFoundError`` only when ``desed_root`` does not exist.
    Taught in notebook 01.
    """
    desed_root = Path(desed_root)
    if not desed_root.is_dir():
        raise FileNotFoundError(
            f"DESED folder {desed_root} does not exist. Download DESED with the DCASE 2023 Task 4 recipe "
            "(see docs/REAL_DESED.md) and pass the folder that holds audio/ and metadata/."
        )
    out_root = Path(out_root) if out_root is not None else desed_root
    reports: dict[str, SplitPrepareReport] = {}
    for split, info in SPLITS.items():
        t0 = time.perf_counter()
        src_dir = desed_root / source_audio_dir(split)
        dst_dir = out_root / info.audio_dir
        existing_16k_dir = desed_root / info.audio_dir  # a 16 kHz copy made earlier next to the originals
        metadata_missing = tuple(m for m in (_copy_metadata(desed_root, out_root, info.labels),
                                             _copy_metadata(desed_root, out_root, info.durations)) if m)
        listed: set[str] = set()
        for rel in (info.labels, info.durations):
            if rel is not None and (out_root / rel).is_file():
                listed |= set(_listed_names(out_root / rel))

        if not src_dir.is_dir():
            have = _wav_names(dst_dir) or _wav_names(existing_16k_dir)
            status = "already_16k" if (dst_dir.is_dir() or existing_16k_dir.is_dir()) else "missing"
            missing = tuple(sorted(listed - set(have))) if status != "missing" else tuple(sorted(listed))
            reports[split] = SplitPrepareReport(split, src_dir, dst_dir, status, found=len(have), kept=len(have),
                                                listed=len(listed), listed_missing=missing,
                                                metadata_missing=metadata_missing,
                                                seconds=time.perf_counter() - t0)
            log.info("%s", reports[split].summary())
            continue

        dst_dir.mkdir(parents=True, exist_ok=True)
        for stale in dst_dir.glob(f"{_TMP_PREFIX}*"):  # left by an interrupted run of ours
            stale.unlink()
        written = kept = 0
        usable: list[str] = []
        unreadable: list[str] = []
        conflicts: list[str] = []
        sources = _wav_names(src_dir)
        for name in tqdm(sources, desc=f"resample {split} to 16 kHz", disable=not progress, unit="clip"):
            dst = dst_dir / name
            if dst.exists():
                if _is_16k_wav(dst):
                    kept += 1
                    usable.append(name)
                else:
                    conflicts.append(name)
                continue
            try:
                _resample_file(src_dir / name, dst)
            except (sf.SoundFileError, RuntimeError, ValueError) as err:
                unreadable.append(name)
                log.debug("Cannot read %s: %s", src_dir / name, err)
                continue
            written += 1
            usable.append(name)
        # 16 kHz files already in the target folder with no source (e.g. the user's own) count as found.
        have = set(usable) | {n for n in _wav_names(dst_dir) if n not in set(sources) and n not in set(conflicts)}
        rep = SplitPrepareReport(
            split, src_dir, dst_dir, "resampled", found=len(have), written=written, kept=kept,
            listed=len(listed), listed_missing=tuple(sorted(listed - have)), unreadable=tuple(unreadable),
            conflicts=tuple(conflicts), metadata_missing=metadata_missing, seconds=time.perf_counter() - t0,
        )
        if unreadable:
            log.warning("Split %r: %d unreadable files in %s were skipped (first: %s).", split,
                        len(unreadable), src_dir, ", ".join(unreadable[:3]))
        if rep.listed_missing:
            log.warning("Split %r: %d of %d listed clips are missing (first: %s).", split,
                        len(rep.listed_missing), len(listed), ", ".join(rep.listed_missing[:3]))
        reports[split] = rep
        log.info("%s", rep.summary())
    report = PrepareReport(desed_root, out_root, reports)
    if not report.complete:
        log.warning("DESED in %s is incomplete:\n%s", desed_root, report.missing_summary())
    return report
