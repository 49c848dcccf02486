# %% [markdown]
# # 09 · Edge deployment: size, MACs, latency, ONNX, int8, streaming
#
# The point of distillation is a model that runs where the big one cannot: a phone, a smart
# speaker, a Raspberry Pi. This notebook measures what the student buys us and ships it: it
# counts parameters and multiply-accumulates (MACs), exports teacher and student to ONNX and
# checks that the files compute the same numbers, times them in ONNX Runtime (what a device runs)
# and in eager PyTorch, squeezes the student to int8 and measures what that costs in PSDS, and
# runs it on audio that arrives in chunks.
#
# **Objectives.** After this notebook you can
# 1. compare teacher and student by parameters, MACs, file size, latency and real-time factor,
#    and say why the teacher's cost includes its embedding model;
# 2. turn a latency into a real-time factor and an achieved GMAC/s, and compare it with the
#    machine's measured matrix-product peak (Exercise 9.1);
# 3. export the student to ONNX, verify parity with PyTorch, and run it with ONNX Runtime;
# 4. quantize it to int8 and read the size, speed and PSDS change honestly;
# 5. stream the student over chunks of audio and explain the trade-off between latency and
#    agreement with the offline pass (a bidirectional GRU needs the future);
# 6. place every model of the ablation on a PSDS-against-cost plot.
#
# **Prerequisites.** Notebooks 03 (teacher, embedding model), 05 (student), 08 (the ablation).
#
# **Time.** About 32 minutes: set-up 2 min · size and MACs 4 min · ONNX 4 min · latency
# (Exercise 9.1) 7 min · int8 4 min · streaming 5 min · PSDS against cost 3 min · questions 3 min.

# %% [markdown]
# ## Set-up

# %%
# Set-up: imports only (the seeding happens in `notebook_setup` below).
import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from dualkd_lib import desed_io, distill, layout, models, train
from dualkd_lib.constants import CLASSES
from dualkd_lib.deploy import benchmark, export, streaming
from dualkd_lib import recipe
from dualkd_lib.teaching import exercises, setup

# %% tags=["parameters"]
# Parameters: change them here, or set DUALKD_PRESET / DUALKD_DATA_ROOT before starting Jupyter.
PRESET = os.environ.get("DUALKD_PRESET", "course")  # "tiny" (tests), "course" (laptop), "desed" (real data, GPU)
SEED = 0  # every random number in the notebook follows from it
DATA_ROOT = os.environ.get("DUALKD_DATA_ROOT")  # None: <repository>/data/generated/<PRESET>
REPEATS = None  # timed runs per latency; None: 3 in "tiny", 20 otherwise

# %%
SETUP = setup.notebook_setup(PRESET, seed=SEED, data_root=DATA_ROOT)
CFG = SETUP.config()
REPEATS = REPEATS or (3 if SETUP.preset == "tiny" else 20)
ctx = recipe.Context.create(SETUP.preset, data_root=SETUP.data_root, work_dir=SETUP.cache_dir)
DEPLOY = layout.deploy_dir(SETUP.cache_dir)  # the ONNX files of this notebook
DEPLOY.mkdir(parents=True, exist_ok=True)
N_FRAMES = 1 + CFG.features.clip_samples // CFG.features.hop_length  # feature frames of one 10-s clip
print(f"preset {SETUP.preset!r}: {CFG.features.n_mels} mels x {N_FRAMES} frames per 10-s clip; "
      f"{torch.get_num_threads()} PyTorch threads available")

# %% [markdown]
# The deployed student comes from the **dual** run (TAKD + EEFD, notebook 08), with the weights
# the ablation kept for it (its own or its mean student's, chosen on the validation split), and
# without its embedding distillation layer. The teacher is the frozen CRNN, and at inference it needs the
# frozen embedding model too. Each is loaded from the cache, or trained now if missing (seconds
# in `tiny`).

# %%
student_path = recipe.train_student(ctx, "dual", seed=SEED)
student_own, student_mean, _ = train.load_model_from_checkpoint(student_path, expected_kind="student")
kept = recipe.run_metrics(ctx, "student", "dual", SEED)["weights"]  # "student" or "mean", chosen on validation
student = (student_own if kept == "student" else student_mean).without_embedding_head().eval()
teacher = ctx.teacher()
embedding_model = ctx.embedding_model()
teacher_full = benchmark.TeacherWithEmbeddings(embedding_model, teacher).eval()
ev = ctx.split("evaluation")
print(f"student: {student_path} ({'its own weights' if kept == 'student' else 'the mean student'}, "
      "kept on validation)")

