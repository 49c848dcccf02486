"""The ablation table: each run's cached metrics, the runs trained in parallel, the table over
seeds (``dualkd ablation``), and the shipped pre-trained bundle (``dualkd pretrain``).

Taught in notebook 08.
"""
from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from dualkd_lib import layout
from dualkd_lib.distill import MODE_TERMS, STUDENT_MODES, mode_uses
from dualkd_lib.config import Preset
from dualkd_lib.constants import CLASSES
from dualkd_lib.train import load_model_from_checkpoint
from dualkd_lib.recipe import pretrained
from dualkd_lib.recipe.context import Context
from dualkd_lib.recipe.run_files import cached_run_fits, model_fingerprint
from dualkd_lib.recipe.runs import (
    linear_probe,
    plain_teacher_config,
    student_checkpoint,
    train_plain_teacher,
    train_student,
)
from dualkd_lib.recipe.scoring import choose_weights, evaluate_model, model_cost

log = logging.getLogger(__name__)


def run_metrics(ctx: Context, kind: str, mode: str, seed: int) -> dict:
    """Metrics of one finished run on the evaluation split, cached in ``metrics.json``."""
    plain = kind == "teacher" and mode == "no_embeddings"
    if plain:
        final = ctx.plain_teacher_path(seed)
        if not cached_run_fits(ctx, "teacher", final, ctx.preset.teacher_config(seed),
                               model_config=plain_teacher_config(ctx)):
            train_plain_teacher(ctx, seed=seed)
    elif kind == "teacher":
        ctx.teacher(seed)
        final = ctx.teacher_path(seed)
    else:
        final = student_checkpoint(ctx, mode, seed)
        if not cached_run_fits(ctx, "student", final, ctx.preset.student_config(mode, seed)):
            train_student(ctx, mode, seed=seed)
    run_dir = final.parent
    path = run_dir / "metrics.json"
    source = model_fingerprint(final)
    if path.is_file():
        cached = json.loads(path.read_text())
        if (cached.get("source") == source and cached.get("split") == ctx.preset.evaluation.split
                and "weights" in cached):
            return cached
    own, mean, _ = load_model_from_checkpoint(final, expected_kind=kind)
    split = ctx.preset.evaluation.split
    if kind == "student":
        both = {"student": own.without_embedding_head(), "mean": mean.without_embedding_head()}
        scores = {name: {"validation": evaluate_model(ctx, m, "validation"), "evaluation": evaluate_model(ctx, m, split)}
                  for name, m in both.items()}
        weights = choose_weights({name: s["validation"] for name, s in scores.items()})
        metrics, model = scores[weights]["evaluation"], both[weights]
        extra = {"weights": weights, "chosen_on": "validation", "both_weights": scores}
    else:  # the frozen teacher is its mean model, as its outputs teach the students; both reported
        needs = not plain
        scores = {name: {"validation": evaluate_model(ctx, m, "validation", needs_embeddings=needs),
                         "evaluation": evaluate_model(ctx, m, split, needs_embeddings=needs)}
                  for name, m in (("student", own), ("mean", mean))}
        metrics, model = scores["mean"]["evaluation"], mean
        extra = {"weights": "mean", "chosen_on": "fixed (the mean teacher teaches)", "both_weights": scores}
    emb_dim = ctx.preset.teacher.embedding_dim if kind == "teacher" and not plain else 0
    info = json.loads((run_dir / "run_info.json").read_text()) if (run_dir / "run_info.json").is_file() else {}
    result = {"kind": kind, "mode": mode, "seed": seed, "source": source, "split": split,
              **metrics, **model_cost(ctx, model, emb_dim), "train_seconds": info.get("seconds"),
              "train_clips_per_second": info.get("clips_per_second"), **extra}
    path.write_text(json.dumps(result, indent=2))
    return result


