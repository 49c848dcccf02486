"""Edge deployment, part 2: how fast, how big, how much memory: teacher against student.

:func:`benchmark_main` (``dualkd benchmark``) measures in one run, for the teacher (alone,
and with the embedding model it needs at inference), the student (without its embedding
distillation layer) and the int8 student, in PyTorch and ONNX Runtime, on 1 thread and on
all threads:

- latency per 10-s clip (batch 1, median of ``repeats`` runs, and the fastest run) and the
  real-time factor (seconds of compute per second of audio; < 1 means faster than real time).
  The models of one runtime and thread count are timed interleaved (each repeat runs every
  model once), so load from other processes affects them alike;
- throughput (clips/s at batch 16);
- peak memory of a fresh Python process per configuration: the kernel's peak resident set
  (``VmHWM``, reset after imports and model loading with ``/proc/self/clear_refs``; else
  ``ru_maxrss``) during a batch-1 and a batch-16 call (``peak_rss_mb``), and its growth
  over the resident set before them (``mem_delta_mb``). tracemalloc would miss PyTorch's
  C++ allocations;
- parameters, MACs per clip, file size;
- a measured GEMM peak (``torch.matmul`` and ONNX Runtime's ``MatMul`` of large float32
  matrices, per thread count) and each model's achieved MACs/s as a fraction of it (its own
  runtime's peak, and the better of the two);
- training throughput (clips/s over a few training steps of each model) and the speed of
  the data generator and of the log-mel features.

Numbers depend on the machine *and on what else runs on it*: the 1-minute load average is
recorded before and after, and the Markdown report prints it. With more runnable
processes than cores, multi-threaded timings are the first to suffer (threads wait for
each other at every parallel region).

Taught in notebook 09.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dualkd_lib import layout, models
from dualkd_lib.deploy import export
from dualkd_lib.constants import CLIP_SECONDS

log = logging.getLogger(__name__)

__all__ = [
    "BenchmarkConfig",
    "TeacherWithEmbeddings",
    "available_threads",
    "torch_threads",
    "time_calls",
    "latency_summary",
    "gemm_peak",
    "training_throughput",
    "data_generation_speed",
    "benchmark_main",
    "markdown_report",
    "plot_psds_vs_cost",
]


@dataclass(frozen=True)
class BenchmarkConfig:
    """What :func:`benchmark_main` measures and how often.

    Attributes:
        preset: preset whose model architectures (and trained weights, if found) are used.
        threads: thread counts to measure; ``None`` = all cores this process may use.
        repeats: timed runs per latency measurement (batch 1); the median is reported.
        warmup: untimed runs before timing (first calls allocate and pick kernels).
        batch: batch size of the throughput measurement (16).
        throughput_repeats: timed runs at ``batch`` (median reported).
        train_steps: timed training steps per model (after one untimed step).
        data_clips: clips generated to time the data generator.
        gemm_size: side of the square float32 matrices of the GEMM peak (also half and
            twice that size are timed; the fastest counts).
        memory: measure peak memory in a subprocess per configuration (slow: ~2 s each).
        seed: seed of the random inputs and of randomly initialised models.

    Taught in notebook 09.
    """

    preset: str = "tiny"
    threads: tuple[int | None, ...] = (1, None)
    repeats: int = 20
    warmup: int = 2
    batch: int = 16
    throughput_repeats: int = 3
    train_steps: int = 3
    data_clips: int = 4
    gemm_size: int = 1024
    memory: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("repeats", "batch", "throughput_repeats", "train_steps", "data_clips", "gemm_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"BenchmarkConfig.{name}={getattr(self, name)} must be >= 1.")
        if self.warmup < 0:
            raise ValueError(f"BenchmarkConfig.warmup={self.warmup} must be >= 0.")
        if not self.threads or any(t is not None and t < 1 for t in self.threads):
            raise ValueError(f"BenchmarkConfig.threads={self.threads}: give thread counts >= 1, or None for all cores.")


class TeacherWithEmbeddings(nn.Module):
    """The teacher as it must run at inference: embedding model, then CRNN with its embeddings.

    ``forward(features [batch, n_mels, frames]) -> SEDOutput``. Its ``cfg`` is the teacher's
    (so :func:`~dualkd_lib.deploy.export.export_onnx` sees one ``features`` input), and
    :func:`~dualkd_lib.models.count_macs` counts both networks. Taught in notebook 09.
    """

    def __init__(self, embedding_model: nn.Module, teacher: nn.Module) -> None:
        super().__init__()
        self.embedding_model = embedding_model
        self.teacher = teacher
        self.cfg = teacher.cfg

    def forward(self, features: torch.Tensor, embeddings: torch.Tensor | None = None) -> models.SEDOutput:
        return self.teacher(features, self.embedding_model(features).frame)


# --------------------------------------------------------------------------
# Small measuring tools
# --------------------------------------------------------------------------
def available_threads() -> int:
    """CPU cores this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)``; the previous setting is restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_calls(fn: Callable[[], Any], *, repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn()`` after ``warmup`` untimed calls.

    Taught in notebook 09.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def latency_summary(ms_per_clip: float, macs: float, clip_seconds: float = CLIP_SECONDS) -> dict[str, float]:
    """What a latency means: real-time factor, clips per second and achieved GMAC/s.

    ``ms_per_clip``: milliseconds to process one clip of ``clip_seconds`` seconds;
    ``macs``: multiply-accumulates per clip. Returns ``{"realtime_factor": compute seconds per
    second of audio, "clips_per_second": 1000 / ms_per_clip, "gmacs_per_second": macs per
    second / 1e9}``. Taught in notebook 09 (Exercise 9.1).
    """
    if ms_per_clip <= 0 or clip_seconds <= 0:
        raise ValueError(f"ms_per_clip={ms_per_clip} and clip_seconds={clip_seconds} must be > 0.")
    seconds = ms_per_clip / 1000.0
    return {
        "realtime_factor": seconds / clip_seconds,
        "clips_per_second": 1.0 / seconds,
        "gmacs_per_second": macs / seconds / 1e9,
    }


def gemm_peak(threads: int, *, n: int = 1024, repeats: int = 5, runtime: str = "pytorch") -> dict[str, Any]:
    """Measured float32 matrix-product peak on ``threads`` threads: the CPU's practical ceiling.

    Times the product of two ``[n, n]`` matrices (``n**3`` multiply-accumulates) with
    ``torch.matmul`` (``runtime="pytorch"``) or an ONNX Runtime ``MatMul`` graph
    (``"onnxruntime"``), and keeps the fastest of ``repeats`` runs. The two libraries use
    different GEMM kernels and need not reach the same speed on one CPU. Returns
    ``{"runtime", "threads", "n", "gmacs_per_second", "gflops_per_second"}`` (1 MAC = 2 FLOPs).
    Taught in notebook 09.
    """
    if runtime not in ("pytorch", "onnxruntime"):
        raise ValueError(f"runtime={runtime!r}: use 'pytorch' or 'onnxruntime'.")
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    if runtime == "pytorch":
        with torch_threads(threads):
            best = min(time_calls(lambda: torch.matmul(a, b), repeats=repeats, warmup=1))
    else:
        session = _matmul_session(n, threads)
        feeds = {"A": a.numpy(), "B": b.numpy()}
        best = min(time_calls(lambda: session.run(None, feeds), repeats=repeats, warmup=1))
    macs = n**3 / best
    return {"runtime": runtime, "threads": threads, "n": n, "gmacs_per_second": macs / 1e9,
            "gflops_per_second": 2 * macs / 1e9}


def _matmul_session(n: int, threads: int) -> Any:
    """An ONNX Runtime session of one ``[n, n] x [n, n]`` float32 MatMul."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    spec = [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in ("A", "B", "C")]
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["C"])], "gemm", spec[:2], spec[2:])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------
# Models and inputs
# --------------------------------------------------------------------------
def _load_or_build(preset: Any, work_dir: Path | None, seed: int) -> tuple[dict[str, nn.Module], str]:
    """Teacher, student (deployable) and embedding model: trained weights if found, else random init."""
    from dualkd_lib.train import kept_model, load_model_from_checkpoint

    paths = {}
    if work_dir is not None:
        paths = {"teacher": layout.teacher_checkpoint(work_dir, 0),
                 "student": layout.student_run_dir(work_dir, "dual", 0) / "final.pt",
                 "embedding": work_dir / "embedding" / "final.pt"}
    if paths and all(p.is_file() for p in paths.values()):
        _, teacher, _ = load_model_from_checkpoint(paths["teacher"], expected_kind="teacher")
        own, mean, _ = load_model_from_checkpoint(paths["student"], expected_kind="student")
        student = kept_model(paths["student"], own, mean)
        emb, _, _ = load_model_from_checkpoint(paths["embedding"], expected_kind="embedding")
        weights = (f"trained checkpoints in {work_dir} (the mean teacher; student 'dual', seed 0, "
                   "with the weights kept on validation)")
    else:
        teacher = models.CRNN(preset.teacher, seed=seed)
        student = models.SECRNN(preset.student, seed=seed)
        emb = models.EmbeddingModel(preset.embedding, seed=seed)
        weights = "random initialisation (no trained checkpoints found; speed does not depend on the weights)"
    student = student.without_embedding_head()
    return {"teacher": teacher.eval(), "student": student.eval(), "embedding": emb.eval()}, weights


def _state_size(module: nn.Module) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pt"
        torch.save(module.state_dict(), path)
        return path.stat().st_size


# --------------------------------------------------------------------------
# Peak memory, one fresh process per configuration
# --------------------------------------------------------------------------
def _probe(spec: dict) -> dict:
    """Run inside a fresh process: load one model, run it, report its peak resident memory (MB)."""
    import resource  # POSIX only; imported here so the module also loads on Windows

    threads = spec["threads"]
    x1 = np.random.default_rng(0).standard_normal((1, spec["n_mels"], spec["n_frames"])).astype(np.float32)
    xb = np.repeat(x1, spec["batch"], axis=0)
    e1 = None
    if spec["emb_dim"]:
        e1 = np.random.default_rng(1).standard_normal((1, spec["emb_dim"], spec["n_frames"] // 4)).astype(np.float32)
    eb = None if e1 is None else np.repeat(e1, spec["batch"], axis=0)
    if spec["runtime"] == "pytorch":
        torch.set_num_threads(threads)
        model = torch.load(spec["path"], weights_only=False).eval()

        def run(x: np.ndarray, e: np.ndarray | None) -> None:
            with torch.no_grad():
                model(torch.from_numpy(x)) if e is None else model(torch.from_numpy(x), torch.from_numpy(e))
    else:
        session = export.onnx_session(spec["path"], threads=threads)

        def run(x: np.ndarray, e: np.ndarray | None) -> None:
            export.run_onnx(session, x, e, batch_size=len(x))
    run(x1, e1)  # first call: kernels chosen, buffers allocated
    base = _rss_mb("VmRSS")
    reset = _reset_peak_rss()  # Linux: start the high-water mark again from the current RSS
    run(x1, e1)
    run(xb, eb)
    peak = _rss_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"base_rss_mb": base, "peak_rss_mb": peak, "mem_delta_mb": None if base is None else peak - base,
            "peak_reset": reset}


def _rss_mb(field: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MB, from ``/proc/self/status`` (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _rss_mb("VmHWM") is not None
    except OSError:
        return False


def _measure_memory(spec: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
    try:
        proc = subprocess.run([sys.executable, "-m", "dualkd_lib.deploy.benchmark", "--probe", fh.name],
                              capture_output=True, text=True, check=False)
    finally:
        Path(fh.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        log.warning("memory probe failed for %s: %s", spec, proc.stderr[-500:])
        return {"base_rss_mb": None, "peak_rss_mb": None, "mem_delta_mb": None, "peak_reset": None}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Training throughput and data generation
# --------------------------------------------------------------------------
def _fake_batch(preset: Any, n: int, n_frames: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A training batch of random standardised features with every key any mode reads."""
    n_cls, t_out = preset.teacher.n_classes, n_frames // 4
    strong = (torch.rand(n, n_cls, t_out, generator=gen) > 0.8).float()
    return {
        "features": torch.randn(n, preset.features.n_mels, n_frames, generator=gen),
        "strong": strong, "weak": strong.amax(dim=-1),
        "has_strong": torch.arange(n) < n // 4, "has_weak": torch.arange(n) < n // 2,
        "embeddings": torch.randn(n, preset.embedding.emb_dim, t_out, generator=gen),
        "teacher_strong": torch.rand(n, n_cls, t_out, generator=gen),
        "teacher_weak": torch.rand(n, n_cls, generator=gen),
    }


def training_throughput(model: nn.Module, preset: Any, mode: str, *, steps: int = 3, threads: int = 1,
                        seed: int = 0) -> dict[str, float]:
    """Clips per second of full training steps (forward, loss, backward, Adam, EMA) of ``model``.

    ``mode``: ``"teacher"`` (the CRNN fed cached embeddings) or a student mode such as
    ``"supervised"`` or ``"dual"`` (the teacher's outputs and embeddings are cached, as in the
    course, so only the student runs; TAKD adds a forward and backward pass through the
    mean student). Batch size: the preset's ``student_train.batch_sizes`` summed.
    One untimed step first. Taught in notebook 09.
    """
    import copy

    from dualkd_lib.distill import update_ema
    from dualkd_lib.train import training_step

    cfg = preset.teacher_config(seed) if mode == "teacher" else preset.student_config(mode, seed)
    n = sum(cfg.batch_sizes)
    n_frames = 1 + preset.features.clip_samples // preset.features.hop_length
    batch = _fake_batch(preset, n, n_frames, torch.Generator().manual_seed(seed))
    model = copy.deepcopy(model).train().requires_grad_(True)
    mean = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(i: int) -> None:
        loss, _ = training_step(model, mean, batch, cfg, i, model_needs_embeddings=mode == "teacher")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        update_ema(mean, model, cfg.ema_alpha, i)

    with torch_threads(threads):
        step(0)
        times = [0.0] * steps
        for i in range(steps):
            t0 = time.perf_counter()
            step(i + 1)
            times[i] = time.perf_counter() - t0
    sec = float(np.median(times))
    return {"mode": mode, "threads": threads, "batch": n, "seconds_per_step": sec, "clips_per_second": n / sec}


def data_generation_speed(preset: Any, *, n_clips: int = 4, seed: int = 0) -> dict[str, float]:
    """Clips per second of the seeded soundscape generator and of log-mel extraction (1 thread).

    Taught in notebook 09.
    """
    from dualkd_lib import generate
    from dualkd_lib.features import LogMel

    cfg = preset.generator if preset.generator is not None else generate.COURSE_GENERATOR
    t0 = time.perf_counter()
    waves = [generate.generate_clip(generate.clip_rng(seed, "strong", i), cfg)[0] for i in range(n_clips)]
    gen_s = time.perf_counter() - t0
    logmel = LogMel(preset.features)
    x = torch.from_numpy(np.stack(waves))
    with torch.no_grad(), torch_threads(1):
        feat_s = min(time_calls(lambda: logmel(x), repeats=3, warmup=1))
    return {"clips": n_clips, "generate_clips_per_second": n_clips / gen_s, "logmel_clips_per_second": n_clips / feat_s}


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
    from dualkd_lib.recipe import pipeline
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
    work = Path(work_dir) if work_dir is not None else pipeline.default_work_dir(p.name)
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


def _fmt(v: Any, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def markdown_report(result: dict) -> str:
    """The benchmark as Markdown: machine and load, one row per configuration, training, data.

    Taught in notebook 09.
    """
    m = result["machine"]
    lines = [
        f"# Benchmark, preset {result['preset']}",
        "",
        f"Machine: {m['cpu_threads_available']} CPU threads, {m['platform']}, torch {m['torch']}, "
        f"onnxruntime {m['onnxruntime']}. 1-minute load average {_fmt(m['load_average_1min_before'], '.2f')} "
        f"before, {_fmt(m['load_average_1min_after'], '.2f')} after (a load above the number of cores means "
        "other processes competed for the CPU: timings are noisy, multi-threaded ones most).",
        f"Weights: {result['weights']}.",
        f"Memory: {result['memory_method']}.",
        "",
        "| model | runtime | threads | ms / 10-s clip (median) | fastest run ms | real-time factor | clips/s (batch 16) | params | MMACs / clip "
        "| file kB | % of own GEMM peak (batch 16) | % of best GEMM peak | peak RSS MB | RSS delta MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in result["entries"]:
        lines.append(
            f"| {e['name']} | {e['runtime']} | {e['threads']} | {e['ms_per_clip']:.2f} | {e['ms_per_clip_min']:.2f} "
            f"| {e['realtime_factor']:.5f} "
            f"| {e['clips_per_second_batch']:.1f} | {e['params'] / 1e3:.1f} k | {e['macs'] / 1e6:.1f} "
            f"| {e['file_size_bytes'] / 1e3:.0f} | {100 * e['fraction_of_gemm_peak']:.1f} "
            f"| {100 * e['fraction_of_best_gemm_peak']:.1f} "
            f"| {_fmt(e['peak_rss_mb'], '.0f')} | {_fmt(e['mem_delta_mb'], '.1f')} |"
        )
    lines += ["", "GEMM peak (float32 [n, n] x [n, n]; 'own' = torch.matmul for PyTorch rows, ONNX Runtime "
              "MatMul for ONNX Runtime rows, 'best' = the faster of the two): " + ", ".join(
                  f"{g['runtime']} {g['threads']} thread(s) {g['gflops_per_second']:.1f} GFLOP/s "
                  f"({g['gmacs_per_second']:.1f} GMAC/s)" for g in result["gemm_peak"])]
    lines += ["", "Training throughput (full steps: forward, loss, backward, Adam, EMA):", "",
              "| model | mode | threads | batch | clips/s |", "|---|---|---:|---:|---:|"]
    for t in result["training"]:
        lines.append(f"| {t['name']} | {t['mode']} | {t['threads']} | {t['batch']} | {t['clips_per_second']:.1f} |")
    d = result["data_generation"]
    lines += ["", f"Data: generator {d['generate_clips_per_second']:.1f} clips/s, log-mel "
              f"{d['logmel_clips_per_second']:.1f} clips/s ({d['clips']} clips, one thread).", ""]
    s = result["summary"]
    lines += ["Summary: " + "; ".join(f"{k} = {v:.2f}" if isinstance(v, float) else f"{k} = {v}" for k, v in s.items()),
              ""]
    return "\n".join(lines)


def spread_ties(values: Sequence[float], step: float = 1.1) -> list[float]:
    """Equal values moved apart by factors of ``step`` around their value (for a log axis).

    ``[5, 5, 5, 9]`` -> ``[5/1.1, 5, 5*1.1, 9]``: a column of equal costs becomes a short row,
    in the order given, centred on the true value. Taught in notebook 09.
    """
    original = [float(v) for v in values]
    out = list(original)
    for value in set(original):
        where = [i for i, v in enumerate(original) if v == value]
        for k, i in enumerate(where):
            out[i] = value * step ** (k - (len(where) - 1) / 2)
    return out


def _labelled_log_x(ax: Any, *, plain_numbers: bool) -> None:
    """A logarithmic x axis with labelled ticks at 1, 2 and 5 of every decade.

    A range narrower than a decade (latencies, often) would otherwise have no labelled tick.
    ``plain_numbers``: ``2``, ``5``, ``10`` (milliseconds); else ``200k``, ``2M`` (counts).
    """
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}") if plain_numbers else EngFormatter(sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_latency_spread(runs: Any) -> Any:
    """Every timed run of every (runtime, model): one row per model, one colour per runtime.

    ``runs``: a DataFrame (or list of dicts) with ``runtime``, ``model`` and ``ms`` (one
    timed call each, e.g. from :func:`time_calls`). Each run is a dot, the median a bar, on a
    logarithmic axis of milliseconds per 10-s clip, so the spread of a fast model stays
    visible next to a slow one. Returns the matplotlib figure. Taught in notebook 09.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = runs if isinstance(runs, pd.DataFrame) else pd.DataFrame(list(runs))
    if len(frame) == 0 or not {"runtime", "model", "ms"} <= set(frame.columns):
        raise ValueError("runs must have the columns runtime, model and ms (one timed call per row).")
    groups = list(dict.fromkeys(zip(frame["runtime"], frame["model"])))
    runtimes = list(dict.fromkeys(frame["runtime"]))
    fig, ax = plt.subplots(figsize=(8.0, 0.55 * len(groups) + 1.4))
    rng = np.random.default_rng(0)  # vertical jitter only, so that equal times do not hide one another
    for row, (runtime, model) in enumerate(groups):
        ms = frame[(frame["runtime"] == runtime) & (frame["model"] == model)]["ms"].to_numpy(float)
        color = f"C{runtimes.index(runtime) % 10}"
        ax.scatter(ms, row + rng.uniform(-0.18, 0.18, len(ms)), s=14, color=color, alpha=0.7, linewidth=0)
        ax.plot([np.median(ms)] * 2, [row - 0.3, row + 0.3], color="k", lw=1.6)
    ax.set_yticks(range(len(groups)), [f"{model} ({runtime})" for runtime, model in groups], fontsize=8)
    ax.invert_yaxis()
    _labelled_log_x(ax, plain_numbers=True)
    lo, hi = float(frame["ms"].min()), float(frame["ms"].max())
    ax.set_xlim(lo / 1.3, hi * 1.3)
    ax.set_xlabel("ms per 10-s clip (batch 1, 1 thread; dots: runs, bar: median)")
    ax.grid(alpha=0.3, axis="x", which="both")
    ax.set_title("Latency of every timed run")
    fig.tight_layout()
    return fig


def plot_psds_vs_cost(rows: Sequence[dict], *, metrics: Sequence[str] = ("psds1", "psds2")) -> Any:
    """PSDS against parameters, MACs per clip and latency, one colour per model.

    ``rows``: dicts with ``name``, ``params``, ``macs``, ``ms_per_clip`` and the ``metrics``
    (e.g. the ``models`` of ``ablation.json`` plus measured latencies). Three panels with
    logarithmic cost axes, one marker per metric; a teacher (``"teacher"`` in its name) is
    grey. Models with the same cost (all students share one architecture) would hide one
    another in one column, so they are spread sideways by a few percent (:func:`spread_ties`).
    Returns the matplotlib figure. Taught in notebook 09.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if not rows:
        raise ValueError("rows is empty: give one dict per model with name, params, macs, ms_per_clip and PSDS.")
    for r in rows:
        missing = {"name", "params", "macs", "ms_per_clip", *metrics} - set(r)
        if missing:
            raise ValueError(f"row {r.get('name', r)!r} lacks {sorted(missing)}.")
    markers = ("o", "s", "^", "D")
    colors = ["0.45" if "teacher" in r["name"] else f"C{i % 10}" for i, r in enumerate(rows)]
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8), sharey=True)
    costs = (("params", "parameters"), ("macs", "MACs per 10-s clip"), ("ms_per_clip", "latency per 10-s clip, 1 thread [ms]"))
    top = max(max(float(r[m]) for r in rows for m in metrics), 0.05)
    for ax, (key, label) in zip(axes, costs):
        xs = spread_ties([float(r[key]) for r in rows])
        for r, x, color in zip(rows, xs, colors):
            for m, marker in zip(metrics, markers):
                ax.scatter(x, r[m], color=color, marker=marker, s=50, alpha=0.85, edgecolor="k", linewidth=0.4)
        tied = len(set(xs)) > len({float(r[key]) for r in rows})
        _labelled_log_x(ax, plain_numbers=key == "ms_per_clip")
        lo, hi = min(r[key] for r in rows), max(r[key] for r in rows)
        ax.set_xlim(lo / 1.6, hi * 1.6)
        ax.set_xlabel(label + ("\n(models of equal cost drawn side by side)" if tied else ""))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylim(-0.03 * top, 1.1 * top)
    axes[0].set_ylabel("PSDS")
    handles = [Line2D([], [], marker="o", ls="", color=c, markeredgecolor="k", label=r["name"])
               for r, c in zip(rows, colors)]
    handles += [Line2D([], [], marker=mk, ls="", color="w", markeredgecolor="k", label=m.upper())
                for m, mk in zip(metrics, markers)]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle("Detection quality against cost: up and to the left is better")
    fig.tight_layout()
    return fig


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="dualkd_lib.deploy.benchmark helper (memory probe)")
    parser.add_argument("--probe", type=Path, required=True, help="JSON spec of one configuration")
    args = parser.parse_args(argv)
    spec = json.loads(args.probe.read_text())
    print(json.dumps(_probe(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
