# %% [markdown]
# # 03 · The CRNN teacher and the embedding model
#
# The student of this course learns from two frozen models: a **teacher** (the DCASE 2023
# baseline CRNN) and a large **embedding model** whose frame embeddings the teacher fuses
# (BEATs in DCASE 2023; a smaller pre-trained CNN in this course). This notebook builds both,
# trains them once (or loads them from the cache) and measures how good the teacher is.
#
# **Objectives.** After this notebook you can
# 1. follow a batch of log-mel features through the CRNN and give the shape after every stage;
# 2. explain the gated linear unit (GLU) and the attention-pooled clip ("weak") head, and write
#    the attention pooling yourself;
# 3. say what the embedding model is, how it was pre-trained (without the course's labels), how
#    much its frozen embeddings know (a linear probe), and how they are pooled to the CRNN's
#    frame rate and fused at the input of the recurrent layer;
# 4. load the pre-trained embedding model and teacher through the course pipeline (or retrain
#    them) and evaluate the teacher with PSDS1 and PSDS2.
#
# **Prerequisites.** Notebook 02 (log-mel features, frames, the label encoder) and notebook 04
# helps for PSDS (you can read it after this one). PyTorch modules and tensors.
#
# **Time.** About 42 minutes: set-up 3 min · the CRNN 10 min · weak head (Exercise 3.1) 7 min ·
# embedding model (linear probe, Exercise 3.2) 10 min · training and evaluation 7 min · one clip
# 3 min · questions 2 min.

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

from dualkd_lib import layout, models, train
from dualkd_lib.constants import CLASSES
from dualkd_lib.features import n_frames, output_frame_seconds
from dualkd_lib import recipe
from dualkd_lib.recipe import pretrained
from dualkd_lib.teaching import exercises, plots_distill, setup, widgets

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
CFG = SETUP.config()  # the preset: features, models, training settings
# The pipeline keeps everything expensive in SETUP.cache_dir: features, the embedding model,
# the teacher, their outputs. It generates the dataset first if it is missing. A cached model
# made with other settings, or on other data (`ctx.data_fingerprint()`), is refused with the
# differences named: move its folder away and it is trained again.
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root, work_dir=SETUP.cache_dir)
FRAME_SECONDS = output_frame_seconds(CFG.features)
print(f"preset {SETUP.preset!r}: {CFG.features.n_mels} mel bands, {n_frames(CFG.features)} feature frames "
      f"per 10-s clip, model output frames of {FRAME_SECONDS * 1000:.0f} ms")

# %% [markdown]
# ## 1. The CRNN, stage by stage (10 min)
#
# The DCASE baseline CRNN reads a log-mel "image" `[batch, 1, time, mel]` and has four parts:
#
# 1. **Seven conv blocks**: 3×3 convolution → BatchNorm → **GLU** → average pooling → dropout.
#    The pooling shrinks frequency to (almost) nothing and time by 4 in total (the first two
#    blocks pool time by 2 each), so every output frame summarises 4 feature frames.
# 2. **Fusion** (DCASE 2023): frame embeddings of the large pre-trained model are concatenated to
#    the CNN features of each frame and projected back to the CNN's width by one linear layer.
# 3. A **2-layer bidirectional GRU** gives every frame context from the whole clip.
# 4. Two heads: a **strong** head (a linear layer and a sigmoid per frame and class: *when*) and a
#    **weak** head that pools the frames into one score per class (*whether*, for weakly
#    labelled clips).
#
# The **GLU** (gated linear unit) of the baseline is `linear(x) * sigmoid(x)`: a 1×1 convolution
# mixes the channels of every time-frequency bin, and the input itself, squashed to (0, 1),
# decides how much of it passes. It is a learned soft switch per bin and channel.
#
# Let's push two real clips through an (untrained) teacher and print the shape after each stage.

# %%
val = ctx.split("validation")
x = val.features[:2]  # standardised log-mels [batch, n_mels, frames]
teacher_cfg = CFG.teacher
fresh = models.CRNN(teacher_cfg, seed=SEED).eval()

