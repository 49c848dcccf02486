# %% [markdown]
# # 02 · Features and label encoding
#
# **Objectives.** After this notebook you can
# 1. compute a log-mel spectrogram step by step (STFT → magnitude → mel filterbank → dB) and
#    say how the hop length, window length and number of mel bins change it;
# 2. turn event labels in seconds into frame labels at the *model output* resolution, and back;
# 3. standardise features with statistics fitted on the training set, and say why.
#
# **Prerequisites.** Notebook 01 (the data). NumPy broadcasting; a first look at PyTorch tensors.
#
# **Time.** About 30 minutes: waveform to log-mel 10 min · events to frames 12 min ·
# standardisation 5 min · everything together 3 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torchaudio

from dualkd_lib import desed_io, features
from dualkd_lib.constants import CLASSES, SAMPLE_RATE
from dualkd_lib import recipe
from dualkd_lib.teaching import exercises, plots, setup, widgets

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
cfg = SETUP.config()
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root)  # generates the data if missing
cfg.features

# %% [markdown]
# ## 1. From waveform to log-mel (10 min)
#
# One validation clip, 10 s at 16 kHz = 160000 samples:

# %%
val = desed_io.load_split(ctx.data_root, "validation")
name = val.filenames[0]
wave = desed_io.load_wav(val.audio_dir / name)  # float32 [160000]
events = val.strong[val.strong["filename"] == name]
fig = plots.plot_waveform(wave, title=name)
plt.show()
events

# %% [markdown]
# **Step 1, short-time Fourier transform.** Cut the waveform into overlapping windows of
# `win_length` samples, every `hop_length` samples, and take the magnitude of each window's
# spectrum. With `center=True` the clip is padded by half a window at both ends, so a clip of
# `S` samples gives `1 + S // hop_length` frames.

# %%
fc = cfg.features
window = torch.hamming_window(fc.win_length, periodic=False)
stft = torch.stft(wave, n_fft=fc.n_fft, hop_length=fc.hop_length, win_length=fc.win_length, window=window,
                  center=True, pad_mode="reflect", return_complex=True)
