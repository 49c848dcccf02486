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

The package's modules: :mod:`.measure` (the settings and the small measuring tools, the models and
inputs), :mod:`.memory` (peak memory, one fresh process per configuration), :mod:`.throughput`
(training steps and data generation), :mod:`.run` (:func:`benchmark_main`), :mod:`.report` (the
Markdown table) and :mod:`.figures` (latency spread, PSDS against cost).
"""
from dualkd_lib.deploy.benchmark.measure import (
    BenchmarkConfig,
    TeacherWithEmbeddings,
    available_threads,
    gemm_peak,
    latency_summary,
    time_calls,
    torch_threads,
)
from dualkd_lib.deploy.benchmark.throughput import (
    data_generation_speed,
    training_throughput,
)
from dualkd_lib.deploy.benchmark.run import (
    benchmark_main,
)
from dualkd_lib.deploy.benchmark.report import (
    markdown_report,
)
from dualkd_lib.deploy.benchmark.figures import (
    plot_latency_spread,
    plot_psds_vs_cost,
    spread_ties,
)

__all__ = [
    "BenchmarkConfig",
    "TeacherWithEmbeddings",
    "available_threads",
    "benchmark_main",
    "data_generation_speed",
    "gemm_peak",
    "latency_summary",
    "markdown_report",
    "plot_latency_spread",
    "plot_psds_vs_cost",
    "spread_ties",
    "time_calls",
    "torch_threads",
    "training_throughput",
]
