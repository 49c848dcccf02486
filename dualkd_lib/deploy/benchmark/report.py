"""The benchmark's Markdown report.

Taught in notebook 09.
"""
from __future__ import annotations

from typing import Any


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
