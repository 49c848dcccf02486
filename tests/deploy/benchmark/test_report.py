"""Tests of dualkd_lib/deploy/benchmark/report.py: the benchmark's Markdown has a row per configuration and says "n/a" for what was not measured."""
from __future__ import annotations

from dualkd_lib.deploy.benchmark.report import markdown_report


def _entry(name: str, runtime: str, peak_rss_mb: float | None) -> dict:
    return {"name": name, "runtime": runtime, "threads": 1, "ms_per_clip": 12.345, "ms_per_clip_min": 11.0,
            "realtime_factor": 0.0012345, "clips_per_second_batch": 250.0, "params": 42_000, "macs": 3.5e7,
            "file_size_bytes": 170_000, "fraction_of_gemm_peak": 0.2, "fraction_of_best_gemm_peak": 0.1,
            "peak_rss_mb": peak_rss_mb, "mem_delta_mb": None}


def test_one_row_per_configuration_and_n_a_for_what_was_not_measured() -> None:
    result = {
        "preset": "tiny",
        "machine": {"cpu_threads_available": 2, "platform": "Linux", "torch": "2.11.0", "onnxruntime": "1.x",
                    "load_average_1min_before": 0.5, "load_average_1min_after": None},
        "weights": "random", "memory_method": "a child process per model",
        "entries": [_entry("student", "pytorch", 310.0), _entry("student", "onnxruntime", None)],
        "gemm_peak": [{"runtime": "pytorch", "threads": 1, "gflops_per_second": 80.0, "gmacs_per_second": 40.0}],
        "training": [{"name": "student", "mode": "dual", "threads": 1, "batch": 32, "clips_per_second": 99.5}],
        "data_generation": {"generate_clips_per_second": 60.0, "logmel_clips_per_second": 900.0, "clips": 4},
        "summary": {"student_speed_up": 3.25, "fastest": "onnxruntime"},
    }
    text = markdown_report(result)
    rows = [line for line in text.splitlines() if line.startswith("| student |")]
    assert len(rows) == 3  # two configurations and one training row
    assert "| 12.35 | 11.00 | 0.00123 |" in rows[0] and "| 310 | n/a |" in rows[0] and "| n/a | n/a |" in rows[1]
    assert "0.50 before, n/a after" in text and "| student | dual | 1 | 32 | 99.5 |" in text
    assert "student_speed_up = 3.25; fastest = onnxruntime" in text
