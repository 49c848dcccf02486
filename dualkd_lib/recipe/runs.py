"""The runs of the course's experiment: the frozen models' pre-training (the embedding model,
its linear probe, the teacher with and without embeddings) and the students.

Each function takes the preset's :class:`~dualkd_lib.recipe.context.Context` and reuses a
finished run that fits (:func:`~dualkd_lib.recipe.run_files.cached_run_fits`). Taught in
notebooks 03 (teacher, embedding model) and 05-08 (students).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dualkd_lib import generate, layout, models
from dualkd_lib.corpus import TAXONOMY, taxonomy_clips
from dualkd_lib.distill import STUDENT_MODES, mode_uses
from dualkd_lib.features import LogMel, Scaler
from dualkd_lib.train import TrainConfig, save_checkpoint, train
from dualkd_lib.recipe.run_files import cached_run_fits, save_inference_bundle, write_run_info
from dualkd_lib.recipe.scoring import evaluate_scores, validation_fn

if TYPE_CHECKING:  # a type name only: at run time the Context imports this module, not the reverse
    from dualkd_lib.recipe.context import Context

log = logging.getLogger(__name__)


def corpus_features(clips: Iterable[tuple[np.ndarray, Any]], logmel: LogMel,
                    batch_size: int = 32) -> tuple[list[torch.Tensor], list[Any]]:
    """Log-mel features of ``(waveform, label)`` clips, ``batch_size`` clips at a time.

    Returns the feature batches ``[batch, n_mels, frames]`` and the clips' labels in order.
    Only one batch of waveforms is in memory at a time: for the 10,000-clip corpus that is
    0.02 GB instead of 6.4 GB. Taught in notebook 03.
    """
    features: list[torch.Tensor] = []
    labels: list[Any] = []
    waves: list[np.ndarray] = []
    with torch.no_grad():
        for wave, label in clips:
            waves.append(wave)
            labels.append(label)
            if len(waves) == batch_size:
                features.append(logmel(torch.from_numpy(np.stack(waves))))
                waves = []
        if waves:
            features.append(logmel(torch.from_numpy(np.stack(waves))))
    if not features:
        raise ValueError("corpus_features got no clips; give at least one (waveform, label) pair.")
    return features, labels


def pretrain_embedding_model(ctx: Context, path: Path) -> Path:
    """Pre-train the embedding model on its own generated corpus and save it to ``path``.

    The corpus (``preset.pretrain.n_clips`` clips from a separate seed stream) never
    holds a course clip. With ``objective="frame_labels"`` it is strongly labelled with
    the course's classes and the model learns frame- and clip-level targets; with
    ``"clip_taxonomy"`` it learns clip labels of a broader taxonomy on both recording
    domains, and keeps its own input scaler (``extra["input_scaler"]``), as BEATs knows
    audio, not the course's answers. Taught in notebook 03.
    """
    p = ctx.preset
    cfg = p.pretrain
    t0 = time.perf_counter()
    log.info("Pre-training the embedding model on %d generated clips (seed %d, %s).", cfg.n_clips, cfg.seed,
             cfg.objective)
    logmel = LogMel(p.features)
    if cfg.objective == "clip_taxonomy":
        if p.embedding.n_classes != len(TAXONOMY):
            raise ValueError(f"The clip_taxonomy objective has {len(TAXONOMY)} classes, but the preset's embedding "
                             f"model has n_classes={p.embedding.n_classes}; set n_classes={len(TAXONOMY)}.")
        clips = taxonomy_clips(cfg.n_clips, cfg.seed, p.generator, progress=ctx.progress,
                               recorded_share=cfg.recorded_share)
        raw, clip_labels = corpus_features(clips, logmel)  # the waveforms never all sit in memory
        targets = {"clip": torch.from_numpy(np.stack(clip_labels))}
    else:
        if p.embedding.n_classes != len(ctx.encoder.classes):
            raise ValueError(f"The frame_labels objective has the course's {len(ctx.encoder.classes)} classes, but the "
                             f"preset's embedding model has n_classes={p.embedding.n_classes}; set "
                             f"n_classes={len(ctx.encoder.classes)}.")
        waves, events = generate.make_embedding_corpus(cfg.n_clips, cfg.seed, p.generator, progress=ctx.progress)
        strong = torch.as_tensor(np.stack([ctx.encoder.encode_strong(ev) for ev in events]))
        targets = {"frame": strong, "clip": strong.amax(dim=-1)}
        waves_bar = tqdm(waves, desc="log-mel features: embedding corpus", disable=not ctx.progress, unit="clip")
        raw, _ = corpus_features(((wave, None) for wave in waves_bar), logmel)
        del waves, waves_bar
    own_scaler = cfg.objective == "clip_taxonomy"
    scaler = Scaler(p.features.n_mels).fit(raw).eval() if own_scaler else ctx.scaler()
    x = torch.empty((sum(len(r) for r in raw), *raw[0].shape[1:]))
    with torch.no_grad():
        start = 0
        for i, batch in enumerate(raw):
            raw[i] = None  # scaled into x batch by batch, so the features are never held twice
            x[start:start + len(batch)] = scaler(batch)
            start += len(batch)
    del raw
    torch.manual_seed(cfg.seed)
    model = models.EmbeddingModel(p.embedding, seed=cfg.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    bce = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    steps = cfg.epochs * ((len(x) + cfg.batch_size - 1) // cfg.batch_size)
    bar = tqdm(total=steps, desc="pre-train embedding model", disable=not ctx.progress, unit="step")
    model.train()
    for epoch in range(cfg.epochs):
        for idx in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
            logits = model.pretrain_logits(x[idx])
            loss = bce(logits.clip, targets["clip"][idx])
            if "frame" in targets:
                loss = loss + bce(logits.frame, targets["frame"][idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.append({"step": len(history), "epoch": epoch, "loss": float(loss.detach())})
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
    bar.close()
    model.eval()
    extra = {"seconds": time.perf_counter() - t0, "n_clips": cfg.n_clips}
    if own_scaler:
        extra["input_scaler"] = {k: v.clone() for k, v in scaler.state_dict().items()}
    save_checkpoint(path, model=model, mean_model=None, optimizer=None, step=len(history), epoch=cfg.epochs,
                    history=history, model_kind="embedding", model_config=p.embedding,
                    train_config=dataclasses.asdict(cfg), preset=p.name, extra=extra, overwrite=False)
    log.info("Embedding model pre-trained in %.0f s -> %s", time.perf_counter() - t0, path)
    return path


def linear_probe(ctx: Context, *, steps: int = 300, lr: float = 1e-2, seed: int = 0) -> dict:
    """How much the frozen frame embeddings know: a linear frame classifier on them.

    Trains ``Linear(emb_dim, classes)`` + sigmoid per frame on the strong split's frozen
    embeddings (full batch, Adam, ``steps`` steps) and scores it like a model: PSDS1,
    PSDS2 and F1 on the validation and evaluation splits. Taught in notebook 03.
    """
    emb, labels = ctx.embeddings("strong"), ctx.split("strong").strong.float()
    torch.manual_seed(seed)
    probe = nn.Conv1d(emb.shape[1], labels.shape[1], 1)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in tqdm(range(steps), desc="linear probe", disable=not ctx.progress, unit="step"):
        loss = nn.functional.binary_cross_entropy_with_logits(probe(emb), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    out = {"final_loss": float(loss.detach())}
    with torch.no_grad():
        for split in ("validation", "evaluation"):
            out[split] = evaluate_scores(ctx, torch.sigmoid(probe(ctx.embeddings(split))).numpy(), split)
    return out


def train_teacher(ctx: Context, *, seed: int = 0, validate: bool = False) -> Path:
    """Train the CRNN teacher (fused with the frozen embeddings); returns ``final.pt``.

    Semi-supervised mean-teacher recipe of the DCASE baseline. Reuses a
    finished run. ``validate=True`` scores the mean teacher on the validation split after
    every epoch (``val_history`` in the checkpoint). Taught in notebook 03.
    """
    cfg = ctx.preset.teacher_config(seed)
    run_dir = ctx.teacher_path(seed).parent
    cached_run_fits(ctx, "teacher", ctx.teacher_path(seed), cfg)  # a finished run is loaded only if it fits
    loader = ctx.train_loader(batch_sizes=cfg.batch_sizes, seed=seed, with_teacher=False)
    model = models.CRNN(ctx.preset.teacher, seed=seed)
    result = train(model, loader, cfg, run_dir=run_dir, teacher_needs_embeddings=True,
                   val_fn=validation_fn(ctx, needs_embeddings=True) if validate else None,
                   progress=ctx.progress, preset=ctx.preset.name, data_fingerprint=ctx.data_fingerprint())
    stand_in = layout.embedding_checkpoint(ctx.work_dir)  # real DESED reads BEATs from HDF5: nothing to record
    save_inference_bundle(ctx, run_dir, embedding_model=stand_in if stand_in.is_file() else None)
    write_run_info(run_dir, result, cfg)
    return result.final_path


def plain_teacher_config(ctx: Context) -> models.CRNNConfig:
    """The teacher's architecture without the embedding fusion (``embedding_dim=0``)."""
    return dataclasses.replace(ctx.preset.teacher, embedding_dim=0)


