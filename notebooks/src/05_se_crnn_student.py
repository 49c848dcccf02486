# %% [markdown]
# # 05 · The compact SE-CRNN student
#
# The paper's student is an **SE-CRNN**: a narrow CRNN whose conv blocks carry two cheap
# attentions, channel **squeeze-and-excitation (SE)** and **time-frequency-wise SE (tfwSE)**, so
# that a small network can still decide which channels and which frequency bands matter at each
# moment. The paper's student has about a third of the baseline's parameters; ours has about
# 1/7 of our teacher's (table below), and it never needs the embedding model when it runs. This notebook measures how small it is, opens its attention blocks, and shows the
# one extra layer it carries only while training.
#
# **Objectives.** After this notebook you can
# 1. count the parameters and multiply-accumulates (MACs) of teacher, student and embedding
#    model, and say where a CRNN's compute goes;
# 2. write a squeeze-and-excitation block and explain what tfwSE adds;
# 3. read SE and tfwSE attention weights on a real clip;
# 4. explain the embedding distillation layer and why it costs nothing at inference.
#
# **Prerequisites.** Notebook 03 (the CRNN and its conv blocks).
#
# **Time.** About 30 minutes: set-up 2 min · size and cost 8 min · SE (Exercise 5.1) 8 min ·
# attention on a clip 5 min · the distillation layer and conv costs (Exercise 5.2) 5 min ·
# questions 2 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import dataclasses
import os
import time

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from dualkd_lib import models, train
from dualkd_lib.features import n_frames, output_frame_seconds
from dualkd_lib import recipe
from dualkd_lib.teaching import exercises, plots_distill, setup

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
CFG = SETUP.config()
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root, work_dir=SETUP.cache_dir)
N_FRAMES = n_frames(CFG.features)  # feature frames of a 10-s clip
FRAME_SECONDS = output_frame_seconds(CFG.features)

# %% [markdown]
# ## 1. How small is the student? (8 min)
#
# We build the three architectures of the preset with fresh weights (sizes do not depend on
# training) and count, per 10-s clip:
#
# - **parameters** (`models.count_parameters`): memory, and the size of the download;
# - **MACs** (`models.count_macs`): multiply-accumulates of one forward pass, counted with
#   forward hooks on every convolution, linear layer and GRU; a good proxy for inference time.
#
# The student is counted twice: as trained (with the embedding distillation layer of notebook
# 07) and as deployed (`without_embedding_head()`).

# %%
teacher = models.CRNN(CFG.teacher, seed=SEED)
student = models.SECRNN(CFG.student, seed=SEED)
embedder = models.EmbeddingModel(CFG.embedding, seed=SEED)
deployed = student.without_embedding_head()
shape = (1, CFG.features.n_mels, N_FRAMES)
cost = pd.DataFrame([
    {"name": "teacher (CRNN)", "params": models.count_parameters(teacher), "macs": models.count_macs(teacher, shape)},
    {"name": "embedding model", "params": models.count_parameters(embedder), "macs": models.count_macs(embedder, shape)},
    {"name": "student (training)", "params": models.count_parameters(student), "macs": models.count_macs(student, shape)},
    {"name": "student (deployed)", "params": models.count_parameters(deployed), "macs": models.count_macs(deployed, shape)},
])
cost["params / teacher"] = (cost["params"] / cost["params"][0]).round(3)
cost["MACs / teacher"] = (cost["macs"] / cost["macs"][0]).round(3)
cost

# %%
fig = plots_distill.plot_cost_bars(cost)
plt.show()

