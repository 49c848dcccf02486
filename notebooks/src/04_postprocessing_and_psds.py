# %% [markdown]
# # 04 · Post-processing and PSDS
#
# **Objectives.** After this notebook you can
# 1. evaluate real DESED detections with PSDS (scenarios 1 and 2) and event F1;
# 2. explain the intersection criteria DTC, GTC and CTTC on a drawing, and what each PSDS
#    scenario rewards;
# 3. read a PSD-ROC curve and place a decision threshold on it;
# 4. post-process frame scores yourself: median filter, threshold, decode into events.
#
# **Prerequisites.** Notebook 02 (frame labels at the model output resolution).
#
# **Time.** About 40 minutes: real detections 10 min · DTC/GTC/CTTC 8 min · PSD-ROC 7 min ·
# post-processing our own scores 15 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from dualkd_lib import evaluate, layout
from dualkd_lib.constants import CLASSES
from dualkd_lib import recipe
from dualkd_lib.teaching import exercises, plots, setup, widgets

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)

# %% [markdown]
# ## 1. Real DESED detections (10 min)
#
# We start from real data: the DESED validation set's ground truth (1168 clips) and the
# detections of the DCASE 2020 baseline on it, at 50 decision thresholds (0.01, 0.03, ...,
# 0.99), shipped with the library.

# %%
REAL = layout.desed_validation_dir()
gt_real = pd.read_csv(REAL / "validation_groundtruth.tsv", sep="\t")
dur_real = pd.read_csv(REAL / "validation_metadata.tsv", sep="\t")
det_05 = pd.read_csv(REAL / "baseline_2020_detections_at_0.5.tsv", sep="\t")
print(f"{gt_real['filename'].nunique()} clips, {gt_real['event_label'].notna().sum()} events, "
      f"{dur_real['duration'].sum() / 3600:.2f} h of audio; "
      f"{len(list((REAL / 'baseline_2020_detections').glob('*.tsv')))} detection tables")
det_05.head()

# %% [markdown]
# **Event F1 at one threshold.** Collar-based F1 (DCASE's classic metric): a detection matches
# a ground-truth event of its class if the onsets differ by at most 200 ms and the offsets by at
# most max(200 ms, 20 % of the event). Intersection-based F1 uses overlap criteria instead (next
# section).

# %%
f1_collar = evaluate.collar_f1(det_05, gt_real, dur_real)
f1_inter = evaluate.intersection_f1(det_05, gt_real, dur_real)
pd.DataFrame({"collar F1": f1_collar.per_class, "intersection F1": f1_inter.per_class}).round(3).T.assign(
    macro=[round(f1_collar.macro, 3), round(f1_inter.macro, 3)])

# %% [markdown]
# **PSDS from operating points**, the classic `psds_eval` way of DCASE 2020/2021: each of the 50
# tables gives one point (TPR, false positives per hour) per class; PSDS is the normalised area
# under the averaged curve. The library's implementation is tested against `psds_eval` 0.5.3 on
# exactly these files.

# %%
OPS = REAL / "baseline_2020_detections"
psds1_real = evaluate.psds_from_operating_points(OPS, gt_real, dur_real, **evaluate.PSDS1.as_kwargs())
psds2_real = evaluate.psds_from_operating_points(OPS, gt_real, dur_real, **evaluate.PSDS2.as_kwargs())
pd.DataFrame([
    {"scenario": "PSDS1", **evaluate.PSDS1.as_kwargs(), "PSDS": round(psds1_real.value, 3)},
    {"scenario": "PSDS2", **evaluate.PSDS2.as_kwargs(), "PSDS": round(psds2_real.value, 3)},
]).set_index("scenario")

# %% [markdown]
# For comparison: the paper reports PSDS1 0.474 / PSDS2 0.698 for its best student on the DESED
# public evaluation set, and 0.359 / 0.562 for the DCASE 2023 CRNN baseline; the numbers above
# are a three-year-older baseline on the validation set.

# %% [markdown]
# ## 2. DTC, GTC and CTTC on a drawing (8 min)
#
# PSDS counts with *intersections*, not collars (Bilen et al., 2020), for each class:
#
# - **DTC** (detection tolerance criterion): a detection is correct only if at least `dtc` of
#   its length lies on ground truth of its class; otherwise it is a false positive.
# - **GTC** (ground-truth intersection criterion): a ground-truth event counts as detected if
#   the DTC-passing detections cover at least `gtc` of it.
# - **CTTC** (cross-trigger tolerance criterion): a false positive lying at least `cttc` on an
#   event of *another* class is a cross-trigger on that class (a confusion, not just noise).
#
# A hand-made clip: six ground-truth events and five detections.

