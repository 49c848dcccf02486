"""The student's training budget and its TAKD reading, one run per call (issue #16, items 3 and 5).

`make course` trains five students (the teacher and the embedding model ship pre-trained), so
its time is the students' time: which schedule buys a working student in the fewest seconds?
And which reading of TAKD ("the student learns from the teacher through the mean student")
carries the teacher? One run per call, so that variants run side by side:

    .venv/bin/python benchmarks/student_budget.py VARIANT MODE SEED

VARIANT (see ``VARIANTS``): ``preset`` (the course preset as it is), ``b4`` (4/4/8 clips per
step, the same 1,350 steps), ``cos675`` (half the steps, cosine decay), ``b4cos`` (4/4/8 clips,
1,350 steps, cosine), ``cos900``; the TAKD readings ``takd-interpolated`` (the gradient through
the mean student, scaled by 1 - alpha), ``takd-compensated`` (the same, unscaled),
``takd-straight_through``, the two unscaled ones at w_kd 0.1 (``takd-compensated-wkd0.1``,
``takd-straight_through-wkd0.1``) and ``takd-blend0.5`` (one consistency target, 0.5 mean
student + 0.5 teacher), for MODE takd or dual. Each variant has its own work folder
``data/experiments/budget-<VARIANT>`` (features and scaler copied from ``data/cache/course``; the
shipped pre-trained bundle is installed there by the library when a mode needs it). Prints one
JSON line: seconds of training and scoring, the validation curve and the evaluation metrics of both weights.
"""
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

from dualkd_lib import config, train  # noqa: E402
from dualkd_lib import recipe

C = config.COURSE
VARIANTS = {
    "preset": {},
    "b4": {"batch_sizes": (4, 4, 8), "max_steps": 1350},
    "cos675": {"lr_decay": "cosine", "max_steps": 675},
    "cos900": {"lr_decay": "cosine", "max_steps": 900},
    "b4cos": {"batch_sizes": (4, 4, 8), "max_steps": 1350, "lr_decay": "cosine"},
    "b4cos900": {"batch_sizes": (4, 4, 8), "max_steps": 900, "lr_decay": "cosine"},
    # plateau probes (2026-12-02, late): leave the all-zeros plateau early in half the steps
    "cos675-lr6e-3": {"lr_decay": "cosine", "max_steps": 675, "lr": 6e-3},
    "cos675-prior": {"lr_decay": "cosine", "max_steps": 675, "_head_bias": "prior"},
    "cos675-lr6e-3-prior": {"lr_decay": "cosine", "max_steps": 675, "lr": 6e-3, "_head_bias": "prior"},
    "prior": {"_head_bias": "prior"},
    # plateau probes (2026-12-04): the consistency term, mixup and the batch's share of strong clips at half the steps
    "cos675-nocons": {"lr_decay": "cosine", "max_steps": 675, "cons_max": 0.0},
    "cos675-prior-nocons": {"lr_decay": "cosine", "max_steps": 675, "cons_max": 0.0, "_head_bias": "prior"},
    "cos675-prior-cons0.5": {"lr_decay": "cosine", "max_steps": 675, "cons_max": 0.5, "_head_bias": "prior"},
    "cos675-prior-cons1200": {"lr_decay": "cosine", "max_steps": 675, "cons_rampup_steps": 1200, "_head_bias": "prior"},
    "cos675-prior-strong16": {"lr_decay": "cosine", "max_steps": 675, "batch_sizes": (16, 8, 8), "_head_bias": "prior"},
    "cos675-prior-nocons-strong16": {"lr_decay": "cosine", "max_steps": 675, "cons_max": 0.0, "batch_sizes": (16, 8, 8),
                                     "_head_bias": "prior"},
    # the readings of TAKD: a gradient through the mean student (no blended target), or the blended target
    **{f"takd-{g}": {"takd_gradient": g, "takd_blend": None} for g in ("interpolated", "compensated", "straight_through")},
    "takd-blend0.5": {"takd_blend": 0.5},
    # the unscaled readings at a tenth of the KD weight: compensated at w_kd 0.1 is the
    # interpolated gradient at w_kd 0.1 / (1 - 0.99) = 10 (at w_kd 1 both unscaled readings stall)
    **{f"takd-{g}-wkd0.1": {"takd_gradient": g, "takd_blend": None, "w_kd": 0.1} for g in ("compensated", "straight_through")},
}
BUDGET = os.environ.get("BUDGET", "")  # a budget variant under a TAKD reading, e.g. BUDGET=b4cos

variant, mode, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
changes = {**VARIANTS.get(BUDGET, {}), **VARIANTS[variant]}
head_bias = changes.pop("_head_bias", None)
# the strong head's bias at the strong split's frame prior, logit(mean active share of a class's frames;
# course preset, seed 0: 0.073 -> -2.5, from soundscapes.tsv), instead of PyTorch's random init around
# p 0.5 (CRNNConfig.strong_head_bias; Lin et al., focal loss, "prior initialisation")
student = C.student if head_bias is None else dataclasses.replace(
    C.student, strong_head_bias=float(os.environ.get("PRIOR_LOGIT", "-2.5")))
preset = dataclasses.replace(C, student=student, student_train=dataclasses.replace(C.student_train, **changes))
work = Path("data/experiments") / f"budget-{variant}{'-' + BUDGET if BUDGET else ''}"
if not (work / "scaler.pt").is_file():
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree("data/cache/course/features", work / "features", dirs_exist_ok=True)
    shutil.copy2("data/cache/course/scaler.pt", work / "scaler.pt")
    for shared in ("teacher_outputs", "embedding", "embeddings", "runs/teacher-seed0"):  # made once, read by all
        if Path("data/cache/course", shared).is_dir():
            shutil.copytree(Path("data/cache/course", shared), work / shared, dirs_exist_ok=True)
ctx = recipe.Context.create(preset, work_dir=work, progress=False)
t = time.time()
metrics = recipe.run_metrics(ctx, "student", mode, seed)
ckpt = train.load_checkpoint(recipe.student_checkpoint(ctx, mode, seed))
print(json.dumps({"variant": variant, "head_bias": head_bias, "budget": BUDGET or "preset", "mode": mode, "seed": seed, "steps": ckpt["step"],
                  "wall_seconds": time.time() - t,  # training and both weights' scoring
                  "val_history": ckpt["extra"].get("val_history"),
                  "weights": metrics["weights"],
                  "evaluation": {w: {k: s["evaluation"][k] for k in ("psds1", "psds2")}
                                 for w, s in metrics["both_weights"].items()},
                  "validation": {w: {k: s["validation"][k] for k in ("psds1", "psds2")}
                                 for w, s in metrics["both_weights"].items()}}), flush=True)