# %% [markdown]
# ## 1. Size and MACs (4 min)
#
# Two numbers say how heavy a network is before we time anything:
#
# - **parameters**: what must be stored (4 bytes each in float32, 1 in int8);
# - **MACs**, multiply-accumulates per 10-s clip: the work. A convolution producing `H·W·C_out`
#   values with a `k×k` kernel over `C_in` channels costs `H·W·C_out·C_in·k²` MACs; a GRU costs
#   `3·(in·h + h·h)` per step and direction. `models.count_macs` adds these up with forward hooks.

# %%
shape = (1, CFG.features.n_mels, N_FRAMES)
rows = []
for name, net in [("student (deployed)", student), ("teacher CRNN alone", teacher),
                  ("embedding model", embedding_model), ("teacher + embedding model", teacher_full)]:
    rows.append({"model": name, "params": models.count_parameters(net),
                 "MMACs / clip": models.count_macs(net, shape) / 1e6,
                 "fp32 MB": models.count_parameters(net) * 4 / 1e6})
size_table = pd.DataFrame(rows).set_index("model")
size_table["x student (params)"] = size_table["params"] / size_table.loc["student (deployed)", "params"]
size_table["x student (MACs)"] = size_table["MMACs / clip"] / size_table.loc["student (deployed)", "MMACs / clip"]
size_table.round(2)

# %% [markdown]
# The paper's claim is a student with about a third of the teacher's parameters. Ours is
# smaller than that against the CRNN alone, and far smaller against what the teacher really
# needs at inference, the CRNN *and* the embedding model (as the DCASE 2023 baseline needs BEATs,
# 90 M parameters). The student never needs the embedding model: EEFD taught it that knowledge
# during training only.

# %% [markdown]
# ## 2. ONNX: one file that runs without PyTorch (4 min)
#
# A device does not run a Python training framework: it runs a graph. ONNX describes the network
# as a graph of standard operators; ONNX Runtime (and many other runtimes on phones, browsers and
# micro-controllers) executes it. `export.export_onnx` traces a model on an example input, with the
# batch and frame axes left free, so the same file serves any batch size and any clip length.
# Two traps it avoids for you: it drops the student's embedding distillation layer (training
# only), and it exports an `eval()` copy. The old tracing exporter traces a module *in whatever
# mode it is in*: in training mode, dropout would be baked into the graph and BatchNorm's running
# statistics would move while tracing. We export the student and, to compare like with like, the
# teacher *system* (the embedding model and the CRNN in one graph, as it would be deployed).

# %%
onnx_path = export.export_onnx(student, DEPLOY / "student.onnx", n_frames=N_FRAMES, overwrite=True)
teacher_onnx = export.export_onnx(teacher_full, DEPLOY / "teacher_system.onnx", n_mels=CFG.features.n_mels,
                                  n_frames=N_FRAMES, overwrite=True)
session = export.onnx_session(onnx_path, threads=1)
teacher_session = export.onnx_session(teacher_onnx, threads=1)
print({i.name: i.shape for i in session.get_inputs()}, "->", {o.name: o.shape for o in session.get_outputs()})
print("student operators:", export.onnx_op_counts(onnx_path))
diff = export.check_onnx_parity(student, onnx_path, ev.features[:8])
print(f"{onnx_path.name}: {onnx_path.stat().st_size / 1e3:.0f} kB, {teacher_onnx.name}: "
      f"{teacher_onnx.stat().st_size / 1e3:.0f} kB; largest |PyTorch - ONNX Runtime| of the student on 8 "
      f"evaluation clips: {diff:.2e} (tolerance {export.PARITY_TOLERANCE:.0e})")
assert diff <= export.PARITY_TOLERANCE

# %% [markdown]
# The differences are float rounding: the two runtimes add the same numbers in different orders.
# The parity check is what makes the file trustworthy: it computes the same function as the
# model we evaluated.
#
# ## 3. Latency and the real-time factor (7 min)
#
# We time one clip at a time (batch 1, what a device that listens does) on **one thread**, the
# fair comparison for a small device, and report the median of several runs (the first call is
# slower and is not timed). The **real-time factor** (RTF) is compute time divided by audio time:
# RTF 0.01 means 10 s of audio take 0.1 s. Anything below 1 keeps up with the microphone; the
# smaller it is, the more of the CPU (and battery) is left for everything else.
#
# ### Exercise 9.1
#
# Write `latency_summary(ms_per_clip, macs, clip_seconds=10.0)` returning a dict with the
# real-time factor, the clips per second, and the achieved GMAC/s (MACs per second / 1e9).

