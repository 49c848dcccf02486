# %% [markdown]
# # 06 · TAKD and the mean student
#
# Knowledge distillation (KD) trains a small student to match a large teacher's soft outputs.
# The paper's first idea, **temporal-averaging KD (TAKD)**, does not hand the teacher's signal to
# the student directly. It goes *through the mean student*, the running average of the student's
# own weights, which changes slowly and is therefore a stable partner for the teacher. This
# notebook builds the pieces (the EMA, the KD loss, the forward pass through the mean student),
# trains a plain-KD and a TAKD student and compares them.
#
# **Objectives.** After this notebook you can
# 1. explain why an exponential moving average (EMA) of the weights is a stable model, and
#    write the EMA update with the DCASE warm start;
# 2. write the binary KL distillation loss on frame and clip outputs;
# 3. say how TAKD lets a loss on the mean student train the student, what our readings of it
#    (three gradient paths and one blended target) mean and cost, and which one the course uses;
# 4. read the loss curves of KD and TAKD students, and the distance of student and mean student
#    to the teacher;
# 5. change the KD weight, predict what it does, and check the prediction with a short run.
#
# **Prerequisites.** Notebooks 03 (the teacher) and 05 (the student). The idea of a gradient
# step and of `requires_grad` in PyTorch.
#
# **Time.** About 46 minutes: set-up 2 min · EMA (Exercise 6.1) 10 min · KD loss (Exercise 6.2)
# 7 min · TAKD and its gradient 8 min · training and curves 10 min · your experiment (6.A) 6 min ·
# questions 3 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import copy
import dataclasses
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from dualkd_lib import distill, layout, models, train
from dualkd_lib import recipe
from dualkd_lib.teaching import exercises, learner_runs, measured, plots_distill, setup, widgets

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>
# Also train a TAKD student with the straight-through gradient (one more student run:
# seconds in "tiny", minutes in "course"). None: only in the tiny preset.
TRAIN_STRAIGHT_THROUGH = None

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
CFG = SETUP.config()
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root, work_dir=SETUP.cache_dir)
ALPHA = CFG.student_train.ema_alpha
print(f"preset {SETUP.preset!r}: EMA decay alpha = {ALPHA}, w_kd = {CFG.student_train.w_kd}, "
      f"TAKD = " + (f"blended target, lambda = {CFG.student_train.takd_blend}" if CFG.student_train.takd_blend is not None
                    else f"gradient {CFG.student_train.takd_gradient!r}"))

# %% [markdown]
# ## 1. The mean student: an average of weights (10 min)
#
# After every optimiser step, the **mean student** moves a little towards the student:
#
# $$\bar\theta \leftarrow a_t\,\bar\theta + (1 - a_t)\,\theta, \qquad a_t = \min\!\left(1 - \tfrac{1}{t + 1},\ \alpha\right).$$
#
# With `α = 0.999` it remembers roughly the last `1 / (1 - α) = 1000` steps. The noise of single
# steps (each batch pulls the weights a different way) averages out, while the slow drift of
# learning survives: the mean student is a *smoothed* student, and in long runs often a better
# model than the student at any single step (the "mean teacher" of semi-supervised SED,
# Tarvainen & Valpola 2017). Often, not always: in a short run it still carries weights from
# early steps, which is why the course chooses, per run and on the validation split, which of the
# two it keeps (notebook 08). The **warm start** `a_t = 1 - 1/(t+1)` (0, ½, ⅔, ...) makes the first steps a plain
# average of all states so far, instead of an average that starts from the random initial weights.
#
# ### Interactive demo
#
# One "weight" of a student that drifts while it learns, with step-to-step noise, and its EMA.
# Move `alpha`: a small one follows the noise, a large one lags behind the drift. Untick the warm
# start to see the slow start of a plain EMA. (Below, the same figure drawn once with the defaults,
# for readers without a live kernel.)

# %%
fig = widgets.ema_figure(alpha=0.99)
plt.show()
widgets.interactive_ema()

