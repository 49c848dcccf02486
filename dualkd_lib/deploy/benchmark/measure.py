"""What the benchmark measures, the small measuring tools, and the models and inputs it measures.

Taught in notebook 09.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from dualkd_lib import layout, models
from dualkd_lib.constants import CLIP_SECONDS


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
                 "student": layout.student_checkpoint(work_dir, "dual", 0),
                 "embedding": layout.embedding_checkpoint(work_dir)}
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