# %% tags=["exercise"]
def latency_summary(ms_per_clip, macs, clip_seconds=10.0):
    """{'realtime_factor', 'clips_per_second', 'gmacs_per_second'} of a model taking ms_per_clip ms per clip."""
    # BEGIN SOLUTION Exercise 9.1: turn a latency into a real-time factor, clips per second and GMAC/s
    seconds = ms_per_clip / 1000.0
    return {
        "realtime_factor": seconds / clip_seconds,
        "clips_per_second": 1.0 / seconds,
        "gmacs_per_second": macs / seconds / 1e9,
    }
    # END SOLUTION


# %%
latency_summary = exercises.check("9.1", latency_summary)

# %% [markdown]
# Now the measurement, in the runtime a device would use first: **ONNX Runtime**, student against
# the teacher system. Then the same models in **eager PyTorch**, the framework we trained them in.
# `benchmark.time_calls` runs a function `repeats` times after a warm-up and returns every time;
# `benchmark.torch_threads(1)` pins PyTorch to one thread. A matrix product of two large matrices
# is the best case for a CPU, so its speed (`benchmark.gemm_peak`) is the reference we compare
# each model with. It is a reference, not a hard ceiling: a share above all of it means the reference
# itself was slowed (another job on the machine) or the model's convolution kernels beat the
# plain matrix product.

# %%
x1 = ev.features[:1]
e1 = ctx.embeddings("evaluation")[:1]
feed = x1.numpy()
timed = {  # (runtime, model): (network counted for MACs, the call to time)
    ("ONNX Runtime", "student (deployed)"): (student, lambda: export.run_onnx(session, feed)),
    ("ONNX Runtime", "teacher + embedding model"): (teacher_full, lambda: export.run_onnx(teacher_session, feed)),
    ("eager PyTorch", "student (deployed)"): (student, lambda: student(x1)),
    ("eager PyTorch", "teacher CRNN alone"): (teacher, lambda: teacher(x1, e1)),
    ("eager PyTorch", "teacher + embedding model"): (teacher_full, lambda: teacher_full(x1)),
}
peaks = {"eager PyTorch": benchmark.gemm_peak(1), "ONNX Runtime": benchmark.gemm_peak(1, runtime="onnxruntime")}
lat_rows, spread_rows = [], []
with torch.no_grad(), benchmark.torch_threads(1):
    for (runtime, name), (net, fn) in timed.items():
        times_ms = [1000 * t for t in benchmark.time_calls(fn, repeats=REPEATS, warmup=1)]
        ms = float(np.median(times_ms))
        macs = models.count_macs(net, shape)
        spread_rows += [{"runtime": runtime, "model": name, "ms": t} for t in times_ms]
        lat_rows.append({"runtime": runtime, "model": name, "ms / clip": ms,
                         "ms, 10-90 % of runs": f"{np.percentile(times_ms, 10):.2f}-{np.percentile(times_ms, 90):.2f}",
                         **latency_summary(ms, macs, CFG.features.clip_seconds),
                         "% of the runtime's GEMM peak": 100 * macs / (ms / 1000) / (peaks[runtime]["gmacs_per_second"] * 1e9)})
latency_all = pd.DataFrame(lat_rows).set_index(["runtime", "model"])
latency = latency_all.loc["ONNX Runtime"]  # what a device sees; used by the rest of the notebook
ort_ms = latency.loc["student (deployed)", "ms / clip"]
speedup = latency.loc["teacher + embedding model", "ms / clip"] / ort_ms
print(f"ONNX Runtime, 1 thread, batch 1: student {ort_ms:.2f} ms, teacher system "
      f"{latency.loc['teacher + embedding model', 'ms / clip']:.2f} ms per 10-s clip: {speedup:.1f}x faster")
eager = latency_all.loc["eager PyTorch"]
print(f"eager PyTorch, same clip: student {eager.loc['student (deployed)', 'ms / clip']:.2f} ms, teacher CRNN alone "
      f"{eager.loc['teacher CRNN alone', 'ms / clip']:.2f} ms, teacher system "
      f"{eager.loc['teacher + embedding model', 'ms / clip']:.2f} ms")
