# %% [markdown]
# # 00 · Course map and set-up check
#
# **DualKD-SED**: *Dual Knowledge Distillation for Efficient Sound Event Detection*
# (Yang Xiao and Rohan Kumar Das, ICASSP 2024 workshops,
# [arXiv 2402.02781](https://arxiv.org/abs/2402.02781)), built step by step on a laptop CPU.
#
# **Objectives.** After this notebook you can
# 1. say what each of the ten notebooks builds and where it lives in the library `dualkd_lib`;
# 2. draw the method: a frozen teacher and a frozen embedding model teach a small student twice,
#    through the *mean student* (TAKD) and through an *embedding distillation layer* (EEFD);
# 3. check that your environment and the generated data are ready;
# 4. use the course's exercise pattern: write a function, let the checker compare it with the
#    library's, carry on either way.
#
# **Prerequisites.** Python and NumPy; a first contact with PyTorch helps. No audio background
# needed: notebook 01 starts from zero.
#
# **Time.** About 20 minutes: set-up 2 min · course map 5 min · set-up check 3 min ·
# exercise 5 min · questions 5 min.
#
# **How the notebooks work.** Each notebook has a set-up cell (imports only), one *parameters*
# cell (preset, seed, data folder), sections with *Exercises*, *Think!* questions and demos, a
# summary and check-your-understanding questions. In an exercise you replace a
# `raise NotImplementedError(...)` line with your code; the next cell checks your function
# against the library's and, if yours is not ready yet, uses the library's so the notebook still
# runs to the end. Instructors find the solved notebooks in `notebooks/solutions/`.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dualkd_lib.constants import CLIP_SECONDS, SAMPLE_RATE
from dualkd_lib.course import classroom_cache
from dualkd_lib.teaching import doctor, exercises, plots, setup

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
SETUP

# %% [markdown]
# ## 1. The course map (5 min)
#
# Sound event detection (SED) answers *which* sounds happen in a recording and *when*: for each
# of the 10 DESED classes an onset and an offset in seconds. A good SED system (the DCASE 2023
# baseline with a large pre-trained audio model) is too big for a small device. The paper shrinks
# it into a student with about a third of the parameters, and keeps most of the accuracy by
# distilling knowledge twice. The course builds every piece, then measures what each one adds.
#
# | # | notebook | what you build | library |
# |---|---|---|---|
# | 00 | course map and set-up check | this map; the exercise pattern | `course`, `exercises` |
# | 01 | the SED task and the data | a seeded DESED-like dataset; listening and looking at clips and labels | `generate`, `desed_io`, `layout` |
# | 02 | features and label encoding | log-mel features, normalisation, events ↔ frame labels | `features`, `datasets` |
# | 03 | CRNN teacher and embedding model | the frozen embedding model (a BEATs stand-in) and the CRNN teacher that fuses its embeddings | `models`, `train` |
# | 04 | post-processing and PSDS | median filter, detections, PSDS1/PSDS2 and F1, first on real DESED detections | `evaluate` |
# | 05 | SE-CRNN student | the compact student with squeeze-and-excitation and tfwSE attention | `models` |
# | 06 | TAKD and the mean student | the EMA mean student and temporal-averaging KD, against plain KD | `distill`, `train` |
# | 07 | EEFD | the embedding distillation layer and embedding-enhanced feature distillation | `distill`, `models` |
# | 08 | dual KD end to end | TAKD + EEFD together; the ablation table beside the paper's | `train`, `evaluate` |
# | 09 | edge deployment | parameters, MACs, latency, ONNX export of the student | `models`, `export` |
#
# The method in one picture (notebooks 03, 05, 06 and 07 build its boxes, 08 trains all of it):

# %%
fig = plots.draw_method_diagram()
plt.show()

# %% [markdown]
# Read the picture from left to right. The **teacher** and the **embedding model** are trained
# first (notebook 03) and then *frozen*. The **student** learns from three signals at once:
# the labels ($L_{sup}$), the teacher's soft outputs *through the mean student* ($L_{TAKD}$), and
# the embedding model's frame embeddings, which its **embedding distillation layer** learns to
# predict from the student's CNN features ($L_{EEFD}$). The total loss is
#
# $$L = L_{sup} + w_{cons}(t)\,L_{cons} + w_{kd}\,L_{TAKD} + w_{emb}\,L_{EEFD}.$$
#
# The dashed parts live inside the student's training only (the mean student, the embedding
# distillation layer); the teacher and the embedding model are trained once, before it, and only
# teach. On the device runs the student alone.