def probe_metrics(ctx: Context, seed: int = 0) -> dict:
    """The linear probe of the frozen embeddings as an ablation row (cached in ``probe.json``)."""
    path = layout.probe_record(ctx.work_dir, seed)
    emb = ctx.embedding_model()  # pre-trains (or installs) it first if needed
    source = model_fingerprint(layout.embedding_checkpoint(ctx.work_dir))
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("source") == source:
            return cached
    probe = linear_probe(ctx, seed=seed)
    cost = model_cost(ctx, emb)
    dim = ctx.preset.embedding.emb_dim
    cost["params"] += dim * len(CLASSES) + len(CLASSES)
    result = {"kind": "probe", "mode": "linear probe", "seed": seed, "source": source, **probe["evaluation"],
              **cost, "validation": probe["validation"], "weights": "probe", "chosen_on": "-"}
    path.write_text(json.dumps(result, indent=2))
    return result


METRIC_KEYS: tuple[str, ...] = ("psds1", "psds2", "f1_collar", "f1_intersection")


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds, one entry per model name."""
    out = []
    for name in dict.fromkeys(r["name"] for r in rows):
        runs = [r for r in rows if r["name"] == name]
        entry = {"name": name, "params": runs[0]["params"], "macs": runs[0]["macs"], "seeds": len(runs)}
        for k in METRIC_KEYS:
            vals = np.array([r[k] for r in runs], dtype=float)
            entry[k] = float(vals.mean())
            entry[f"{k}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        chosen = [r.get("weights", "mean") for r in runs]
        entry["weights"] = chosen[0] if len(set(chosen)) == 1 else ", ".join(f"{w} {chosen.count(w)}/{len(chosen)}"
                                                                           for w in sorted(set(chosen)))
        if all("both_weights" in r for r in runs):  # both weights on evaluation, whichever was kept
            for w in ("student", "mean"):
                for k in ("psds1", "psds2"):
                    vals = np.array([r["both_weights"][w]["evaluation"][k] for r in runs], dtype=float)
                    entry[f"{k}_{w}_weights"] = float(vals.mean())
                    entry[f"{k}_{w}_weights_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        out.append(entry)
    return out


def markdown_table(summary: list[dict]) -> str:
    """The ablation as a Markdown table (mean ± std over seeds).

    ``weights`` says which weights were scored (chosen on validation per run, see
    :func:`choose_weights`); the last two columns give PSDS1/PSDS2 of the student's own
    weights and of the mean student on the evaluation split, whichever was kept.
    """
    head = ("| model | params | MACs / 10 s | PSDS1 | PSDS2 | collar F1 | intersection F1 | seeds | weights "
            "| own weights PSDS1 / PSDS2 | mean student PSDS1 / PSDS2 |\n"
            "|---|---:|---:|---|---|---|---|---:|---|---|---|\n")
    lines = []
    for e in summary:
        cells = [f"{e[k]:.3f} ± {e[k + '_std']:.3f}" for k in METRIC_KEYS]
        both = [f"{e[f'psds1_{w}_weights']:.3f} / {e[f'psds2_{w}_weights']:.3f}" if f"psds1_{w}_weights" in e else "-"
                for w in ("student", "mean")]
        lines.append(f"| {e['name']} | {e['params'] / 1e3:.1f} k | {e['macs'] / 1e6:.1f} M | "
                     + " | ".join(cells) + f" | {e['seeds']} | {e.get('weights', 'mean')} | " + " | ".join(both) + " |")
    return head + "\n".join(lines) + "\n"


def train_run_in_worker(preset: Preset, data_root: Path, work_dir: Path, beats_dir: Path | None,
                         kind: str, mode: str, seed: int, threads: int) -> tuple[str, str, int]:
    """One run of :func:`train_runs_in_parallel` in a worker process: trained if missing, then
    scored (:func:`run_metrics` does both, caching ``metrics.json``), so the evaluations run in
    parallel too."""
    ctx = worker_context(preset, data_root, work_dir, beats_dir, threads)
    run_metrics(ctx, kind, mode, seed)
    return kind, mode, seed


def worker_context(preset: Preset, data_root: Path, work_dir: Path, beats_dir: Path | None, threads: int) -> Context:
    """The Context of a worker process that trains runs in parallel with others: the parent's
    folders, ``threads`` CPU threads, no data generation (the parent made it), no progress bars."""
    torch.set_num_threads(threads)
    ctx = Context.create(preset, data_root=data_root, work_dir=work_dir, make_data_if_missing=False, progress=False)
    ctx.beats_dir = beats_dir
    return ctx


def default_jobs() -> int:
    """Students trained at a time by default: 2 on a machine with 2 or more CPU cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def train_runs_in_parallel(ctx: Context, runs: Sequence[tuple[str, str, int]], jobs: int) -> None:
    """Train and score the ``runs`` [(kind, mode, seed), ...] ``jobs`` at a time, in worker processes.

    ``kind`` is ``"student"`` (any student mode) or ``"teacher"`` with mode ``"no_embeddings"``
    (the ablation's plain teacher CRNN). Two small models side by side, one CPU thread each,
    train more clips per second than one model on two threads (the small convolutions do not
    keep two threads busy). Everything the runs share (features, embeddings, the teacher and
    its outputs) is computed and cached first, so the workers only read it. Each run is the
    same as :func:`run_metrics` in this process (same seed, same numbers). Taught in notebook 08.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    for kind, mode, _ in runs:
        if kind == "teacher" and mode != "no_embeddings":
            raise ValueError(f"the teacher with embeddings is trained once, not in parallel runs; got ({kind}, {mode}).")
    runs = [(k, m, s) for k, m, s in runs if not _run_checkpoint(ctx, k, m, s).is_file()]
    if not runs:
        return
    # The costliest first (the teacher CRNN, then the students with more loss terms: dual, takd,
    # then kd and eefd), so that the last run to start is a short one and no core waits long.
    runs = sorted(runs, key=lambda run: (run[0] != "teacher", -len(MODE_TERMS.get(run[1], ()))))
    students = [m for k, m, _ in runs if k == "student"]
    if any(mode_uses(m, "kd") for m in students):
        ctx.training_datasets(with_teacher=True, with_embeddings=True)  # teacher, its outputs, embeddings
    elif any(mode_uses(m, "emb") for m in students):
        ctx.training_datasets(with_teacher=False, with_embeddings=True)
    else:
        ctx.training_datasets(with_teacher=False, with_embeddings=False)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    log.info("Training %d runs, %d at a time (%d thread(s) each).", len(runs), jobs, threads)
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: safe with torch and Jupyter
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        futures = [pool.submit(train_run_in_worker, ctx.preset, ctx.data_root, ctx.work_dir, ctx.beats_dir,
                               kind, mode, seed, threads) for kind, mode, seed in runs]
        bar = tqdm(as_completed(futures), total=len(futures), disable=not ctx.progress, unit="run",
                   desc=f"train runs, {jobs} at a time")
        for future in bar:
            kind, mode, seed = future.result()  # re-raises a worker's error here
            bar.set_postfix_str(f"done: {kind} {mode} seed {seed}")


def _run_checkpoint(ctx: Context, kind: str, mode: str, seed: int) -> Path:
    """The ``final.pt`` of one run of :func:`train_runs_in_parallel`."""
    return ctx.plain_teacher_path(seed) if kind == "teacher" else student_checkpoint(ctx, mode, seed)


@contextlib.contextmanager
def _stage(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall-clock seconds of the ``with`` block in ``seconds[name]``."""
    t0 = time.perf_counter()
    yield
    seconds[name] = time.perf_counter() - t0


