# %% [markdown]
# # 08 · Dual KD end to end, and the ablation table
#
# Everything comes together: the student learns from the labels, from the teacher *through its
# mean student* (TAKD, notebook 06) and from the embedding model *through its embedding
# distillation layer* (EEFD, notebook 07), at the same time. This notebook assembles the total
# loss, runs the ablation (supervised, KD, TAKD, EEFD and dual students, beside the teacher),
# sets our table beside the paper's, and looks at what the distilled student does differently on
# real clips.
#
# **Objectives.** After this notebook you can
# 1. write the total loss of every distillation mode;
# 2. run the ablation with the course pipeline, over one or more seeds;
# 3. read the table and the figures: which parts of dual KD help, by how much, at what size, and
#    how that compares with the paper's results on real DESED;
# 4. compare the teacher's, the supervised student's and the dual student's predictions on the
#    same clip;
# 5. predict and measure what dual KD adds to a student trained on labels, with a short run.
#
# **Prerequisites.** Notebooks 03-07.
#
# **Time.** About 40 minutes with the cached runs of notebooks 05-07 (training the missing runs
# adds 10-15 minutes per student run on one core in the `course` preset): set-up 2 min · the total loss
# (Exercise 8.1) 6 min · the ablation 8 min · figures and learning curves 9 min · clips 5 min · your experiment
# (8.A) 7 min · questions 3 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import copy
import json
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from dualkd_lib import distill, layout, models, train
from dualkd_lib import recipe
from dualkd_lib.teaching import exercises, learner_runs, measured, plots_distill, setup, widgets

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>
SEEDS = [0]  # student seeds of the ablation; more seeds give error bars, each adds 5 student runs

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
CFG = SETUP.config()
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root, work_dir=SETUP.cache_dir)
ABLATION_DIR = layout.ablation_dir(SETUP.cache_dir)
STUDENT_TRAIN = CFG.student_train
print(f"preset {SETUP.preset!r}: seeds {SEEDS}; w_kd = {STUDENT_TRAIN.w_kd}, w_emb = {STUDENT_TRAIN.w_emb}, "
      f"consistency up to {STUDENT_TRAIN.cons_max} (ramp-up {STUDENT_TRAIN.cons_rampup_steps} steps)")

# %% [markdown]
# ## 1. The total loss (6 min)
#
# Every mode trains the same student with the same semi-supervised core, and adds its
# distillation terms:
#
# $$L = L_{sup} + w_{cons}(t)\,L_{cons} + w_{kd}\,L_{KD/TAKD} + w_{emb}\,L_{EEFD}$$
#
# | mode | KD term | EEFD term |
# |---|---|---|
# | supervised | - | - |
# | kd | `kd_loss(student, teacher)` | - |
# | takd | TAKD (see below) | - |
# | eefd | - | `eefd_loss(embedding_pred, embeddings)` |
# | dual | TAKD (see below) | `eefd_loss(embedding_pred, embeddings)` |
#
# TAKD is the course's blended reading (notebook 06, `takd_blend = 0.5`): the consistency target
# becomes `0.5·mean student + 0.5·teacher`, and that one term is also the KD term
# (`terms["kd"]` equals `terms["cons"]`, weighted `w_cons(t) + w_kd`). With `takd_blend=None` the
# KD term is `kd_loss(mean student, teacher)` through `mean_student_forward` instead.
#
# The training step (`train.training_step`) computes the terms of a batch in a dict: `sup`,
# `cons`, `kd` (TAKD's term in takd and dual), `emb`, plus two diagnostics,
# `kd_student` and `kd_mean`, that are logged for plots and never enter the loss.
#
# ### Exercise 8.1
#
# Write `total_loss(terms, mode, w_cons, w_kd, w_emb)`. `terms` always holds every key; only
# the mode's terms count (`distill.mode_uses(mode, "kd")`, `distill.mode_uses(mode, "emb")`
# say which). `w_cons` is already this step's ramped-up weight.

# %% tags=["exercise"]
def total_loss(terms, mode, w_cons, w_kd, w_emb):
    """The training loss of one batch for a distillation mode, from its loss terms (scalar tensors)."""
    # BEGIN SOLUTION Exercise 8.1: assemble the total loss of a distillation mode
    loss = terms["sup"] + w_cons * terms["cons"]
    if distill.mode_uses(mode, "kd"):
        loss = loss + w_kd * terms["kd"]
    if distill.mode_uses(mode, "emb"):
        loss = loss + w_emb * terms["emb"]
    return loss
    # END SOLUTION


