"""The benchmark in one call: :func:`benchmark_main` (``dualkd benchmark``).

Taught in notebook 09.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dualkd_lib import models
from dualkd_lib.deploy import export
from dualkd_lib.deploy.benchmark.measure import (
    BenchmarkConfig,
    TeacherWithEmbeddings,
    _load_or_build,
    _state_size,
    available_threads,
    gemm_peak,
    latency_summary,
    time_calls,
    torch_threads,
)
from dualkd_lib.deploy.benchmark.memory import _measure_memory
from dualkd_lib.deploy.benchmark.throughput import data_generation_speed, training_throughput
from dualkd_lib.deploy.benchmark.report import markdown_report

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------
def _loadavg() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # pragma: no cover
        return None


def benchmark_main(
    out_dir: str | Path,
    *,
    preset: str = "tiny",
    threads: Sequence[int | None] = (1, None),
    repeats: int = 20,
    work_dir: str | Path | None = None,
    memory: bool = True,
    train_steps: int = 3,
    overwrite: bool = False,
    progress: bool = True,
    seed: int = 0,
) -> dict:
    """``dualkd benchmark``: teacher vs student, PyTorch vs ONNX Runtime, 1 vs all threads.

    Writes ``benchmark.json`` and ``benchmark.md`` (and the ONNX files it timed, in
    ``out_dir/onnx/``) and returns the JSON content: ``{"entries": [...], "gemm_peak": [...],
    "training": [...], "data_generation": {...}, "summary": {...}, "machine": {...}}``. Each
    entry has ``name, runtime, threads, ms_per_clip, realtime_factor, clips_per_second_batch,
    params, macs, file_size_bytes, fraction_of_gemm_peak, peak_rss_mb, mem_delta_mb`` and
    more. Trained weights are read from ``work_dir`` (default ``data/cache/<preset>``) when
    the teacher, the ``dual`` student and the embedding model are all there; otherwise
    randomly initialised models of the preset's architectures are timed (speed does not
    depend on the weights). Existing reports are replaced only with ``overwrite=True``.
    Taught in notebook 09.
    """
    from dualkd_lib import layout
    from dualkd_lib.config import get_preset
    from dualkd_lib.features import n_frames as feature_frames

    cfg = BenchmarkConfig(preset=preset, threads=tuple(threads), repeats=repeats, memory=memory,
                          train_steps=train_steps, seed=seed)
    p = get_preset(cfg.preset)
    out = Path(out_dir)
    if (out / "benchmark.json").exists() and not overwrite:
        raise FileExistsError(f"{out / 'benchmark.json'} exists; pass overwrite=True (--overwrite) or another folder.")
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir is not None else layout.default_work_dir(p.name)
    nets, weights = _load_or_build(p, work, cfg.seed)
    all_threads = available_threads()
    thread_counts = sorted({all_threads if t is None else t for t in cfg.threads})
    load_before = _loadavg()
    t_start = time.perf_counter()

    n_mels, n_frames = p.features.n_mels, feature_frames(p.features)
    emb_dim = p.teacher.embedding_dim
    gen = torch.Generator().manual_seed(cfg.seed)
    x1 = torch.randn(1, n_mels, n_frames, generator=gen)
    xb = torch.randn(cfg.batch, n_mels, n_frames, generator=gen)
    e1 = torch.randn(1, emb_dim, n_frames // 4, generator=gen)
    eb = torch.randn(cfg.batch, emb_dim, n_frames // 4, generator=gen)

    # What is timed: (name, module, needs cached embeddings as input, description)
    combined = TeacherWithEmbeddings(nets["embedding"], nets["teacher"]).eval()
    variants = [
        ("student", nets["student"], False, "SE-CRNN student without its embedding distillation layer"),
        ("teacher", nets["teacher"], True, "CRNN teacher alone, fed precomputed embeddings"),
        ("teacher + embedding model", combined, False, "what the teacher costs at inference: both networks"),
    ]
    files: dict[str, Path] = {}
    for name, net, needs_emb, _ in variants:
        path = onnx_dir / f"{name.replace(' + ', '_').replace(' ', '_')}.onnx"
        files[name] = export.export_onnx(net, path, n_mels=n_mels, n_frames=n_frames, overwrite=True)
    q = export.quantize_dynamic_int8(files["student"], onnx_dir / "student.int8.onnx", overwrite=True)
    files["student int8"] = Path(q["path"])

    # The peak: the best of three matrix sizes (a GEMM library's speed depends on the size).
    gemm = {(rt, t): max((gemm_peak(t, n=n, runtime=rt) for n in (cfg.gemm_size // 2, cfg.gemm_size, 2 * cfg.gemm_size)),
                         key=lambda g: g["gmacs_per_second"])
            for rt in ("pytorch", "onnxruntime") for t in thread_counts}
    configs = []
    for name, net, needs_emb, desc in variants:
        for runtime in ("pytorch", "onnxruntime"):
            configs.append((name, net, needs_emb, desc, runtime))
    configs.append(("student int8", nets["student"], False,
                    f"student, dynamic int8 ONNX ({q['note'] or 'all weights int8'})", "onnxruntime"))

    # Timing is interleaved: for one runtime and thread count, every repeat runs each model once
    # in turn, so a burst of load from other processes hits all models alike and the ratios
    # between them stay fair even on a busy machine.
    def runner(name: str, net: nn.Module, needs_emb: bool, runtime: str, t: int) -> Callable[[bool], None]:
        if runtime == "pytorch":
            def run(big: bool) -> None:
                xx, ee = (xb, eb) if big else (x1, e1)
                with torch.no_grad():
                    net(xx, ee) if needs_emb else net(xx)
            return run
        session = export.onnx_session(files[name], threads=t)
        feeds = {False: (x1.numpy(), e1.numpy() if needs_emb else None),
                 True: (xb.numpy(), eb.numpy() if needs_emb else None)}
        return lambda big: export.run_onnx(session, *feeds[big], batch_size=cfg.batch)

    timings: dict[tuple[str, str, int], tuple[list[float], list[float]]] = {}
    groups = [(rt, t) for rt in ("pytorch", "onnxruntime") for t in thread_counts]
    for runtime, t in tqdm(groups, desc="benchmark: timing", disable=not progress, unit="group"):
        members = [(c[0], runner(c[0], c[1], c[2], runtime, t)) for c in configs if c[4] == runtime]
        with torch_threads(t):  # ONNX Runtime sets its own threads; this pins PyTorch's
            for _, run in members:
                for _ in range(cfg.warmup):
                    run(False)
                run(True)
            lat = {n: [] for n, _ in members}
            thr = {n: [] for n, _ in members}
            for _ in range(cfg.repeats):
                for n, run in members:
                    lat[n].append(time_calls(lambda: run(False), repeats=1, warmup=0)[0])
            for _ in range(cfg.throughput_repeats):
                for n, run in members:
                    thr[n].append(time_calls(lambda: run(True), repeats=1, warmup=0)[0])
        for n, _ in members:
            timings[(n, runtime, t)] = (lat[n], thr[n])

    entries = []
    bar = tqdm(total=len(configs) * len(thread_counts), desc="benchmark: memory" if cfg.memory else "benchmark",
               disable=not progress, unit="config")
    for name, net, needs_emb, desc, runtime in configs:
        macs = models.count_macs(net, (1, n_mels, n_frames))
        params = models.count_parameters(net)
        size = files[name].stat().st_size if runtime == "onnxruntime" else _state_size(net)
        for t in thread_counts:
            lat, thr = timings[(name, runtime, t)]
            ms = float(np.median(lat)) * 1000
            clips_s = cfg.batch / float(np.median(thr))
            peak = gemm[(runtime, t)]["gmacs_per_second"] * 1e9
            best_peak = max(gemm[(rt, t)]["gmacs_per_second"] for rt in ("pytorch", "onnxruntime")) * 1e9
            entry = {
                "name": name, "runtime": runtime, "threads": t, "description": desc,
                "ms_per_clip": ms, "ms_per_clip_min": float(np.min(lat)) * 1000,
                **latency_summary(ms, macs, p.features.clip_seconds),
                "clips_per_second_batch": clips_s, "batch": cfg.batch,
                "params": params, "macs": macs, "file_size_bytes": size,
                "fraction_of_gemm_peak_batch1": macs * 1000 / ms / peak,
                "fraction_of_gemm_peak": macs * clips_s / peak,
                "fraction_of_best_gemm_peak": macs * clips_s / best_peak,
                "weights": weights,
            }
            if cfg.memory:
                spec = {"runtime": runtime, "threads": t, "n_mels": n_mels, "n_frames": n_frames,
                        "emb_dim": emb_dim if needs_emb else 0, "batch": cfg.batch}
                if runtime == "pytorch":
                    with tempfile.TemporaryDirectory() as tmp:
                        spec["path"] = str(Path(tmp) / "model.pt")
                        torch.save(net, spec["path"])
                        entry.update(_measure_memory(spec))
                else:
                    spec["path"] = str(files[name])
                    entry.update(_measure_memory(spec))
            else:
                entry.update({"base_rss_mb": None, "peak_rss_mb": None, "mem_delta_mb": None, "peak_reset": None})
            entries.append(entry)
            bar.update(1)
    bar.close()

    training = []
    fresh_student = models.SECRNN(p.student, seed=cfg.seed)  # with its embedding distillation layer
    for label, net, mode in (("teacher", nets["teacher"], "teacher"), ("student", fresh_student, "supervised"),
                             ("student", fresh_student, "dual")):
        for t in thread_counts:
            training.append({"name": label, **training_throughput(net, p, mode, steps=cfg.train_steps, threads=t,
                                                                  seed=cfg.seed)})
    data_speed = data_generation_speed(p, n_clips=4 if p.name == "tiny" else 8, seed=cfg.seed)

    def ms_of(name: str, runtime: str, t: int) -> float:
        return next(e["ms_per_clip"] for e in entries if e["name"] == name and e["runtime"] == runtime
                    and e["threads"] == t)

    def min_of(name: str, runtime: str, t: int) -> float:
        return next(e["ms_per_clip_min"] for e in entries if e["name"] == name and e["runtime"] == runtime
                    and e["threads"] == t)

    def clips_of(name: str, runtime: str, t: int) -> float:
        return next(e["clips_per_second_batch"] for e in entries if e["name"] == name and e["runtime"] == runtime
                    and e["threads"] == t)

    summary = {}
    t1 = min(thread_counts)
    for runtime in ("pytorch", "onnxruntime"):
        s = ms_of("student", runtime, t1)
        summary[f"speedup_{runtime}_{t1}thread_vs_teacher_alone"] = ms_of("teacher", runtime, t1) / s
        summary[f"speedup_{runtime}_{t1}thread_vs_teacher_with_embeddings"] = (
            ms_of("teacher + embedding model", runtime, t1) / s)
        summary[f"speedup_{runtime}_{t1}thread_vs_teacher_with_embeddings_fastest_run"] = (
            min_of("teacher + embedding model", runtime, t1) / min_of("student", runtime, t1))
        summary[f"throughput_ratio_{runtime}_{t1}thread_vs_teacher_with_embeddings"] = (
            clips_of("student", runtime, t1) / clips_of("teacher + embedding model", runtime, t1))
        # the course's target: the deployed student at least 3x faster per clip than the teacher system
        # (the teacher cannot run without its embedding model), batch-1 latency on one thread
        if t1 == 1:
            summary[f"student_3x_faster_per_clip_{runtime}_1thread"] = bool(
                summary[f"speedup_{runtime}_1thread_vs_teacher_with_embeddings"] >= 3)
    result = {
        "preset": p.name,
        "config": dataclasses.asdict(cfg),
        "weights": weights,
        "machine": {
            "cpu_threads_available": all_threads, "platform": platform.platform(),
            "processor": platform.processor(), "python": platform.python_version(),
            "torch": torch.__version__, "onnxruntime": _ort_version(),
            "load_average_1min_before": load_before, "load_average_1min_after": _loadavg(),
            "seconds": time.perf_counter() - t_start,
        },
        "memory_method": "a fresh process per configuration: imports, model load and one batch-1 call, then the "
                         "kernel's peak-RSS counter is reset (/proc/self/clear_refs) and a batch-1 and a batch-16 "
                         "call run; peak_rss_mb = VmHWM after them (ru_maxrss where the reset is not available), "
                         "mem_delta_mb = peak minus the RSS before them",
        "gemm_peak": list(gemm.values()),
        "entries": entries,
        "int8": q,
        "training": training,
        "data_generation": data_speed,
        "summary": summary,
    }
    (out / "benchmark.json").write_text(json.dumps(result, indent=2))
    (out / "benchmark.md").write_text(markdown_report(result))
    log.info("Benchmark written to %s (%.0f s).", out, result["machine"]["seconds"])
    return result


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