# %% [markdown]
# ## 2. Set-up check (3 min)
#
# The course installs every package at the exact version of `requirements.lock` (the "lock"
# row says whether yours match); a version skew is the most common reason a course notebook
# breaks. The "torch + torchaudio" row loads torchaudio's compiled extension: the two must be
# an exact pair, and a mismatch is reported here with its one-line fix instead of a traceback.
# The same table is printed by `dualkd doctor` in a terminal. A GPU is not needed for the
# `tiny` and `course` presets.

# %%
report = pd.DataFrame(doctor.report(SETUP.preset, SETUP.data_root))
report

# %%
status = setup.data_status(SETUP.data_root, SETUP.preset)
if status.ready:
    print(f"Data for preset {SETUP.preset!r} found in {status.root}.")
else:
    print(f"No complete dataset for preset {SETUP.preset!r} in {status.root} yet")
    print(f"(missing: {', '.join(status.missing[:3])}{' ...' if len(status.missing) > 3 else ''}).")
    print("Notebook 01 generates it, or run this in the repository folder:")
    print(f"    {status.command}")

# %% [markdown]
# **In a classroom.** Generating the data and training the students takes a while. An instructor
# who has run the course once can pack the data and every trained model into one archive,
# `dualkd cache pack --preset course --out course-cache.tar`, and each learner unpacks it with
# `dualkd cache unpack course-cache.tar` before opening notebook 01 (`dualkd_lib.course.classroom_cache`).
# The archive's manifest holds the sha256 of every file and the preset's settings: a corrupt copy,
# or one made with other settings, is refused with the reason, and nothing already on your
# machine is overwritten. The next cell shows the manifest of an archive, if you have one.

# %%
ARCHIVE = os.environ.get("DUALKD_CACHE_ARCHIVE")  # e.g. course-cache.tar, from your instructor
if ARCHIVE:
    manifest = classroom_cache.read_manifest(ARCHIVE)
    print({k: manifest[k] for k in ("preset", "library_version", "data_fingerprint", "created")},
          f"{len(manifest['files'])} files")
    print("fits this preset:", classroom_cache.check_manifest(manifest, SETUP.config()) or "yes")
else:
    print("No archive given (set DUALKD_CACHE_ARCHIVE to read one).")

# %% [markdown]
# ## 3. Exercise 0.1: from seconds to frames (5 min)
#
# Labels are given in seconds (`Dog, onset 2.31 s, offset 3.05 s`), models work in *frames*.
# A feature frame advances by `hop_length` samples; at 16 kHz and a hop of 256 samples, one
# frame is 16 ms. Frame `k` covers samples `k·hop_length` up to (not including)
# `(k+1)·hop_length`, so the frame that contains time `t` is
#
# $$k = \left\lfloor \frac{t \cdot \text{sample\_rate}}{\text{hop\_length}} \right\rfloor.$$
#
# Write `seconds_to_frames(seconds, hop_length, sample_rate)`: it takes an array of times in
# seconds and returns the frame indices as an `int64` array of the same shape.

# %% tags=["exercise"]
def seconds_to_frames(seconds, hop_length, sample_rate=SAMPLE_RATE):
    """Frame index (int64) of each time in `seconds` (s), for frames `hop_length` samples apart."""
    # BEGIN SOLUTION Exercise 0.1: convert times in seconds to frame indices
    samples = np.asarray(seconds, dtype=np.float64) * sample_rate
    return np.floor(samples / hop_length).astype(np.int64)
    # END SOLUTION


# %% [markdown]
# The checker calls your function and the library's `dualkd_lib.teaching.exercises.nb00.seconds_to_frames` on
# the same random inputs and keeps yours only if they agree.

# %%
seconds_to_frames = exercises.check("0.1", seconds_to_frames)