# %%
total_loss = exercises.check("8.1", total_loss)

# %% [markdown]
# Your function against the library's training step, on one real training batch of the dual
# mode (a fresh student, step 100):

# %%
loader = ctx.train_loader(batch_sizes=STUDENT_TRAIN.batch_sizes, seed=SEED, with_teacher=True)
batch = next(iter(loader))
student = models.SECRNN(CFG.student, seed=SEED)
mean_student = copy.deepcopy(student).eval()
cfg = CFG.student_config("dual", SEED)
step = 100
loss, terms = train.training_step(student, mean_student, batch, cfg, step)
w_cons = cfg.cons_max * distill.sigmoid_rampup(step, cfg.cons_rampup_steps)
print({k: round(float(v.detach()), 4) for k, v in terms.items()})
mine = total_loss(terms, "dual", w_cons, cfg.w_kd, cfg.w_emb)
print(f"training_step: {float(loss.detach()):.6f}   total_loss: {float(mine.detach()):.6f}")

# %% [markdown]
# ## 2. The ablation (8 min)
#
# `recipe.run_ablation` evaluates the frozen teacher (trained once, seed 0) and trains (or
# loads) a student in each of the five modes for every seed in `SEEDS`. For every student run it
# scores both the student's own weights and its mean student on the *validation* split, keeps the
# better of the two (as DCASE keeps the better of student and mean teacher; the `weights` column
# says which), and reports that one on the evaluation split, with both weights' evaluation scores
# in the last two columns. Runs finished in notebooks 05-07 are reused; in the `course`
# preset each missing student run takes 10-15 minutes on one core, two runs at a time on 2 cores
# (the bars show progress).
# The table gives mean ± standard deviation over seeds (a spread of zero with one seed).

# %%
t0 = time.perf_counter()
table = recipe.run_ablation(ctx, seeds=SEEDS, out_dir=ABLATION_DIR)
print(f"ablation ready in {time.perf_counter() - t0:.0f} s; written to {ABLATION_DIR}")
display(Markdown(table))
ablation = json.loads((ABLATION_DIR / "ablation.json").read_text())
summary = ablation["models"]

# %% [markdown]
# ### Beside the paper
#
# The paper reports on the real DESED public evaluation set (`plots_distill.PAPER_SOURCE`):

# %%
print(plots_distill.PAPER_SOURCE)
plots_distill.paper_table()

# %% [markdown]
# The two tables cannot be compared number for number: different data (generated here, real
# recordings there), far smaller models and training here, and the paper's baseline is the DCASE
# CRNN, while our reference is our own teacher. What *can* be compared is the **story**: does the
# dual student beat the student trained on labels alone, do TAKD and EEFD each help, and how
# close does a model a fraction of the teacher's size get to it?

# %%
by_name = {row["name"]: row for row in summary}
sup, dual = by_name["student (supervised)"], by_name["student (dual)"]
teacher_row = by_name["teacher (CRNN + embeddings)"]
paper = plots_distill.PAPER_RESULTS
story = pd.DataFrame({
    "ours: dual - supervised student": {m: dual[m] - sup[m] for m in ("psds1", "psds2")},
    "ours: dual student - teacher": {m: dual[m] - teacher_row[m] for m in ("psds1", "psds2")},
    "paper: DualKD student - DCASE baseline": {
        m: paper["SE-CRNN-16 with DualKD"][m] - paper["DCASE 2023 baseline CRNN"][m] for m in ("psds1", "psds2")},
}).T
print(f"our deployed student has {sup['params'] / teacher_row['params']:.2f} x the teacher's parameters")
story.round(3)

# %% [markdown]
# ## 3. The figures (9 min)
#
# Left: PSDS1 per model (mean over seeds, error bars of one standard deviation when there are several
# seeds); right: PSDS2. The black horizontal lines are the paper's numbers on real DESED, for orientation
# only. Below: accuracy against size.