print(f"GEMM peak on 1 thread: torch.matmul {peaks['eager PyTorch']['gmacs_per_second']:.0f} GMAC/s, ONNX Runtime "
      f"MatMul {peaks['ONNX Runtime']['gmacs_per_second']:.0f} GMAC/s; load average now {os.getloadavg()[0]:.1f} "
      f"on {os.cpu_count()} cores")
latency_all.round(4)

# %%
fig = benchmark.plot_latency_spread(pd.DataFrame(spread_rows))
plt.show()

# %% [markdown]
# Read the ONNX Runtime rows first: that is the student's real advantage on a device. Then the
# eager PyTorch rows, and what they say about frameworks rather than models: at batch 1, eager
# PyTorch dispatches every operation one by one from Python, so a network pays a fixed cost per
# operation whatever its width. The student has as many layers as the teacher CRNN (and more small
# operations, its SE and tfwSE blocks), so in eager PyTorch its lead shrinks, and on some machines
# it is even slower than the teacher CRNN alone. ONNX Runtime plans the whole graph once (fusing
# operations, reusing buffers), so the per-operation cost nearly disappears and the MACs matter
# again. The figure shows every timed run: the spread is the machine (other processes, caches,
# frequency scaling), and it is why we report medians and compare models side by side in one run.
#
# Two lessons in the peaks too: the same CPU multiplies the same matrices at different speeds in
# two libraries (their GEMM kernels differ), so "the peak" is a property of the software as well.
# And the last column: small networks use a smaller share of the peak than large ones. MACs predict latency only roughly, and worse the smaller the model. That is why
# deployment always *measures*.
#
# ### Think!
#
# The student has several times fewer MACs than the teacher with its embedding model, but the
# speed-up you measured is probably smaller than the MAC ratio. Where do the missing factors go?
# Would a batch of 16 clips change the picture?
#
# <!-- BEGIN ANSWER -->
# MACs count arithmetic only. At batch 1 a small network pays fixed costs per layer: the
# framework's dispatch of every operator, the memory traffic of element-wise operations
# (BatchNorm, activations, pooling, attention scaling) that do few MACs per byte, the GRU's steps,
# which run one after the other, and thread synchronisation. The student has as many layers as the
# teacher, so these costs do not shrink with its width. A batch of 16 spreads the fixed costs over
# 16 clips, so the time follows the MACs more closely and the speed-up comes nearer the MAC ratio.
# <!-- END ANSWER -->

# %% [markdown]
# ## 4. int8: a smaller file, and what it costs (4 min)
#
# Quantization stores each weight in 8 bits with a scale, `w ≈ scale · q` with `q ∈ [-128, 127]`.
# ONNX Runtime's *dynamic* quantization converts the convolutions and matrix products; the
# activations are quantized on the fly. It has no int8 GRU (only LSTMs), so the GRU stays in
# float32. We measure size, speed and, what matters, PSDS on the evaluation split:

# %%
q = export.quantize_dynamic_int8(onnx_path, DEPLOY / "student.int8.onnx", overwrite=True)
q_session = export.onnx_session(q["path"], threads=1)
with benchmark.torch_threads(1):
    int8_ms = 1000 * float(np.median(benchmark.time_calls(lambda: export.run_onnx(q_session, feed), repeats=REPEATS)))
fp32_metrics = export.evaluate_onnx(ctx, onnx_path, "evaluation")
int8_metrics = export.evaluate_onnx(ctx, q["path"], "evaluation")
quant = pd.DataFrame([
    {"model": "student fp32 (ONNX)", "kB": q["size_fp32_bytes"] / 1e3, "ms / clip (1 thread)": ort_ms, **fp32_metrics},
    {"model": "student int8 (ONNX)", "kB": q["size_bytes"] / 1e3, "ms / clip (1 thread)": int8_ms, **int8_metrics},
]).set_index("model")
print("quantized:", q["quantized_ops"], "| left in float32:", q["float_ops_left"], "|", q["note"])
print(f"PSDS1 change {int8_metrics['psds1'] - fp32_metrics['psds1']:+.4f}, "
      f"PSDS2 change {int8_metrics['psds2'] - fp32_metrics['psds2']:+.4f}")
quant.round(4)