# %% [markdown]
# ### Exercise 6.1
#
# Write `ema_update(theta_bar, theta, alpha, step)`: the mean student's new weights (a new
# tensor) after optimiser step `step` (0-based), with the warm start. In the library,
# `distill.update_ema` does this for every parameter of a model (and averages BatchNorm's
# running statistics the same way).

# %% tags=["exercise"]
def ema_update(theta_bar, theta, alpha, step):
    """New mean-student weights: a * theta_bar + (1 - a) * theta with a = min(1 - 1/(step+1), alpha)."""
    # BEGIN SOLUTION Exercise 6.1: update the mean student with the warm-started EMA
    a = min(1.0 - 1.0 / (step + 1), alpha)
    return a * theta_bar + (1.0 - a) * theta
    # END SOLUTION


# %%
ema_update = exercises.check("6.1", ema_update)

# %%
steps = np.arange(0, 3000)
a_t = np.array([distill.ema_alpha(int(t), ALPHA) for t in steps])
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(steps, a_t)
ax.axvline(1 / (1 - ALPHA) - 1, color="k", ls=":", lw=1, label=f"step {1 / (1 - ALPHA) - 1:.0f}: the cap α = {ALPHA} takes over")
ax.set_xscale("symlog", linthresh=1)
ax.set(xlim=(0, steps[-1]), xlabel="optimiser step (log scale past 1)", ylabel="decay a_t",
       title="The warm-started EMA decay")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## 2. Distillation from soft outputs (7 min)
#
# The teacher gives, for every frame and class, a probability `t` (and one per clip and class).
# The student's probability `p` should match it. SED is multi-label (several classes can be
# active at once), so each output is its own two-outcome (Bernoulli) distribution and the natural
# distance is the **binary KL divergence**
#
# $$\mathrm{KL}(t\,\|\,p) = t \log\frac{t}{p} + (1 - t)\log\frac{1 - t}{1 - p},$$
#
# averaged over frames (`[B, C, T]`) and clips (`[B, C]`), frame and clip terms added. It equals
# the binary cross-entropy `BCE(p, t)` minus the teacher's own entropy `BCE(t, t)`: the same
# gradient for the student, but it is exactly 0 when the student copies the teacher, which makes
# curves of it readable.
#
# ### Exercise 6.2
#
# Write `binary_kd_loss(student_strong, student_weak, teacher_strong, teacher_weak)` (all
# probabilities; clamp them to `[1e-7, 1 - 1e-7]` before the logarithms).

# %% tags=["exercise"]
def binary_kd_loss(student_strong, student_weak, teacher_strong, teacher_weak):
    """Mean binary KL(teacher || student) over frames plus the same over clips (a scalar tensor)."""
    # BEGIN SOLUTION Exercise 6.2: write the binary KL distillation loss
    def kl(p, t):
        p, t = p.clamp(1e-7, 1 - 1e-7), t.clamp(1e-7, 1 - 1e-7)
        return (t * torch.log(t / p) + (1 - t) * torch.log((1 - t) / (1 - p))).mean()

    return kl(student_strong, teacher_strong) + kl(student_weak, teacher_weak)
    # END SOLUTION


# %%
binary_kd_loss = exercises.check("6.2", binary_kd_loss)

