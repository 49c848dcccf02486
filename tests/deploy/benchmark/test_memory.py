"""Tests of dualkd_lib/deploy/benchmark/memory.py: the memory probe."""
from __future__ import annotations

from pathlib import Path

from dualkd_lib import models
from dualkd_lib.deploy import benchmark, export


def test_memory_probe_reports_a_peak(tmp_path: Path) -> None:
    path = export.export_onnx(models.SECRNN(models.TINY_STUDENT, seed=0), tmp_path / "s.onnx", n_frames=313)
    mem = benchmark.memory._measure_memory({"runtime": "onnxruntime", "threads": 1, "n_mels": 64, "n_frames": 313,
                                     "emb_dim": 0, "batch": 4, "path": str(path)})
    assert mem["peak_rss_mb"] > 10 and mem["mem_delta_mb"] >= 0
