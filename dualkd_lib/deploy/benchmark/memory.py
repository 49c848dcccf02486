"""Peak memory, one fresh process per configuration (``python -m dualkd_lib.deploy.benchmark --probe SPEC``).

Taught in notebook 09.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from dualkd_lib.deploy import export

log = logging.getLogger(__name__)


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


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="dualkd_lib.deploy.benchmark helper (memory probe)")
    parser.add_argument("--probe", type=Path, required=True, help="JSON spec of one configuration")
    args = parser.parse_args(argv)
    spec = json.loads(args.probe.read_text())
    print(json.dumps(_probe(spec)))
    return 0
