"""Where a course student's training step spends its time (issue #16, item 5; not run in CI).

Builds course-shaped random data (the course's features, labels, embeddings and teacher
outputs; 400 clips per split), the course loader and the course student, then times, on one
thread, for each mode: the data path (loader + mixup + to-device), the forward pass of the
student, the mean student's part (no-grad forward, or TAKD's functional call), the loss, the
backward pass, the Adam step and the EMA update. The same step functions as ``train()``, timed
piece by piece. Then a torch.profiler table of the top operators of a whole step.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_student_step.py supervised dual
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_student_step.py candidates   # cheaper students

The first form also prints the forward + backward time of each CNN block and of the GRU.
Results: docs/results/faithful-experiment-progress.md, "Session of 2026-12-02 (midday)".
"""
from __future__ import annotations

import copy
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dualkd_lib import config, models  # noqa: E402
from dualkd_lib.constants import CLASSES  # noqa: E402
from dualkd_lib.datasets import SEDDataset, build_train_loader  # noqa: E402
from dualkd_lib.distill import ema_alpha, mean_student_forward, mode_uses, update_ema  # noqa: E402
from dualkd_lib.features import n_frames, n_output_frames  # noqa: E402
from dualkd_lib.datasets import mixup_batch  # noqa: E402
from dualkd_lib.train import training_step  # noqa: E402

torch.set_num_threads(1)
P = config.COURSE
C = len(CLASSES)
T_in, T_out = n_frames(P.features), n_output_frames(P.features)
D = P.embedding.emb_dim
g = torch.Generator().manual_seed(0)


def split(kind: str, n: int = 400) -> SEDDataset:
    strong = (torch.rand(n, C, T_out, generator=g) > 0.9).float() if kind == "strong" else None
    weak = (torch.rand(n, C, generator=g) > 0.8).float() if kind == "weak" else None
    extras = {"embeddings": torch.randn(n, D, T_out, generator=g),
              "teacher_strong": torch.rand(n, C, T_out, generator=g), "teacher_weak": torch.rand(n, C, generator=g)}
    return SEDDataset(torch.randn(n, P.features.n_mels, T_in, generator=g), kind, strong_labels=strong,
                      weak_labels=weak, extras=extras, out_frames=T_out)


def timed(times: dict, name: str, fn):
    t = time.perf_counter()
    out = fn()
    times[name] = times.get(name, 0.0) + time.perf_counter() - t
    return out


def one_step(model, mean_model, opt, batch, cfg, step: int) -> None:
    """One untimed step in train()'s order: mixup, loss, backward, Adam, EMA (no clipping: the
    course sets none)."""
    batch = mixup_batch(batch, np.random.default_rng([cfg.seed, step, 7]), prob=cfg.mixup_prob, beta=cfg.mixup_beta)
    loss, _ = training_step(model, mean_model, batch, cfg, step)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    update_ema(mean_model, model, cfg.ema_alpha, step)


def profile(mode: str, steps: int = 30, warm: int = 5) -> None:
    cfg = dataclasses.replace(P.student_config(mode, 0), max_steps=steps + warm)
    loader = build_train_loader(split("strong"), split("weak"), split("unlabeled"), batch_sizes=cfg.batch_sizes)
    model = models.SECRNN(P.student, seed=0).train()
    mean_model = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    times: dict[str, float] = {}
    it = iter(loader)
    for step in range(steps + warm):
        if step == warm:
            times.clear()
        t0 = time.perf_counter()
        batch = timed(times, "data", lambda: mixup_batch(dict(next(it)),
                                                         np.random.default_rng([0, step, 7]),
                                                         prob=cfg.mixup_prob, beta=cfg.mixup_beta))
        x = batch["features"]
        timed(times, "forward student (alone)", lambda: model(x, None))
        if mode_uses(mode, "takd") and cfg.takd_blend is None:
            timed(times, "mean student (functional call)", lambda: mean_student_forward(
                model, mean_model, x, alpha=ema_alpha(step, cfg.ema_alpha), gradient=cfg.takd_gradient))
        else:
            with torch.no_grad():
                timed(times, "mean student (no_grad)", lambda: mean_model(x, None))
        loss, _ = timed(times, "training_step (all forwards + losses)", lambda: training_step(model, mean_model, batch, cfg, step))
        opt.zero_grad(set_to_none=True)
        timed(times, "backward", loss.backward)
        timed(times, "adam", opt.step)
        timed(times, "ema", lambda: update_ema(mean_model, model, cfg.ema_alpha, step))
        # includes the two separately timed forwards that training_step repeats
        times["wall, with the separate forwards"] = times.get("wall, with the separate forwards", 0.0) + time.perf_counter() - t0
    clips = sum(cfg.batch_sizes)
    print(f"\n== {mode}: {steps} steps of {clips} clips, ms per step (one thread)")
    for k, v in times.items():
        print(f"  {k:40s} {1000 * v / steps:8.1f}")
    whole = times["data"] + times["training_step (all forwards + losses)"] + times["backward"] + times["adam"] + times["ema"]
    print(f"  {'train() step = data+step+back+adam+ema':40s} {1000 * whole / steps:8.1f}"
          f"   -> {clips * steps / whole:.0f} clips/s")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for step in range(5):
            one_step(model, mean_model, opt, next(it), cfg, step)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def per_block(batch: int = 32, reps: int = 5) -> None:
    """Forward + backward milliseconds of each CNN block and of the GRU (train mode)."""
    model = models.SECRNN(P.student, seed=0).train()
    x = torch.randn(batch, 1, T_in, P.features.n_mels, requires_grad=False)
    print(f"\n== per part, batch {batch}, forward + backward, ms (one thread)")
    total = 0.0
    for i, block in enumerate(model.cnn):
        x = x.detach().requires_grad_(True)
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            y = block(x)
            y.sum().backward()
            best = min(best, time.perf_counter() - t)
        total += best
        print(f"  cnn[{i}] {type(block).__name__:10s} in {tuple(x.shape)} out {tuple(y.shape)}  {1000 * best:7.1f}")
        x = y.detach()
    seq = x.permute(0, 2, 1, 3).flatten(2).requires_grad_(True)  # [batch, T, C*F]
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        h, _ = model.rnn(seq)
        h.sum().backward()
        best = min(best, time.perf_counter() - t)
    total += best
    print(f"  rnn in {tuple(seq.shape)}  {1000 * best:7.1f}")
    print(f"  sum {1000 * total:7.1f}")