rows = [{"stage": "log-mel input", "shape": tuple(x.shape), "parameters": 0}]
image = x.transpose(1, 2).unsqueeze(1)  # [batch, 1, time, mel]
rows.append({"stage": "as an image [B, 1, T, F]", "shape": tuple(image.shape), "parameters": 0})
with torch.no_grad():
    for i, block in enumerate(fresh.cnn):
        image = block(image)
        rows.append({"stage": f"conv block {i} (pool {teacher_cfg.pooling[i]})", "shape": tuple(image.shape),
                     "parameters": models.count_parameters(block)})
    cnn = fresh.cnn_features(x)  # channels x remaining frequency bins, per frame
    rows.append({"stage": "CNN features [B, T, C·F]", "shape": tuple(cnn.shape), "parameters": 0})
    emb = torch.zeros(2, teacher_cfg.embedding_dim, cnn.shape[1])  # stand-in embeddings, shape only
    fused = fresh.fusion(torch.cat([cnn, emb.transpose(1, 2)], dim=-1))
    rows.append({"stage": f"fusion: concat {teacher_cfg.embedding_dim}-d embeddings, Linear",
                 "shape": tuple(fused.shape), "parameters": models.count_parameters(fresh.fusion)})
    h, _ = fresh.rnn(fused)
    rows.append({"stage": "BiGRU (2 layers)", "shape": tuple(h.shape), "parameters": models.count_parameters(fresh.rnn)})
    out = fresh(x, emb)
rows.append({"stage": "strong head: sigmoid per frame", "shape": tuple(out.strong.shape),
             "parameters": models.count_parameters(fresh.strong_head)})
rows.append({"stage": "weak head: attention pooling", "shape": tuple(out.weak.shape),
             "parameters": models.count_parameters(fresh.attention_head)})
shapes = pd.DataFrame(rows)
print(f"teacher: {models.count_parameters(fresh):,} parameters in total")
shapes

# %% [markdown]
# Read the table from top to bottom. The time axis goes from the feature frames to a quarter of
# them in the first two blocks and then stays: those are the model's output frames
# (`FRAME_SECONDS` each). The frequency axis is pooled in every block but the last; at the end the few
# remaining bins are flattened with the channels into one feature vector per frame. Most
# parameters sit in the late conv blocks and in the GRU.
#
# ### Think!
#
# The first conv block has the fewest parameters, yet it runs its 3×3 filters on the most
# time-frequency positions (compare with block 6). Is it then the most expensive block in MACs?
# (Hint: MACs = positions × input channels × output channels × 9; notebook 05 counts them.)
#
# <!-- BEGIN ANSWER -->
# No. Its 3×3 filters see one input channel, so per position it costs `1 × 16 × 9` MACs, while
# block 1, with 4× fewer positions, costs `16 × 32 × 9` per position: the middle blocks, with many
# channels on a still large map, dominate the MACs (notebook 05 counts them). On a CPU the first
# block is expensive in *time* out of proportion to its MACs, though: its BatchNorm, activation and
# pooling run on the largest feature map, and such element-wise work is limited by memory traffic,
# not by arithmetic.
# <!-- END ANSWER -->

# %% [markdown]
# ## 2. The weak head: attention pooling (7 min)
#
# A weakly labelled clip only says *which* classes occur. To learn from it, the CRNN turns its
# frame scores `strong [batch, classes, frames]` into clip scores `weak [batch, classes]`. A plain
# average would dilute a 0.5-s dog bark in a 10-s clip; the baseline instead learns *where to
# look*: a second linear layer gives attention logits for every frame and class, a softmax
# **over the classes of each frame** turns them into weights, and
#
# $$\text{weak}_c = \frac{\sum_t \text{strong}_{c,t}\, a_{c,t}}{\sum_t a_{c,t}}, \qquad
#   a_{\cdot,t} = \operatorname{softmax}_c(\text{logits}_{\cdot,t}),$$
#
# a weighted average over time, so each class is judged on the frames where it wins the
# attention. (The attention weights are clamped to at least 1e-7, so the division is safe.)
#
# ### Exercise 3.1
#
# Write `attention_pooling(strong, attention_logits)`: both `[batch, classes, frames]`, returns
# `weak [batch, classes]`.