# %%
example_gt = pd.DataFrame([
    ("clip.wav", 0.5, 2.0, "Dog"), ("clip.wav", 3.0, 4.0, "Dog"), ("clip.wav", 2.5, 8.5, "Speech"),
    ("clip.wav", 6.0, 6.6, "Dishes"), ("clip.wav", 0.0, 10.0, "Frying"), ("clip.wav", 8.8, 9.6, "Cat"),
], columns=["filename", "onset", "offset", "event_label"])
example_det = pd.DataFrame([
    ("clip.wav", 0.6, 1.9, "Dog"),       # on target
    ("clip.wav", 2.8, 5.0, "Dog"),       # covers the bark, but too long for a strict DTC
    ("clip.wav", 2.6, 4.4, "Speech"),    # covers only a third of the speech
    ("clip.wav", 6.2, 8.0, "Cat"),       # the cat comes later: this lies on speech (cross-trigger)
    ("clip.wav", 0.0, 10.0, "Frying"),   # whole clip
], columns=["filename", "onset", "offset", "event_label"])
example_dur = pd.DataFrame({"filename": ["clip.wav"], "duration": [10.0]})
for scenario, name in ((evaluate.PSDS1, "scenario 1"), (evaluate.PSDS2, "scenario 2")):
    fig = plots.plot_intersection_example(example_det, example_gt, dtc=scenario.dtc, gtc=scenario.gtc,
                                          cttc=scenario.cttc, title=f"{name}: DTC {scenario.dtc}, "
                                          f"GTC {scenario.gtc}, CTTC {scenario.cttc}")
    plt.show()

# %% [markdown]
# The library counts the same thing (`evaluate.count_intersections`) for a whole detection
# table; the classes of the example are the only ones evaluated:

# %%
example_classes = ["Cat", "Dishes", "Dog", "Frying", "Speech"]
rows = {}
for scenario, name in ((evaluate.PSDS1, "PSDS1 criteria"), (evaluate.PSDS2, "PSDS2 criteria")):
    counts = evaluate.count_intersections(example_det, example_gt, example_dur, dtc=scenario.dtc,
                                          gtc=scenario.gtc, cttc=scenario.cttc, classes=example_classes)
    rows[name] = {"true positives": int(counts.tp.sum()), "ground-truth events": int(counts.n_ref.sum()),
                  "false positives": int(counts.fp.sum()), "cross-triggers": int(counts.ct.sum())}
pd.DataFrame(rows)

# %% [markdown]
# ### Think!
#
# Scenario 1 (DTC = GTC = 0.7) rejects the long Dog detection (too much of it lies outside the
# bark), and it does not count the speech as found: the Speech detection lies inside it but covers
# only a third of it, under the GTC. Scenario 2 (0.1) accepts both, but counts the Cat detection as a cross-trigger on Speech and
# on Frying (the table counts 2) and penalises it (`alpha_ct` = 0.5). So which scenario rewards precise **localisation** in time, and
# which rewards getting the **class** right with coarse timing? Which one would you optimise for a
# baby monitor that must say "someone is crying" within a few seconds?
#
# <!-- BEGIN ANSWER -->
# Scenario 1 rewards localisation: a detection must cover 70 % of its event and lie 70 % inside
# it, so coarse timing fails. Scenario 2 rewards the class: a rough overlap is enough, but
# detecting the wrong class (a cross-trigger) is penalised. A baby monitor must say "crying"
# within a few seconds and not confuse it with speech: scenario 2 (PSDS2).
# <!-- END ANSWER -->

# %% [markdown]
# ## 3. The PSD-ROC curve (7 min)
#
# For each class, the true positive rate against the effective false positive rate per hour
# (eFPR, false positives per hour plus `alpha_ct` × cross-trigger rate). The summary curve (black)
# is the mean over classes minus `alpha_st` × their standard deviation, so a detector must do
# well on *every* class. PSDS is the area under it up to 100 eFPR, divided by 100.

# %%
fig = plots.plot_psd_roc(psds1_real, title="DCASE 2020 baseline, DESED validation, scenario 1")
plt.show()
fig = plots.plot_psd_roc({"scenario 1": psds1_real, "scenario 2": psds2_real}, title="both scenarios")
plt.show()

# %% [markdown]
# ### Interactive demo: one threshold on the curve
#
# A detector outputs scores; a decision threshold turns them into events, which gives *one*
# point per class. Lowering the threshold moves points right (more false positives) and up (more
# hits). The star is the mean over classes; it lies above the black curve because the curve
# subtracts the spread between classes. PSDS summarises *all* thresholds at once, so it does not
# depend on choosing one.

