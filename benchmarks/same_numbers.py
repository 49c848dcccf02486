"""Same numbers before and after a restructuring (issue #12): record the figures of a checkout, then compare two.

Record, in a checkout (one thread, so that the figures do not depend on the machine's load):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/same_numbers.py record OUT_DIR [--course]

writes OUT_DIR/tiny-ablation (``dualkd ablation --preset tiny --seeds 1``, its own data and work folder) and,
with ``--course``, one course-preset student run (dual, seed 0, on freshly generated course data with the
shipped teacher: about 15 minutes) and its metrics in OUT_DIR/course-student.json. Then

    .venv/bin/python benchmarks/same_numbers.py compare BEFORE_DIR AFTER_DIR

compares the weights (model and mean model, bit for bit) of every run both folders hold, the ablation
tables without their timings, and the course student's weights and metrics; it also loads every checkpoint
of BEFORE_DIR with this checkout's code. Exit code 1 when anything differs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

TIMINGS = {"seconds", "train_seconds", "train_clips_per_second", "stage_seconds_this_call", "stage_seconds",
           "source", "machine", "command", "jobs", "created", "date"}


def weights_digest(path: Path) -> str:
    """sha256 of a checkpoint's model and mean-model tensors, in name order."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    h = hashlib.sha256()
    for part in ("model_state", "mean_model_state"):
        for name, tensor in sorted((state.get(part) or {}).items()):
            h.update(f"{part}.{name}".encode())
            h.update(tensor.cpu().numpy().tobytes())
    return h.hexdigest()


def without_timings(obj):
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def record(out: Path, course: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    dualkd = [sys.executable, "-m", "dualkd_lib.cli"]
    subprocess.run([*dualkd, "ablation", "--preset", "tiny", "--seeds", "1", "--jobs", "1", "--data", str(out / "tiny-data"),
                    "--work-dir", str(out / "tiny-work"), "--out", str(out / "tiny-ablation")], check=True)
    if not course:
        return
    import importlib

    # the experiment's module by the names it had: dualkd_lib.recipe (now), recipe.pipeline (the first part of
    # #12's move), dualkd_lib.pipeline (3b79699 and older); told apart by the files of the checkout imported
    import dualkd_lib

    package = Path(dualkd_lib.__file__).parent
    name = ("dualkd_lib.recipe" if (package / "recipe" / "context.py").is_file() else
            "dualkd_lib.recipe.pipeline" if (package / "recipe" / "pipeline.py").is_file() else "dualkd_lib.pipeline")
    pipeline = importlib.import_module(name)

    torch.set_num_threads(1)
    start = time.time()
    ctx = pipeline.Context.create("course", data_root=out / "course-data", work_dir=out / "course-work")
    path = pipeline.train_student(ctx, "dual", seed=0)
    metrics = pipeline.run_metrics(ctx, "student", "dual", 0)
    (out / "course-student.json").write_text(json.dumps(
        {"checkpoint": str(path), "weights_sha256": weights_digest(path), "metrics": metrics,
         "seconds": round(time.time() - start, 1)}, indent=2, default=str))


def compare(before: Path, after: Path) -> bool:
    same = True
    runs = sorted((before / "tiny-work" / "runs").glob("*/final.pt"))
    print(f"{len(runs)} tiny runs")
    for path in runs:
        other = after / "tiny-work" / "runs" / path.parent.name / "final.pt"
        a, b = weights_digest(path), weights_digest(other) if other.is_file() else "missing"
        same &= a == b
        print(f"  {path.parent.name:28s} {a[:16]}  {b[:16]}  {'same' if a == b else 'DIFFERENT'}")
    for name in ("ablation.json", "ablation.md"):
        x, y = (before / "tiny-ablation" / name).read_text(), (after / "tiny-ablation" / name).read_text()
        equal = (without_timings(json.loads(x)) == without_timings(json.loads(y))) if name.endswith(".json") else x == y
        same &= equal
        print(f"tiny {name} (timings left out) identical: {equal}")
    if (before / "course-student.json").is_file() and (after / "course-student.json").is_file():
        x, y = (json.loads((d / "course-student.json").read_text()) for d in (before, after))
        equal = x["weights_sha256"] == y["weights_sha256"] and without_timings(x["metrics"]) == without_timings(y["metrics"])
        same &= equal
        print(f"course student (dual, seed 0): weights {x['weights_sha256'][:16]} / {y['weights_sha256'][:16]}; "
              + ", ".join(f"{k} {x['metrics'][k]:.4f} / {y['metrics'][k]:.4f}" for k in ("psds1", "psds2", "f1_collar",
                                                                                          "f1_intersection")))
    from dualkd_lib.train import load_model_from_checkpoint

    for path in sorted(before.glob("*-work/runs/*/final.pt")):
        model, _, ckpt = load_model_from_checkpoint(path)
        print(f"  {path.parent.parent.parent.name}/{path.parent.name} loads here: {type(model).__name__}, "
              f"step {ckpt['step']}")
    print("ALL SAME" if same else "SOMETHING DIFFERS")
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("record")
    p.add_argument("out", type=Path)
    p.add_argument("--course", action="store_true", help="also one course-preset student run (about 15 min)")
    p = sub.add_parser("compare")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.course)
        return 0
    return 0 if compare(args.before, args.after) else 1


if __name__ == "__main__":
    raise SystemExit(main())
