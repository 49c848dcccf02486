"""Peak memory and wall time of `dualkd predict` on a one-hour recording.

Generates a one-hour WAV (default 44.1 kHz stereo 16-bit, the worst common case: the
most samples to read and resample), then predicts it in a child process with
``dualkd_lib.predict.predict_files`` and prints one line: wall time, real-time factor
and the child's peak resident memory (``resource.getrusage(...).ru_maxrss``), also
as the growth over the child's peak before predicting (imports and model loaded).

    .venv/bin/python benchmarks/predict_memory.py                      # course-sized student
    .venv/bin/python benchmarks/predict_memory.py --preset tiny
    .venv/bin/python benchmarks/predict_memory.py --checkpoint data/cache/course/runs/student-dual-seed0/final.pt

Without ``--checkpoint`` the student of ``--preset`` is built with untrained weights
and a fitted scaler (written to a temporary folder with its inference.pt): memory and
time do not depend on what the weights learned. Linux/macOS only (``resource``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def _maxrss_mb() -> float:
    """Peak resident memory of this process so far, in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024**2 if sys.platform == "darwin" else rss / 1024


def write_hour(path: Path, *, seconds: float, rate: int, channels: int, seed: int = 0) -> Path:
    """Quiet noise with a few loud tones, written a minute at a time (never the whole file in memory)."""
    rng = np.random.default_rng(seed)
    block = 60 * rate
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype="PCM_16") as f:
        written = 0
        total = int(seconds * rate)
        while written < total:
            n = min(block, total - written)
            x = 0.02 * rng.standard_normal((n, channels))
            t = (written + np.arange(n)) / rate
            x += (0.3 * np.sin(2 * np.pi * 880 * t) * ((t % 300) < 5))[:, None]  # 5 s of tone every 5 min
            f.write(x.astype("float32"))
            written += n
    return path


def untrained_student(preset: str, folder: Path) -> Path:
    """A student checkpoint of ``preset``'s size (untrained weights) with its inference.pt."""
    import torch

    from dualkd_lib import config, models
    from dualkd_lib.constants import CLASSES
    from dualkd_lib.features import LogMel, Scaler
    from dualkd_lib.train import save_checkpoint

    p = config.get_preset(preset)
    model = models.SECRNN(p.student, seed=0)
    path = save_checkpoint(folder / "final.pt", model=model, mean_model=model, optimizer=None, step=0, epoch=0,
                           history=[], model_kind="student", model_config=p.student,
                           train_config=p.student_config("supervised", 0), preset=p.name)
    noise = torch.from_numpy(0.05 * np.random.default_rng(0).standard_normal((4, p.features.clip_samples))).float()
    scaler = Scaler(p.features.n_mels).fit(LogMel(p.features)(noise))
    torch.save({"features": dataclasses.asdict(p.features), "scaler_state": scaler.state_dict(),
                "median_filter_frames": p.evaluation.median_filter_frames, "threshold": p.evaluation.threshold,
                "classes": list(CLASSES)}, folder / "inference.pt")
    return path


def child(checkpoint: Path, wav: Path, out: Path, threads: int | None) -> None:
    """Runs in the child process: load, predict, print JSON."""
    import torch

    from dualkd_lib import predict

    if threads:
        torch.set_num_threads(threads)
    predictor_probe = predict.load_predictor(checkpoint)  # imports and model in memory before we measure
    before = _maxrss_mb()
    start = time.perf_counter()
    result = predict.predict_files(checkpoint, [wav], out, scores=out.parent / "scores", progress=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": _maxrss_mb(), "before_mb": before,
                      "detections": result.n_detections, "ok": result.ok, "kind": predictor_probe.kind,
                      "threads": torch.get_num_threads()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="a student final.pt (default: untrained)")
    parser.add_argument("--preset", choices=("tiny", "course"), default="course",
                        help="size of the untrained student when no --checkpoint is given (default course)")
    parser.add_argument("--seconds", type=float, default=3600.0, help="length of the generated WAV (default 1 h)")
    parser.add_argument("--rate", type=int, default=44_100, help="its sample rate (default 44100 Hz)")
    parser.add_argument("--channels", type=int, default=2, help="its channels (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the child (default: torch's)")
    parser.add_argument("--child", nargs=3, metavar=("CKPT", "WAV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]), args.threads)
        return

    with tempfile.TemporaryDirectory(prefix="predict_memory_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        wav = write_hour(tmp / "hour.wav", seconds=args.seconds, rate=args.rate, channels=args.channels)
        made = time.perf_counter() - t0
        if args.checkpoint is not None:
            checkpoint, what = args.checkpoint, f"student {args.checkpoint}"
        else:
            (tmp / "ckpt").mkdir()
            checkpoint, what = untrained_student(args.preset, tmp / "ckpt"), f"{args.preset}-sized student (untrained)"
        command = [sys.executable, __file__, "--child", str(checkpoint), str(wav), str(tmp / "out" / "det.tsv")]
        if args.threads:
            command += ["--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"predict_memory: the child failed:\n{done.stderr}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        size_mb = wav.stat().st_size / 1024**2
        print(f"predict_memory: {args.seconds / 60:g}-min WAV, {args.rate} Hz, {args.channels} ch ({size_mb:.0f} MB, "
              f"generated in {made:.0f} s), {what}, {r['threads']} torch thread(s): wall {r['seconds']:.1f} s "
              f"({args.seconds / r['seconds']:.0f}x real time), peak RSS {r['peak_mb']:.0f} MB "
              f"(+{r['peak_mb'] - r['before_mb']:.0f} MB over {r['before_mb']:.0f} MB with the model loaded), "
              f"{r['detections']} detections, all processed: {r['ok']}")


if __name__ == "__main__":
    main()
