"""Supervised course student, N steps, SE bias off/on: PSDS on val/eval (both weights) + dead SE units.

Run from the repository root: `.venv/bin/python benchmarks/se_bias_supervised.py bias|nobias 1350 [lr]`
(docs/results/faithful-experiment-progress.md). Data and features: data/experiments/.
"""
import sys, json, time, dataclasses, os
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import torch
torch.set_num_threads(1)
from dualkd_lib import config, models
from dualkd_lib import recipe
from dualkd_lib.train import load_model_from_checkpoint
variant, steps = sys.argv[1], int(sys.argv[2])
lr = float(sys.argv[3]) if len(sys.argv) > 3 else 3e-3
base = config.COURSE
student = dataclasses.replace(base.student, se_bias=(variant == "bias"))
st = dataclasses.replace(base.student_train, max_steps=steps, lr=lr)
preset = dataclasses.replace(base, student=student, student_train=st)
work = f"data/experiments/cache-sup-{variant}-{steps}-{lr}"
base_dir = os.path.abspath("data/experiments/cache-base")
base_ctx = recipe.Context.create(base, data_root="data/experiments/course", work_dir=base_dir, progress=False)
base_ctx.scaler()  # features of the training splits and the scaler, shared by the variants
os.makedirs(work, exist_ok=True)
for name in ("features", "scaler.pt"):
    if not os.path.exists(f"{work}/{name}"):
        os.symlink(f"{base_dir}/{name}", f"{work}/{name}")
ctx = recipe.Context.create(preset, data_root="data/experiments/course", work_dir=work, progress=False)
t = time.time()
path = recipe.train_student(ctx, "supervised", seed=0)
train_s = time.time() - t
m = recipe.run_metrics(ctx, "student", "supervised", 0)
own, mean, _ = load_model_from_checkpoint(path, expected_kind="student")
# dead SE units: hidden ReLU units that are zero on every validation clip
x = ctx.split("validation").features[:64]
dead = {}
hooks = []
def hook(name):
    def f(mod, inp, out):
        h = torch.relu(mod.squeeze(inp[0].mean(dim=(2, 3)) if isinstance(mod, models.SEBlock) else inp[0].mean(dim=1)))
        dead[name] = float((h.reshape(-1, h.shape[-1]).amax(0) <= 0).float().mean())
    return f
for name, mod in mean.named_modules():
    if isinstance(mod, (models.SEBlock, models.TFWSE)):
        hooks.append(mod.register_forward_hook(hook(name)))
with torch.no_grad():
    mean.eval()(x)
print(json.dumps({"variant": variant, "steps": steps, "lr": lr, "train_s": train_s, "weights": m["weights"],
                  "eval": {k: m[k] for k in ("psds1", "psds2", "f1_collar")},
                  "both": {w: {s: {k: round(v[k], 4) for k in ("psds1", "psds2")} for s, v in d.items()} for w, d in m["both_weights"].items()},
                  "dead_fraction": dead}, indent=1))