def pretrain(ctx: Context, out_dir: str | Path, *, overwrite: bool = False, command: str = "") -> Path:
    """Pre-train the embedding model and the teacher (seed 0) and write a shipped bundle (``dualkd pretrain``).

    Trains in ``ctx.work_dir`` (without installing a shipped bundle there), scores the
    teacher and the linear probe on validation and evaluation, and writes the bundle with
    :func:`dualkd_lib.recipe.pretrained.write_bundle`. Returns the manifest's path. Taught in notebook 03.
    """
    if ctx.preset.generator is None:
        raise ValueError("dualkd pretrain trains the BEATs stand-in on generated data; the desed preset reads BEATs.")
    out = Path(out_dir)
    pretrained.refuse_existing(out, overwrite)  # before hours of training, not after
    ctx.use_pretrained = False
    seconds: dict[str, float] = {}
    with _stage(seconds, "data and features"):
        for split in ("strong", "weak", "unlabeled", "validation", "evaluation"):
            ctx.split(split)
    with _stage(seconds, "embedding model"):
        ctx.embedding_model()
    with _stage(seconds, "linear probe"):
        probe = probe_metrics(ctx)
    with _stage(seconds, "teacher"):
        teacher = run_metrics(ctx, "teacher", "teacher", 0)
    keys = ("psds1", "psds2", "f1_collar", "f1_intersection")
    scores = {"teacher": {"evaluation": {k: teacher[k] for k in keys},
                          "both_weights": teacher.get("both_weights")},
              "linear_probe": {"evaluation": {k: probe[k] for k in keys}, "validation": probe["validation"]}}
    return pretrained.write_bundle(ctx, out, scores=scores, seconds=seconds, overwrite=overwrite,
                                   command=command or f"dualkd pretrain --preset {ctx.preset.name}")