# %%
onsets = np.array([0.0, 2.31, 3.05, 9.999])
print("frames at hop 256:", seconds_to_frames(onsets, hop_length=256))
print("frames in a 10-s clip at hop 256:", int(CLIP_SECONDS * SAMPLE_RATE / 256))

# %% [markdown]
# A 10-s clip has 625 frames at a hop of 256 samples. The DCASE baseline computes 626 (the STFT
# pads the clip's ends) and its CNN pools time by 4, so its outputs have 156 frames of 64 ms.
# Labels must be encoded at the *output* resolution: notebook 02 does exactly that.
#
# ### Think!
#
# The embedding model and the teacher are used only while training the student. What does that
# change about how large and slow they may be, compared with the student? And what could go
# wrong if the student's frames (its time resolution) did not line up with the embedding
# model's frames when EEFD compares them?
#
# <!-- BEGIN ANSWER -->
# They may be as large and slow as the training machine allows. They run only while the student
# is trained (their outputs are computed once and cached) and never on the device, so only the
# student's size and speed count for deployment. If the frames did not line up, EEFD would ask the
# student's frame `t` to predict the embedding of another moment: a shifted or blurred target that
# teaches the student the wrong timing. That is why the embeddings are resampled to the CRNN's
# frame rate (notebook 03).
# <!-- END ANSWER -->

# %% [markdown]
# ## Summary
#
# - The course builds the dual knowledge distillation method of Xiao & Das (2024) in ten
#   notebooks, each backed by a tested library module.
# - The student (SE-CRNN) learns from labels, from a frozen teacher through its own mean student
#   (TAKD), and from a frozen embedding model through an embedding distillation layer (EEFD);
#   only the student is deployed.
# - Presets set the size of everything: `tiny` for tests, `course` for a laptop, `desed` for the
#   real dataset on a GPU.
# - Exercises raise `NotImplementedError` until you solve them; checkers compare with the
#   library and fall back to it, so every notebook runs to the end.
#
# ## Check your understanding
#
# 1. What does a sound event detector output that an audio tagger (clip classifier) does not?
# 2. Which of teacher, embedding model, student, mean student and embedding distillation layer
#    must run on the device after training?
# 3. Why are PSDS numbers computed on the `tiny` preset not meaningful?
#
# <!-- BEGIN ANSWER -->
#
# 1. *When* each sound happens: onsets and offsets, from frame-level ("strong") scores. A
#    tagger only says which classes occur somewhere in the clip (clip-level, "weak" output);
#    the CRNN has both heads.
# 2. Only a student-sized network: the student (or its mean-student average, which has the same
#    architecture). The teacher and the embedding model provide training targets, and the
#    embedding distillation layer exists only to receive the EEFD loss, so all three are dropped.
# 3. PSDS counts false positives per hour of audio and stops at a maximum rate (100 per hour in
#    both DCASE scenarios). On 30 s of audio a single false positive is already 120 per hour, so
#    a class's curve ends before it starts and its score is 0. Scores need minutes of audio.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - Y. Xiao, R. K. Das, *Dual Knowledge Distillation for Efficient Sound Event Detection*,
#   ICASSP 2024 workshops, [arXiv 2402.02781](https://arxiv.org/abs/2402.02781).
# - DCASE 2023 Task 4, *Sound event detection with weak labels and synthetic soundscapes*:
#   [task page](https://dcase.community/challenge2023/task-sound-event-detection-with-weak-labels-and-synthetic-soundscapes)
#   and the baseline code, [DESED_task](https://github.com/DCASE-REPO/DESED_task).
# - C. Bilen et al., *A Framework for the Robust Evaluation of Sound Event Detection* (PSDS),
#   ICASSP 2020, [arXiv 1910.08440](https://arxiv.org/abs/1910.08440).
# - J. Ebbers, R. Haeb-Umbach, R. Serizel, *Threshold Independent Evaluation of Sound Event
#   Detection Scores*, ICASSP 2022, and their package
#   [sed_scores_eval](https://github.com/fgnt/sed_scores_eval), which the course uses.
# - A. Tarvainen, H. Valpola, *Mean teachers are better role models*, NeurIPS 2017,
#   [arXiv 1703.01780](https://arxiv.org/abs/1703.01780) (the EMA behind the mean student).
