# %% [markdown]
# # 07 · EEFD: embedding-enhanced feature distillation
#
# The teacher of notebook 03 is strong partly because it reads the frame embeddings of a large
# pre-trained model (BEATs in DCASE 2023, our embedding model here). The student cannot afford
# that model on a device. The paper's second idea, **embedding-enhanced feature distillation
# (EEFD)**, lets the student *learn to predict* those embeddings from its own CNN features while
# it trains, through a small **embedding distillation layer**. The knowledge stays in the
# student's CNN; the layer is thrown away afterwards.
#
# **Objectives.** After this notebook you can
# 1. say where the embedding distillation layer sits, what it predicts and why it costs nothing
#    at inference;
# 2. write the EEFD loss in its MSE and cosine forms;
# 3. train an EEFD student and measure, frame by frame, how close its projected features get to
#    the frozen embeddings;
# 4. compare it with the supervised student;
# 5. choose between the MSE and the cosine loss by a prediction and a short run.
#
# **Prerequisites.** Notebooks 03 (the embedding model), 05 (the student and its
# `embedding_head`) and 06 (the training runs).
#
# **Time.** About 41 minutes: set-up 2 min · the layer 5 min · EEFD loss (Exercise 7.1) 7 min ·
# training 5 min · similarity 8 min · one clip and the frames in 2-D 5 min · results 3 min ·
# your experiment (7.A) 6 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from dualkd_lib import models, train
from dualkd_lib import recipe
from dualkd_lib.teaching import exercises, learner_runs, plots_distill, setup

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
CFG = SETUP.config()
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root, work_dir=SETUP.cache_dir)
FRAME_SECONDS = ctx.encoder.frame_seconds
print(f"preset {SETUP.preset!r}: EEFD loss {CFG.student_train.eefd_kind!r} with weight w_emb = {CFG.student_train.w_emb}")

# %% [markdown]
# ## 1. The embedding distillation layer (5 min)
#
# The student's CNN turns every output frame into a feature vector of `cnn_out_dim` numbers
# (channels × remaining frequency bins). The embedding distillation layer is a single
# `Linear(cnn_out_dim, emb_dim)` applied to each frame, **before the GRU**. Its output,
# `embedding_pred [batch, emb_dim, frames]`, is compared with the frozen embedding model's frame
# embeddings of the same clip (already at the same frame rate, notebook 03):
#
# ```
# log-mel ─► CNN ─► features [B, T, cnn_out_dim] ─► GRU ─► strong / weak heads
#                          │
#                          └─► embedding_head (Linear) ─► embedding_pred ◄─ EEFD loss ─► frozen embeddings
# ```
#
# The gradient of the EEFD loss flows through the layer *into the CNN*: to predict the
# embeddings well, the CNN must extract what the large model extracts. The layer itself is a
# small adapter; it branches off, so the SED outputs never depend on it, and it is removed before
# deployment (notebook 05).

# %%
student = models.SECRNN(CFG.student, seed=SEED)
x = ctx.split("validation").features[:2]
with torch.no_grad():
    feats = student.cnn_features(x)
    out = student(x)
target = ctx.embeddings("validation")[:2]
print("CNN features            ", tuple(feats.shape), "= [batch, frames, cnn_out_dim]")
print("embedding_head          ", student.embedding_head, f"({models.count_parameters(student.embedding_head):,} parameters)")
print("embedding_pred          ", tuple(out.embedding_pred.shape), "= [batch, emb_dim, frames]")
print("frozen frame embeddings ", tuple(target.shape))

# %% [markdown]
# ### Exercise 7.1: the EEFD loss
#
# Two ways to measure the distance between prediction and target, both `[B, D, T]`:
#
# - `"mse"`: the mean squared error over all `B·D·T` numbers. Asks for the same *values*.
# - `"cosine"`: for every frame (each `b`, `t`), `1 - cos(pred[b, :, t], target[b, :, t])`, averaged
#   over the `B·T` frames. Asks only for the same *direction*, whatever the scale.
#
# Our embeddings come out of a LayerNorm per frame (about zero mean and unit variance over the
# `D` dimensions, up to its learned gain and bias), so their scale is fixed and both losses make sense; the presets use MSE.
# Write `eefd(pred, target, kind)` for both kinds.