# %%
points = widgets.operating_points(OPS, gt_real, dur_real, **evaluate.PSDS1.as_kwargs())
fig = widgets.threshold_figure(psds1_real, points, threshold=0.5)
plt.show()

# %%
widgets.interactive_threshold(psds1_real, points)

# %% [markdown]
# ## 4. Post-processing our own scores (15 min)
#
# A model gives frame scores `[clips, classes, frames]`, not events. So that this notebook does
# not depend on notebook 03's teacher, we make a **pretend detector** from the ground truth of our evaluation
# split: blurred in time (late onsets, early offsets), scaled down, plus random short spikes
# (false alarms) and a few missed events. Its numbers mean nothing about real models; it is here
# to practise post-processing.

# %%
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root)  # generates the data if missing
ev_split = ctx.split("evaluation")
encoder = ctx.encoder
MEDIAN = ctx.preset.evaluation.median_filter_frames  # the preset's median filter length (frames)
truth = ev_split.strong.numpy()  # [clips, classes, frames]
rng = np.random.default_rng(SEED)
blurred = gaussian_filter1d(truth, sigma=3.0, axis=-1)
missed = rng.random(truth.shape[:2] + (1,)) < 0.1  # 10 % of (clip, class) pairs missed
spikes = (rng.random(truth.shape) < 0.03) * rng.uniform(0.4, 0.9, truth.shape)
scores = np.clip(0.8 * blurred * ~missed + 0.25 * rng.random(truth.shape) ** 2 + spikes, 0, 1).astype(np.float32)
print("scores:", scores.shape, "| frame length:", encoder.frame_seconds, "s")

# %% [markdown]
# ### Exercise 4.1: median filter
#
# Short spikes become short false detections. The DCASE baseline smooths each class's scores
# along time with a median filter (the preset's length, `MEDIAN` below). Write
# `median_filter(scores, length)` for scores `[classes, frames]` (numpy) and an odd `length`:
# each output frame is the median of the `length` frames centred on it; at the edges, repeat the
# first and last frame (`np.pad(..., mode="edge")`). Same shape as the input.

