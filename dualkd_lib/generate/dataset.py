"""Writing a whole dataset in the DESED layout (seeded), and the embedding model's pre-training corpus.

Taught in notebook 01.
"""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from dualkd_lib import desed_io
from dualkd_lib.constants import CLASSES, CLIP_SECONDS
from dualkd_lib.layout import SPLITS
from dualkd_lib.generate.config import (
    CLIP_SAMPLES,
    COURSE_GENERATOR,
    GeneratorConfig,
    INFO_FILENAME,
    SR,
    TRUTH_DIR,
)
from dualkd_lib.generate.scenes import _check_seed, _forced_classes, clip_rng, generate_clip

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Writing a dataset
# ---------------------------------------------------------------------------


def _clip_name(split: str, index: int) -> str:
    return f"{split}_{index:06d}.wav"


def _planned_files(cfg: GeneratorConfig) -> dict:
    """What :func:`make_dataset` writes, relative to the dataset root (recorded in ``generator_info.json``)."""
    audio = {}
    tables = []
    for name, sp in SPLITS.items():
        audio[name] = {"dir": sp.audio_dir, "pattern": f"{name}_{{index:06d}}.wav", "count": cfg.n_clips(name)}
        tables += [p for p in (sp.labels, sp.durations) if p]
        if sp.kind != "strong":
            tables.append(f"{TRUTH_DIR}/{name}.tsv")
    return {"audio": audio, "tables": tables}


def _files_from_record(root: Path, written: dict) -> list[Path]:
    files = []
    for name, a in written.get("audio", {}).items():
        d = root / a["dir"]
        files += [d / _clip_name(name, i) for i in range(int(a["count"]))]
    files += [root / t for t in written.get("tables", [])]
    files.append(root / INFO_FILENAME)
    out = []
    root_r = root.resolve()
    for f in files:  # never touch anything outside the dataset folder
        if root_r in f.resolve().parents:
            out.append(f)
    return out