# %% tags=["exercise"]
def attention_pooling(strong, attention_logits):
    """Clip scores [batch, classes] from frame scores and attention logits [batch, classes, frames]."""
    # BEGIN SOLUTION Exercise 3.1: pool frame scores into clip scores with attention
    att = torch.softmax(attention_logits, dim=1).clamp(min=1e-7, max=1.0)  # over classes, per frame
    return (strong * att).sum(dim=2) / att.sum(dim=2)  # weighted mean over frames
    # END SOLUTION


# %%
attention_pooling = exercises.check("3.1", attention_pooling)

# %% [markdown]
# Your function should reproduce the teacher's own weak head exactly. The model's `heads`
# method runs the strong and attention layers on the GRU output `h`:

# %%
with torch.no_grad():
    _, strong, weak = fresh.heads(h)  # the model's strong and weak outputs
    att_logits = fresh.attention_head(h).transpose(1, 2)  # [batch, classes, frames]
    mine = attention_pooling(strong, att_logits)
print("largest difference to the model's weak head:", float((mine - weak).abs().max()))

# %% [markdown]
# ## 3. The embedding model, a stand-in for BEATs (10 min)
#
# DCASE 2023 fuses frame embeddings of **BEATs**, a 90 M-parameter transformer pre-trained
# self-supervised on two million AudioSet clips and fine-tuned on AudioSet's *clip-level* labels
# of 527 classes. BEATs never saw DESED's onsets and offsets. We cannot ship or run it here, so
# the course has its own **embedding model**, pre-trained in the same spirit: a wider CNN encoder
# (conv blocks with ReLU, a per-frame projection to `emb_dim`, two dilated temporal convolutions
# for context, LayerNorm per frame), trained on a **separate**, larger generated corpus
# (`dualkd_lib.corpus`, its own seed stream, so no course clip ever appears in it) with
#
# - a **broader taxonomy**: the ten DESED classes plus other sounds (`corpus.TAXONOMY`), as
#   AudioSet is broader than DESED;
# - **clip labels only**: which sounds a clip holds, never when (no frame labels);
# - **both recording domains**: half its clips dry, half recorded in a room (notebook 01).
#
# Afterwards it is **frozen**: it only provides `[clips, emb_dim, frames]` embeddings, to the
# teacher as an input and to the student as a target (notebook 07). The same role as BEATs, at
# laptop size.
#
# As DCASE ships BEATs, the course **ships** the embedding model and the teacher pre-trained, in
# the package (`dualkd_lib/resources/pretrained/<preset>/`, with a manifest: configs, data seed,
# command, scores, checksums). The next cell installs them into the cache. Without a shipped
# bundle (the `tiny` preset) it pre-trains the model first, in seconds. To retrain both yourself:
# `dualkd pretrain --preset course --out my-bundle` (the manifest below says how long it took).
# Training differs across CPUs in the last bits of every float, so a retrain does not give the
# shipped weights back bit for bit. The manifest therefore also records bundles pre-trained with
# other seeds; the retrain prints where its scores lie against their spread.

# %%
t0 = time.perf_counter()
embedding_model = ctx.embedding_model()
emb_ckpt = train.load_checkpoint(layout.embedding_checkpoint(ctx.work_dir))
print(f"embedding model ready in {time.perf_counter() - t0:.1f} s "
      f"(pre-trained on {CFG.pretrain.n_clips} generated clips, {CFG.pretrain.epochs} epochs, "
      f"{emb_ckpt['extra'].get('seconds', float('nan')):.0f} s when it was trained)")
print(f"{models.count_parameters(embedding_model):,} parameters; teacher {models.count_parameters(fresh):,}")
if pretrained.is_shipped(ctx.teacher_path().parent):
    manifest = pretrained.read_manifest(CFG.name)
    print(f"shipped: made by `{manifest['command']}` with library {manifest['library_version']}; "
          "minutes per stage when it was made:",
          {stage: round(sec / 60, 1) for stage, sec in manifest["stage_seconds"].items()})
    for model, metrics in pretrained.seed_spread(manifest).items():  # bundles pre-trained with other seeds
        print(f"{model} over {metrics['psds1'][2]} bundle seeds (evaluation): "
              + ", ".join(f"{k} {mean:.3f} ± {std:.3f}" for k, (mean, std, _) in metrics.items()))
val_emb = ctx.embeddings("validation")  # frozen frame embeddings, cached on disk
print("validation embeddings:", tuple(val_emb.shape), "= [clips, emb_dim, frames]")

