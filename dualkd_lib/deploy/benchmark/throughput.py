"""Training throughput (steps per second of teacher and student) and data generation speed.

Taught in notebook 09.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from dualkd_lib.deploy.benchmark.measure import time_calls, torch_threads


# --------------------------------------------------------------------------
# Training throughput and data generation
# --------------------------------------------------------------------------
def _fake_batch(preset: Any, n: int, n_frames: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A training batch of random standardised features with every key any mode reads."""
    n_cls, t_out = preset.teacher.n_classes, n_frames // 4
    strong = (torch.rand(n, n_cls, t_out, generator=gen) > 0.8).float()
    return {
        "features": torch.randn(n, preset.features.n_mels, n_frames, generator=gen),
        "strong": strong, "weak": strong.amax(dim=-1),
        "has_strong": torch.arange(n) < n // 4, "has_weak": torch.arange(n) < n // 2,
        "embeddings": torch.randn(n, preset.embedding.emb_dim, t_out, generator=gen),
        "teacher_strong": torch.rand(n, n_cls, t_out, generator=gen),
        "teacher_weak": torch.rand(n, n_cls, generator=gen),
    }


def training_throughput(model: nn.Module, preset: Any, mode: str, *, steps: int = 3, threads: int = 1,
                        seed: int = 0) -> dict[str, float]:
    """Clips per second of full training steps (forward, loss, backward, Adam, EMA) of ``model``.

    ``mode``: ``"teacher"`` (the CRNN fed cached embeddings) or a student mode such as
    ``"supervised"`` or ``"dual"`` (the teacher's outputs and embeddings are cached, as in the
    course, so only the student runs; TAKD adds a forward and backward pass through the
    mean student). Batch size: the preset's ``student_train.batch_sizes`` summed.
    One untimed step first. Taught in notebook 09.
    """
    import copy

    from dualkd_lib.distill import update_ema
    from dualkd_lib.train import training_step

    cfg = preset.teacher_config(seed) if mode == "teacher" else preset.student_config(mode, seed)
    n = sum(cfg.batch_sizes)
    n_frames = 1 + preset.features.clip_samples // preset.features.hop_length
    batch = _fake_batch(preset, n, n_frames, torch.Generator().manual_seed(seed))
    model = copy.deepcopy(model).train().requires_grad_(True)
    mean = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(i: int) -> None:
        loss, _ = training_step(model, mean, batch, cfg, i, model_needs_embeddings=mode == "teacher")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        update_ema(mean, model, cfg.ema_alpha, i)

    with torch_threads(threads):
        step(0)
        times = [0.0] * steps
        for i in range(steps):
            t0 = time.perf_counter()
            step(i + 1)
            times[i] = time.perf_counter() - t0
    sec = float(np.median(times))
    return {"mode": mode, "threads": threads, "batch": n, "seconds_per_step": sec, "clips_per_second": n / sec}


def data_generation_speed(preset: Any, *, n_clips: int = 4, seed: int = 0) -> dict[str, float]:
    """Clips per second of the seeded soundscape generator and of log-mel extraction (1 thread).

    Taught in notebook 09.
    """
    from dualkd_lib import generate
    from dualkd_lib.features import LogMel

    cfg = preset.generator if preset.generator is not None else generate.COURSE_GENERATOR
    t0 = time.perf_counter()
    waves = [generate.generate_clip(generate.clip_rng(seed, "strong", i), cfg)[0] for i in range(n_clips)]
    gen_s = time.perf_counter() - t0
    logmel = LogMel(preset.features)
    x = torch.from_numpy(np.stack(waves))
    with torch.no_grad(), torch_threads(1):
        feat_s = min(time_calls(lambda: logmel(x), repeats=3, warmup=1))
    return {"clips": n_clips, "generate_clips_per_second": n_clips / gen_s, "logmel_clips_per_second": n_clips / feat_s}