def _clear_previous(root: Path) -> None:
    """Delete only what a previous run of :func:`make_dataset` recorded; keep unknown files."""
    info_path = root / INFO_FILENAME
    try:
        info = json.loads(info_path.read_text())
        written = info["written"]
    except (OSError, ValueError, KeyError) as err:
        raise FileExistsError(
            f"{info_path} is unreadable ({err}); cannot tell which files the generator wrote. "
            "Choose another output folder, or empty this one yourself."
        ) from err
    files = _files_from_record(root, written)
    dirs = set()
    n_removed = 0
    for f in files:
        if f.is_file():
            f.unlink()
            n_removed += 1
            dirs.add(f.parent)
    # remove folders the generator made, if they are now empty (deepest first)
    candidates = set()
    for d in dirs:
        while d != root and root in d.parents:
            candidates.add(d)
            d = d.parent
    for d in sorted(candidates, key=lambda p: len(p.parts), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    logger.info("Removed %d files of the previous generated dataset in %s", n_removed, root)


def _prepare_out_dir(root: Path, overwrite: bool) -> None:
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; choose another output folder.")
    if not root.exists() or not any(root.iterdir()):
        return
    has_info = (root / INFO_FILENAME).is_file()
    if not overwrite:
        hint = ("pass overwrite=True (CLI: --overwrite) to replace the dataset generated there before"
                if has_info else "it does not hold a generated dataset (no generator_info.json)")
        raise FileExistsError(
            f"Output folder {root} is not empty. Choose another (new or empty) folder, or {hint}."
        )
    if not has_info:
        raise FileExistsError(
            f"Output folder {root} is not empty and holds no {INFO_FILENAME}, so it was not written by the "
            "generator; refusing to delete anything even with overwrite=True. Choose another folder."
        )
    _clear_previous(root)


def _write_wav(path: Path, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    sf.write(str(path), pcm, SR, subtype="PCM_16", format="WAV")





#: Clips a worker renders per task: small enough for a smooth progress bar, large enough that
#: sending the events back costs nothing next to the rendering.
_CHUNK = 25


def _render_clips(root: str, name: str, indices: list[int], cfg: GeneratorConfig,
                  seed: int) -> list[tuple[str, pd.DataFrame]]:
    """Render and write clips ``indices`` of split ``name``; return ``[(file name, events)]``."""
    audio_dir = Path(root) / SPLITS[name].audio_dir
    rows = []
    for i in indices:
        wav, ev = generate_clip(clip_rng(seed, name, i), cfg, classes=_forced_classes(cfg, name, i),
                                domain=cfg.domain(name))
        fname = _clip_name(name, i)
        _write_wav(audio_dir / fname, wav)
        rows.append((fname, ev))
    return rows


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's finished child processes (the workers of ``jobs > 1``)."""
    t = os.times()
    return t.children_user + t.children_system


def _write_split(root: Path, name: str, cfg: GeneratorConfig, seed: int, pool: ProcessPoolExecutor | None,
                 progress: bool) -> dict:
    """Write split ``name``'s audio (in ``pool``'s workers when given) and its tables."""
    sp = SPLITS[name]
    n_clips = cfg.n_clips(name)
    if cfg.ensure_all_classes and sp.kind != "unlabeled" and 0 < n_clips < len(CLASSES):
        logger.warning("Split %r has %d < %d clips: not every class can occur in it; give it at least "
                       "%d clips if evaluation needs every class.", name, n_clips, len(CLASSES), len(CLASSES))
    (root / sp.audio_dir).mkdir(parents=True, exist_ok=True)
    chunks = [list(range(a, min(a + _CHUNK, n_clips))) for a in range(0, n_clips, _CHUNK)]
    if pool is None:
        done = (_render_clips(str(root), name, c, cfg, seed) for c in chunks)
    else:
        futures = [pool.submit(_render_clips, str(root), name, c, cfg, seed) for c in chunks]
        done = (f.result() for f in futures)
    rows: list[tuple[str, pd.DataFrame]] = []
    with tqdm(total=n_clips, desc=f"generate {name}", disable=not progress, unit="clip") as bar:
        for chunk_rows in done:  # in clip order, whichever worker rendered them
            rows += chunk_rows
            bar.update(len(chunk_rows))
    names = [f for f, _ in rows]
    if sp.kind == "strong":
        desed_io.write_clip_labels(root / sp.labels, rows, kind="strong")
    else:
        if sp.kind == "weak":
            desed_io.write_clip_labels(root / sp.labels, rows, kind="weak")
        desed_io.write_clip_labels(root / TRUTH_DIR / f"{name}.tsv", rows, kind="strong")
    if sp.durations:
        desed_io.write_clip_durations(root / sp.durations, names, CLIP_SECONDS)
    return {"n_clips": n_clips, "n_events": int(sum(len(e) for _, e in rows))}


def make_dataset(
    out_dir: str | Path,
    cfg: GeneratorConfig = COURSE_GENERATOR,
    seed: int = 0,
    *,
    overwrite: bool = False,
    progress: bool = True,
    jobs: int = 1,
) -> dict:
    """Generate all five splits under ``out_dir`` in the DESED layout of ``layout.SPLITS``.

    Writes 16 kHz mono 16-bit WAVs of exactly 160000 samples named
    ``<split>_<index:06d>.wav``; strong TSVs (strong, validation, evaluation),
    the weak TSV (clip labels only), duration TSVs (validation, evaluation), the
    hidden strong truth of the weak and unlabeled splits in
    ``metadata/_generator_truth/<split>.tsv`` (analysis only, never for
    training), and ``generator_info.json`` (config, seed, version, counts,
    timing: ``seconds``, ``jobs``, ``clips_per_second`` (wall clock), ``cpu_seconds`` (the
    workers' included), ``clips_per_cpu_second``; and under ``written`` what was written). Same
    seed and config give byte-identical audio and TSV files
    (``generator_info.json`` differs only in its timing fields), with any ``jobs``: each clip
    has its own random stream (:func:`clip_rng`), so ``jobs`` worker processes render the
    same bytes as one.

    Refuses (``FileExistsError``) a non-empty ``out_dir`` unless
    ``overwrite=True`` *and* the folder holds a ``generator_info.json``; then it
    deletes only the files that run recorded and keeps anything else.
    Returns the info dict. Taught in notebook 01.
    """
    from dualkd_lib import __version__

    if not isinstance(cfg, GeneratorConfig):
        raise ValueError(f"cfg={cfg!r}: give a GeneratorConfig (e.g. TINY_GENERATOR or COURSE_GENERATOR).")
    _check_seed(seed)
    jobs = int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}.")
    root = Path(out_dir)
    _prepare_out_dir(root, overwrite)
    root.mkdir(parents=True, exist_ok=True)

    info: dict = {
        "generator": "dualkd_lib.generate",
        "version": __version__,
        "seed": int(seed),
        "config": asdict(cfg),
        "complete": False,
        "written": _planned_files(cfg),
    }
    info_path = root / INFO_FILENAME
    info_path.write_text(json.dumps(info, indent=1))  # written first: a crashed run can still be cleaned up

    t0, cpu0, children0 = time.perf_counter(), time.process_time(), _children_cpu_seconds()
    splits_info = {}
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) if jobs > 1 else None
    try:
        for name in SPLITS:
            splits_info[name] = _write_split(root, name, cfg, seed, pool, progress)
    finally:
        if pool is not None:
            # joins the workers (their CPU time is counted below); after an error, drops what is queued
            pool.shutdown(cancel_futures=True)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - cpu0 + _children_cpu_seconds() - children0
    n_total = sum(s["n_clips"] for s in splits_info.values())
    info.update(
        complete=True,
        splits=splits_info,
        n_clips=n_total,
        audio_hours=round(n_total * CLIP_SECONDS / 3600, 4),
        seconds=round(seconds, 3),
        jobs=jobs,
        clips_per_second=round(n_total / seconds, 2) if seconds > 0 else None,
        cpu_seconds=round(cpu_seconds, 3),
        clips_per_cpu_second=round(n_total / cpu_seconds, 2) if cpu_seconds > 0 else None,
    )
    info_path.write_text(json.dumps(info, indent=1))
    logger.info("Generated %d clips in %.1f s (%.1f clips/s; %.1f clips per CPU-second) under %s", n_total,
                seconds, n_total / max(seconds, 1e-9), n_total / max(cpu_seconds, 1e-9), root)
    return info