# %% [markdown]
# The paper's student has "about one third of the baseline's parameters". Ours is measured
# against *our* teacher, the course CRNN (the DCASE baseline at 64 mel bands with a fused
# 128-d embedding): the deployed student must be at most a third of it, and it is well under
# (the `params / teacher` column). The teacher's true cost is larger still, because at
# inference it also needs the embedding model (the second bar), which the student never runs.
#
# **A choice we made and measured.** lightSED's SE-CRNN gates its conv blocks with *context
# gating*, and the DCASE recipe trains with dropout 0.5 for 200 epochs. When the `course` preset
# trained for 450 steps only, a context-gated student with dropout 0.5 learned nothing in any
# mode (today it trains for nine passes over the strong split). With ReLU, dropout 0.1 and a higher learning rate it starts to learn
# and, above all, it can take in the teacher's knowledge (the side-by-side table is in
# `docs/results/student-design-log.md`, made with `benchmarks/student_variants.py`). How far the student gets
# on labels alone, and what KD and EEFD add, notebook 08's ablation prints.
# So the course student uses ReLU; the `desed` preset keeps context gating. Print
# `CFG.student.activation` to see which one your preset uses.
#
# **A second choice: the frame classifier starts at the prior.** PyTorch initialises the
# strong head's bias around 0, so a fresh student says "probability one half" for every class in
# every frame, while most frames are silent for most classes. Its first hundreds of steps then go
# into pushing every output down: the *all-zeros plateau*, where the student predicts nothing and
# detects no event at all. The `course` preset starts the bias at the logit of the strong labels' share of
# active frames instead (`CFG.student.strong_head_bias`; Lin et al., 2017, call it "prior
# initialisation"). It changes where training starts, not the model. The next cell measures the
# share and compares the two starts on a few strong clips.

# %%
strong_split = ctx.split("strong")
active = float(strong_split.strong.mean())  # share of (clip, class, frame) cells that are active
print(f"active frames in the strong labels: {active:.3f}, as a logit {np.log(active / (1 - active)):+.2f}; "
      f"the preset's strong_head_bias: {CFG.student.strong_head_bias}")
starts = {"PyTorch's initialisation": dataclasses.replace(CFG.student, strong_head_bias=None), "the preset's": CFG.student}
with torch.no_grad():
    for name, student_cfg in starts.items():
        fresh = models.SECRNN(student_cfg, seed=SEED).eval()
        print(f"{name:>25}: mean frame probability of a fresh student {float(fresh(strong_split.features[:8]).strong.mean()):.3f}")

# %% [markdown]
# ### Think!
#
# The student has far fewer parameters than MACs would suggest, and vice versa for the GRU.
# Where do the MACs of a CRNN go: into the layers with many *weights*, or into the layers that
# are applied at many *positions*? Section 4 measures it.
#
# <!-- BEGIN ANSWER -->
# Into the layers applied at many positions. A convolution reuses its `9 × C_in × C_out` weights at
# every time-frequency position, so its MACs are its weights times thousands of positions: the
# conv blocks have few parameters and most of the MACs. The GRU has many weights (three gates, two
# directions) but runs only at the output frames, and the heads only once per frame: many
# parameters, few MACs. Section 4's table shows both.
# <!-- END ANSWER -->

# %% [markdown]
# ## 2. Squeeze-and-excitation (8 min)
#
# A conv block's output `x [batch, C, time, freq]` has `C` channels, each a feature detector.
# Squeeze-and-excitation (Hu et al., 2018) lets the block **re-weight its channels for the
# clip at hand**:
#
# 1. *squeeze*: average every channel over time and frequency: `s = mean(x) [batch, C]`;
# 2. *excite*: a tiny two-layer network `w = sigmoid(W2 · relu(W1 · s + b1) + b2)` gives one
#    weight in (0, 1) per channel (`W1 [H, C]` with `H = C / 4`: the bottleneck keeps it cheap);
# 3. *scale*: `x * w`, every channel multiplied by its weight.
#
# The **tfwSE** (time-frequency-wise SE) of the SE-CRNN does the same along the *frequency* axis,
# and separately **for every frame**: squeeze over channels, `[batch, time, freq]`, then a small
# network per frame gives a weight per frequency bin. A dog bark and a vacuum cleaner live in
# different bands and at different times; tfwSE lets the block stress the right band at the right
# moment. Both are small: from a few dozen to about two thousand parameters per block.
#
# ### Exercise 5.1
#
# Write `se_block(x, w1, b1, w2, b2)` with `x [batch, C, time, freq]`, `w1 [H, C]`, `b1 [H]`,
# `w2 [C, H]`, `b2 [C]` (PyTorch's `Linear` layout: `y = s @ w1.T + b1`). It returns the scaled
# `x`, same shape. The checker compares it with the library's `models.SEBlock` holding the same
# weights.