def train_plain_teacher(ctx: Context, *, seed: int = 0, validate: bool = False) -> Path:
    """Train the teacher CRNN *without* embeddings, as the teacher otherwise; returns ``final.pt``.

    The paper's "baseline CRNN" beside "CRNN + BEATs": what the pre-trained embeddings
    add to the teacher. Only the ablation trains it; no student learns from it.
    Taught in notebook 08.
    """
    cfg = ctx.preset.teacher_config(seed)
    path = ctx.plain_teacher_path(seed)
    cached_run_fits(ctx, "teacher", path, cfg, model_config=plain_teacher_config(ctx))
    loader = ctx.train_loader(batch_sizes=cfg.batch_sizes, seed=seed, with_teacher=False, with_embeddings=False)
    model = models.CRNN(plain_teacher_config(ctx), seed=seed)
    result = train(model, loader, cfg, run_dir=path.parent, progress=ctx.progress, preset=ctx.preset.name,
                   val_fn=validation_fn(ctx) if validate else None, data_fingerprint=ctx.data_fingerprint())
    save_inference_bundle(ctx, path.parent)
    write_run_info(path.parent, result, cfg)
    return result.final_path


def student_run_dir(ctx: Context, mode: str, seed: int) -> Path:
    """The run folder of the student of ``mode`` and ``seed`` (``layout.student_run_dir``)."""
    return layout.student_run_dir(ctx.work_dir, mode, seed)