# %% tags=["exercise"]
def median_filter(scores, length):
    """Median over `length` frames (odd) along time, per class; edges repeat the end frames."""
    # BEGIN SOLUTION Exercise 4.1: median-filter the scores along time
    half = length // 2
    padded = np.pad(scores, ((0, 0), (half, half)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, length, axis=-1)  # [classes, frames, length]
    return np.median(windows, axis=-1)
    # END SOLUTION


# %%
median_filter = exercises.check("4.1", median_filter)

# %% [markdown]
# ### Exercise 4.2: threshold and decode
#
# Write `decode_clip(scores, threshold, frame_seconds, classes)`: scores `[classes, frames]` of
# one clip → a DataFrame with columns `event_label, onset, offset` (seconds). A frame is active
# if its score is *above* the threshold; each run of active frames is one event, from the start
# of its first frame to the end of its last. Hint: `np.diff` of the activity padded with a 0 on
# both sides is +1 where runs start and -1 just after they end.

# %% tags=["exercise"]
def decode_clip(scores, threshold, frame_seconds, classes=CLASSES):
    """Frame scores [classes, frames] of one clip -> DataFrame event_label, onset, offset (s)."""
    # BEGIN SOLUTION Exercise 4.2: binarize the scores and decode them into events
    active = np.asarray(scores) > threshold
    rows = []
    for c, label in enumerate(classes):
        change = np.diff(np.concatenate([[0], active[c].astype(int), [0]]))
        for start, stop in zip(np.flatnonzero(change == 1), np.flatnonzero(change == -1)):
            rows.append((label, round(start * frame_seconds, 3), round(stop * frame_seconds, 3)))
    return pd.DataFrame(rows, columns=["event_label", "onset", "offset"])
    # END SOLUTION


# %%
decode_clip = exercises.check("4.2", decode_clip)

# %%
n_events = ev_split.ground_truth.groupby("filename").size()
clip = ev_split.filenames.index(str(n_events.idxmax()))  # the clip with the most events
clip_gt = ev_split.ground_truth[ev_split.ground_truth["filename"] == ev_split.filenames[clip]]
raw_events = decode_clip(scores[clip], 0.5, encoder.frame_seconds)
smooth_events = decode_clip(median_filter(scores[clip], MEDIAN), 0.5, encoder.frame_seconds)
print(f"{ev_split.filenames[clip]}: {len(clip_gt)} true events, {len(raw_events)} detected raw, "
      f"{len(smooth_events)} after the median filter")
fig = plots.plot_scores(median_filter(scores[clip], MEDIAN), encoder.frame_seconds, ground_truth=clip_gt,
                        detections=smooth_events, title="median-filtered scores, ground truth and detections")
plt.show()

# %% [markdown]
# ### Interactive demo: filter length and threshold
#
# Longer filters remove more spikes but also shorten or delete short events (Dishes!) and
# round their edges. Try lengths 1, 7 and 21 on a short class.

# %%
print(f"filter length of this preset: {MEDIAN} frames = {MEDIAN * encoder.frame_seconds:.2f} s")
fig = widgets.median_filter_figure(scores[clip], clip_gt, length=MEDIAN, threshold=0.5,
                                   frame_seconds=encoder.frame_seconds)
plt.show()

# %%
widgets.interactive_median_filter(scores[clip], clip_gt, frame_seconds=encoder.frame_seconds)

# %% [markdown]
# ### The whole split: threshold-independent PSDS
#
# `sed_scores_eval` computes the *exact* PSD-ROC from the scores over every possible threshold
# (`evaluate.psds1`). `recipe.evaluate_scores` is what the rest of the course uses: the
# preset's median filter, PSDS1, PSDS2, and collar and intersection F1 at threshold 0.5.

# %%
results = {}
for length in (1, MEDIAN):
    smoothed = evaluate.median_filter(scores, length)
    tables = evaluate.scores_to_dataframes(smoothed, ev_split.filenames, frame_seconds=encoder.frame_seconds)
    results[f"median {length}"] = evaluate.psds1(tables, ev_split.ground_truth, ev_split.durations)
fig = plots.plot_psd_roc(results, title=f"pretend detector, {SETUP.preset} evaluation split, scenario 1")
plt.show()
pd.Series(recipe.evaluate_scores(ctx, scores, "evaluation")).round(3)

# %% [markdown]
# On the `tiny` preset the evaluation split is only a few minutes of audio: one false positive
# is already several per hour, so these numbers are rough. The `course` preset has enough audio.
#
# ## Summary
#
# - Frame scores become events by median filtering, thresholding and merging runs of active
#   frames; each choice changes the numbers.
# - PSDS counts with intersections: DTC and GTC (how much of a detection lies on the truth, and
#   how much of the truth is covered), CTTC for confusions between classes. Scenario 1 (0.7/0.7)
#   rewards precise timing, scenario 2 (0.1/0.1 with cross-trigger penalty) the right class.
# - PSDS integrates over all thresholds; F1 needs one. The threshold-independent PSDS of
#   `sed_scores_eval` is exact; from a few operating points it is an under-estimate.
#
# ## Check your understanding
#
# 1. A detection of Speech from 2 s to 6 s lies on a Speech event from 3 s to 5 s. Does it pass
#    the DTC of scenario 1? Of scenario 2?
# 2. Why is a false positive per *hour* the unit on the x axis, and why does that make PSDS on
#    30 seconds of audio meaningless?
# 3. What happens to a 0.3-s Dishes event after a median filter of 21 frames of 64 ms?
# 4. Why does the summary PSD-ROC subtract the standard deviation across classes?
#
# <!-- BEGIN ANSWER -->
#
# 1. Half of the detection (2 s of 4 s) lies on Speech: 0.5 < 0.7 fails scenario 1 (a false
#    positive there), 0.5 ≥ 0.1 passes scenario 2. It covers all of the event, so the GTC holds.
# 2. Detectors are deployed on streams, where false alarms per hour is what a user notices. With
#    30 s of audio a single false positive is 120 per hour, beyond the 100 per hour where PSDS
#    stops, so a class's curve ends before it starts.
# 3. It spans about 5 frames, fewer than half of the 21-frame window, so the median is the
#    background score: the event disappears.
# 4. So that a detector cannot buy a high score with a few easy classes: PSDS rewards
#    performance that is good *and* uniform across classes (`alpha_st` = 1 in both scenarios).
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - Ç. Bilen, G. Ferroni, F. Tuveri, J. Azcarreta, S. Krstulović, *A Framework for the Robust
#   Evaluation of Sound Event Detection*, ICASSP 2020, [arXiv 1910.08440](https://arxiv.org/abs/1910.08440),
#   and [psds_eval](https://github.com/audioanalytic/psds_eval).
# - J. Ebbers, R. Haeb-Umbach, R. Serizel, *Threshold Independent Evaluation of Sound Event
#   Detection Scores*, ICASSP 2022, and [sed_scores_eval](https://github.com/fgnt/sed_scores_eval).
# - A. Mesaros, T. Heittola, T. Virtanen, *Metrics for Polyphonic Sound Event Detection*, Applied
#   Sciences 2016 (collar-based F1, `sed_eval`).
