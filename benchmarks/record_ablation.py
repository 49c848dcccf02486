"""Write the measured record of a course-preset ablation (``dualkd_lib/resources/measured/``) from
the finished runs in a work folder: every row's scores per seed, and the curves notebooks 06 and 08
draw over seeds (the per-step KD distances of the kd and takd students, every student's validation
PSDS per epoch). Reads only: a run that is missing is left out and listed. With ``--fill-missing``
it keeps the record as it is and adds only the runs the record lists as missing (for a run that
was trained later or on another machine), and says so in the record's ``filled_in``.

    .venv/bin/python benchmarks/record_ablation.py WORK_DIR [--data DATA_ROOT] [--seeds 3] [--machine "2 cores, ..."]
    .venv/bin/python benchmarks/record_ablation.py WORK_DIR --fill-missing
"""
import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dualkd_lib import layout
from dualkd_lib import config, train  # noqa: E402
from dualkd_lib import recipe
from dualkd_lib.distill import STUDENT_MODES
from dualkd_lib.teaching import measured

WINDOW = 10  # steps averaged into one point of a per-step curve


def windowed(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    values = np.array([h[key] for h in history if key in h], dtype=float)
    n = len(values) // WINDOW
    means = values[: n * WINDOW].reshape(n, WINDOW).mean(axis=1)
    return [int((i + 1) * WINDOW) for i in range(n)], [round(float(v), 5) for v in means]


PER_SEED = ("psds1", "psds2", "weights", "validation", "train_seconds")


def filled_in(old: dict, new: dict, work_dir: Path, machine: str) -> dict:
    """``old`` with the runs it lists as missing taken from ``new``; every other entry of ``old`` is kept."""
    wanted = set(old["missing"])
    rows = {r["reading"]: r for r in old["rows"]}
    added = []
    for fresh in new["rows"]:
        whole_row_missing = fresh["reading"] in wanted and fresh["reading"] not in rows
        for i, seed in enumerate(fresh["seeds"]):
            if f"{fresh['reading']} seed {seed}" not in wanted and not whole_row_missing:
                continue
            row = rows.setdefault(fresh["reading"], {"reading": fresh["reading"], "seeds": [],
                                                     **{k: [] for k in PER_SEED}, "command": fresh["command"]})
            at = sorted(row["seeds"] + [seed]).index(seed)
            row["seeds"].insert(at, seed)
            for key in PER_SEED:
                row[key].insert(at, fresh[key][i])
            added.append(f"{fresh['reading']} seed {seed}")
            mode = fresh["reading"].removeprefix("student (").removesuffix(")")
            for kind, by_mode in new["curves"].items():
                fresh_curves = [c for c in by_mode.get(mode, []) if c["seed"] == seed]
                if fresh_curves:
                    old["curves"][kind].setdefault(mode, []).extend(fresh_curves)
    if not added:
        raise SystemExit(f"--fill-missing: none of the record's missing runs {sorted(wanted)} is in {work_dir}")
    order = [r["reading"] for r in old["rows"]] + [r["reading"] for r in new["rows"]]
    old["rows"] = sorted(rows.values(), key=lambda r: order.index(r["reading"]))
    old["missing"] = [m for m in old["missing"] if m not in added and m not in rows]
    old.setdefault("filled_in", []).append({"runs": added, "machine": machine, "date": str(datetime.date.today()),
                                            "source": f"benchmarks/record_ablation.py --fill-missing over {work_dir.name}"})
    return old


def _budget(cfg: train.TrainConfig) -> str:
    """A student's training budget in words: steps, clips per step and the schedule."""
    length = f"{cfg.max_steps} steps" if cfg.max_steps is not None else f"{cfg.epochs} epochs"
    strong, weak, unlabeled = cfg.batch_sizes
    return f"{length} of {strong} strong + {weak} weak + {unlabeled} unlabelled clips, lr {cfg.lr:g}, {cfg.lr_decay} decay"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--data", type=Path, default=None, help="the data root the runs trained on (default: the course's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--machine", default=f"2 CPU cores, {platform.processor() or platform.machine()}, "
                                             f"{torch.backends.cpu.get_cpu_capability()}; one thread per run, two runs at a time")
    parser.add_argument("--fill-missing", action="store_true",
                        help="keep the existing record and add only the runs it lists as missing")
    args = parser.parse_args()
    ctx = recipe.Context.create(config.COURSE, data_root=args.data, work_dir=args.work_dir, progress=False, make_data_if_missing=False)
    seeds = list(range(args.seeds))
    rows, missing, curves = [], [], {"kd_distance": {}, "validation": {}}

    def row(name: str, done: list[int], metrics: list[dict], validation: list[dict], command: str) -> dict:
        """One table row: a reading's scores per seed (``validation``: the kept weights' validation PSDS)."""
        return {"reading": name, "seeds": done, "psds1": [round(m["psds1"], 4) for m in metrics],
                "psds2": [round(m["psds2"], 4) for m in metrics], "weights": [m.get("weights") for m in metrics],
                "validation": [{k: round(v[k], 4) for k in ("psds1", "psds2")} for v in validation],
                "train_seconds": [round(m["train_seconds"]) if m.get("train_seconds") else None for m in metrics],
                "command": command}

    def add(name: str, kind: str, mode: str, run_dir_of, command: str, run_seeds: list[int] = seeds) -> None:
        done = [s for s in run_seeds if (run_dir_of(s) / "metrics.json").is_file()]
        missing.extend(f"{name} seed {s}" for s in run_seeds if s not in done)
        if not done:
            return
        metrics = [json.loads((run_dir_of(s) / "metrics.json").read_text()) for s in done]
        rows.append(row(name, done, metrics, [m["both_weights"][m["weights"]]["validation"] for m in metrics], command))
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
    # one shipped model: its one score, not three copies of it
    add("teacher (CRNN + embeddings, shipped)", "teacher", "teacher", lambda s: ctx.teacher_path(0).parent, cmd, [0])
    probe = layout.probe_record(ctx.work_dir, 0)
    if probe.is_file():
        m = json.loads(probe.read_text())
        rows.append(row("embedding model, linear probe", [0], [m], [m["validation"]], cmd))
    else:
        missing.append("embedding model, linear probe")
    add("teacher CRNN without embeddings", "teacher", "no_embeddings", lambda s: ctx.plain_teacher_path(s).parent, cmd)
    for mode in STUDENT_MODES:
        add(f"student ({mode})", "student", mode, lambda s, m=mode: recipe.student_run_dir(ctx, m, s), cmd)
    record = {"what": f"The course preset's ablation: evaluation split, each student's weights (its own or its "
                      f"mean student's) chosen on the validation split; TAKD is the blended target "
                      f"(takd_blend {ctx.preset.student_train.takd_blend}); every student trains "
                      f"{_budget(ctx.preset.student_train)}. Seeds {seeds}.",
              "machine": args.machine, "source": "benchmarks/record_ablation.py over the runs of one work folder",
              "missing": missing, "rows": rows}
    record["curves_what"] = (f"curves: validation PSDS after every epoch (the mean student, on the preset's "
                             f"curve clips) and the KD distances to the teacher (mean of every {WINDOW} steps), "
                             f"per mode, one entry per seed")
    record["curves"] = curves
    if args.fill_missing:
        record = filled_in(measured.read("ablation_course"), record, args.work_dir, args.machine)
    (measured.MEASURED_ROOT / "ablation_course.json").write_text(json.dumps(record, indent=1) + "\n")
    print(measured.table("ablation_course").round(3).drop(columns="command").to_string())
    print("missing:", record["missing"] or "none")


if __name__ == "__main__":
    main()
