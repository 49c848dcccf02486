# %% [markdown]
# # 01 · The SED task and the data
#
# **Objectives.** After this notebook you can
# 1. say what a sound event detector outputs, and what *strong*, *weak* and *unlabeled* data are;
# 2. generate the course's DESED-like dataset and find your way around its folders and TSV files;
# 3. listen to the ten DESED classes and read a clip's log-mel spectrogram together with its labels;
# 4. compare the generated data with the real DESED validation set, class by class.
#
# **Prerequisites.** Notebook 00 (set-up check). Python, NumPy and a little pandas.
#
# **Time.** About 30 minutes: the task 5 min · generate the data 5 min · listen 5 min ·
# look 7 min · statistics against real DESED 5 min · the TSV files 3 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Audio, display

from dualkd_lib import desed_io, features, generate
from dualkd_lib.constants import CLASSES, SAMPLE_RATE
from dualkd_lib.layout import split_paths, SPLITS
from dualkd_lib import recipe
from dualkd_lib.teaching import plots, setup

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
SETUP

# %% [markdown]
# ## 1. What sound event detection is (5 min)
#
# A sound event detector listens to a recording and answers two questions for every sound class
# it knows: **which** classes are active, and **when** (onset and offset in seconds). DESED, the
# dataset of DCASE Task 4, has ten domestic classes:

# %%
pd.DataFrame({"class": CLASSES, "typical event (real DESED, median)": [
    f"{s:.1f} s" for s in generate.event_statistics(generate.load_real_desed_validation())["median_s"]]})

# %% [markdown]
# Training data come with three kinds of labels:
#
# | kind | what the annotator wrote | example | DESED training set |
# |---|---|---|---|
# | **strong** | every event with its onset and offset | `Dog 2.31 3.05` | synthetic soundscapes (labels are known because the clip was mixed from parts) |
# | **weak** | only the classes present somewhere in the clip | `Dog,Speech` | real recordings, tagged by people |
# | **unlabeled** | nothing | – | real recordings |
#
# The detector must output *strong* predictions (frame by frame), although most real training
# data carry weak labels or none. The CRNN of the DCASE baseline therefore has two heads: a
# frame-level ("strong") head and a clip-level ("weak") head, and it learns from unlabeled clips
# through a mean teacher (notebook 06 builds the same idea for the student).
#
# ### Think!
#
# Weak labels are much cheaper to collect than strong ones. Why? And what can a model *not* learn
# from a weak label `Dog,Speech` that it can learn from `Dog 2.31 3.05; Speech 0.00 4.10`?
# (Think about where the dog is, how many barks there are, and whether dog and speech overlap.)
#
# <!-- BEGIN ANSWER -->
# A weak label needs one listen and a yes or no per class; a strong label needs every onset and
# offset marked, which means scrubbing back and forth through the audio, event by event. From
# `Dog,Speech` a model cannot learn *where* the dog is, how many barks there are, how long they
# last, or whether the dog and the speech overlap: only that each class occurs somewhere in the
# 10 s. Strong labels give a target for every frame, so timing and boundaries are learnt directly.
# <!-- END ANSWER -->

# %% [markdown]
# ## 2. Generate the data (5 min)
#
# The real DESED clips come from YouTube and cannot be downloaded here, so the course generates
# DESED-like soundscapes with a seeded procedural generator (`dualkd_lib.generate`): ten sound
# models, each a *family* of sounds (pitch, harmonics, modulation, envelope and noise colour drawn
# per event), mixed at random SNRs over coloured background noise, with the event durations,
# counts and overlaps of the real validation set. The same seed always gives the same files.
#
# **Two recording domains, as in DESED.** DESED's strongly labelled clips are *synthetic*: mixed
# from isolated sounds, they sound dry. Its weak, unlabeled, validation and evaluation clips are
# *real* recordings, made in rooms with consumer microphones. The generator keeps that gap: the
# strong split is rendered dry, and every other split is played through a random room
# (reverberation) and a microphone (its frequency response, its noise floor, its level)
# (`dualkd_lib.recording`). A model that learns *when* events happen only from the strong split
# must carry that knowledge across the gap, which is where a model pre-trained on a large corpus
# of both kinds of audio helps (notebooks 03 and 07).
#
# The next cell creates the preset's dataset if it is missing (once; later notebooks reuse it).