def strided_block0(model: models.SECRNN) -> models.SECRNN:
    """Prototype (not in the library): block 0 pools by a stride-2 conv instead of conv + 2x2
    average pooling, so its BatchNorm, ReLU and attention run on a quarter of the values."""
    b0 = model.cnn[0]
    block = models.ConvBlock(1, b0.conv.out_channels, n_freq=P.features.n_mels // 2, pooling=(1, 1),
                             activation="relu", dropout=b0.dropout.p, se=b0.se is not None,
                             tfwse=b0.tfwse is not None, se_reduction=P.student.se_reduction)
    block.conv = torch.nn.Conv2d(1, b0.conv.out_channels, 3, padding=1, stride=2)
    model.cnn[0] = block.to(memory_format=torch.channels_last)
    return model


#: Candidate students and budgets for a cheaper step (speed only; their accuracy needs training).
#: name: (CRNNConfig changes, TrainConfig changes, a change to the built model or None)
CANDIDATES: dict[str, tuple[dict, dict, object]] = {
    "preset": ({}, {}, None),
    "gru 1 layer": ({"rnn_layers": 1}, {}, None),
    "no attention in block 0": ({"se_first_block": 1}, {}, None),
    "gru 1 layer, no attention in block 0": ({"rnn_layers": 1, "se_first_block": 1}, {}, None),
    "stride-2 block 0 (prototype)": ({}, {}, strided_block0),
    "stride-2 block 0, gru 1 layer (prototype)": ({"rnn_layers": 1}, {}, strided_block0),
    "batch 8/8/8": ({}, {"batch_sizes": (8, 8, 8)}, None),
    "batch 4/4/8": ({}, {"batch_sizes": (4, 4, 8)}, None),
}


def candidates(mode: str = "supervised", steps: int = 8, rounds: int = 3) -> None:
    """ms per train() step and clips/s of each candidate, measured round-robin (fair under load)."""
    preset, runs = P, {}
    for name, (model_changes, train_changes, change) in CANDIDATES.items():
        cfg = dataclasses.replace(preset.student_config(mode, 0), **train_changes)
        student = dataclasses.replace(preset.student, **model_changes)
        loader = build_train_loader(split("strong"), split("weak"), split("unlabeled"), batch_sizes=cfg.batch_sizes)
        model = models.SECRNN(student, seed=0)
        model = (change(model) if change else model).train()
        runs[name] = (cfg, model, copy.deepcopy(model).eval().requires_grad_(False),
                      torch.optim.Adam(model.parameters(), lr=cfg.lr), iter(loader), [])
    for _ in range(rounds):
        for name, (cfg, model, mean_model, opt, it, best) in runs.items():
            t = time.perf_counter()
            for step in range(steps):
                one_step(model, mean_model, opt, next(it), cfg, step)
            best.append((time.perf_counter() - t) / steps)
    print(f"\n== candidates, mode {mode}, best of {rounds} rounds of {steps} steps (one thread)")
    base = min(runs["preset"][-1])  # the preset's per-step times
    for name, (cfg, *_, best) in runs.items():
        clips = sum(cfg.batch_sizes)
        print(f"  {name:40s} {1000 * min(best):7.1f} ms/step  {clips / min(best):6.1f} clips/s  "
              f"x{base / min(best):.2f} steps/s of the preset")


if __name__ == "__main__":
    if sys.argv[1:2] == ["candidates"]:
        candidates(*(sys.argv[2:3] or ["supervised"]))
        sys.exit()
    per_block()
    for m in sys.argv[1:] or ["supervised", "dual"]:
        profile(m)
