"""Score (training first if needed) single rows of the course preset's ablation, one per call, in
the course's own work folder (``data/cache/course``), so that `dualkd ablation` and `make course`
reuse them. Rows: ``student MODE SEED``, ``plain SEED`` (the teacher CRNN without embeddings),
``probe`` (the linear probe of the frozen embeddings), ``teacher``. One thread; prints one JSON line.

    .venv/bin/python benchmarks/course_rows.py student supervised 0
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

from dualkd_lib import config  # noqa: E402
from dualkd_lib import recipe

torch.set_num_threads(1)
ctx = recipe.Context.create(config.COURSE, progress=False)
t = time.time()
row = sys.argv[1]
if row == "student":
    m = recipe.run_metrics(ctx, "student", sys.argv[2], int(sys.argv[3]))
elif row == "plain":
    m = recipe.run_metrics(ctx, "teacher", "no_embeddings", int(sys.argv[2]))
elif row == "probe":
    m = recipe.probe_metrics(ctx)
else:
    m = recipe.run_metrics(ctx, "teacher", "teacher", 0)
keys = ("psds1", "psds2", "f1_collar", "f1_intersection", "weights")
print(json.dumps({"row": sys.argv[1:], "seconds": time.time() - t, **{k: m.get(k) for k in keys},
                  "both_weights": {w: {s: {k: v[s][k] for k in ("psds1", "psds2")} for s in ("validation", "evaluation")}
                                   for w, v in (m.get("both_weights") or {}).items()}}), flush=True)