# %% tags=["exercise"]
def eefd(pred, target, kind="mse"):
    """EEFD loss between predicted and frozen embeddings [B, D, T]: 'mse' or 'cosine' (a scalar)."""
    # BEGIN SOLUTION Exercise 7.1: write the EEFD loss (MSE and cosine)
    if kind == "mse":
        return ((pred - target) ** 2).mean()
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=1)  # [B, T]: one per frame
    return (1 - cos).mean()
    # END SOLUTION


# %%
eefd = exercises.check("7.1", eefd)

# %%
print("fresh student, MSE   :", float(eefd(out.embedding_pred, target, "mse")))
print("fresh student, cosine:", float(eefd(out.embedding_pred, target, "cosine")), "(1 = unrelated directions)")

# %% [markdown]
# ## 2. Train the EEFD student (5 min)
#
# The `eefd` mode adds `w_emb · L_EEFD` to the supervised and consistency losses (no teacher
# KD yet; notebook 08 combines both). The pipeline loads the finished run, or trains it (a few
# seconds in `tiny`, 10-15 minutes on one core in `course` if not cached). We also load the supervised student for
# comparison: it has the same `embedding_head`, but nothing ever trains it, so it stays at its
# random initial weights.

# %%
runs, histories = {}, {}
for mode in ("supervised", "eefd"):
    t0 = time.perf_counter()
    runs[mode] = recipe.train_student(ctx, mode, seed=SEED)
    histories[mode] = train.load_checkpoint(runs[mode])["history"]
    print(f"{mode:>10}: ready in {time.perf_counter() - t0:5.1f} s")