# %%
cfg = SETUP.config()
if cfg.generator is not None:
    counts = {split: cfg.generator.n_clips(split) for split in SPLITS}
    print(f"Preset {cfg.name!r}: {sum(counts.values())} clips of 10 s, {counts}")
    print("recorded:", {split: cfg.generator.domain(split).name for split in SPLITS})
if recipe.data_present(SETUP.data_root):
    print(f"Found the dataset in {SETUP.data_root}.")
else:
    print(f"Generating the {cfg.name!r} dataset into {SETUP.data_root} (seed 0) ...")
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root)

# %% [markdown]
# The folders follow DESED's layout, so the same loader reads generated and real data
# (`dualkd_lib.layout`):

# %%
rows = []
for split in SPLITS:
    audio_dir, labels_tsv, durations_tsv = split_paths(ctx.data_root, split)
    rows.append({
        "split": split,
        "labels": SPLITS[split].kind,
        "clips": len(list(audio_dir.glob("*.wav"))) if audio_dir.is_dir() else 0,
        "audio folder": str(audio_dir.relative_to(ctx.data_root)),
        "labels TSV": str(labels_tsv.relative_to(ctx.data_root)) if labels_tsv else "-",
    })
pd.DataFrame(rows)

# %% [markdown]
# ## 3. Listen (5 min)
#
# One sound of each class, straight from its sound model (`generate.synthesize_event`).
# Every call with a new random generator gives another member of the family: re-run the cell
# with another `SEED` to hear the variety.

# %%
rng = np.random.default_rng(SEED)
for label in CLASSES:
    sound = generate.synthesize_event(label, 2.0, rng)
    print(label)
    display(Audio(sound, rate=SAMPLE_RATE))

# %% [markdown]
# And two complete validation clips (sounds over a background, sometimes overlapping):