# %% [markdown]
# What do the embeddings look like? Below: one clip's log-mel features, its frame embeddings
# (one column per output frame; each column is LayerNorm-ed, so colours compare within a
# column), and its ground-truth events. Frames where the events change should show a change of
# pattern in the embeddings: the model has learnt features that separate the sound classes.

# %%
clip = 0
name = val.filenames[clip]
gt_clip = val.ground_truth[val.ground_truth["filename"] == name]
fig, axes = plt.subplots(3, 1, figsize=(9, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]})
secs = 10.0
axes[0].imshow(val.features[clip].numpy(), origin="lower", aspect="auto", cmap="magma", extent=(0, secs, 0, CFG.features.n_mels))
axes[0].set_ylabel("mel bin")
axes[0].set_title(f"{name}: log-mel features, frame embeddings, events")
axes[1].imshow(val_emb[clip].numpy(), origin="lower", aspect="auto", cmap="coolwarm", vmin=-2.5, vmax=2.5,
               extent=(0, val_emb.shape[-1] * FRAME_SECONDS, 0, val_emb.shape[1]))
axes[1].set_ylabel("embedding dim")
for k, (_, ev) in enumerate(gt_clip.iterrows()):
    axes[2].plot([ev["onset"], ev["offset"]], [k, k], lw=6, solid_capstyle="butt")
    axes[2].text(ev["offset"] + 0.1, k, ev["event_label"], va="center", fontsize=8)
axes[2].set_yticks([])
axes[2].set_xlabel("time (s)")
axes[2].set_xlim(0, secs)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### How much do the frozen embeddings know? A linear probe
#
# The standard test of a pre-trained representation: freeze it, put **one linear layer** on top
# (here a frame classifier of the ten classes, trained on the strong split's embeddings), and
# score it like any detector. What a linear layer can read out is what the embeddings make
# explicit. The probe never changes the embedding model.
#
# Predict first: the embedding model never saw a frame label. Will the probe score PSDS near 0,
# or will it detect events?

# %%
t0 = time.perf_counter()
probe = recipe.probe_metrics(ctx)  # trains the linear layer once, then reads probe-seed0.json
print(f"linear probe ready in {time.perf_counter() - t0:.1f} s")
pd.DataFrame({"validation": {k: probe["validation"][k] for k in ("psds1", "psds2")},
              "evaluation": {k: probe[k] for k in ("psds1", "psds2")}}).round(3)

# %% [markdown]
# In the `course` preset the probe detects events: clip labels of many sounds, on both domains,
# were enough for the model to learn frame embeddings that change where the sounds change. It
# is still a weak detector on its own (one linear layer, no context). The teacher, which fuses
# these embeddings with its own CNN features and a recurrent layer, should do better (section 4),
# and notebook 08 sets the probe beside every model. In the `tiny` preset the numbers mean
# nothing (a few seconds of pre-training).
#
# ### Exercise 3.2: embeddings at the CRNN's frame rate
#
# The teacher fuses one embedding per output frame, but a real pre-trained model has its own
# frame rate: BEATs gives 496 frames per 10-s clip, the CRNN 156. The DCASE baseline therefore
# **averages** the embedding frames that fall into each CRNN frame (adaptive average pooling).
# When the embedding model is *coarser* than the CRNN there is nothing to average and we
# **interpolate linearly** instead. (Our own embedding model already runs at the CRNN's rate, so
# in this course the step is the identity; with BEATs or another model it is not.)
#
# Write `align_embeddings(embeddings, n_frames)`: `[batch, dim, T_emb]` → `[batch, dim, n_frames]`,
# adaptive average pooling when `T_emb > n_frames`, linear interpolation
# (`align_corners=False`) when `T_emb < n_frames`, unchanged when equal.
# `torch.nn.functional` has both operations.

# %% tags=["exercise"]
def align_embeddings(embeddings, n_frames):
    """Resample frame embeddings [batch, dim, T_emb] to [batch, dim, n_frames]."""
    # BEGIN SOLUTION Exercise 3.2: resample frame embeddings to the CRNN's frame rate
    t_emb = embeddings.shape[-1]
    if t_emb == n_frames:
        return embeddings
    if t_emb > n_frames:
        return torch.nn.functional.adaptive_avg_pool1d(embeddings, n_frames)
    return torch.nn.functional.interpolate(embeddings, size=n_frames, mode="linear", align_corners=False)
    # END SOLUTION


