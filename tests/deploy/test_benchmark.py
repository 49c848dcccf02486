"""Benchmark tools and the tiny-preset benchmark report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dualkd_lib import models
from dualkd_lib.deploy import benchmark, export

@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


REQUIRED = {"name", "runtime", "threads", "ms_per_clip", "realtime_factor", "params", "macs",
            "clips_per_second_batch", "file_size_bytes", "fraction_of_gemm_peak", "peak_rss_mb", "mem_delta_mb"}


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


def test_memory_probe_reports_a_peak(tmp_path: Path) -> None:
    path = export.export_onnx(models.SECRNN(models.TINY_STUDENT, seed=0), tmp_path / "s.onnx", n_frames=313)
    mem = benchmark.memory._measure_memory({"runtime": "onnxruntime", "threads": 1, "n_mels": 64, "n_frames": 313,
                                     "emb_dim": 0, "batch": 4, "path": str(path)})
    assert mem["peak_rss_mb"] > 10 and mem["mem_delta_mb"] >= 0


def test_benchmark_main_tiny_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = benchmark.benchmark_main(out, preset="tiny", threads=(1,), repeats=1, work_dir=tmp_path / "no-runs",
                                      memory=False, train_steps=1, progress=False)
    on_disk = json.loads((out / "benchmark.json").read_text())
    assert on_disk["entries"] == json.loads(json.dumps(result["entries"]))
    names = {(e["name"], e["runtime"]) for e in on_disk["entries"]}
    assert names == {(n, r) for n in ("student", "teacher", "teacher + embedding model")
                     for r in ("pytorch", "onnxruntime")} | {("student int8", "onnxruntime")}
    for e in on_disk["entries"]:
        assert REQUIRED <= set(e), REQUIRED - set(e)
        assert e["threads"] == 1 and e["ms_per_clip"] > 0 and e["macs"] > 0
        assert e["realtime_factor"] == pytest.approx(e["ms_per_clip"] / 1000 / 10.0)
    by = {(e["name"], e["runtime"]): e for e in on_disk["entries"]}
    assert by[("teacher + embedding model", "pytorch")]["macs"] > by[("teacher", "pytorch")]["macs"]
    assert by[("student", "pytorch")]["params"] < by[("teacher", "pytorch")]["params"]
    assert [(t["name"], t["mode"]) for t in on_disk["training"]] == [("teacher", "teacher"), ("student", "supervised"), ("student", "dual")]
    assert on_disk["data_generation"]["generate_clips_per_second"] > 0
    assert {(g["runtime"], g["threads"]) for g in on_disk["gemm_peak"]} == {("pytorch", 1), ("onnxruntime", 1)}
    assert "random initialisation" in on_disk["weights"]
    summary = on_disk["summary"]
    for runtime in ("pytorch", "onnxruntime"):  # the 3x target is judged per runtime, from the measured latencies
        speedup = by[("teacher + embedding model", runtime)]["ms_per_clip"] / by[("student", runtime)]["ms_per_clip"]
        assert summary[f"speedup_{runtime}_1thread_vs_teacher_with_embeddings"] == pytest.approx(speedup)
        assert summary[f"student_3x_faster_per_clip_{runtime}_1thread"] == (speedup >= 3)
        assert summary[f"throughput_ratio_{runtime}_1thread_vs_teacher_with_embeddings"] > 0
    md = (out / "benchmark.md").read_text()
    assert "load average" in md and "| student int8 | onnxruntime | 1 |" in md
    with pytest.raises(FileExistsError):
        benchmark.benchmark_main(out, preset="tiny", threads=(1,), repeats=1, memory=False)


def test_spread_ties_moves_equal_costs_apart_around_their_value() -> None:
    spread = benchmark.spread_ties([5.0, 5.0, 5.0, 9.0])
    assert spread == pytest.approx([5 / 1.1, 5.0, 5 * 1.1, 9.0])
    assert benchmark.spread_ties([1.0, 2.0]) == [1.0, 2.0]  # nothing tied: nothing moves


def test_psds_vs_cost_plot_shows_every_student_apart() -> None:
    import matplotlib

    matplotlib.use("Agg")
    rows = [{"name": "teacher", "params": 1e6, "macs": 5e8, "ms_per_clip": 16.0, "psds1": 0.4, "psds2": 0.6}]
    rows += [{"name": f"student ({m})", "params": 1.6e5, "macs": 4e7, "ms_per_clip": 6.0, "psds1": 0.4, "psds2": 0.6}
             for m in ("eefd", "dual")]
    fig = benchmark.plot_psds_vs_cost(rows)
    for ax in fig.axes[:3]:
        xs = sorted({tuple(c.get_offsets()[0])[0] for c in ax.collections})
        assert len(xs) == 3  # teacher and two students, none hidden behind another
    fig.canvas.draw()
    for ax in fig.axes[:3]:  # every cost axis has labelled ticks inside its range (6-16 ms is under a decade)
        lo, hi = ax.get_xlim()
        labels = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()]
        assert len(labels) >= 2, (ax.get_xlabel(), labels)
    with pytest.raises(ValueError, match="lacks"):
        benchmark.plot_psds_vs_cost([{"name": "x", "params": 1}])


def test_latency_spread_draws_every_run_with_a_labelled_axis() -> None:
    import matplotlib

    matplotlib.use("Agg")
    runs = [{"runtime": rt, "model": m, "ms": ms} for rt, m, base in
            (("ONNX Runtime", "student", 2.0), ("ONNX Runtime", "teacher", 14.0), ("eager PyTorch", "student", 6.0))
            for ms in (base, base * 1.1, base * 0.95)]
    fig = benchmark.plot_latency_spread(runs)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 9  # every run is a dot
    assert [t.get_text() for t in ax.get_yticklabels()] == ["student (ONNX Runtime)", "teacher (ONNX Runtime)",
                                                            "student (eager PyTorch)"]
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    assert len([t for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()]) >= 2
    assert "ms per 10-s clip" in ax.get_xlabel()
    with pytest.raises(ValueError, match="runtime, model and ms"):
        benchmark.plot_latency_spread([{"model": "x"}])