# %% tags=["exercise"]
def se_block(x, w1, b1, w2, b2):
    """Squeeze-and-excitation: x [batch, C, time, freq] -> same shape, channels re-weighted."""
    # BEGIN SOLUTION Exercise 5.1: write the squeeze-and-excitation block
    s = x.mean(dim=(2, 3))  # squeeze: [batch, C]
    w = torch.sigmoid(torch.relu(s @ w1.T + b1) @ w2.T + b2)  # excite: [batch, C] in (0, 1)
    return x * w[:, :, None, None]  # scale
    # END SOLUTION


# %%
se_block = exercises.check("5.1", se_block)

# %% [markdown]
# ## 3. The attention weights on a real clip (5 min)
#
# What do SE and tfwSE do once trained? We train the student (or load it: the first run of the
# ablation in notebook 08, the *supervised* student, labels only) and read the weights it applies
# to one validation clip: `plots_distill.se_attention_weights` hooks the `excite` layer of every
# block. The run takes about 2 s in the `tiny` preset and 10-15 minutes on one core in the
# `course` preset if it is not cached yet (`make course` trains it beforehand).

# %%
t0 = time.perf_counter()
run = recipe.train_student(ctx, "supervised", seed=SEED)  # loads the finished run if there is one
_, trained, _ = train.load_model_from_checkpoint(run, expected_kind="student")  # (student, mean student, ckpt)
print(f"supervised student ready in {time.perf_counter() - t0:.1f} s ({run.parent.name})")
val = ctx.split("validation")
clip = 0
weights = plots_distill.se_attention_weights(trained, val.features[clip:clip + 1])
fig = plots_distill.plot_se_attention(weights)
plt.show()

# %% [markdown]
# Top row: the SE weight of every channel of a block, for this clip, between 0 (the channel is
# switched off) and 1 (passed unchanged); read the bar heights against the axis.
# A weight of exactly 0.5 on every channel is what a bottleneck gives when its input carries
# nothing for it (all its ReLU units are zero). Bottom row: the tfwSE weights, a frequency
# profile for every frame of the block (time runs left to right in each block's own frames, which
# are 4× fewer after the first two blocks; each map has its own colour scale). Where the student
# has learnt to use tfwSE, the profile changes from frame to frame with the sounds in the clip
# (vertical stripes): that is what a channel-only SE block cannot do. Horizontal bands are a fixed
# frequency profile that hardly changes with time, and a map of one flat colour is an attention
# that does the same to every frame and every band. Expect a mix: mostly bands, with a stripe
# where an event starts. The cells after the demo measure both for many
# clips, so that you need not judge by eye. In the `tiny` preset, after a few training steps, every
# weight is still close to 0.5: nothing learnt yet.
#
# ### Interactive demo
#
# Move the slider to see the attention weights the student applies to other validation clips.


# %%
def show_attention(clip=0):
    plots_distill.plot_se_attention(plots_distill.se_attention_weights(trained, val.features[clip:clip + 1]))
    plt.show()


ipywidgets.interactive(show_attention, clip=ipywidgets.IntSlider(value=0, min=0, max=len(val) - 1))

# %% [markdown]
# ### Think!
#
# Compare the SE weights of a few clips. If they were the same for every clip, what would that
# tell you about the block?
#
# <!-- BEGIN ANSWER -->
# That the block does not attend: a weight that is the same for every clip is a constant scale
# per channel, which the next convolution could absorb, so the block's attention ignores its input
# and buys nothing for its cost. The usual cause is a dead bottleneck, whose units are negative
# for every clip (the next cells measure it). A few weights that barely move can be legitimate (a
# channel that is always useful); all of them constant is a dead attention.
# <!-- END ANSWER -->