def student_checkpoint(ctx: Context, mode: str, seed: int) -> Path:
    """The finished student of ``mode`` and ``seed``, ``final.pt`` in its run folder (notebooks 06-09 load it)."""
    return layout.student_checkpoint(ctx.work_dir, mode, seed)


def train_student(ctx: Context, mode: str, *, seed: int = 0, validate: bool | None = None) -> Path:
    """Train the SE-CRNN student in ``mode`` (supervised, kd, takd, eefd, dual).

    The frozen teacher and embedding model are loaded (or trained) first;
    their outputs are cached, so each student step costs only the student.
    ``validate``: record a validation learning curve after every epoch (``val_history`` in
    the checkpoint; notebook 08 draws it) on the first ``preset.evaluation.curve_clips``
    validation clips; ``None``: when the preset asks for one (``curve_clips > 0``); ``True``
    with ``curve_clips=0``: on the whole split. Taught in notebooks 05-08.
    """
    if mode not in STUDENT_MODES:
        raise ValueError(f"Unknown student mode {mode!r}; choose one of {list(STUDENT_MODES)}.")
    clips = ctx.preset.evaluation.curve_clips
    return train_student_run(ctx, ctx.preset.student_config(mode, seed), student_run_dir(ctx, mode, seed),
                             validate=clips > 0 if validate is None else validate, curve_clips=clips or None)


def train_student_run(ctx: Context, cfg: TrainConfig, run_dir: Path, *, validate: bool = False,
                      curve_clips: int | None = None, init: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Train one student with the training settings ``cfg`` (its mode, seed, steps) into ``run_dir``.

    What :func:`train_student` does for the preset's settings, and
    :func:`dualkd_lib.teaching.learner_runs.short_run` for a learner's changed ones. ``init``: start from
    these weights (a student's ``state_dict``, e.g. a finished run's) instead of the seeded random
    ones; the mean student starts as their copy. A finished run that fits is loaded, not
    retrained. Returns ``final.pt``.
    """
    cached_run_fits(ctx, "student", layout.final_checkpoint(run_dir), cfg)  # loaded only if it fits
    needs_teacher = mode_uses(cfg.mode, "kd")
    needs_emb = mode_uses(cfg.mode, "emb")
    if needs_teacher:
        ctx.teacher()
    loader = ctx.train_loader(batch_sizes=cfg.batch_sizes, seed=cfg.seed, with_teacher=needs_teacher,
                              with_embeddings=needs_emb)
    model = models.SECRNN(ctx.preset.student, seed=cfg.seed)
    if init is not None:
        model.load_state_dict(init)
    result = train(model, loader, cfg, run_dir=run_dir, progress=ctx.progress, preset=ctx.preset.name,
                   val_fn=validation_fn(ctx, clips=curve_clips) if validate else None,
                   data_fingerprint=ctx.data_fingerprint())
    save_inference_bundle(ctx, run_dir)
    write_run_info(run_dir, result, cfg)
    return result.final_path