window = max(1, len(histories["eefd"]) // 40)
fig = plots_distill.plot_loss_curves(histories, keys=("sup", "emb"), window=window,
                                     title="Supervised loss, and the EEFD loss of the eefd run")
plt.show()

# %% [markdown]
# ## 3. How close do the student's features get to the embeddings? (8 min)
#
# On the evaluation split (never trained on), we run both students, each with the weights kept
# on the validation split, take their `embedding_pred`, and compute the cosine similarity of every
# frame with the frozen embedding (`plots_distill.frame_cosine_similarity`, `[clips, frames]`). As
# a reference, the last panel compares each clip's embeddings with *another* clip's: how similar
# embeddings are anyway.

# %%
ev = ctx.split("evaluation")
ev_emb = ctx.embeddings("evaluation")
kept_models = {}
for mode in ("supervised", "eefd"):
    own, mean, _ = train.load_model_from_checkpoint(runs[mode], expected_kind="student")
    weights = recipe.run_metrics(ctx, "student", mode, SEED)["weights"]  # chosen on validation
    kept_models[mode] = (mean if weights == "mean" else own).eval()
    print(f"{mode:>10}: kept weights = {weights}")


@torch.no_grad()
def predicted_embeddings(model):
    return torch.cat([model(ev.features[i:i + 32]).embedding_pred for i in range(0, len(ev), 32)])


preds = {mode: predicted_embeddings(m) for mode, m in kept_models.items()}
similarity = {f"{mode} student": plots_distill.frame_cosine_similarity(preds[mode], ev_emb) for mode in preds}
similarity["another clip's embeddings"] = plots_distill.frame_cosine_similarity(torch.roll(ev_emb, 1, dims=0), ev_emb)
fig = plots_distill.plot_similarity_heatmap(similarity, frame_seconds=FRAME_SECONDS)
plt.show()
pd.DataFrame({name: {"mean cosine": s.mean(), "median": np.median(s), "frames with cosine > 0.5": (s > 0.5).mean()}
              for name, s in similarity.items()}).T.round(3)

# %% [markdown]
# Each row of a heatmap is one evaluation clip, each column one output frame; the brighter, the
# more the student's projected features point the same way as the embedding model's. The three
# panels share one colour scale, stretched over their own range (the colour bar gives it), so
# that differences show even where every cosine is high; `scale="full"` draws -1 to 1 instead. The supervised
# student's head was never trained, so it shows how similar a random projection of the student's
# features happens to be. Read the EEFD panel against it and against the third panel: only the
# similarity *above* "another clip's embeddings" is clip-specific knowledge the student has picked
# up. (In `tiny`, 6 steps are not enough to move far, and the barely trained embedding model gives
# almost the same embedding to every frame, so the third panel is close to 1.) Where the EEFD
# student's similarity stays low, look at the clip: the embedding model sees temporal context
# (its dilated convolutions span about a second around each frame) that the student's CNN has to
# reconstruct from its own, shorter view.
#
# ### Think!
#
# The student's CNN features could match the embeddings perfectly through the linear layer and
# still not help detection. What would have to be true of the embeddings for EEFD to help the
# student's strong and weak heads? (Look back at notebook 03: how much did the teacher lose when
# it got the wrong clip's embeddings?)
#
# <!-- BEGIN ANSWER -->
# The embeddings must carry what the heads need and the labels alone do not give the student:
# which classes are present and on which frames, in a form a small GRU can read out, and it must
# hold on the evaluation clips too (and across recording domains, where the data has two). Embeddings that
# encode something else (the room, the level) cost the student capacity and can hurt. Notebook
# 03's wrong-embeddings test and the linear probe measure exactly this.
# <!-- END ANSWER -->

# %% [markdown]
# ### One clip up close
#
# The targets and the EEFD student's predictions for one clip, on one colour scale, and the
# cosine of every frame under them. The clip is chosen by a rule: the median clip of the EEFD
# student's mean cosine, a typical one. Change `clip` to look at others.

# %%
order = np.argsort(similarity["eefd student"].mean(axis=1))
clip = int(order[len(order) // 2])
fig = plots_distill.plot_embedding_pair(preds["eefd"][clip], ev_emb[clip], frame_seconds=FRAME_SECONDS,
                                        title=f"evaluation clip {ev.filenames[clip]}: targets and EEFD predictions")
plt.show()

# %% [markdown]
# ### The frames in two dimensions
#
# Each point is one evaluation frame on which exactly one class is active, coloured by that class.
# Left, the embedding model's frames, on their two principal axes: classes that form clouds of
# their own are what a linear head can read out (the ablation's linear-probe row, notebook 08). Middle, the EEFD
# student's predictions, projected on the *same* two axes: where they land on the targets' clouds,
# the student has learnt that part of the embedding space. Right, the supervised student's own CNN
# features (no embedding head involved), on their own axes: the structure a student finds from
# the labels alone. Two axes keep only part of the variance, so clouds that overlap here may still
# be apart in the full space.

# %%
clip_i, frame_i, frame_class = plots_distill.single_class_frames(ev.strong)
with torch.no_grad():
    sup_cnn = torch.cat([kept_models["supervised"].cnn_features(ev.features[i:i + 32]) for i in range(0, len(ev), 32)])
target_frames = ev_emb.permute(0, 2, 1)[clip_i, frame_i].numpy()
points = {
    "target embeddings": plots_distill.pca_2d(target_frames),
    "EEFD student's predictions (targets' axes)": plots_distill.pca_2d(
        preds["eefd"].permute(0, 2, 1)[clip_i, frame_i].numpy(), target_frames),
    "supervised student's CNN features": plots_distill.pca_2d(sup_cnn[clip_i, frame_i].numpy()),
}
print(f"{len(frame_class)} frames with exactly one active class, of {ev.strong.shape[0] * ev.strong.shape[2]}")
fig = plots_distill.plot_embedding_projection(points, frame_class)
plt.show()

# %% [markdown]
# ## 4. Does it help? (3 min)
#
# The metrics of the two students on the evaluation split, each with the weights chosen on the
# validation split (the `weights` column), and their deployed sizes: identical, because the
# embedding distillation layer is removed. In the `tiny` preset all scores are near zero. In the
# `course` preset, read the EEFD row against the supervised one and against the teacher of
# notebook 03: a student above its teacher would mean that the embeddings hand it something the
# teacher does not have (think of what the embedding model was trained on).

# %%
keys = ["psds1", "psds2", "f1_collar", "f1_intersection", "params", "weights"]
pd.DataFrame.from_dict({mode: {k: recipe.run_metrics(ctx, "student", mode, SEED)[k] for k in keys}
                        for mode in ("supervised", "eefd")}, orient="index").round(3)

# %% [markdown]
# ## 5. Experiment 7.A: which EEFD loss? (6 min)
#
# Two short EEFD runs (a few minutes in all on a laptop in `course`, seconds in `tiny`) differ
# only in `eefd_kind`: `"mse"` against `"cosine"` (your Exercise 7.1). Both continue the supervised
# student, whose embedding distillation layer was never trained: the runs teach it. Both are scored on the
# validation split: the mean cosine similarity of their predicted embeddings with the frozen ones
# (as in section 3), and their PSDS. **Predict first**: which loss gives predicted embeddings that
# point more the same way as the targets (the higher mean cosine)? Write it in the next cell.

# %%
PREDICTION_7A = None  # "eefd_kind=mse" or "eefd_kind=cosine"
EEFD_KINDS_TRY = ("mse", "cosine")

# %%
runs_7a = [learner_runs.short_run(ctx, "eefd", seed=SEED, eefd_kind=kind) for kind in EEFD_KINDS_TRY]
cosines_7a = [learner_runs.embedding_cosine(ctx, r, "validation") for r in runs_7a]
why_7a = {
    "eefd_kind=cosine": "The cosine loss rewards the direction alone, so all of its gradient turns the predictions; "
                        "MSE also pays for their length (the targets have about unit variance per frame) and spends part "
                        "of its gradient on it.",
    "eefd_kind=mse": "Matching the values one by one matches the direction too, and early on, when the lengths are "
                     "far off, MSE's gradients are the larger ones and move the predictions faster; the cosine "
                     "loss's gradient shrinks for predictions that already point roughly the right way.",
}
learner_runs.check_prediction("7.A", PREDICTION_7A, choices=[r.name for r in runs_7a],
                              outcome=runs_7a[int(np.argmax(cosines_7a))].name, why=why_7a)
learner_runs.runs_table(runs_7a, extra={"val mean cosine": cosines_7a})

# %% [markdown]
# ### Think!
#
# Explain what you saw. Did the loss with the higher cosine also give the higher validation
# PSDS? What does that say about using the cosine similarity to choose the EEFD loss?
#
# <!-- BEGIN ANSWER -->
# The cosine similarity measures how well the student imitates the embedding model, not how well
# it detects. A loss can win on cosine (it optimises exactly that) and still not help the heads
# more, for instance when the length of the embeddings carries information (how loud, how sure)
# that the cosine loss ignores. So the loss is chosen on the validation PSDS, over full runs and
# several seeds, and the cosine serves as a diagnostic: it tells you the layer learns at all. Two
# short runs of one seed differ by noise as well; rerun with another `SEED` before you conclude.
# <!-- END ANSWER -->

# %% [markdown]
# ## Summary
#
# - EEFD adds one linear layer to the student, on the CNN features before the GRU; it predicts the
#   frozen embedding model's frame embeddings and is trained with an MSE (or cosine) loss.
# - Its gradient shapes the student's CNN to extract what the large model extracts, so the
#   student gets some of the embedding model's context without running it.
# - The layer is removed for deployment: same parameters, same MACs as a student trained
#   without EEFD.
# - Per-frame cosine similarity shows how much of the embedding space the student reaches; the
#   supervised student's untrained head is the "no knowledge" baseline.
# - The cosine similarity says whether the student imitates the embeddings; whether that helps
#   detection is measured on validation (Experiment 7.A).
#
# ## Check your understanding
#
# 1. Why is the EEFD layer placed on the CNN features and not after the GRU?
# 2. What is the cosine loss of a prediction that equals `3 × target`? And the MSE?
# 3. If the embedding model were unfrozen and trained together with the student, what could
#    go wrong with the EEFD loss?
# 4. Why compare with "another clip's embeddings" before trusting a high cosine similarity?
#
# <!-- BEGIN ANSWER -->
#
# 1. The deployed student has no embedding input; what we want to improve is its own feature
#    extractor. Predicting the embeddings from the CNN features pushes the context into the CNN,
#    which the GRU and heads then use. (After the GRU it would also be possible, but the GRU
#    adds context of its own and the CNN would learn less.)
# 2. Cosine: 0 (same direction). MSE: the mean of `(2·target)²`, about 4 for LayerNorm-ed
#    embeddings (unit variance per frame).
# 3. Both sides could collapse to something trivial (e.g. the same vector for every frame),
#    making the loss 0 with no knowledge transferred. A frozen target prevents that.
# 4. If all embeddings shared a common direction, any prediction near that direction would score
#    high. The reference shows what "unrelated frames" give; only the gap above it is learnt.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - A. Romero et al., *FitNets: Hints for Thin Deep Nets*, ICLR 2015,
#   [arXiv 1412.6550](https://arxiv.org/abs/1412.6550) (feature distillation with a regressor).
# - Y. Xiao, R. K. Das, *Dual Knowledge Distillation for Efficient Sound Event Detection*,
#   [arXiv 2402.02781](https://arxiv.org/abs/2402.02781), Section 3.2 (EEFD).
# - S. Chen et al., *BEATs: Audio Pre-Training with Acoustic Tokenizers*,
#   [arXiv 2212.09058](https://arxiv.org/abs/2212.09058).
