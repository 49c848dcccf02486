"""Write the measured record of a course-preset ablation (``dualkd_lib/resources/measured/``) from
the finished runs in a work folder: every row's scores per seed, and the curves notebooks 06 and 08
draw over seeds (the per-step KD distances of the kd and takd students, every student's validation
PSDS per epoch). Reads only: a run that is missing is left out and listed.

    .venv/bin/python benchmarks/record_ablation.py WORK_DIR [--data DATA_ROOT] [--seeds 3] [--machine "2 cores, ..."]
"""
import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dualkd_lib import config, measured, pipeline, train  # noqa: E402

WINDOW = 10  # steps averaged into one point of a per-step curve


def windowed(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    values = np.array([h[key] for h in history if key in h], dtype=float)
    n = len(values) // WINDOW
    means = values[: n * WINDOW].reshape(n, WINDOW).mean(axis=1)
    return [int((i + 1) * WINDOW) for i in range(n)], [round(float(v), 5) for v in means]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--data", type=Path, default=None, help="the data root the runs trained on (default: the course's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--machine", default=f"2 CPU cores, {platform.processor() or platform.machine()}, "
                                             f"{torch.backends.cpu.get_cpu_capability()}; one thread per run, two runs at a time")
    args = parser.parse_args()
    ctx = pipeline.Context.create(config.COURSE, data_root=args.data, work_dir=args.work_dir, progress=False, make_data_if_missing=False)
    seeds = list(range(args.seeds))
    rows, missing, curves = [], [], {"kd_distance": {}, "validation": {}}

    def add(name: str, kind: str, mode: str, run_dir_of, command: str) -> None:
        done = [s for s in seeds if (run_dir_of(s) / "metrics.json").is_file()]
        missing.extend(f"{name} seed {s}" for s in seeds if s not in done)
        if not done:
            return
        metrics = [json.loads((run_dir_of(s) / "metrics.json").read_text()) for s in done]
        rows.append({"reading": name, "seeds": done, "psds1": [round(m["psds1"], 4) for m in metrics],
                     "psds2": [round(m["psds2"], 4) for m in metrics], "weights": [m.get("weights") for m in metrics],
                     "validation": [{k: round(m["both_weights"][m["weights"]]["validation"][k], 4)
                                     for k in ("psds1", "psds2")} for m in metrics],
                     "train_seconds": [round(m["train_seconds"] or 0) for m in metrics],
                     "command": command})
        if kind != "student":
            return
        for s in done:
            ckpt = train.load_checkpoint(run_dir_of(s) / "final.pt")
            val = ckpt["extra"].get("val_history", [])
            curves["validation"].setdefault(mode, []).append(
                {"seed": s, "step": [v["step"] for v in val], "psds1": [round(v["psds1"], 4) for v in val],
                 "psds2": [round(v["psds2"], 4) for v in val]})
            if mode in ("kd", "takd"):
                steps, student = windowed(ckpt["history"], "kd_student")
                _, mean = windowed(ckpt["history"], "kd_mean")
                curves["kd_distance"].setdefault(mode, []).append(
                    {"seed": s, "step": steps, "kd_student": student, "kd_mean": mean})

    cmd = "dualkd ablation --preset course --seeds 3 --out OUT  (or benchmarks/course_rows.py ROW)"
    add("teacher (CRNN + embeddings, shipped)", "teacher", "teacher", lambda s: ctx.teacher_path(0).parent, cmd)
    rows[-1]["seeds"] = [0]  # one shipped model: its one score, not three copies of it
    for key in ("psds1", "psds2", "weights", "validation", "train_seconds"):
        rows[-1][key] = rows[-1][key][:1]
    probe = ctx.work_dir / "embedding" / "probe-seed0.json"
    if probe.is_file():
        m = json.loads(probe.read_text())
        rows.append({"reading": "embedding model, linear probe", "seeds": [0], "psds1": [round(m["psds1"], 4)],
                     "psds2": [round(m["psds2"], 4)], "weights": [m.get("weights")],
                     "validation": [{k: round(m["validation"][k], 4) for k in ("psds1", "psds2")}],
                     "train_seconds": [None], "command": cmd})
    else:
        missing.append("embedding model, linear probe")
    add("teacher CRNN without embeddings", "teacher", "no_embeddings", lambda s: ctx.plain_teacher_path(s).parent, cmd)
    for mode in pipeline.STUDENT_MODES:
        add(f"student ({mode})", "student", mode, lambda s, m=mode: pipeline.student_run_dir(ctx, m, s), cmd)
    record = {"what": f"The course preset's ablation: evaluation split, each student's weights (its own or its "
                      f"mean student's) chosen on the validation split; TAKD is the blended target "
                      f"(takd_blend {ctx.preset.student_train.takd_blend}). Seeds {seeds}.",
              "machine": args.machine, "source": "benchmarks/record_ablation.py over the runs of one work folder",
              "missing": missing, "rows": rows}
    record["curves_what"] = (f"curves: validation PSDS after every epoch (the mean student, on the preset's "
                             f"curve clips) and the KD distances to the teacher (mean of every {WINDOW} steps), "
                             f"per mode, one entry per seed")
    record["curves"] = curves
    (measured.MEASURED_ROOT / "ablation_course.json").write_text(json.dumps(record, indent=1) + "\n")
    print(measured.table("ablation_course").round(3).drop(columns="command").to_string())
    print("missing:", missing or "none")


if __name__ == "__main__":
    main()
