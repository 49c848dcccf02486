"""Tests of dualkd_lib/deploy/benchmark/measure.py: latency summary, GEMM peak, teacher with its embedding model."""
from __future__ import annotations

import pytest
import torch

from dualkd_lib import models
from dualkd_lib.deploy import benchmark


def test_latency_summary_and_config_checks() -> None:
    s = benchmark.latency_summary(50.0, 2e8, clip_seconds=10.0)
    assert s == pytest.approx({"realtime_factor": 0.005, "clips_per_second": 20.0, "gmacs_per_second": 4.0})
    with pytest.raises(ValueError, match="ms_per_clip"):
        benchmark.latency_summary(0.0, 1e6)
    with pytest.raises(ValueError, match="threads"):
        benchmark.BenchmarkConfig(threads=(0,))


def test_gemm_peak_and_thread_setting_is_restored() -> None:
    before = torch.get_num_threads()
    for runtime in ("pytorch", "onnxruntime"):
        peak = benchmark.gemm_peak(2, n=256, repeats=2, runtime=runtime)
        assert peak["gflops_per_second"] == pytest.approx(2 * peak["gmacs_per_second"]) and peak["gmacs_per_second"] > 0
    with pytest.raises(ValueError, match="runtime"):
        benchmark.gemm_peak(1, runtime="numpy")
    assert torch.get_num_threads() == before


def test_teacher_with_embeddings_counts_both_networks() -> None:
    emb = models.EmbeddingModel(models.TINY_EMBEDDING, seed=0)
    teacher = models.CRNN(models.TINY_TEACHER, seed=0)
    both = benchmark.TeacherWithEmbeddings(emb, teacher).eval()
    shape = (1, 64, 313)
    assert models.count_macs(both, shape) == models.count_macs(emb, shape) + models.count_macs(teacher, shape)
    assert both(torch.randn(2, 64, 313)).strong.shape == (2, 10, 78)