# %%
fig = plots_distill.plot_mode_bars(summary, metrics=("psds1", "psds2"))
plt.show()
fig = plots_distill.plot_psds_vs_params(summary, metric="psds1")
plt.show()

# %% [markdown]
# ### Learning curves
#
# How each student got there: its validation PSDS after every epoch (the kept weights' choice
# aside, this is the mean student, which `train` validates), on the first
# `CFG.evaluation.curve_clips` validation clips plus one clip of every class they miss: a quick,
# noisier reading than the table's full split. Look for which modes rise earlier, and whether
# a curve is still rising at the end (more steps would help) or has flattened. A run trained
# before the preset recorded curves, or one shorter than an epoch (`tiny`), has no curve and is
# left out.

# %%
curves = {mode: train.load_checkpoint(recipe.student_checkpoint(ctx, mode, SEEDS[0]))["extra"]
          .get("val_history", []) for mode in distill.STUDENT_MODES}
if any(curves.values()):
    fig = plots_distill.plot_learning_curves(curves)
    plt.show()
else:
    print(f"No learning curve recorded: the runs are shorter than an epoch or were trained without one "
          f"(curve_clips = {CFG.evaluation.curve_clips}).")

# %% [markdown]
# ### Think!
#
# With one seed, a difference of 0.01 PSDS between two students can be noise: a different seed
# changes the initial weights, the batch order and the dropout. How would you decide whether
# "dual beats eefd" (or "dual beats the teacher") on this data? (Set `SEEDS = [0, 1, 2]` and re-run, if you have the
# time: each extra seed costs five student runs.)
#
# <!-- BEGIN ANSWER -->
# Train several seeds of each (at least three), and compare the difference of the means with the
# spread across seeds: a claim holds when the difference is clearly larger than the seeds' spread
# (for instance when dual wins on every seed, compared seed by seed, on PSDS1 and PSDS2). Choose
# every setting on the validation split and report on evaluation. "Dual beats the teacher" needs
# the same care, with the teacher's own spread.
# <!-- END ANSWER -->

# %% [markdown]
# ### The answer for this course: three seeds, recorded
#
# The course ran that experiment for you: the runs of `dualkd ablation --preset course --seeds 3`,
# three seeds a row (the shipped teacher and the linear probe are one model each; the cell lists
# any run the record lacks, and the `seeds` column counts what each row holds). It takes hours
# on a laptop, so its record is printed here (`dualkd_lib.teaching.measured`; the record names the machine
# and `benchmarks/record_ablation.py` rewrites it from a finished work folder). Each student row
# gives the mean over seeds and the sample standard deviation (`_std`), and per seed which weights
# were kept on validation.

# %%
record = measured.read("ablation_course")
print(record["what"])
print("machine:", record["machine"])
if record["missing"]:
    print("not in the record:", ", ".join(record["missing"]))
recorded = measured.table("ablation_course").drop(columns="command")
recorded["weights kept"] = [", ".join(w or "-" for w in row["weights"]) for row in record["rows"]]
recorded.round(3)

# %% [markdown]
# And how each student got there: the validation PSDS after every epoch, the mean over the
# three seeds (line) and their range (band). Where does each mode leave the all-zeros plateau,
# and which rows' bands overlap at the end?

# %%
fig = plots_distill.plot_over_seeds(record["curves"]["validation"], ("psds1", "psds2"), ylabel="validation PSDS",
                                    panel_titles=("PSDS1", "PSDS2"),
                                    title="Validation PSDS over training, every student mode, over seeds")
plt.show()
sup_row, dual_row = recorded.loc["student (supervised)"], recorded.loc["student (dual)"]
for metric in ("psds1", "psds2"):
    lead = dual_row[metric] - sup_row[metric]
    print(f"{metric}: dual leads the supervised student by {lead:+.3f}, "
          f"{lead / max(sup_row[f'{metric}_std'], dual_row[f'{metric}_std']):.1f} times the larger seed spread")

# %% [markdown]
# ## 4. Same clip, three models (5 min)
#
# Frame scores of the teacher, the supervised student and the dual student on evaluation clips,
# each student with the weights the ablation kept for it (its own or its mean student's, chosen on
# the validation split; the name says which). For the dual run we also draw the other weights.
# We open two clips chosen by a rule, not by eye: the clip where the dual student's frame error
# (binary cross-entropy against the frame labels) improves most over the supervised one, and the
# clip where it gets worst. Use the slider to browse the others.