# %% [markdown]
# ### Dead attention: how to see it, and the options against it
#
# An attention whose weights are the same for every clip does nothing a constant could not do:
# it is *dead*. `plots_distill.se_attention_spread` measures it on many clips: `spread` is how
# much each weight moves from clip to clip, `constant` the share of weights that never move.
#
# Why bottlenecks die: the squeeze averages activations that come out of a ReLU, so its input is
# positive and much the same for every clip. Whether a hidden unit of the bottleneck is negative
# then depends on its weights more than on the clip, and at initialisation many units are
# negative for *every* clip (`plots_distill.se_inactive_units`, below, for a fresh student).
# Behind a ReLU such a unit outputs 0 and gets no gradient, so it never comes back; if all of a
# block's units die, its weights are `sigmoid(0) = 0.5` everywhere. A SiLU (`x * sigmoid(x)`, the
# bottleneck of EfficientNet's SE blocks) still passes a gradient below zero. Your preset's
# choices are printed below: `se_activation`, `se_bias` (biases in the bottleneck) and
# `se_first_block`, the first block with attention (the full-resolution first block has so few
# channels that its bottleneck has only a few units, and it is the most expensive place for an
# attention: every weight multiplies the largest feature map of the network).

# %%
print({k: getattr(CFG.student, k) for k in ("se_activation", "se_bias", "se_first_block")})
probe_clips = val.features[:32]
fresh = models.SECRNN(CFG.student, seed=SEED)  # a freshly initialised student of your preset
inactive = plots_distill.se_inactive_units(fresh, probe_clips)
print(f"A fresh student: bottleneck units negative on all 32 validation clips, {inactive['inactive'].mean():.0%} "
      f"on average; behind a {inactive['activation'].iloc[0]} (ReLU: dead for good, SiLU: still learning)")
print(inactive.round(2).to_string(index=False))

# %%
spread = plots_distill.se_attention_spread(trained, probe_clips)
print(f"The trained supervised student's attention on 32 validation clips "
      f"({int((spread['constant'] == 1).sum())} of {len(spread)} attentions constant):")
spread.round(4)

# %% [markdown]
# ## 4. The embedding distillation layer, and where the MACs go (5 min)
#
# The student carries one extra layer while it is trained, `embedding_head`: a per-frame
# `Linear(cnn_out_dim, emb_dim)` on the CNN features, just before the GRU. It learns to predict
# the frozen embedding model's frame embeddings (EEFD, notebook 07). It branches off the CNN
# features, so the strong and weak outputs do not depend on it, and
# `without_embedding_head()` removes it for deployment:

# %%
x = val.features[:4]
trained_eval = trained.eval()
with torch.no_grad():
    full, small = trained_eval(x), trained_eval.without_embedding_head()(x)
print("embedding distillation layer:", trained.embedding_head)
print(f"{models.count_parameters(trained.embedding_head):,} parameters, "
      f"{models.count_parameters(trained):,} -> {models.count_parameters(trained.without_embedding_head()):,} without it")
print("same strong outputs without it:", torch.equal(full.strong, small.strong),
      "| embedding prediction:", tuple(full.embedding_pred.shape), "->", small.embedding_pred)

# %% [markdown]
# ### Exercise 5.2: the cost of one conv layer
#
# A `k × k` convolution from `C_in` to `C_out` channels with "same" padding, on a
# `T × F` input:
#
# - parameters: `C_out · C_in · k · k` weights plus `C_out` biases;
# - MACs: each of the `C_out · T · F` output values is a dot product over `C_in · k · k` inputs.
#
# Write `conv_cost(in_channels, out_channels, kernel_size, n_time, n_freq)` returning
# `{"params": ..., "macs": ...}` (integers). The checker compares it with the library's
# counters run on a real `nn.Conv2d`.

# %% tags=["exercise"]
def conv_cost(in_channels, out_channels, kernel_size, n_time, n_freq):
    """Parameters and MACs of a k x k Conv2d (bias, same padding) on an n_time x n_freq input."""
    # BEGIN SOLUTION Exercise 5.2: count the parameters and MACs of a conv layer
    weights = out_channels * in_channels * kernel_size * kernel_size
    return {"params": weights + out_channels, "macs": out_channels * n_time * n_freq * in_channels * kernel_size**2}
    # END SOLUTION


