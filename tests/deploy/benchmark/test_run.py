"""Tests of dualkd_lib/deploy/benchmark/run.py: the tiny-preset benchmark report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dualkd_lib.deploy import benchmark


REQUIRED = {"name", "runtime", "threads", "ms_per_clip", "realtime_factor", "params", "macs",
            "clips_per_second_batch", "file_size_bytes", "fraction_of_gemm_peak", "peak_rss_mb", "mem_delta_mb"}


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