# %%
val = desed_io.load_split(ctx.data_root, "validation")
example_files = val.filenames[:2]
for name in example_files:
    events = val.strong[val.strong["filename"] == name]
    print(name, "·", ", ".join(f"{r.event_label} {r.onset:.2f}-{r.offset:.2f} s" for r in events.itertuples()))
    display(Audio(desed_io.load_wav(val.audio_dir / name).numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## 4. Look: log-mel spectrogram and strong labels (7 min)
#
# A model does not see the waveform but a **log-mel spectrogram**: energy in 64 (course) or
# 128 (DCASE) frequency bands on a perceptual (mel) scale, in dB, one frame every 32 ms (course)
# or 16 ms (DCASE). Notebook 02
# computes it step by step; here we only look. The coloured bars are the strong labels: one row
# per class, and marks on the spectrogram at each onset (solid) and offset (dashed).

# %%
logmel = features.LogMel(cfg.features)
mel_hz = features.mel_center_frequencies(cfg.features)
for name in example_files:
    wave = desed_io.load_wav(val.audio_dir / name)
    fig = plots.plot_spectrogram_with_events(
        logmel(wave)[0].numpy(), val.strong[val.strong["filename"] == name],
        hop_length=cfg.features.hop_length, mel_frequencies=mel_hz, title=name,
    )
    plt.show()

# %% [markdown]
# Things to notice: harmonic classes (Speech, Cat, Alarm bell) draw stacked horizontal lines;
# noisy ones (Frying, Running water, Vacuum cleaner, Blender) draw broad bands; Dishes are short
# clicks across many bands. Long events often start before or end after the clip: their onset is
# 0 or their offset 10 s.
#
# How a clip is built: `generate.compose_clip` returns the parts (background and scaled event
# stems) as well as the mixture.

# %%
parts = generate.compose_clip(np.random.default_rng(SEED), cfg.generator)
fig, axes = plt.subplots(2, 1, figsize=(9, 3.6), sharex=True)
t = np.arange(len(parts.mixture)) / SAMPLE_RATE
axes[0].plot(t, parts.mixture, lw=0.3, color="0.3", label="mixture")
axes[0].plot(t, parts.background, lw=0.3, color="tab:orange", alpha=0.8, label="background")
axes[0].legend(loc="upper right", fontsize=7)
axes[0].set_ylabel("amplitude")
plots.plot_event_rows(parts.events, ax=axes[1], only_present=True)
fig.tight_layout()
plt.show()
parts.events

# %% [markdown]
# ## 5. The generated data against real DESED (5 min)
#
# The generator draws event durations and class frequencies from distributions fitted to the
# real DESED validation set (shipped with the library). `generate.compare_with_desed` puts both
# side by side, computed from the *strong training* labels of our dataset. On the `tiny` preset
# there are only a few dozen clips, so expect noisy bars.

# %%
strong = desed_io.load_split(ctx.data_root, "strong").strong
comparison = generate.compare_with_desed(strong)
fig = plots.plot_event_statistics(comparison, title="Strong training split vs real DESED validation")
plt.show()
comparison.round(2)

# %%
pd.DataFrame({
    "generated (strong split)": generate.clip_statistics(strong),
    "real DESED validation": generate.clip_statistics(generate.load_real_desed_validation()),
}).round(2)

# %% [markdown]
# Short classes (Dishes, Dog, Cat, Alarm bell, Speech) last from under half a second (Dishes) to
# about a second; long ones (Frying,
# Vacuum cleaner, Electric shaver) often fill the whole clip. Speech is the most frequent class,
# and a clip has about three to four events. The sounds themselves are much simpler than real
# recordings, and our models and training runs are much smaller than the paper's, so our
# absolute scores cannot be compared with the paper's; what we compare are the *differences*
# between methods.

# %% [markdown]
# ## 6. The TSV files (3 min)
#
# Labels are tab-separated text files with a header, as in DESED. Strong labels: one row per
# event, times in seconds.

# %%
strong_tsv = split_paths(ctx.data_root, "strong")[1]
pd.read_csv(strong_tsv, sep="\t").head()

# %% [markdown]
# Weak labels: one row per clip, the classes comma-separated (no times).

# %%
weak_tsv = split_paths(ctx.data_root, "weak")[1]
pd.read_csv(weak_tsv, sep="\t").head()

# %% [markdown]
# Durations of the evaluation clips (PSDS needs them: false positives are counted *per hour*):

# %%
durations_tsv = split_paths(ctx.data_root, "validation")[2]
pd.read_csv(durations_tsv, sep="\t").head(3)

# %% [markdown]
# `desed_io.load_split` reads a split, checks that every listed clip is on disk, and says
# clearly what is wrong when it is not; `read_strong_tsv` and friends check every row:

# %%
try:
    desed_io.read_strong_tsv(pd.DataFrame({"filename": ["a.wav"], "onset": [3.0], "offset": [2.0],
                                           "event_label": ["Dog"]}))
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## Summary
#
# - SED outputs, per class, *when* each sound is active; training uses strong labels (events
#   with times), weak labels (classes per clip) and unlabeled clips.
# - The course generates a seeded DESED-like dataset with DESED's folders and TSV files and the
#   real validation set's event statistics; one loader reads generated and real data.
# - A clip becomes a log-mel spectrogram before a model sees it; the strong labels line up with
#   it in time.
#
# ## Check your understanding
#
# 1. A clip's weak label is `Dog,Speech`. Which of these can you derive from it: the number of
#    dog barks, whether the clip contains a cat, when the speech starts?
# 2. Why does the durations TSV exist, when every clip is 10 s long anyway?
# 3. The generated Frying events last 10 s in most clips. What does that mean for a detector's
#    onset and offset errors on Frying, compared with Dishes?
# 4. Why must the same seed give the same dataset, byte for byte?
#
# <!-- BEGIN ANSWER -->
#
# 1. Only that it contains no cat (a weak label lists *every* class present). The number of
#    events and their times are not in a weak label.
# 2. Real DESED clips are not all 10 s long, and PSDS counts false positives per hour of audio,
#    so the evaluation needs the exact total duration. The durations table also defines which
#    clips belong to the evaluation set (clips without any event appear only there).
# 3. A whole-clip event has onset 0 and offset 10, which a detector gets right by staying active;
#    timing errors matter most for short events like Dishes (0.4 s median), where a 200-ms
#    error is half the event.
# 4. So that every run of the course (and every test) sees the same data: results can be
#    compared and cached files (features, teacher outputs) stay valid.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - N. Turpault, R. Serizel, A. Parag Shah, J. Salamon, *Sound event detection in domestic
#   environments with weakly labeled data and soundscape synthesis*, DCASE 2019 workshop
#   (the DESED dataset). [DESED on GitHub](https://github.com/turpaultn/DESED).
# - A. Mesaros, T. Heittola, T. Virtanen, M. D. Plumbley, *Sound Event Detection: A Tutorial*,
#   IEEE Signal Processing Magazine 2021, [arXiv 2107.05463](https://arxiv.org/abs/2107.05463).
# - J. Salamon et al., *Scaper: a library for soundscape synthesis and augmentation*, WASPAA 2017
#   (how DESED's synthetic soundscapes are mixed).