# %%
ev = ctx.split("evaluation")
scores = {"teacher": ctx.teacher_outputs("evaluation")[0].numpy()}
kept = {}  # mode -> the name of its kept weights in `scores`
for mode in ("supervised", "dual"):
    student_model, mean_model, _ = train.load_model_from_checkpoint(
        recipe.student_checkpoint(ctx, mode, SEEDS[0]), expected_kind="student")
    chosen = recipe.run_metrics(ctx, "student", mode, SEEDS[0])["weights"]  # "student" or "mean"
    for weights, model in (("student", student_model), ("mean", mean_model)):
        if weights == chosen or mode == "dual":
            name = f"{mode} ({'own weights' if weights == 'student' else 'mean student'}"
            name += ", kept)" if weights == chosen else ")"
            scores[name], _ = train.predict_scores(model, ev.features, progress=False)
            if weights == chosen:
                kept[mode] = name
print("kept on validation:", kept)


def frame_bce(s):
    s = torch.as_tensor(s).clamp(1e-7, 1 - 1e-7)
    return torch.nn.functional.binary_cross_entropy(s, ev.strong.float(), reduction="none").mean(dim=(1, 2)).numpy()


gain = frame_bce(scores[kept["supervised"]]) - frame_bce(scores[kept["dual"]])
best, worst = int(np.argmax(gain)), int(np.argmin(gain))
print(f"dual improves the frame BCE on {np.mean(gain > 0):.0%} of the {len(gain)} evaluation clips")
frame_s = ctx.encoder.frame_seconds
for clip, what in ((best, "largest improvement"), (worst, "largest degradation")):
    fig = widgets.clip_predictions_figure(clip, scores, ev.strong, frame_seconds=frame_s, filenames=ev.filenames)
    fig.suptitle(f"{what} of dual over supervised", y=1.02, fontsize=10)
    plt.show()

# %%
widgets.interactive_clip_predictions(scores, ev.strong, frame_seconds=frame_s, filenames=ev.filenames)

# %% [markdown]
# Things to look for: onsets and offsets (PSDS1 rewards sharp, well-placed edges), short events
# (Dog, Dishes, Cat) that a small student tends to miss or smear, and classes the supervised
# student confuses that the teacher does not (PSDS2 penalises cross-triggers). Compare the dual
# student's own weights with its mean student (the kept one is marked): they are averages of
# each other's past, so they mostly agree, and where they differ neither is always the better.

# %% [markdown]
# ## 5. Experiment 8.A: what does distillation add to a student that has learnt from labels? (7 min)
#
# Two short runs (a few minutes in all on a laptop in `course`, seconds in `tiny`) continue the
# supervised student of the ablation, from the weights the ablation kept for it: one on the
# labels alone (mode `supervised`), one with dual KD (mode `dual`: TAKD and EEFD added). Both are
# scored on the validation split. **Predict first**: which continuation ends higher (mean of
# PSDS1 and PSDS2)? Write it in the next cell.

# %%
PREDICTION_8A = None  # "dual higher" or "supervised higher"
SHORT_STEPS = None  # None: learner_runs.SHORT_RUN_STEPS of the preset; try more or fewer


# %%
def val_score(metrics):
    return (metrics["psds1"] + metrics["psds2"]) / 2


start_metrics = recipe.run_metrics(ctx, "student", "supervised", SEED)
runs_8a = {mode: learner_runs.short_run(ctx, mode, seed=SEED, steps=SHORT_STEPS, name=f"{mode}, continued")
           for mode in ("supervised", "dual")}
gain = {mode: val_score(r.validation) - val_score(start_metrics["both_weights"][start_metrics["weights"]]["validation"])
        for mode, r in runs_8a.items()}
outcome_8a = ("dual higher" if gain["dual"] > gain["supervised"] else
              "supervised higher" if gain["dual"] < gain["supervised"] else "the same (a tie)")