# %% [markdown]
# ## 3. TAKD: learning through the mean student (8 min)
#
# Plain **KD** puts the loss on the student: `kd_loss(student(x), teacher(x))`. **TAKD** puts it
# on the *mean student*: `kd_loss(mean_student(x), teacher(x))`. But the mean student is an
# average, not a trained model; how can a loss on it train the student? The mean student after
# this step *will be* `a·θ̄ + (1-a)·θ`, and that depends on the student's θ. The paper says the
# student "indirectly learns through the mean student" without giving the formula, so we made a
# choice and measure it. `distill.mean_student_forward` runs the mean student's architecture with
# weights built from θ̄ (detached) and θ, three ways:
#
# - `"interpolated"` (`TrainConfig`'s default path): weights `a·θ̄ + (1-a)·θ`, the mean student as it
#   will be after this step's EMA update. The gradient is exact, but scaled by `(1-a)`: with
#   `a = α = 0.99` the teacher's signal reaches θ about 100 times weaker than with the next
#   choice (and weaker than plain KD's too; the table below measures both).
# - `"straight_through"`: the output is exactly the current mean student's, and the gradient is
#   passed to θ unscaled: "take the step that would move the mean student towards the teacher".
#   A strong signal, but computed at weights that lag ~`1/(1-α)` steps behind the student.
# - `"compensated"`: the value of `"interpolated"` with its gradient unscaled, the same as
#   `"interpolated"` with `w_kd` divided by `(1-a)`.
#
# A third reading changes the target instead of the gradient path: `TrainConfig(takd_blend=λ)`
# gives the student *one* consistency target, the teacher-corrected mean student
# `λ·mean student + (1-λ)·teacher` (`distill.blended_target`), instead of two targets that can
# pull apart (consistency to the mean student *and* KD to the teacher, which is the `kd` mode).
# The paper's equations were not available to us: these are our readings, and the course
# measured them side by side rather than picking one by taste. **The course's presets use the
# blended target with λ = 0.5** (`CFG.student_train.takd_blend`), because it was the only reading
# that helped the student. Each of these runs takes several minutes on a laptop CPU, so the next
# cell prints them from the course's record (`dualkd_lib.teaching.measured`: the course preset, the
# evaluation split, the weights chosen on validation, and the command that reruns each row):

# %%
print(measured.read("takd_readings")["what"])
measured.table("takd_readings").round(3)

# %% [markdown]
# Read the table against its first row. The interpolated gradient is too weak to matter: it
# scores like the student that never saw the teacher. The unscaled gradients, computed at the
# lagging mean student's weights, keep the student on the all-zeros plateau at full weight,
# and at a tenth of the weight they do no better than the student without a teacher. Only the
# blended target, where the teacher enters the *target* rather than the gradient path, lifts the
# student. Every reading has three seeds (the `_std` columns); the two that stall at full weight
# leave the plateau on no seed.
#
# The mean student itself is the slow, stable partner of the teacher; the student's own noise
# never reaches the KD target directly. The consistency term (MSE between student and mean
# student) ties the two together as in the mean teacher.
#
# Let's measure the gradient each choice sends to the student on one batch, starting from the
# supervised student of notebook 05 (loaded, or trained now), whose student and mean student
# differ:

# %%
run = recipe.train_student(ctx, "supervised", seed=SEED)
ckpt = train.load_checkpoint(run)
student = models.SECRNN(CFG.student)
student.load_state_dict(ckpt["model_state"])
mean_student = copy.deepcopy(student)
mean_student.load_state_dict(ckpt["mean_model_state"])
student.eval()  # no dropout noise in this measurement
mean_student.eval()

xb = ctx.split("strong").features[:16]
t_strong, t_weak = (t[:16] for t in ctx.teacher_outputs("strong"))


def kd_gradient(how):
    student.zero_grad()
    if how == "KD (straight to the student)":
        out = student(xb)
    else:
        out = distill.mean_student_forward(student, mean_student, xb, alpha=ALPHA, gradient=how)
    loss = distill.kd_loss(out, t_strong, t_weak)
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in student.parameters() if p.grad is not None])
    return float(loss.detach()), grad


rows, grads = [], {}
for how in ("KD (straight to the student)", "interpolated", "straight_through"):
    loss, grads[how] = kd_gradient(how)
    rows.append({"gradient path": how, "KD loss": loss, "gradient norm": float(grads[how].norm())})
table = pd.DataFrame(rows).set_index("gradient path")
kd_dir = grads["KD (straight to the student)"]
table["cosine with KD's gradient"] = [float(torch.nn.functional.cosine_similarity(g, kd_dir, dim=0)) for g in grads.values()]
st_dir = grads["straight_through"]
table["cosine with straight-through"] = [float(torch.nn.functional.cosine_similarity(g, st_dir, dim=0))
                                         for g in grads.values()]
