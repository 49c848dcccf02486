"""Train one student variant on the course data and score it on the validation split.

How the course preset's student recipe was chosen (docs/results/student-design-log.md, "The course
student"): each call trains one SE-CRNN variant for the course preset's 450 steps with
overrides of its model config and training config, then prints and appends to
``OUT/results.jsonl`` the PSDS and F1 of the student's own weights and of its mean
student on the validation split. One thread per run, so two runs share a 2-core machine.

    python benchmarks/student_variants.py NAME '{"activation": "cg"}' '{"lr": 0.001}' \
        --data data/generated/course --work-dir data/cache/course --out build/student_variants

The first JSON overrides ``models.CRNNConfig`` of the course student; the second overrides
``train.TrainConfig`` (``"mode"`` picks supervised/kd/takd/eefd/dual). The teacher and the
embedding model come from (or are trained into) ``--work-dir``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import torch

from dualkd_lib import config, models, train
from dualkd_lib.distill import mode_uses
from dualkd_lib import recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="name of the variant (its run folder under --out)")
    parser.add_argument("model_overrides", nargs="?", default="{}", help="JSON: CRNNConfig fields")
    parser.add_argument("train_overrides", nargs="?", default="{}", help="JSON: TrainConfig fields (and mode)")
    parser.add_argument("--data", type=Path, default=None, help="course data (default data/generated/course)")
    parser.add_argument("--work-dir", type=Path, default=None, help="cache with teacher/embeddings")
    parser.add_argument("--out", type=Path, default=Path("build/student_variants"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    model_over = json.loads(args.model_overrides)
    train_over = json.loads(args.train_overrides)
    mode = train_over.pop("mode", "supervised")
    preset = config.COURSE
    ctx = recipe.Context.create(preset, data_root=args.data, work_dir=args.work_dir, progress=False)
    cfg = dataclasses.replace(preset.student_config(mode, args.seed), **train_over)
    model = models.SECRNN(dataclasses.replace(preset.student, **model_over), seed=args.seed)
    needs_teacher, needs_emb = mode_uses(mode, "kd"), mode_uses(mode, "emb")
    if needs_teacher:
        ctx.teacher()
    loader = ctx.train_loader(batch_sizes=cfg.batch_sizes, seed=args.seed, with_teacher=needs_teacher,
                              with_embeddings=needs_emb)
    run_dir = args.out / args.name
    shutil.rmtree(run_dir, ignore_errors=True)  # the variant's own scratch folder
    t0 = time.perf_counter()
    result = train.train(model, loader, cfg, run_dir=run_dir, progress=False, preset=preset.name)
    seconds = time.perf_counter() - t0
    student, mean, _ = train.load_model_from_checkpoint(result.final_path)
    row = {"name": args.name, "mode": mode, "model": model_over, "train": train_over,
           "params": models.count_parameters(model), "seconds": round(seconds), "steps": result.steps,
           "last_50_steps_loss": round(sum(h["loss"] for h in result.history[-50:]) / 50, 3)}
    for tag, m in (("student", student), ("mean", mean)):
        m = m.without_embedding_head() if m.embedding_head is not None else m
        row[tag] = {k: round(v, 3) for k, v in recipe.evaluate_model(ctx, m, "validation").items()}
    print(json.dumps(row))
    with open(args.out / "results.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