# %%
conv_cost = exercises.check("5.2", conv_cost)

# %% [markdown]
# With it we can see where the student's 3×3 convolutions spend their MACs, block by block (the
# input sizes come from the pooling of each block):

# %%
rows, t, f, c_in = [], N_FRAMES, CFG.features.n_mels, 1
for i, (c_out, (pt, pf)) in enumerate(zip(CFG.student.channels, CFG.student.pooling)):
    rows.append({"block": i, "input T x F": f"{t} x {f}", "channels": f"{c_in} -> {c_out}",
                 **conv_cost(c_in, c_out, CFG.student.kernel_size, t, f)})
    t, f, c_in = t // pt, f // pf, c_out
blocks = pd.DataFrame(rows)
blocks["share of conv MACs"] = (blocks["macs"] / blocks["macs"].sum()).round(3)
print(f"3x3 convs: {blocks['macs'].sum() / 1e6:.1f} M of the deployed student's "
      f"{models.count_macs(deployed, shape) / 1e6:.1f} M MACs per clip")
blocks

# %% [markdown]
# Block 0 sees the most positions, but with one input channel it is cheap. The MACs peak in the
# middle blocks, where the channels have grown and time and frequency have not yet shrunk much;
# the late blocks have most of the parameters but see a tiny image. That is why the course
# student keeps its first blocks narrow (8 and 16 channels in the `course` preset).
#
# ## Summary
#
# - The deployed SE-CRNN student is a small fraction of the teacher in parameters and MACs
#   (table above), and it does not need the embedding model, which the teacher does.
# - SE re-weights channels from a clip-wide average; tfwSE re-weights frequency bins for every
#   frame. Both are tiny two-layer bottleneck networks ending in a sigmoid.
# - The embedding distillation layer is one linear layer on the CNN features used only as a
#   training target for EEFD; `without_embedding_head()` drops it with no change to the outputs.
# - In a CNN, a block's MACs are its parameters times the positions it is applied to: the
#   middle blocks, with many channels *and* many positions, cost the most.
#
# ## Check your understanding
#
# 1. An SE block on 48 channels with reduction 4 (and no biases, as in the library): how many
#    parameters does it add?
# 2. Why does SE squeeze with a *mean* over time and frequency instead of keeping the full map?
# 3. What would change at inference if we kept the embedding distillation layer in the deployed
#    model?
# 4. The student's GRU has 48 hidden units, the teacher's 128. Roughly how many times fewer GRU
#    parameters is that?
#
# <!-- BEGIN ANSWER -->
#
# 1. Hidden size `48 / 4 = 12`; two weight matrices `12 × 48` and `48 × 12`: 1,152 parameters.
# 2. The mean summarises "how active is this detector in this clip" in one number per channel,
#    so the excitation network stays tiny and the weights are global context; keeping the full
#    map would make it as expensive as another convolution (tfwSE keeps the time axis on purpose,
#    but squeezes the channels).
# 3. Only wasted work: its output (an embedding prediction) is used by nothing once training is
#    over; strong and weak outputs are identical either way.
# 4. GRU weights grow with the square of the hidden size: `(128 / 48)² ≈ 7` times fewer in the
#    recurrent matrices (a bit less overall, since the input matrices scale with input width times
#    hidden size).
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - J. Hu, L. Shen, G. Sun, *Squeeze-and-Excitation Networks*, CVPR 2018,
#   [arXiv 1709.01507](https://arxiv.org/abs/1709.01507).
# - Nam et al., lightweight SED with SE-CRNN and tfwSE attention (the "lightSED" code of the
#   DCASE 2022-23 submissions).
# - Y. Xiao, R. K. Das, *Dual Knowledge Distillation for Efficient Sound Event Detection*,
#   [arXiv 2402.02781](https://arxiv.org/abs/2402.02781), Section 2 (the SE-CRNN student).