print(f"alpha = {ALPHA}: interpolated / straight-through gradient norm = "
      f"{table.loc['interpolated', 'gradient norm'] / table.loc['straight_through', 'gradient norm']:.4f} "
      f"(1 - alpha = {1 - ALPHA:.4f})")
table.round(5)

# %% [markdown]
# The two TAKD gradients point the same way (their cosine, last column, is near 1): both ask
# "what would bring the mean student closer to the teacher?". They differ in size by about `1 - α`. Plain KD's gradient
# points almost the opposite way from both here (the negative cosines in the table): the
# student and its mean student sit on different sides of the teacher. With the
# `"interpolated"` choice, TAKD is a gentle, exact nudge; with `"straight_through"`, a strong
# one that the docstring of `mean_student_forward` warns can overshoot with a large `w_kd`
# (the gradient is about 1/(1-α) steps old). The blended target needs no gradient path through
# the mean student at all: the teacher enters the target, and the student follows the target's
# ordinary consistency gradient.
#
# ### Think!
#
# With the warm start, `a_t` is small in the first steps. What does that mean for the
# interpolated TAKD gradient early in training, compared with plain KD?
#
# <!-- BEGIN ANSWER -->
# Early on `a_t = 1 - 1/(t+1)` is small, so the interpolated weights `a·θ̄ + (1-a)·θ` are mostly
# the student's own, and the KD gradient reaches the student scaled by `1 - a_t`, close to 1: in
# the first steps TAKD is almost plain KD on the student. As `a_t` grows to α the factor falls to
# `1 - α`, the teacher's direct pull fades, and the student learns from the teacher mainly through
# the slowly moving mean student.
# <!-- END ANSWER -->

# %% [markdown]
# ## 4. Train a KD and a TAKD student and compare (10 min)
#
# `recipe.train_student(ctx, mode)` trains the SE-CRNN student with the preset's settings, the
# frozen teacher's outputs being read from the cache (computed once); a finished run is loaded
# instead. Each run: a few seconds in the `tiny` preset; in the `course` preset, 10-15 minutes on
# one core of a fast machine if it is not cached yet (`make course` trains them beforehand).
# Both are part of the ablation of notebook 08, which will reuse them.

# %%
histories, metrics = {}, {}
for mode in ("supervised", "kd", "takd"):
    t0 = time.perf_counter()
    path = recipe.train_student(ctx, mode, seed=SEED)
    histories[mode] = train.load_checkpoint(path)["history"]
    metrics[mode] = recipe.run_metrics(ctx, "student", mode, SEED)
    print(f"{mode:>10}: ready in {time.perf_counter() - t0:5.1f} s ({len(histories[mode])} steps)")