# ---------------------------------------------------------------------------
# The embedding-model corpus (stand-in for BEATs pre-training data)
# ---------------------------------------------------------------------------


def make_embedding_corpus(
    n_clips: int, seed: int = 0, cfg: GeneratorConfig | None = None, *, progress: bool = True
) -> tuple[np.ndarray, list[pd.DataFrame]]:
    """A separate in-memory corpus to pre-train the frozen embedding model.

    Returns ``(waveforms, events)``: float32 ``[n_clips, 160000]`` and one
    ``onset, offset, event_label`` DataFrame per clip. Drawn from its own seed
    stream, so it never repeats a clip of :func:`make_dataset` for any seed.
    Memory: 0.64 MB per clip. Taught in notebook 03.
    """
    if not isinstance(n_clips, (int, np.integer)) or n_clips < 1:
        raise ValueError(f"n_clips={n_clips!r}: give a positive integer.")
    _check_seed(seed)
    cfg = cfg or GeneratorConfig()
    waves = np.empty((int(n_clips), CLIP_SAMPLES), dtype=np.float32)
    events: list[pd.DataFrame] = []
    for i in tqdm(range(int(n_clips)), desc="embedding corpus", disable=not progress, unit="clip"):
        forced = [CLASSES[i]] if cfg.ensure_all_classes and i < len(CLASSES) else None
        waves[i], ev = generate_clip(clip_rng(seed, "embedding", i), cfg, classes=forced)
        events.append(ev)
    return waves, events