# %% [markdown]
# Read this table honestly. With the `course` student the file shrinks by about a third, far
# from 4x, because the GRU (a large part of the student's weights) stays in float32 and each
# quantized operator adds bookkeeping (scales, zero points, quantize nodes). The PSDS change is
# small. And the int8 model is probably *slower* here: dynamic quantization
# quantizes every activation at run time, and ONNX Runtime's integer convolution (`ConvInteger`)
# has no kernels as tuned as its float ones. int8 pays off with static quantization (activation
# ranges calibrated in advance, fused integer kernels) on hardware with integer vector units, or
# when memory, not compute, is the limit. Measure on the device you ship to.
#
# ### Think!
#
# On the `tiny` preset the int8 file can even be *larger* than the float32 one. Why would a
# network with only ~12 k parameters not shrink?
#
# <!-- BEGIN ANSWER -->
# Quantisation stores the weights in 1 byte instead of 4, but the file also holds the graph, and
# quantising adds to it: a scale and a zero point for every quantised tensor and quantise /
# dequantise operators around the layers. With about 12 k parameters the weights take only about
# 48 kB, so the saving (about 36 kB) can be smaller than what is added.
# <!-- END ANSWER -->

# %% [markdown]
# ## 5. Streaming: scores while the audio arrives (5 min)
#
# Offline, the student sees a whole 10-s clip. A device hears audio in short chunks. The student's
# **bidirectional** GRU reads every clip backwards too, and its SE blocks average each channel
# over the whole input, so a frame's score depends on audio that has not arrived yet. We can only
# buy that future with **latency**. `streaming.StreamingDetector` runs the model every
# `hop_seconds` on a window of `context_seconds` of past audio, the hop, and `lookahead_seconds`
# of future audio, and emits the hop's frames: each frame is reported `hop + lookahead` seconds
# after it started. (The other choice, recomputing a sliding 10-s window and reporting its newest
# frames at once, has less latency but scores those frames with no future at all.)
#
# Let's stream one evaluation clip in 100-ms chunks with a few settings and compare with the
# offline scores:

# %%
scaler = ctx.scaler()  # the standardisation the student was trained with
wave_name = ev.filenames[0]
wave = desed_io.load_wav(desed_io.load_split(ctx.data_root, "evaluation").audio_dir / wave_name)
offline = streaming.offline_scores(student, CFG.features, scaler, wave)
settings = [(0.0, 0.0), (1.0, 0.5), (2.0, 1.0), (4.0, 2.0)]
stream_rows, streamed = [], {}
with benchmark.torch_threads(1):
    for context_s, lookahead_s in settings:
        det = streaming.StreamingDetector(student, CFG.features, scaler, hop_seconds=1.0,
                                          context_seconds=context_s, lookahead_seconds=lookahead_s)
        streamed[(context_s, lookahead_s)] = s = streaming.stream_waveform(det, wave, chunk_seconds=0.1)
        stream_rows.append({"context s": context_s, "lookahead s": lookahead_s,
                            "latency s (hop + lookahead)": det.latency_seconds,
                            "compute ms per step (median)": 1000 * float(np.median(det.step_seconds)),
                            "max |streamed - offline|": float(np.abs(s - offline).max()),
                            "mean |streamed - offline|": float(np.abs(s - offline).mean())})
pd.DataFrame(stream_rows).round(4)

# %%
cls = int(offline.max(axis=1).argmax())  # the class the student is most sure of in this clip
frame_s = det.frame_seconds
t = np.arange(offline.shape[1]) * frame_s
fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
axes[0].plot(t, offline[cls], color="k", lw=2.5, label="offline (whole clip)")
for (context_s, lookahead_s), s in streamed.items():
    axes[0].plot(t, s[cls], lw=1.2, label=f"streamed: context {context_s:g} s, lookahead {lookahead_s:g} s")
    axes[1].plot(t, np.abs(s - offline).max(axis=0), lw=1.2, label=f"context {context_s:g} s, lookahead {lookahead_s:g} s")