def run_ablation(ctx: Context, *, seeds: Iterable[int] = (0,), out_dir: str | Path | None = None,
                 modes: Sequence[str] = STUDENT_MODES, jobs: int = 1, baselines: bool = False) -> str:
    """Teacher and the five student modes over ``seeds``; writes ablation.md/.json.

    The teacher is the frozen pre-trained model of the method: trained once
    (seed 0) and shared by every student run. ``jobs > 1`` trains that many
    runs at a time in worker processes (:func:`train_runs_in_parallel`).
    ``baselines``: also the rows no notebook loads, the teacher CRNN without embeddings
    (one run per seed) and the linear probe of the frozen embeddings (generated data
    only). Returns the Markdown table. Taught in notebook 08.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed (e.g. --seeds 1).")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    timings: dict[str, float] = {}
    with _stage(timings, "features"):
        for split in ("strong", "weak", "unlabeled", "validation", "evaluation"):
            ctx.split(split)
    with _stage(timings, "embedding_model"):
        if ctx.preset.generator is not None:  # real DESED reads BEATs embeddings: no stand-in to pre-train
            ctx.embedding_model()
    with _stage(timings, "teacher"):
        rows = [{"name": "teacher (CRNN + embeddings)", **run_metrics(ctx, "teacher", "teacher", 0)}]
    plain = [("teacher", "no_embeddings", s) for s in seeds] if baselines else []
    if jobs > 1:
        with _stage(timings, f"students and plain teachers, {jobs} at a time"):
            train_runs_in_parallel(ctx, plain + [("student", m, s) for m in modes for s in seeds], jobs)
    if baselines:
        with _stage(timings, "teacher without embeddings"):
            rows += [{"name": "teacher CRNN without embeddings", **run_metrics(ctx, *run)} for run in plain]
        if ctx.preset.generator is not None:
            with _stage(timings, "linear probe"):
                rows.append({"name": "embedding model, linear probe", **probe_metrics(ctx)})
    for mode in modes:
        with _stage(timings, f"student {mode}"):
            rows += [{"name": f"student ({mode})", **run_metrics(ctx, "student", mode, seed)} for seed in seeds]
    summary = summarise(rows)
    table = markdown_table(summary)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ablation.md").write_text(f"# Ablation, preset {ctx.preset.name}, seeds {seeds}\n\n" + table)
        (out / "ablation.json").write_text(json.dumps(
            {"preset": ctx.preset.name, "seeds": seeds, "jobs": jobs, "models": summary, "runs": rows,
             "stage_seconds_this_call": timings}, indent=2))
    return table

