"""One seed of the pre-trained bundle, to give the shipped one a seed spread (issue #16, item 2).

`dualkd pretrain --preset course` makes the shipped bundle with seed 0: the BEATs stand-in
pre-trained from ``config.COURSE.pretrain.seed`` (1000; its corpus and its initial weights)
and the teacher CRNN trained with seed 0. This script runs the same stages with bundle seed
SEED: the stand-in from ``pretrain.seed + SEED`` (another corpus and start) and the teacher
with seed SEED, on the course data (seed 0, generated into DATA if missing). SEED 0 is a
retrain of the shipped bundle ("measure it twice").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bundle_seed.py SEED WORK [DATA]

WORK is the run's own work folder (nothing shipped is installed there). Prints one JSON line:
the stage seconds and the evaluation (and validation) scores of the linear probe and of the
teacher's two weights, as the bundle's manifest holds them.

    .venv/bin/python benchmarks/bundle_seed.py record MACHINE RUN.json [RUN.json ...]

writes those lines, with the shipped bundle as seed 0, into the shipped manifest's
``seed_spread`` (``pretrained.seed_spread`` reads it; ``dualkd pretrain --out DIR`` holds a
retrain against it). MACHINE says where the runs were measured.
"""
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dualkd_lib import config  # noqa: E402
from dualkd_lib import recipe  # noqa: E402
from dualkd_lib.recipe import pretrained  # noqa: E402


def main(seed: int, work: Path, data: Path | None) -> dict:
    base = config.COURSE
    preset = dataclasses.replace(base, pretrain=dataclasses.replace(base.pretrain, seed=base.pretrain.seed + seed))
    ctx = recipe.Context.create(preset, data_root=data, work_dir=work, data_jobs=1)
    ctx.use_pretrained = False  # train both models here, as `dualkd pretrain` does
    seconds = {}
    start = time.perf_counter()
    ctx.embedding_model()
    seconds["embedding model"] = time.perf_counter() - start
    start = time.perf_counter()
    probe = recipe.probe_metrics(ctx)
    seconds["linear probe"] = time.perf_counter() - start
    start = time.perf_counter()
    teacher = recipe.run_metrics(ctx, "teacher", "teacher", seed)
    seconds["teacher"] = time.perf_counter() - start
    keys = recipe.METRIC_KEYS
    return {"bundle_seed": seed, "pretrain_seed": preset.pretrain.seed, "teacher_seed": seed,
            "stage_seconds": seconds,
            "linear_probe": {"evaluation": {k: probe[k] for k in keys}, "validation": probe["validation"]},
            "teacher": {"evaluation": {k: teacher[k] for k in keys}, "kept": teacher.get("weights"),
                        "both_weights": teacher.get("both_weights")}}


def record(machine: str, run_files: list[Path]) -> Path:
    """Write the shipped bundle (seed 0) and the runs of ``run_files`` into the shipped manifest's seed spread."""
    path = pretrained.bundle_dir("course") / pretrained.MANIFEST
    manifest = json.loads(path.read_text())
    shipped = {"bundle_seed": 0, "pretrain_seed": manifest["configs"]["pretrain"]["seed"], "teacher_seed": 0,
               "command": manifest["command"], "stage_seconds": manifest["stage_seconds"],
               **{model: manifest["scores"][model]["evaluation"] for model in pretrained.SPREAD_MODELS}}
    runs = [json.loads(f.read_text().strip().splitlines()[-1]) for f in run_files]
    runs = [{**{k: r[k] for k in ("bundle_seed", "pretrain_seed", "teacher_seed", "stage_seconds")},
             "command": f"OMP_NUM_THREADS=1 python benchmarks/bundle_seed.py {r['bundle_seed']} WORK",
             **{model: r[model]["evaluation"] for model in pretrained.SPREAD_MODELS}} for r in runs]
    manifest["seed_spread"] = {
        "what": "Evaluation scores of bundles pre-trained with other seeds (the stand-in from pretrain.seed + "
                "bundle_seed, the teacher with seed bundle_seed), the shipped bundle as seed 0. A retrain is "
                "within the spread when it lies in mean +- 2 sample std (pretrained.compare_with_shipped).",
        "machine": machine, "runs": [shipped, *runs]}
    path.write_text(json.dumps(manifest, indent=2))
    return path


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "record":
        print(record(sys.argv[2], [Path(f) for f in sys.argv[3:]]))
        sys.exit(0)
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    result = main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) == 4 else None)
    print(json.dumps(result))