# %%
align_embeddings = exercises.check("3.2", align_embeddings)

# %%
beats_like = torch.randn(1, 768, 496)  # BEATs-sized frame embeddings of one 10-s clip
print("BEATs-like", tuple(beats_like.shape), "->", tuple(align_embeddings(beats_like, 156).shape))
print("ours      ", tuple(val_emb[:1].shape), "->", tuple(align_embeddings(val_emb[:1], val_emb.shape[-1]).shape),
      "(already aligned)")

# %% [markdown]
# ## 4. Load (or train) the teacher and evaluate it (7 min)
#
# The teacher was trained once with the DCASE recipe: the semi-supervised *mean teacher*
# (supervised loss on strong and weak labels, consistency with its own EMA model on every clip,
# mixup), fed the frozen embeddings of every clip. Like DCASE we keep and report its **EMA
# model** (notebook 06 explains the EMA). As in the paper, the teacher is pre-trained: the
# method trains only the student. `ctx.teacher()` loads the shipped teacher, installed in
# `SETUP.cache_dir/runs/teacher-seed0` with the embedding model above. Without a shipped bundle
# it trains the teacher first, with a progress bar: about 3 s in the `tiny` preset (6 steps: a
# smoke test, not a useful model).

# %%
t0 = time.perf_counter()
teacher = ctx.teacher()  # frozen: eval mode, no gradients
ckpt = train.load_checkpoint(ctx.teacher_path())
print(f"teacher ready in {time.perf_counter() - t0:.1f} s; trained for {ckpt['step']} steps")
fig = plots_distill.plot_loss_curves({"teacher": ckpt["history"]}, keys=("loss", "sup", "cons"),
                                     window=max(1, ckpt["step"] // 30))
plt.show()

# %% [markdown]
# `sup` is the supervised binary cross-entropy, `cons` the mean-teacher consistency between the
# model and its EMA model (its weight ramps up from 0, so `cons` rises at first, as the model and
# its EMA drift apart, then falls).
#
# Now the evaluation split (never seen in training): median-filtered frame scores, PSDS1
# (scenario 1: tight onsets/offsets) and PSDS2 (scenario 2: tolerant, penalises confusing
# classes), and the collar-based and intersection-based F1 at threshold 0.5
# (`recipe.run_metrics` caches the numbers next to the checkpoint).

# %%
teacher_metrics = recipe.run_metrics(ctx, "teacher", "teacher", 0)
print(f"teacher: {teacher_metrics['params']:,} parameters, {teacher_metrics['macs'] / 1e6:.1f} M MACs per clip "
      "(the embedding model not counted)")
pd.Series({k: teacher_metrics[k] for k in ("psds1", "psds2", "f1_collar", "f1_intersection")},
          name="teacher, evaluation split").to_frame().round(3)

# %% [markdown]
# In the `tiny` preset these numbers are near 0 and mean nothing: 6 training steps, and 40 clips
# are under 7 minutes of audio, where a single false positive already costs 9 per hour
# (see notebook 04). In the `course` preset (500 evaluation clips, about 83 minutes of audio)
# they become meaningful; notebook 08 sets them beside the students' and the paper's.
#
# ### Think! How much does the teacher lean on the embeddings?
#
# Predict first: if every clip were given the embeddings of *another* clip, how far would PSDS1
# drop? Then run the cell.
#
# <!-- BEGIN ANSWER -->
# The drop measures how much the teacher relies on its embeddings. Another clip's embeddings
# describe other sounds at other times, so a teacher that leans on them detects confident events
# in the wrong places, which costs PSDS1 (timing) and PSDS2 (classes). A large drop means its
# detections come largely from the embeddings, which is what EEFD hopes to transfer; a small one
# means its own CNN does most of the work. Compare your guess with the printed table.
# <!-- END ANSWER -->

# %%
ev = ctx.split("evaluation")
ev_emb = ctx.embeddings("evaluation")
right, _ = train.predict_scores(teacher, ev.features, embeddings=ev_emb, progress=False)
wrong, _ = train.predict_scores(teacher, ev.features, embeddings=torch.roll(ev_emb, 1, dims=0), progress=False)
pd.DataFrame({"own embeddings": recipe.evaluate_scores(ctx, right),
              "another clip's embeddings": recipe.evaluate_scores(ctx, wrong)}).round(3)

# %% [markdown]
# A large drop means the teacher relies on what the embedding model knows. That knowledge is
# exactly what the student, which never sees the embedding model at inference, is meant to
# absorb through EEFD in notebook 07.
#
# ## 5. The teacher on one clip (3 min)
#
# Frame scores of the teacher on an evaluation clip, with the ground-truth events in grey.
# Change `clip` to look at others, or use the interactive demo below.

# %%
clip = 0
name = ev.filenames[clip]
fig = plots_distill.plot_clip_predictions(
    {"teacher": right[clip]}, frame_seconds=FRAME_SECONDS,
    ground_truth=ev.ground_truth[ev.ground_truth["filename"] == name], title=f"evaluation clip {name}")
plt.show()

# %% [markdown]
# ### Interactive demo
#
# Pick a clip and a class: the teacher's frame scores with its own embeddings and with another
# clip's (the experiment above), against the ground truth (filled).

# %%
widgets.interactive_clip_predictions({"teacher": right, "teacher, wrong embeddings": wrong}, ev.strong,
                                     frame_seconds=FRAME_SECONDS, filenames=ev.filenames)

# %% [markdown]
# ## Summary
#
# - The CRNN: seven conv blocks (3×3 conv, BatchNorm, GLU, average pooling) reduce a log-mel
#   image to one feature vector per output frame (time pooled by 4); a 2-layer BiGRU adds
#   context; a strong head scores every frame, an attention-pooled weak head every clip.
# - The weak head is a weighted average over time with weights from a softmax over the classes
#   of each frame.
# - The embedding model (our BEATs stand-in) is pre-trained once on a separate, broader corpus,
#   with clip labels only, on both recording domains, and frozen. A linear probe measures what
#   its frame embeddings know. They are pooled (or interpolated) to the CRNN's frame rate,
#   concatenated to the CNN features and projected back before the GRU.
# - Both frozen models ship pre-trained with the package, as BEATs does (`dualkd pretrain`
#   retrains them); the teacher (its EMA model) is evaluated with PSDS1/PSDS2 and F1 on the
#   evaluation split.
#
# ## Check your understanding
#
# 1. A 10-s clip has 313 feature frames at hop 512. How many output frames does the CRNN give,
#    and how long is each?
# 2. Why does the weak head not simply take the maximum of the frame scores over time?
# 3. BEATs gives 496 frames per clip, the CRNN 156. Why average rather than pick every third
#    frame?
# 4. Why is the teacher allowed to be slow and large?
#
# <!-- BEGIN ANSWER -->
#
# 1. `313 // 4 = 78` frames (the two time poolings of 2 floor the count), each covering 4 feature
#    frames: `4 × 512 / 16000 = 0.128 s`.
# 2. A maximum passes the gradient to one frame only and is very sensitive to a single noisy
#    frame; the attention-weighted average spreads the learning signal over all frames where the
#    class is likely, while still ignoring the frames where it is not (a plain mean would dilute
#    a short event by the clip's length).
# 3. Averaging keeps the information of every embedding frame (and smooths it), while picking
#    frames throws two thirds away and can alias fast changes.
# 4. It runs only while the student is trained, on a machine of our choice, and its outputs are
#    computed once and cached; only the student must fit the device.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - DCASE 2023 Task 4 baseline (CRNN + BEATs): [DESED_task](https://github.com/DCASE-REPO/DESED_task),
#   `recipes/dcase2023_task4_baseline`.
# - Y. Dauphin et al., *Language Modeling with Gated Convolutional Networks*, ICML 2017 (GLU).
# - S. Chen et al., *BEATs: Audio Pre-Training with Acoustic Tokenizers*, ICML 2023,
#   [arXiv 2212.09058](https://arxiv.org/abs/2212.09058).
# - N. Turpault et al., *Sound event detection in domestic environments with weakly labeled
#   and synthetic soundscapes*, DCASE 2019 (the DESED dataset and the CRNN baseline).