why_8a = {
    "dual higher": "The teacher's soft outputs (on the weak and unlabelled clips too) and the embeddings carry "
                   "information the labels do not, so a student that has learnt what its labels teach can still "
                   "move towards them.",
    "supervised higher": "New loss terms first disturb a student tuned to its labels: TAKD and EEFD pull its weights "
                         "elsewhere (the embedding distillation layer starts untrained), and a gain, if any, needs "
                         "more steps. Or the teacher knows little the student does not: compare the ablation's rows.",
    "the same (a tie)": "The two continuations score the same (in tiny every PSDS is near zero): nothing to tell apart.",
}
learner_runs.check_prediction("8.A", PREDICTION_8A, choices=("dual higher", "supervised higher"), outcome=outcome_8a,
                              why=why_8a)
learner_runs.runs_table(list(runs_8a.values()), extra={"val gain over the start": [gain[m] for m in runs_8a]})

# %% [markdown]
# ### Think!
#
# Explain what you saw. Is one short run of one seed enough to say that dual KD helps a trained
# student, and what would you run to know?
#
# <!-- BEGIN ANSWER -->
# No. Distillation adds information the labels do not carry (the teacher's outputs on unlabelled
# clips, the embeddings' context) and a regulariser, but in a few steps the new terms also
# disturb a student tuned to its labels, and two short runs differ by noise too. To know, continue
# (or train) both for the full budget over several seeds and compare the difference with the
# seeds' spread; that is what the ablation table does from random weights. A gain that appears
# only on some seeds is not yet a result.
# <!-- END ANSWER -->

# %% [markdown]
# ## Summary
#
# - The total loss is `sup + w_cons(t)·cons`, plus the KD term (on the student in `kd`; in `takd`
#   and `dual` the consistency to the blended target `0.5·mean student + 0.5·teacher`) and the
#   EEFD term (`eefd`, `dual`).
# - `recipe.run_ablation` trains and evaluates every mode for the chosen seeds, reusing every
#   finished run, and writes `ablation.md` / `ablation.json`.
# - Compare orderings with the paper, not values: the data, models and training budget differ.
#   The paper's claim is that dual KD lifts a one-third-size student above the baseline.
# - With one seed, small differences are not evidence; error bars over seeds are.
# - What distillation adds to a trained student is a measured question (Experiment 8.A, one seed).
#
# ## Check your understanding
#
# 1. In which modes does `kd_mean` appear in the history, and in which does it enter the loss?
# 2. Why is the choice between a student's own weights and its mean student made on the
#    validation split, and not on the evaluation split the table reports?
# 3. The dual student has the same deployed size as the supervised one. Where did the extra
#    training cost go, and does any of it reach the device?
# 4. A student beats the teacher on PSDS2 but not on PSDS1. What does that suggest about its
#    predictions?
#
# <!-- BEGIN ANSWER -->
#
# 1. It is logged whenever the batch has teacher outputs (kd, takd, dual). With the course's
#    blended TAKD it never enters the loss: the KD term is then the consistency to the blended
#    target. With `takd_blend=None` it *is* the KD term (`kd`) in takd and dual; in kd it is
#    always only a diagnostic.
# 2. Choosing on the evaluation split would tune on the test: the reported number would be the
#    maximum of two noisy scores, biased upwards. Choosing on validation, then reporting on
#    evaluation, keeps the evaluation split unseen. Neither weight is better in every run: the
#    table gives both, so you can see how often the smoothed mean student wins.
# 3. Into the frozen teacher's and embedding model's outputs (computed once and cached), the mean
#    student's extra forward pass, and the embedding distillation layer, all during training only.
#    None reaches the device: the deployed model is the student alone.
# 4. PSDS2 is tolerant in time and penalises class confusions; PSDS1 needs precise onsets and
#    offsets. The student recognises classes well but places the boundaries less precisely.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - Y. Xiao, R. K. Das, *Dual Knowledge Distillation for Efficient Sound Event Detection*,
#   [arXiv 2402.02781](https://arxiv.org/abs/2402.02781), Section 4 (experiments).
# - C. Bilen et al., *A Framework for the Robust Evaluation of Sound Event Detection*,
#   [arXiv 1910.08440](https://arxiv.org/abs/1910.08440) (PSDS and its scenarios).
# - X. Bouthillier et al., *Accounting for Variance in Machine Learning Benchmarks*, MLSys 2021,
#   [arXiv 2103.03098](https://arxiv.org/abs/2103.03098) (why seeds matter).