magnitude = stft.abs()  # [n_fft // 2 + 1 frequencies, frames]
print("magnitude spectrogram:", tuple(magnitude.shape), "| frames = 1 + 160000 // hop =",
      1 + fc.clip_samples // fc.hop_length, "| one frame every", 1000 * fc.hop_length / SAMPLE_RATE, "ms")

# %% [markdown]
# **Step 2, mel filterbank.** `n_mels` triangular filters, narrow at low frequencies and wide
# at high ones (the mel scale follows pitch perception), sum the spectrum into `n_mels` bands.

# %%
filterbank = torchaudio.functional.melscale_fbanks(
    n_freqs=fc.n_fft // 2 + 1, f_min=fc.f_min, f_max=fc.f_max, n_mels=fc.n_mels, sample_rate=SAMPLE_RATE,
    norm=None, mel_scale="htk",
)  # [frequencies, n_mels]
mel = filterbank.T @ magnitude  # [n_mels, frames]
freqs = np.linspace(0, SAMPLE_RATE / 2, fc.n_fft // 2 + 1)
fig, ax = plt.subplots(figsize=(9, 2.5))
ax.plot(freqs, filterbank[:, ::4].numpy(), lw=0.8)
ax.set(xlabel="frequency (Hz)", ylabel="weight", title=f"every 4th of the {fc.n_mels} mel filters")
plt.show()

# %% [markdown]
# **Step 3, decibels.** `20·log10(max(mel, 1e-5))`, clamped to [-50, 80] dB
# (`features.amplitude_to_db`). The library's `features.LogMel` does all three steps;
# our hand-made version must agree with it:

# %%
by_hand = features.amplitude_to_db(mel)
library = features.LogMel(fc)(wave)[0]
print("shape", tuple(library.shape), "| largest difference to LogMel:", float((by_hand - library).abs().max()), "dB")
fig = plots.plot_logmel(library, hop_length=fc.hop_length, mel_frequencies=features.mel_center_frequencies(fc),
                        title="log-mel features (dB)")
plt.show()

# %% [markdown]
# ### Interactive demo: hop length, window and mel bins
#
# A longer hop gives fewer frames (coarser time); a longer window sharpens frequency but
# smears time; more mel bins split the frequency axis finer. The title gives the feature
# shape. In Jupyter, move the sliders; the cell below first draws the default.

# %%
fig = widgets.spectrogram_figure(wave, hop_length=256, n_mels=64, n_fft=1024, events=events)
plt.show()

# %%
widgets.interactive_spectrogram(wave, events=events)

# %% [markdown]
# | setting | DCASE 2023 baseline | `course` preset |
# |---|---|---|
# | window / FFT | 2048 samples (128 ms) | 1024 samples (64 ms) |
# | hop | 256 samples (16 ms) → 626 frames | 512 samples (32 ms) → 313 frames (half the compute) |
# | mel bins | 128 | 64 (half the compute in the CNN) |
#
# ### Think!
#
# Dishes events last about 0.4 s; Frying often lasts 10 s. Which of the three parameters matters
# most for detecting a Dishes event *on time*, and what do you lose if you make the hop 4×
# longer to save compute?
#
# <!-- BEGIN ANSWER -->
# The hop: it sets the time resolution. The CRNN pools time by 4, so one output frame covers
# 4 hops: 4 × 32 ms = 128 ms in the `course` preset, about three output frames for a 0.4-s
# Dishes event. With a 4× longer hop an output frame lasts 0.512 s, longer than the event itself:
# its onset and offset can only be placed to within about half a second, PSDS1 (which needs 70 %
# overlap) rejects such detections, and the median filter can erase the event. The window and the
# mel bins change frequency detail, not timing, and a 10-s Frying event hardly notices any of it.
# <!-- END ANSWER -->

# %% [markdown]
# ## 2. From events to frame labels (12 min)
#
# The CNN pools time by `net_pooling` = 4, so the model outputs one prediction every 4 hops:
# in the DCASE baseline 4 × 16 ms = 64 ms, 156 frames per clip; in the `course` preset
# 4 × 32 ms = 128 ms, 78 frames. Labels must be given at *that* resolution.

# %%
print("feature frames:", features.n_frames(fc), "| output frames:", features.n_output_frames(fc),
      "| seconds per output frame:", features.output_frame_seconds(fc))

# %% [markdown]
# Frame `i` covers `[i · frame_seconds, (i + 1) · frame_seconds)`. The convention (as in the DCASE
# baseline): an event is active in every frame it touches, from `floor(onset / frame_seconds)`
# up to, *not including*, `ceil(offset / frame_seconds)`, clipped to the frames of the clip.
#
# ### Exercise 2.1: from times to frame ranges
#
# Write `event_frame_range(onset, offset, frame_seconds, n_frames)`: arrays of onsets and
# offsets (s) → `(first, end)`, two `int64` arrays with `end` exclusive (so that
# `labels[first:end]` are the event's frames). Clip `first` to `[0, n_frames - 1]` and `end` to
# `[0, n_frames]`. Beware of float rounding: `2.752 / 0.064` is `42.99999999999999`, so add a
# tolerance of 1e-6 frames (`floor(x + 1e-6)`, `ceil(x - 1e-6)`).

# %% tags=["exercise"]
def event_frame_range(onset, offset, frame_seconds, n_frames):
    """(first, end) frame indices (int64, end exclusive) of events given in seconds."""
    # BEGIN SOLUTION Exercise 2.1: turn onset/offset times into frame ranges
    first = np.floor(np.asarray(onset, dtype=np.float64) / frame_seconds + 1e-6).astype(np.int64)
    end = np.ceil(np.asarray(offset, dtype=np.float64) / frame_seconds - 1e-6).astype(np.int64)
    first = np.clip(first, 0, n_frames - 1)
    end = np.clip(end, 0, n_frames)
    return first, np.maximum(end, first + 1)
    # END SOLUTION


# %%
event_frame_range = exercises.check("2.1", event_frame_range)

# %%
encoder = ctx.encoder  # features.ManyHotEncoder at the model output resolution
first, end = event_frame_range(events["onset"].to_numpy(), events["offset"].to_numpy(),
                               encoder.frame_seconds, encoder.n_frames)
events.assign(first_frame=first, end_frame=end)

# %% [markdown]
# ### Exercise 2.2: events to a label matrix
#
# Write `encode_strong(events, n_frames, frame_seconds, classes)`: a list of
# `(label, onset, offset)` → a `float32` matrix `[len(classes), n_frames]` with 1 where a class is
# active. Use your `event_frame_range`.

# %% tags=["exercise"]
def encode_strong(events, n_frames, frame_seconds, classes):
    """Events [(label, onset_s, offset_s), ...] -> frame labels [classes, n_frames] (float32)."""
    # BEGIN SOLUTION Exercise 2.2: encode events as frame labels
    labels = np.zeros((len(classes), n_frames), dtype=np.float32)
    for label, onset, offset in events:
        first, end = event_frame_range([onset], [offset], frame_seconds, n_frames)
        labels[list(classes).index(label), first[0]:end[0]] = 1.0
    return labels
    # END SOLUTION


# %%
encode_strong = exercises.check("2.2", encode_strong)

# %%
event_list = list(events[["event_label", "onset", "offset"]].itertuples(index=False, name=None))
labels = encode_strong(event_list, encoder.n_frames, encoder.frame_seconds, CLASSES)
fig = plots.plot_frame_labels(labels, encoder.frame_seconds, events=events,
                              title="frame labels (black) and the exact events (coloured outlines)")
plt.show()

# %% [markdown]
# Decoding goes the other way: runs of active frames become events again. The round trip is
# exact up to one frame: onsets move *down* to a frame edge and offsets *up*, except at the end
# of the clip, where the last frame may end a little before 10 s (the frames need not divide the
# clip exactly). Each class's events, in time order, side by side:

# %%
columns = ["event_label", "onset", "offset"]
decoded = pd.DataFrame(encoder.decode_strong(labels), columns=columns)
pd.concat({
    "decoded": decoded.sort_values(["event_label", "onset"]).reset_index(drop=True),
    "labelled": events[columns].sort_values(["event_label", "onset"]).reset_index(drop=True),
}, axis=1)

# %% [markdown]
# ## 3. Standardisation (5 min)
#
# Log-mel values are in dB, roughly -50 to +30, and the bands differ in loudness by tens of dB
# (the figure of the scaler's means below shows how: read which bands are loudest). Networks train better on inputs with mean 0 and standard deviation 1 in every band. The
# `Scaler` learns one mean and one standard deviation *per mel bin* from the training features
# (strong, weak and unlabeled splits), once, and applies the same numbers to every clip,
# training or test.

# %%
scaler = ctx.scaler()  # fitted on the training splits once, then cached
fig, ax = plt.subplots(figsize=(8, 2.6))
ax.plot(scaler.mean.numpy(), label="mean (dB)")
ax.plot(scaler.std.numpy(), label="std (dB)")
ax.set(xlabel="mel bin", ylabel="dB", title="per-bin statistics of the training features")
ax.legend()
plt.show()

# %% [markdown]
# ### Exercise 2.3: standardise
#
# Write `standardise(features, mean, std)`: features `[batch, n_mels, frames]` (tensor),
# `mean` and `std` `[n_mels]` → `(features - mean) / std` per mel bin. Mind the broadcasting.

# %% tags=["exercise"]
def standardise(features, mean, std):
    """(features - mean[mel]) / std[mel] for features [batch, n_mels, frames]."""
    # BEGIN SOLUTION Exercise 2.3: standardise features with the training mean and std
    return (features - mean[:, None]) / std[:, None]
    # END SOLUTION


# %%
standardise = exercises.check("2.3", standardise)

# %%
x = library[None]  # [1, n_mels, frames]
z = standardise(x, scaler.mean, scaler.std)
print(f"before: mean {float(x.mean()):.1f} dB, std {float(x.std()):.1f} dB | "
      f"after: mean {float(z.mean()):.2f}, std {float(z.std()):.2f}")

# %% [markdown]
# One clip after standardisation need not be at mean 0 and std 1, and may be well off (read the
# printed values): the statistics are the *training set's*, one pair per mel band, and this clip
# is louder or quieter than the average clip in some bands (and its events make some bands vary more). Over the whole training
# set every band has mean 0 and std 1; that is what the scaler was fitted to do.
#
# ### Think!
#
# Why fit the statistics on the *training* set only and keep them fixed, instead of
# standardising each test clip with its own mean and std? (What happens to a quiet clip that
# contains only a faint dog bark?) The DCASE baseline does use per-clip min-max scaling;
# `features.Scaler(mode="instance_minmax")` offers it if you want to compare.
#
# <!-- BEGIN ANSWER -->
# Fixed statistics are part of the model: every clip goes through the same transform, so loudness
# stays information (a faint bark stays faint). Standardising each clip by itself would stretch a
# quiet clip that holds only a faint bark, and its background noise, to the range of a loud clip:
# the model would see noise blown up into events and lose the absolute level, and a clip's
# features would depend on what else is in it. Fitting on the training set only also keeps the
# validation and evaluation clips unseen.
# <!-- END ANSWER -->

# %% [markdown]
# ## 4. Everything together (3 min)
#
# `ctx.split(name)` does all of this for a whole split, once (features are cached on disk):
# standardised features `[clips, n_mels, frames]` and frame labels `[clips, classes, out_frames]`.

# %%
split = ctx.split("validation")
print("features:", tuple(split.features.shape), "| strong labels:", tuple(split.strong.shape),
      "| weak labels:", tuple(split.weak.shape))
print("share of active frames per class:")
pd.Series(split.strong.mean(dim=(0, 2)).numpy(), index=CLASSES).round(3)

# %% [markdown]
# ## Summary
#
# - A log-mel spectrogram is STFT magnitude → mel filterbank → dB; the hop sets the time
#   resolution (16 ms in DCASE, 32 ms in the course), the window the frequency resolution, `n_mels` the number of bands.
# - The CNN pools time by 4, so labels live on the output frames (156 of 64 ms in DCASE, 78 of
#   128 ms in the `course` preset): `floor` for onsets, `ceil`
#   for offsets, end exclusive, with a small tolerance against float rounding.
# - Features are standardised per mel bin with statistics of the training set; the statistics
#   travel with the model (they are buffers of the `Scaler`).
#
# ## Check your understanding
#
# 1. How many feature frames and how many output frames does a 10-s clip have at hop 512 and
#    net pooling 4?
# 2. An event lasts from 1.000 s to 1.010 s. How many output frames of 64 ms are active, and why
#    is that not zero?
# 3. Your encoder labels one frame too few at the end of every event. Which rounding did you use?
# 4. What goes wrong if you compute the scaler's mean and std on the evaluation set?
#
# <!-- BEGIN ANSWER -->
#
# 1. `1 + 160000 // 512 = 313` feature frames; `int(int(160000 / 512) / 4) = 78` output frames of
#    128 ms.
# 2. One: frame 15 (0.960–1.024 s) contains the whole event. Every frame the event touches is
#    active, so even a very short event gets at least one frame.
# 3. `floor` (or `int`) for the offset: the frame that contains the offset must be included, so
#    use `ceil`, with `end` exclusive.
# 4. The evaluation data would leak into the model's input pipeline, and the scaling would change
#    whenever the test set changes; results would be optimistic and not reproducible on new
#    recordings. Fit on training data once and keep it.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - M. Müller, *Fundamentals of Music Processing*, chapter 2 (the STFT), and its notebooks,
#   [FMP](https://www.audiolabs-erlangen.de/FMP).
# - The Hugging Face audio course, unit 1, *Audio data*:
#   [huggingface.co/learn/audio-course](https://huggingface.co/learn/audio-course/chapter1/audio_data).
# - DCASE 2023 baseline feature settings: `DESED_task/recipes/dcase2023_task4_baseline/confs/default.yaml`
#   in [DESED_task](https://github.com/DCASE-REPO/DESED_task).