hop_s = det.hop_frames * frame_s
for k in range(1, int(t[-1] // hop_s) + 1):
    axes[1].axvline(k * hop_s, color="0.8", lw=0.8, zorder=0)
axes[0].set(ylabel="score", title=f"Streaming vs offline: {CLASSES[cls]} on {wave_name}")
axes[1].set(xlabel="time [s]", ylabel="max over classes of |difference|", yscale="log")
axes[0].legend(fontsize=7)
axes[1].legend(fontsize=7)
plt.show()

# %% [markdown]
# Without context (blue), every hop is a separate 1-s clip: its scores disagree with the offline
# ones most where the score changes (an event's start or end), above all right after a hop
# boundary (grey lines), where the GRU starts again from nothing. With a few seconds of both, the
# differences fall by more than an order of magnitude (read the table): the GRU's memory of
# distant audio fades, so the distant past and future hardly matter. The price is the latency
# column: 3 s for the last setting. The compute per step stays far below the hop in every
# setting, so the device keeps up.
#
# ### Think!
#
# A unidirectional GRU would need no lookahead at all. What would you expect to lose in
# detection quality, and which kind of event boundary (onsets or offsets) would suffer more?
#
# <!-- BEGIN ANSWER -->
# The bidirectional GRU reads future frames to decide about the present; a unidirectional one
# decides from the past only, so expect lower frame-level quality, mostly at **offsets**: to say
# that an event has ended, a model must see that it does not go on, which is future context.
# An onset shows as a change in the current frames, which a causal model sees at once (a short
# lookahead still helps to confirm it). Clip-level decisions suffer less than timing.
# <!-- END ANSWER -->

# %% [markdown]
# ## 6. PSDS against cost, for every model of the ablation (3 min)
#
# The ablation of notebook 08 (teacher and five student modes) sits in `ablation.json`, if you
# ran it; otherwise we collect the same numbers run by run (training what is missing in the
# `tiny` preset). All students share one architecture, so one cost and one latency: the plot
# draws them side by side around that value so that none hides another. The teacher's cost is
# counted *with* its embedding model, as it runs at inference.

# %%
found = sorted(SETUP.cache_dir.rglob("ablation.json"))
if found:
    summary = json.loads(found[-1].read_text())["models"]
    print(f"ablation read from {found[-1]}")
else:
    summary = []
    done = [m for m in distill.STUDENT_MODES if (recipe.student_checkpoint(ctx, m, SEED)).is_file()]
    modes = distill.STUDENT_MODES if SETUP.preset == "tiny" else done  # "course": no long training here
    summary.append({"name": "teacher (CRNN + embeddings)", **recipe.run_metrics(ctx, "teacher", "teacher", 0)})
    for mode in modes:
        summary.append({"name": f"student ({mode})", **recipe.run_metrics(ctx, "student", mode, SEED)})
    print(f"no ablation.json under {SETUP.cache_dir}: collected {len(summary)} runs")
emb_params, emb_macs = models.count_parameters(embedding_model), models.count_macs(embedding_model, shape)
cost_rows = []
for r in summary:
    is_teacher = "teacher" in r["name"]
    cost_rows.append({
        "name": r["name"] + (" + embedding model" if is_teacher and "embedding" not in r["name"] else ""),
        "params": r["params"] + (emb_params if is_teacher else 0),
        "macs": r["macs"] + (emb_macs if is_teacher else 0),
        "ms_per_clip": latency.loc["teacher + embedding model" if is_teacher else "student (deployed)", "ms / clip"],
        "psds1": r["psds1"], "psds2": r["psds2"],
    })
fig = benchmark.plot_psds_vs_cost(cost_rows)
plt.show()
pd.DataFrame(cost_rows).set_index("name").round(4)

# %% [markdown]
# A good student sits near the teacher's height at a fraction of its cost. The distillation
# modes do not change the cost at all (same network), only the height: that is the whole
# argument of the paper in one picture. (In the `tiny` preset the evaluation split is 40 clips
# and every PSDS is near zero; run the `course` preset for meaningful heights.)
#
# ### The full benchmark
#
# `dualkd benchmark --preset course --out build/benchmark` measures all of the above in one run,
# for PyTorch and ONNX Runtime, 1 thread and all threads, with throughput at batch 16, peak
# memory per configuration (a fresh process each), training throughput and data-generation speed,
# and writes `benchmark.json` and `benchmark.md`. Here is a quick version (1 thread, no memory
# probes):

# %%
report = benchmark.benchmark_main(DEPLOY / "benchmark", preset=SETUP.preset, threads=(1,), repeats=REPEATS,
                                  work_dir=SETUP.cache_dir, memory=False, train_steps=1, overwrite=True,
                                  progress=False)
cols = ["name", "runtime", "threads", "ms_per_clip", "realtime_factor", "clips_per_second_batch", "params", "macs",
        "file_size_bytes", "fraction_of_gemm_peak"]
print(f"load average {report['machine']['load_average_1min_before']:.1f} -> "
      f"{report['machine']['load_average_1min_after']:.1f} on {report['machine']['cpu_threads_available']} threads; "
      f"weights: {report['weights']}")
pd.DataFrame(report["entries"])[cols].round(4)

# %% [markdown]
# Benchmarks are only as good as the machine is quiet. The load average printed above counts
# the processes that wanted a CPU; if it exceeds the number of cores, the timings are inflated,
# and multi-threaded ones most (threads wait for each other at every parallel step).
#
# ## Summary
#
# - Count before you time: parameters give storage, MACs give work. The teacher's cost at
#   inference includes its embedding model; the student needs neither.
# - ONNX export gives one file for any runtime; a parity check (<= 1e-4) proves it computes the
#   same function. Export an `eval()` copy without training-only layers.
# - Time at batch 1 on one thread for a device that listens, in the runtime the device uses
#   (ONNX Runtime); report the median, the spread of the runs and the real-time factor. Eager
#   PyTorch at batch 1 pays a fixed cost per operation, which hides much of a small model's lead.
#   Small networks use a much smaller share of the CPU's matrix-product peak than large ones, so
#   MACs predict latency only roughly.
# - Dynamic int8 shrinks the file (not 4x: the GRU stays float32) with a PSDS change near zero
#   here (measure it on your model), and is not
#   automatically faster. Measure size, speed and PSDS together.
# - A bidirectional model streams only with lookahead: latency buys agreement with the offline
#   pass.
#
# ## Check your understanding
#
# 1. A model takes 25 ms per 10-s clip on one thread. What is its real-time factor, and how many
#    such streams could one core process in real time?
# 2. Why must the ONNX parity check use the model in `eval()` mode, and what would a difference
#    of 0.1 between the two runtimes suggest?
# 3. The student has many times fewer MACs than the teacher with its embedding model. Give two
#    reasons why its measured speed-up is smaller.
# 4. Why does dynamic int8 quantization leave the student's GRU in float32, and what does that do
#    to the size reduction?
# 5. With `hop_seconds=1` and `lookahead_seconds=2`, how long after a dog barks is its score
#    reported, at the earliest and at the latest?
#
# <!-- BEGIN ANSWER -->
#
# 1. RTF = 0.025 s / 10 s = 0.0025; one core could in principle serve 1 / 0.0025 = 400 streams
#    (less in practice: features, post-processing and the rest of the system also need time).
# 2. In training mode dropout is random and BatchNorm uses batch statistics, so the two runs would
#    not compute the same function (and tracing in training mode freezes a dropout mask into the
#    graph). A difference of 0.1 is far above float rounding (1e-6 to 1e-5): a real export
#    error, such as a layer in the wrong mode, a missing input, or a shape baked in as a constant.
# 3. Per-operation overheads (dispatch, memory allocation) that do not shrink with the MACs; narrow
#    convolutions and a sequential GRU that cannot use the vector units fully; memory traffic.
#    The teacher's big convolutions run closer to the CPU's peak.
# 4. ONNX Runtime's dynamic quantization has int8 kernels for MatMul, Gemm, Conv and LSTM, not
#    GRU. The GRU's float32 weights remain, so the file shrinks by much less than 4x.
# 5. The bark's first frame is scored when the hop it falls in is complete and 2 s of lookahead
#    have arrived: between 2 s (bark at the end of a hop) and 3 s (at its start) after it begins,
#    plus the compute time of one step.
#
# <!-- END ANSWER -->
#
# ## Further reading
#
# - ONNX Runtime, [quantizing ONNX models](https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html)
#   (dynamic vs static quantization, supported operators).
# - PyTorch, [exporting a model to ONNX](https://pytorch.org/docs/stable/onnx.html).
# - B. Jacob et al., *Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
#   Inference*, CVPR 2018, [arXiv 1712.05877](https://arxiv.org/abs/1712.05877).
# - Y. Xiao, R. K. Das, *Dual Knowledge Distillation for Efficient Sound Event Detection*,
#   [arXiv 2402.02781](https://arxiv.org/abs/2402.02781) (the student's size and cost).
# - S. Williams, A. Waterman, D. Patterson, *Roofline: an insightful visual performance model*,
#   CACM 2009 (why small operations cannot reach a CPU's peak).
