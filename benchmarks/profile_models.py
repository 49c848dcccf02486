"""Measure how fast the course models train and infer on this CPU (not run in CI).

For each model: parameters, MACs per 10-s clip, training clips/s (forward + backward +
Adam step at batch 24, train mode, BCE on strong and weak outputs; the teacher reads
cached embeddings) and inference clips/s (eval mode, no_grad, batch 24), with 2 and 1
torch threads. Other processes may share the CPU, so each measurement is repeated and
the best is kept. Two clocks: wall-clock clips/s (what a user waits for) and, for one
thread, clips per second of this process's CPU time ("cpu"), which estimates the speed on
an idle core even when other jobs compete for the CPU.

    .venv/bin/python benchmarks/profile_models.py                      # the presets
    .venv/bin/python benchmarks/profile_models.py --candidates         # + candidate widths
    .venv/bin/python benchmarks/profile_models.py --models COURSE_STUDENT --threads 2 --frames 313
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Callable

import torch
import torch.nn.functional as F

from dualkd_lib import models as M

SIX = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2))

PRESETS: dict[str, object] = {
    "COURSE_TEACHER": M.COURSE_TEACHER,
    "COURSE_STUDENT": M.COURSE_STUDENT,
    "COURSE_EMBEDDING": M.COURSE_EMBEDDING,
    "TINY_TEACHER": M.TINY_TEACHER,
    "TINY_STUDENT": M.TINY_STUDENT,
    "TINY_EMBEDDING": M.TINY_EMBEDDING,
}

# Widths tried while choosing the course presets (T = teacher, S = student, E = embedding model).
SEVEN = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 1))
_T, _S, _E = M.COURSE_TEACHER, M.COURSE_STUDENT, M.COURSE_EMBEDDING
CANDIDATES: dict[str, object] = {
    "DESED_TEACHER": M.DESED_TEACHER,
    "DESED_STUDENT": M.DESED_STUDENT,
    "T_dcase_7blk_gru128": dataclasses.replace(_T, channels=(16, 32, 64, 128, 128, 128, 128), pooling=SEVEN),
    "T_16-128x6_gru128": dataclasses.replace(_T, channels=(16, 32, 64, 128, 128, 128), pooling=SIX),
    "T_16-96x6_gru96": dataclasses.replace(_T, channels=(16, 32, 64, 96, 96, 96), pooling=SIX, rnn_hidden=96),
    "T_16-128x6_gru64": dataclasses.replace(_T, channels=(16, 32, 64, 128, 128, 128), pooling=SIX, rnn_hidden=64),
    "S_16-48x6_gru48": dataclasses.replace(_S, channels=(16, 32, 48, 48, 48, 48), pooling=SIX, rnn_hidden=48),
    "S_16-48x6_gru48_noSE": dataclasses.replace(
        _S, channels=(16, 32, 48, 48, 48, 48), pooling=SIX, rnn_hidden=48, se=False, tfwse=False
    ),
    "S_8-32x6_gru32": dataclasses.replace(_S, channels=(8, 16, 32, 32, 32, 32), pooling=SIX, rnn_hidden=32),
    "S_8-32x7_gru32": dataclasses.replace(_S, channels=(8, 16, 32, 32, 32, 32, 32), pooling=SEVEN, rnn_hidden=32),
    "S_8-48x7_gru48": dataclasses.replace(_S, channels=(8, 16, 32, 48, 48, 48, 48), pooling=SEVEN, rnn_hidden=48),
    "S_8-64x7_gru48": dataclasses.replace(_S, channels=(8, 16, 32, 64, 64, 64, 64), pooling=SEVEN, rnn_hidden=48),
    "S_8-64x7_gru64": dataclasses.replace(_S, channels=(8, 16, 32, 64, 64, 64, 64), pooling=SEVEN, rnn_hidden=64),
    "S_8-64x7_gru64_noSE": dataclasses.replace(
        _S, channels=(8, 16, 32, 64, 64, 64, 64), pooling=SEVEN, rnn_hidden=64, se=False, tfwse=False
    ),
    "E_32-128x6": dataclasses.replace(_E, channels=(32, 64, 128, 128, 128, 128), pooling=SIX),
    "E_24-128x6": dataclasses.replace(_E, channels=(24, 48, 96, 128, 128, 128), pooling=SIX),
    "E_16-128x6": dataclasses.replace(_E, channels=(16, 64, 128, 128, 128, 128), pooling=SIX),
    "E_16-256x6": dataclasses.replace(_E, channels=(16, 64, 128, 128, 256, 256), pooling=SIX),
}


def build(cfg: object) -> torch.nn.Module:
    if isinstance(cfg, M.EmbeddingModelConfig):
        return M.EmbeddingModel(cfg, seed=0)
    if cfg.se or cfg.tfwse or cfg.embedding_distill_dim:  # type: ignore[attr-defined]
        return M.SECRNN(cfg, seed=0)  # type: ignore[arg-type]
    return M.CRNN(cfg, seed=0)  # type: ignore[arg-type]


def one_step(model: torch.nn.Module, x: torch.Tensor, emb: torch.Tensor | None, opt: torch.optim.Optimizer) -> None:
    """One training step; the loss only needs to touch every output."""
    opt.zero_grad(set_to_none=True)
    if isinstance(model, M.EmbeddingModel):
        out = model.pretrain_logits(x)
        loss = out.frame.pow(2).mean() + out.clip.pow(2).mean()
    else:
        out = model(x, emb)
        loss = F.binary_cross_entropy(out.strong, torch.zeros_like(out.strong))
        loss = loss + F.binary_cross_entropy(out.weak, torch.zeros_like(out.weak))
        if out.embedding_pred is not None:
            loss = loss + out.embedding_pred.pow(2).mean()
    loss.backward()
    opt.step()


def _best_rate(run: Callable[[], None], clips: int, repeats: int, clock: Callable[[], float]) -> float:
    """Highest clips/s of ``repeats`` calls of ``run`` (which processes ``clips`` clips)."""
    best = 0.0
    for _ in range(repeats):
        t0 = clock()
        run()
        best = max(best, clips / (clock() - t0))
    return best


def measure(
    cfg: object, *, threads: int, batch: int, frames: int, steps: int, repeats: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, float]:
    """Best training and inference clips/s over ``repeats`` runs of ``steps`` batches."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(cfg)
    x = torch.randn(batch, cfg.n_mels, frames)  # type: ignore[attr-defined]
    emb_dim = getattr(cfg, "embedding_dim", 0)
    emb = torch.randn(batch, emb_dim, frames // 4) if emb_dim else None
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    one_step(model, x, emb, opt)  # warm-up

    def train_run() -> None:
        for _ in range(steps):
            one_step(model, x, emb, opt)

    def infer_run() -> None:
        with torch.no_grad():
            for _ in range(steps):
                model(x, emb) if emb is not None else model(x)

    best_train = _best_rate(train_run, steps * batch, repeats, clock)
    model.eval()
    infer_run()  # warm-up
    best_infer = _best_rate(infer_run, steps * batch, repeats, clock)
    return best_train, best_infer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated names (presets or candidates)")
    ap.add_argument("--candidates", action="store_true", help="also profile the candidate widths")
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--frames", type=int, default=626, help="626 = 10 s at hop 256; 313 = hop 512")
    ap.add_argument("--steps", type=int, default=2, help="batches per timed run")
    ap.add_argument("--repeats", type=int, default=4, help="timed runs; the best is kept")
    args = ap.parse_args()

    table = {**PRESETS, **CANDIDATES}
    names = [n for n in args.models.split(",") if n] or list(PRESETS) + (list(CANDIDATES) if args.candidates else [])
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {sorted(table)}")
    threads = [int(t) for t in args.threads.split(",")]
    header = f"{'model':24s} {'params':>9s} {'GMACs':>6s}" + "".join(
        f" {'train@' + str(t) + 't':>9s} {'infer@' + str(t) + 't':>9s}" for t in threads
    )
    if 1 in threads:
        header += f" {'train@cpu':>9s} {'infer@cpu':>9s}"
    print(f"batch {args.batch}, {args.frames} frames, best of {args.repeats} x {args.steps} batches")
    print(header)
    for name in names:
        cfg = table[name]
        model = build(cfg)
        shape = (1, cfg.n_mels, args.frames)  # type: ignore[attr-defined]
        row = f"{name:24s} {M.count_parameters(model):9d} {M.count_macs(model, shape) / 1e9:6.3f}"
        for t in threads:
            tr, inf = measure(cfg, threads=t, batch=args.batch, frames=args.frames, steps=args.steps, repeats=args.repeats)
            row += f" {tr:9.1f} {inf:9.1f}"
        if 1 in threads:
            tr, inf = measure(
                cfg, threads=1, batch=args.batch, frames=args.frames, steps=args.steps, repeats=args.repeats,
                clock=time.process_time,
            )
            row += f" {tr:9.1f} {inf:9.1f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