window = max(1, len(histories["kd"]) // 40)
fig = plots_distill.plot_loss_curves(histories, keys=("sup", "cons", "kd"), window=window,
                                     title="Loss terms per optimiser step (moving average)")
plt.show()

# %% [markdown]
# `sup` (labels) is the same loss in every run, but it need not fall alike: a run whose gradient
# also pulls towards the teacher spends part of each step on that, and where the teacher and the
# labels disagree the two terms compete (compare where each run's `sup` ends). `kd` is the term
# each mode *minimises* besides the labels, and it is not the same quantity in both runs: in `kd`
# it is the student's distance to the teacher; in `takd` (the blended target) it is the
# consistency to `λ·mean student + (1 - λ)·teacher`, which is why its `kd` and `cons` panels show
# the same green curve. Do not compare the two `kd` curves with each other. The next figure
# compares like with like: the training loop logs both distances to the teacher (`kd_student`,
# `kd_mean`) in every run whenever the teacher's outputs are in the batch.

# %%
fig = plots_distill.plot_kd_distances({m: histories[m] for m in ("kd", "takd")}, window=window)
plt.show()

# %% [markdown]
# Look for two things. The dashed lines (mean students) lag the solid ones: the mean student is
# an average of the student's past weights, so it follows with a delay (after the moving average
# of the plot both look about as noisy). And ask which distance each mode pulls down: KD pulls the
# student itself towards the teacher; TAKD's blended target pulls it towards a point between its
# own mean student and the teacher, so it moves towards the teacher more gently. Which mean
# student ends closer to the teacher is therefore not decided by the names of the modes: read the
# ends of the dashed lines against each other before you answer, and remember that one seed is
# one sample (notebook 08 draws the spread over seeds).
#
# How do the three students do on the evaluation split? Each is scored with the weights chosen
# on the validation split, its own or its mean student's (the `weights` column), as DCASE keeps
# the better of the two. In the `tiny` preset all numbers are near zero: six steps only. The TAKD
# student uses the preset's blended target (section 3); compare its row with the supervised one
# before you credit TAKD with anything. One seed cannot separate rows that differ by less than
# the seed spread; notebook 08 runs three.

# %%
keys = ["psds1", "psds2", "f1_collar", "f1_intersection", "weights"]
pd.DataFrame.from_dict({m: {k: metrics[m].get(k) for k in keys} for m in metrics}, orient="index").round(3)

# %% [markdown]
# ### Is TAKD the more stable way to distil? Three seeds, recorded
#
# The paper's argument for TAKD is stability: the mean student is a slowly moving partner for
# the teacher, so the student should follow the teacher more steadily than with plain KD. One
# run cannot show that; the spread over seeds can. The course's three-seed ablation (notebook 08;
# about two and a half hours on 2 cores, so it is printed from its record here) kept every
# run's KD distances. Below: the mean over seeds (line) and the range of the seeds (band), for
# the `kd` students (KD to the teacher and consistency to the mean student: the dual-teacher
# setup the paper argues against) and the `takd` students (the blended target). Then the two
# rows of the table, with the seeds' sample standard deviation.

# %%
record = measured.read("ablation_course")
fig = plots_distill.plot_over_seeds(record["curves"]["kd_distance"], ("kd_student", "kd_mean"),
                                    ylabel="KD loss to the teacher", logy=True,
                                    panel_titles=("student", "mean student"),
                                    title="Distance to the teacher over training: kd against takd, over seeds")
plt.show()
measured.table("ablation_course").reindex(["student (supervised)", "student (kd)", "student (takd)"]).drop(
    columns="command").round(3)

# %% [markdown]
# Compare the width of the two bands, and the two `_std` columns: which mode's seeds agree more
# closely, during training and at the end? A narrower spread is what "stable" means here; a
# higher mean is a separate claim, and the table says whether it holds too.
#
# %% [markdown]
# ### Measuring the gradient choice
#
# The course's TAKD is the blended target. If `TRAIN_STRAIGHT_THROUGH` allows it, the next cell
# trains one more TAKD student with the straight-through gradient instead (`takd_blend=None`,
# `takd_gradient="straight_through"`; same data, seed and weights, in its own run folder) and adds
# it to the table.

# %%
if TRAIN_STRAIGHT_THROUGH or (TRAIN_STRAIGHT_THROUGH is None and SETUP.preset == "tiny"):
    cfg_st = dataclasses.replace(CFG.student_config("takd", SEED), takd_blend=None,
                                 takd_gradient="straight_through")
    loader = ctx.train_loader(batch_sizes=cfg_st.batch_sizes, seed=SEED, with_teacher=True, with_embeddings=False)
    result = train.train(models.SECRNN(CFG.student, seed=SEED), loader, cfg_st, preset=SETUP.preset,
                         run_dir=layout.student_run_dir(SETUP.cache_dir, "takd-straight_through", SEED))
    own_st, mean_st, _ = train.load_model_from_checkpoint(result.final_path, expected_kind="student")
    both_st = {"student": own_st.without_embedding_head(), "mean": mean_st.without_embedding_head()}
    kept_st = recipe.choose_weights({w: recipe.evaluate_model(ctx, m, "validation") for w, m in both_st.items()})
    metrics["takd (straight_through)"] = {**recipe.evaluate_model(ctx, both_st[kept_st]), "weights": kept_st}
    histories["takd (straight_through)"] = result.history
    fig = plots_distill.plot_kd_distances({m: histories[m] for m in ("takd", "takd (straight_through)")},
                                          window=window)
    plt.show()
else:
    print("Skipped: set TRAIN_STRAIGHT_THROUGH = True in the parameters cell to train it.")
pd.DataFrame.from_dict({m: {k: metrics[m].get(k) for k in keys} for m in metrics}, orient="index").round(3)

# %% [markdown]
# ### Interactive demo: one clip, three students
#
# Frame scores of the supervised, KD and TAKD mean students and of the teacher on one
# evaluation clip (the filled area is the ground truth). Pick a clip and a class.

# %%
ev = ctx.split("evaluation")
scores = {"teacher": ctx.teacher_outputs("evaluation")[0].numpy()}
for mode in ("supervised", "kd", "takd"):
    _, mean_model, _ = train.load_model_from_checkpoint(recipe.student_checkpoint(ctx, mode, SEED),
                                                        expected_kind="student")
    scores[f"{mode} (mean)"], _ = train.predict_scores(mean_model, ev.features, progress=False)
frame_s = ctx.encoder.frame_seconds
fig = widgets.clip_predictions_figure(0, scores, ev.strong, frame_seconds=frame_s, filenames=ev.filenames)
plt.show()
widgets.interactive_clip_predictions(scores, ev.strong, frame_seconds=frame_s, filenames=ev.filenames)

# %% [markdown]
# ## 5. Experiment 6.A: how hard should the student listen to the teacher? (6 min)
#
# Now you change a setting and train. Two short plain-KD runs (mode `kd`, a few minutes in all
# on a laptop in `course`, seconds in `tiny`) differ only in `w_kd`, the weight of the KD term:
# `0.25` and `4.0`. Both continue the supervised student of notebook 05 (from random weights, a few
# steps would leave every student on the all-zeros plateau); everything else is the preset's, and
# the runs are scored on the validation split. **Predict first**, and write it down in the next cell:
#
# 1. Which run ends closer to the teacher (the lower KD distance `kd_student` at the end)?
# 2. Does the same run also score higher on validation?
#
# Then run the cells. Running them again loads the runs instead of training them; change
# `W_KD_TRY` to try other weights (each new value is one more short run).

# %%
PREDICTION_6A = None  # your answer to question 1: "w_kd=0.25" or "w_kd=4.0"
W_KD_TRY = (0.25, 4.0)

# %%
runs_6a = [learner_runs.short_run(ctx, "kd", seed=SEED, w_kd=w) for w in W_KD_TRY]
fig = plots_distill.plot_loss_curves({r.name: r.history for r in runs_6a}, keys=("kd_student", "sup"),
                                     window=max(1, runs_6a[0].steps // 15), logy=True,
                                     title="Experiment 6.A: distance to the teacher, and the supervised loss")
plt.show()
closest = min(runs_6a, key=lambda r: r.final("kd_student"))
largest = max(runs_6a, key=lambda r: r.changes["w_kd"])
expected = ("A larger w_kd makes the KD term a larger share of the gradient, so the student's outputs move "
            "towards the teacher's faster. Whether that also helps detection is question 2: see the table.")
unexpected = ("Not the largest weight: over so few steps the warm-up and the noise of single batches can "
              "outweigh the KD weight. Look at the curves: do they cross? Rerun with another SEED.")
learner_runs.check_prediction("6.A", PREDICTION_6A, choices=[r.name for r in runs_6a], outcome=closest.name,
                              why={r.name: expected if r is largest else unexpected for r in runs_6a})
learner_runs.runs_table(runs_6a, extra={"final kd_student": [r.final("kd_student") for r in runs_6a]})

# %% [markdown]
# ### Think!
#
# Explain what you saw. Did the run that ended closer to the teacher also score higher on
# validation? Give two reasons why it need not.
#
# <!-- BEGIN ANSWER -->
# Being closer to the teacher helps only as far as the teacher is right: where the teacher
# errs, a student that listens harder copies its errors. A large `w_kd` can also crowd out the
# supervised term, so that the student learns less from the labels in the same steps: compare the
# two runs' `sup` curves (in short runs they often overlap, and then this reason did not bite in
# your run). And a difference between two short runs of one seed is only worth
# something when it is larger than the seed spread (notebook 08); rerun with another `SEED` to see
# how much the table moves. The direction in question 1 is robust; the answer to question 2 is
# what the ablation has to measure with full runs and several seeds.
# <!-- END ANSWER -->

# %% [markdown]
# ## Summary
#
# - The mean student is the EMA of the student's weights, `θ̄ ← a·θ̄ + (1-a)·θ` with the warm
#   start `a_t = min(1 - 1/(t+1), α)`: a smoothed, slowly changing copy of the student.
# - KD on SED outputs: binary KL between teacher and student probabilities, frame and clip terms.
# - TAKD puts the KD loss on the mean student; `mean_student_forward` builds the mean student's
#   weights from θ so the gradient reaches the student: exactly and scaled by `(1-a)`
#   (`"interpolated"`) or unscaled at the lagging weights (`"straight_through"`). The course uses
#   a third reading, measured to be the only one that helps: one blended target
#   `0.5·mean student + 0.5·teacher` (`takd_blend=0.5`).
# - The training histories show the distance of student and mean student to the teacher; the
#   mean student's curve is the smooth one.
# - A larger KD weight brings the student closer to the teacher; whether it detects better is
#   a separate, measured question (Experiment 6.A).
#
# ## Check your understanding
#
# 1. With `α = 0.999`, at which step does the decay reach its cap, and what is the mean student
#    before that?
# 2. Why is BCE(p, t) not zero when the student copies the teacher, and why does that not matter
#    for the gradient?
# 3. In TAKD with `"interpolated"` weights, what would happen to the KD signal if `α` were 0?
# 4. Why does the recipe consider the mean student for evaluation and deployment at all, and why
#    does the course still choose per run between it and the student?
#
# <!-- BEGIN ANSWER -->
#
# 1. `1 - 1/(t+1) = 0.999` at `t = 999`. Before that, `a_t = 1 - 1/(t+1)` makes θ̄ the plain
#    average of all student states θ_0 ... θ_t seen so far.
# 2. BCE(t, t) is the teacher's entropy: an uncertain teacher (t = 0.5) has a large one. It does
#    not depend on the student, so its gradient with respect to the student is zero: KL and BCE
#    give the same update.
# 3. With `α = 0` the mean student *is* the student (θ_mix = θ) and TAKD becomes plain KD, with
#    the full gradient.
# 4. The averaging removes the noise of the last steps (a cheap ensemble over training time),
#    and it has the student's architecture, so it costs the same on the device. But it also
#    remembers earlier, worse weights; in a short run that can outweigh the smoothing. Which
#    one is better is therefore measured per run on the validation split (DCASE keeps the better
#    of the two as well), and the ablation reports both.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - A. Tarvainen, H. Valpola, *Mean teachers are better role models*, NeurIPS 2017,
#   [arXiv 1703.01780](https://arxiv.org/abs/1703.01780).
# - G. Hinton, O. Vinyals, J. Dean, *Distilling the Knowledge in a Neural Network*, 2015,
#   [arXiv 1503.02531](https://arxiv.org/abs/1503.02531).
# - Y. Xiao, R. K. Das, *Dual Knowledge Distillation for Efficient Sound Event Detection*,
#   [arXiv 2402.02781](https://arxiv.org/abs/2402.02781), Section 3.1 (TAKD).
