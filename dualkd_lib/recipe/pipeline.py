"""The course's pipeline: data -> features -> frozen models -> students -> table.

Every stage computes what does not change once and caches it in a work folder
(``data/cache/<preset>`` by default): log-mel features, the scaler, the
pre-trained embedding model and its frame embeddings, the teacher and its soft
outputs, each student run and its metrics. Run twice, a stage loads its cache.
The notebooks and the ``dualkd`` command line both go through this module.
Taught in notebooks 03 (teacher), 06-08 (students, ablation).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from dualkd_lib import desed_io, evaluate, generate, layout, models
from dualkd_lib.distill import MODE_TERMS, STUDENT_MODES, mode_uses
from dualkd_lib.config import Preset, get_preset
from dualkd_lib.constants import CLASSES
from dualkd_lib.datasets import SEDDataset, build_train_loader
from dualkd_lib.features import FeatureCache, LogMel, ManyHotEncoder, Scaler, n_output_frames
from dualkd_lib.train import (
    check_cached_run,
    load_checkpoint,
    load_model_from_checkpoint,
    predict_scores,
    TrainConfig,
    save_checkpoint,
    train,
)

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def make_data(preset: str | Preset | None, out: str | Path, *, seed: int = 0, overwrite: bool = False,
              progress: bool = True) -> dict:
    """Generate the preset's DESED-like dataset into ``out`` (``dualkd make-data``).

    Never overwrites silently: an existing non-empty folder raises
    ``FileExistsError`` unless ``overwrite=True`` and the folder holds a dataset
    this generator wrote. Taught in notebook 01.
    """
    p = get_preset(preset)
    if p.generator is None:
        raise ValueError(
            f"The {p.name!r} preset reads the real DESED dataset and generates nothing; "
            "use --preset tiny or --preset course to generate data."
        )
    return generate.make_dataset(out, p.generator, seed, overwrite=overwrite, progress=progress)


def data_present(root: str | Path) -> bool:
    """True if ``root`` holds every split's audio folder."""
    from dualkd_lib.layout import SPLITS, split_paths

    return all(split_paths(root, s)[0].is_dir() for s in SPLITS)


@dataclass
class SplitTensors:
    """One split in memory, ready for a model.

    ``features`` [N, n_mels, frames] standardised log-mel (float32);
    ``strong`` [N, classes, out_frames] frame labels (strong splits);
    ``weak`` [N, classes] clip labels (strong and weak splits); ``ground_truth``
    and ``durations`` DataFrames for evaluation splits.
    """

    name: str
    kind: str
    filenames: list[str]
    features: torch.Tensor
    strong: torch.Tensor | None = None
    weak: torch.Tensor | None = None
    ground_truth: pd.DataFrame | None = None
    durations: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.filenames)

    def head(self, n: int) -> "SplitTensors":
        """The first ``n`` clips of the split, with their labels, ground truth and durations; in a
        split with ground truth, also the first clip of every class those miss, so that every
        class occurs and PSDS is defined (so it may hold a few clips more than ``n``)."""
        idx = list(range(min(n, len(self))))
        if self.ground_truth is not None and len(self.ground_truth):
            gt = self.ground_truth
            present = set(gt[gt["filename"].isin(self.filenames[:n])]["event_label"])
            position = {f: i for i, f in enumerate(self.filenames)}
            for label in CLASSES:
                rows = gt[gt["event_label"] == label]
                if label not in present and len(rows):
                    idx.append(min(position[f] for f in rows["filename"]))
                    present.add(label)
            idx = sorted(set(idx))
        files = [self.filenames[i] for i in idx]
        keep = (lambda df: None if df is None else df[df["filename"].isin(files)].reset_index(drop=True))
        take = (lambda t: None if t is None else t[idx])
        return SplitTensors(self.name, self.kind, files, self.features[idx], take(self.strong), take(self.weak),
                            keep(self.ground_truth), keep(self.durations))


@dataclass
class Context:
    """Where a preset's data, caches and runs are, plus in-memory caches.

    Build it with :meth:`create`. Every expensive object (features, embedding
    model, teacher, their outputs) is computed on first use, saved in
    ``work_dir`` and loaded from there afterwards.
    """

    preset: Preset
    data_root: Path
    work_dir: Path
    progress: bool = True
    #: desed preset: folder of the DCASE recipe's BEATs HDF5 files (default: $DUALKD_BEATS_DIR)
    beats_dir: Path | None = None
    #: install the preset's pre-trained embedding model and teacher when a bundle ships (dualkd_lib.recipe.pretrained)
    use_pretrained: bool = True
    _splits: dict[str, SplitTensors] = field(default_factory=dict, repr=False)
    _scaler: Scaler | None = field(default=None, repr=False)
    _embedding_model: nn.Module | None = field(default=None, repr=False)
    _teachers: dict[int, nn.Module] = field(default_factory=dict, repr=False)
    _embeddings: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _teacher_outputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)
    _data_fingerprint: str | None = field(default=None, repr=False)

    @classmethod
    def create(cls, preset: str | Preset | None = None, *, data_root: str | Path | None = None,
               work_dir: str | Path | None = None, make_data_if_missing: bool = True,
               progress: bool = True) -> "Context":
        """Context for ``preset``; generates the default data (seed 0) if they are missing.

        ``data_root`` defaults to ``data/generated/<preset>``; ``work_dir`` to
        ``data/cache/<preset>``. For the ``desed`` preset ``data_root`` must
        point at a DESED folder. Taught in notebook 03.
        """
        p = get_preset(preset)
        root = Path(data_root) if data_root else layout.default_data_root(p.name)
        if not data_present(root):
            if p.generator is None or not make_data_if_missing:
                desed_io.check_split(root, "strong")  # raises the helpful FileNotFoundError
            if root.exists() and any(root.iterdir()):
                raise FileExistsError(
                    f"{root} exists but does not hold a complete dataset; move it away or pass another "
                    f"--data folder (dualkd make-data --preset {p.name} --out DIR makes one)."
                )
            log.info("No data in %s: generating the %s dataset (seed 0).", root, p.name)
            make_data(p, root, seed=0, progress=progress)
        work = Path(work_dir) if work_dir else layout.default_work_dir(p.name)
        work.mkdir(parents=True, exist_ok=True)
        return cls(p, root.resolve(), work.resolve(), progress)

    # ---------------------------------------------------------------- features
    @property
    def encoder(self) -> ManyHotEncoder:
        """Events <-> frame labels at the models' output resolution."""
        return ManyHotEncoder.from_config(self.preset.features)

    def _raw_features(self, split: str) -> tuple[desed_io.SplitData, torch.Tensor]:
        data = desed_io.load_split(self.data_root, split)
        wavs = [data.audio_dir / f for f in data.filenames]
        cache = FeatureCache(layout.features_dir(self.work_dir))
        raw = cache.features_for(wavs, self.preset.features, progress=self.progress,
                                 loader=desed_io.load_wav, description=f"log-mel features: {split}")
        return data, torch.as_tensor(np.asarray(raw), dtype=torch.float32)

    def scaler(self) -> Scaler:
        """Per-mel standardisation fitted on the three training splits (cached)."""
        if self._scaler is not None:
            return self._scaler
        path = layout.scaler_path(self.work_dir)
        scaler = Scaler(self.preset.features.n_mels)
        if path.is_file():
            scaler.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        else:
            parts = [self._raw_features(s)[1] for s in ("strong", "weak", "unlabeled")]
            scaler.fit(parts)
            torch.save(scaler.state_dict(), path)
        self._scaler = scaler.eval()
        return self._scaler

    def split(self, name: str) -> SplitTensors:
        """Standardised features and labels of split ``name`` (cached in memory)."""
        if name in self._splits:
            return self._splits[name]
        data, raw = self._raw_features(name)
        with torch.no_grad():
            feats = self.scaler()(raw)
        enc = self.encoder
        strong = weak = None
        if data.kind == "strong":
            strong = torch.as_tensor(enc.encode_strong_dataframe(data.strong, data.filenames))
            weak = strong.amax(dim=-1)
        elif data.kind == "weak":
            labels = dict(zip(data.weak["filename"], data.weak["event_labels"]))
            weak = torch.as_tensor(np.stack([enc.encode_weak(labels.get(f, "")) for f in data.filenames]))
        gt = data.strong if data.kind == "strong" else None
        dur = data.durations
        if dur is None and data.kind == "strong" and name in ("validation", "evaluation"):
            dur = desed_io.durations_from_wavs(data.audio_dir, data.filenames)
        self._splits[name] = SplitTensors(name, data.kind, list(data.filenames), feats, strong, weak, gt, dur)
        return self._splits[name]

    # --------------------------------------------------------- embedding model
    def embedding_model(self) -> nn.Module:
        """The frozen pre-trained embedding model (BEATs stand-in); pre-trains it once."""
        if self._embedding_model is None:
            path = layout.embedding_checkpoint(self.work_dir)
            self._install_pretrained()
            if not _cached_run_fits(self, "embedding", path, self.preset.pretrain):
                pretrain_embedding_model(self, path)
            model, _, _ = load_model_from_checkpoint(path, expected_kind="embedding")
            self._embedding_model = model.freeze()
        return self._embedding_model

    def embeddings(self, split: str) -> torch.Tensor:
        """Frozen frame embeddings ``[N, emb_dim, out_frames]`` of ``split`` (cached on disk)."""
        if split not in self._embeddings and self.preset.name == "desed":
            from dualkd_lib import desed_real

            beats = self.beats_dir or (Path(os.environ["DUALKD_BEATS_DIR"]) if "DUALKD_BEATS_DIR" in os.environ
                                       else None)
            if beats is None:
                raise FileNotFoundError("The desed preset reads BEATs embeddings from the DCASE recipe's HDF5 files: "
                                        "set $DUALKD_BEATS_DIR (see docs/REAL_DESED.md).")
            self._embeddings[split] = desed_real.cached_beats_embeddings(
                split, desed_real.context_beats_h5_path(beats, split), filenames=self.split(split).filenames,
                n_frames=n_output_frames(self.preset.features), work_dir=self.work_dir, progress=self.progress)
        if split not in self._embeddings:
            path = layout.embeddings_cache(self.work_dir, split)
            self.embedding_model()  # pre-trains it first if needed
            source = model_fingerprint(layout.embedding_checkpoint(self.work_dir))
            cached = torch.load(path, weights_only=True) if path.is_file() else None
            if cached is None or cached["source"] != source or len(cached["frame"]) != len(self.split(split)):
                frame = _embed(self.embedding_model(), embedding_input(self, split), progress=self.progress,
                               desc=f"embeddings: {split}")
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"source": source, "frame": frame}, path)
                cached = {"frame": frame}
            self._embeddings[split] = cached["frame"]
        return self._embeddings[split]

    # ------------------------------------------------------------------ teacher
    def teacher_path(self, seed: int = 0) -> Path:
        return layout.teacher_checkpoint(self.work_dir, seed)

    def _install_pretrained(self) -> bool:
        """Install the shipped pre-trained embedding model and teacher (seed 0), if any fits."""
        if not self.use_pretrained or self.preset.generator is None:
            return False
        from dualkd_lib.recipe import pretrained

        return pretrained.install(self)

    def plain_teacher_path(self, seed: int = 0) -> Path:
        """The teacher CRNN trained *without* embeddings (the paper's "baseline CRNN")."""
        return layout.plain_teacher_run_dir(self.work_dir, seed) / "final.pt"

    def teacher(self, seed: int = 0) -> nn.Module:
        """The frozen teacher of ``seed`` (its mean model, as DCASE reports); trains it once."""
        if seed not in self._teachers:
            if seed == 0:
                self._install_pretrained()
            if not _cached_run_fits(self, "teacher", self.teacher_path(seed), self.preset.teacher_config(seed)):
                train_teacher(self, seed=seed)
            _, mean, _ = load_model_from_checkpoint(self.teacher_path(seed), expected_kind="teacher")
            self._teachers[seed] = mean.eval().requires_grad_(False)
        return self._teachers[seed]

    def teacher_outputs(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen teacher's soft outputs ``(strong [N,C,T], weak [N,C])`` on ``split`` (cached)."""
        if split not in self._teacher_outputs:
            path = layout.teacher_outputs_cache(self.work_dir, split)
            self.teacher(0)  # the one frozen teacher every student learns from (seed 0); trains it if needed
            source = model_fingerprint(self.teacher_path(0))
            cached = torch.load(path, weights_only=True) if path.is_file() else None
            if cached is None or cached["source"] != source or len(cached["weak"]) != len(self.split(split)):
                strong, weak = predict_scores(self.teacher(0), self.split(split).features,
                                              embeddings=self.embeddings(split), progress=self.progress)
                cached = {"source": source, "strong": torch.as_tensor(strong), "weak": torch.as_tensor(weak)}
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(cached, path)
            self._teacher_outputs[split] = (cached["strong"], cached["weak"])
        return self._teacher_outputs[split]

    # ------------------------------------------------------------------ loaders
    def training_datasets(self, *, with_teacher: bool, with_embeddings: bool = True
                          ) -> tuple[SEDDataset, SEDDataset, SEDDataset]:
        """(strong, weak, unlabeled) datasets with the cached extras a mode needs."""
        out_frames = n_output_frames(self.preset.features)
        parts = []
        for name in ("strong", "weak", "unlabeled"):
            s = self.split(name)
            extras: dict[str, torch.Tensor] = {}
            if with_embeddings:
                extras["embeddings"] = self.embeddings(name)
            if with_teacher:
                extras["teacher_strong"], extras["teacher_weak"] = self.teacher_outputs(name)
            parts.append(SEDDataset(
                s.features, s.kind, strong_labels=s.strong if s.kind == "strong" else None,
                weak_labels=s.weak if s.kind == "weak" else None, extras=extras, out_frames=out_frames,
            ))
        return tuple(parts)

    def data_fingerprint(self) -> str:
        """A short hash of the training data: label TSVs and audio file names of the training splits.

        Stored in the teacher's and students' checkpoints, so that a run trained on other data
        (a regenerated dataset) is refused instead of reused. Taught in notebook 03.
        """
        if self._data_fingerprint is None:
            from dualkd_lib.layout import split_paths

            digest = hashlib.sha256()
            for split in ("strong", "weak", "unlabeled"):
                audio_dir, labels, _ = split_paths(self.data_root, split)
                digest.update(split.encode())
                if labels is not None and labels.is_file():
                    digest.update(labels.read_bytes())
                if audio_dir.is_dir():
                    digest.update("\n".join(sorted(f.name for f in audio_dir.iterdir())).encode())
            self._data_fingerprint = digest.hexdigest()[:16]
        return self._data_fingerprint

    def train_loader(self, *, batch_sizes: tuple[int, int, int], seed: int, with_teacher: bool,
                     with_embeddings: bool = True) -> torch.utils.data.DataLoader:
        """Mixed strong/weak/unlabeled batches with the cached extras the mode needs."""
        parts = self.training_datasets(with_teacher=with_teacher, with_embeddings=with_embeddings)
        return build_train_loader(*parts, batch_sizes=batch_sizes, seed=seed)


def _cached_run_fits(ctx: Context, kind: str, path: Path, train_config, model_config=None) -> bool:
    """False when ``path`` holds no finished run; True when it holds one made with the preset's
    settings on this data; ``ValueError`` (:func:`~dualkd_lib.train.check_cached_run`) when it
    holds a stale one. The embedding model trains on its own corpus: no data fingerprint.
    ``model_config``: the architecture to compare with (default: the preset's for ``kind``)."""
    if not path.is_file():
        return False
    if model_config is None:
        model_config = {"embedding": ctx.preset.embedding, "teacher": ctx.preset.teacher,
                        "student": ctx.preset.student}[kind]
    from dualkd_lib.recipe.pretrained import is_shipped

    binds = kind != "embedding" and not is_shipped(path.parent)  # shipped models serve any data of their preset
    check_cached_run(path, kind=kind, model_config=model_config, train_config=train_config,
                     data_fingerprint=ctx.data_fingerprint() if binds else None)
    return True


def model_fingerprint(path: Path) -> str:
    """``name:size:sha256[:16]`` of a model file: what its cached outputs were computed from.

    From the content, not the folder or the time stamp, so that a work folder that is
    copied or moved (a classroom cache) keeps its caches valid, and a retrained model
    (new content) never reuses the old one's."""
    from dualkd_lib.recipe.pretrained import sha256

    return f"{path.name}:{path.stat().st_size}:{sha256(path)[:16]}"


@torch.no_grad()
def _embed(model: nn.Module, features: torch.Tensor, *, progress: bool, desc: str, batch_size: int = 32
           ) -> torch.Tensor:
    out = []
    for i in tqdm(range(0, len(features), batch_size), desc=desc, disable=not progress, unit="batch"):
        out.append(model(features[i:i + batch_size]).frame)
    return torch.cat(out)


# --------------------------------------------------------------------------
# The embedding model's pre-training (a separate, larger generated corpus)
# --------------------------------------------------------------------------
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
        from dualkd_lib.corpus import TAXONOMY, make_taxonomy_corpus

        if p.embedding.n_classes != len(TAXONOMY):
            raise ValueError(f"The clip_taxonomy objective has {len(TAXONOMY)} classes, but the preset's embedding "
                             f"model has n_classes={p.embedding.n_classes}; set n_classes={len(TAXONOMY)}.")
        waves, clip_labels = make_taxonomy_corpus(cfg.n_clips, cfg.seed, p.generator, progress=ctx.progress,
                                                  recorded_share=cfg.recorded_share)
        targets = {"clip": torch.from_numpy(clip_labels)}
    else:
        waves, events = generate.make_embedding_corpus(cfg.n_clips, cfg.seed, p.generator, progress=ctx.progress)
        strong = torch.as_tensor(np.stack([ctx.encoder.encode_strong(ev) for ev in events]))
        targets = {"frame": strong, "clip": strong.amax(dim=-1)}
    raw = []
    with torch.no_grad():
        for i in tqdm(range(0, len(waves), 32), desc="log-mel features: embedding corpus",
                      disable=not ctx.progress, unit="batch"):
            raw.append(logmel(torch.from_numpy(waves[i:i + 32])))
    del waves
    own_scaler = cfg.objective == "clip_taxonomy"
    scaler = Scaler(p.features.n_mels).fit(raw).eval() if own_scaler else ctx.scaler()
    with torch.no_grad():
        x = torch.cat([scaler(r) for r in raw])
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


def embedding_input(ctx: Context, split: str) -> torch.Tensor:
    """What the embedding model reads for ``split``: the course's standardised features, or the
    raw log-mels standardised with the model's own scaler when it has one (``clip_taxonomy``)."""
    ckpt = load_checkpoint(layout.embedding_checkpoint(ctx.work_dir), expected_kind="embedding")
    state = (ckpt.get("extra") or {}).get("input_scaler")
    if state is None:
        return ctx.split(split).features
    scaler = Scaler(ctx.preset.features.n_mels)
    scaler.load_state_dict(state)
    with torch.no_grad():
        return scaler.eval()(ctx._raw_features(split)[1])


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


# --------------------------------------------------------------------------
# Teacher and students
# --------------------------------------------------------------------------
def _inference_extra(ctx: Context) -> dict:
    """What ``dualkd predict`` needs besides the weights: features, scaler, post-processing."""
    return {
        "features": dataclasses.asdict(ctx.preset.features),
        "scaler_state": {k: v.clone() for k, v in ctx.scaler().state_dict().items()},
        "median_filter_frames": ctx.preset.evaluation.median_filter_frames,
        "threshold": ctx.preset.evaluation.threshold,
        "classes": list(CLASSES),
    }


def _save_inference_bundle(ctx: Context, run_dir: Path, *, embedding_model: Path | None = None) -> None:
    """``inference.pt`` beside a run: what ``dualkd predict`` needs besides the weights. A teacher's
    also records where its embedding model is (``embedding_model_path``, relative to ``run_dir``)."""
    path = run_dir / "inference.pt"
    if not path.exists():
        bundle = _inference_extra(ctx)
        if embedding_model is not None:
            bundle["embedding_model_path"] = os.path.relpath(embedding_model, run_dir)
        torch.save(bundle, path)


def validation_fn(ctx: Context, *, needs_embeddings: bool = False, clips: int | None = None
                  ) -> Callable[[nn.Module], dict]:
    """``model -> metrics on the validation split`` (its first ``clips`` clips when given), for
    ``train(val_fn=...)``: a learning curve. Each call predicts and scores the clips (a few
    seconds for the whole split on the course preset). Taught in notebook 08.
    """
    return lambda model: evaluate_model(ctx, model, "validation", needs_embeddings=needs_embeddings, clips=clips)


def train_teacher(ctx: Context, *, seed: int = 0, validate: bool = False) -> Path:
    """Train the CRNN teacher (fused with the frozen embeddings); returns ``final.pt``.

    Semi-supervised mean-teacher recipe of the DCASE baseline. Reuses a
    finished run. ``validate=True`` scores the mean teacher on the validation split after
    every epoch (``val_history`` in the checkpoint). Taught in notebook 03.
    """
    cfg = ctx.preset.teacher_config(seed)
    run_dir = ctx.teacher_path(seed).parent
    _cached_run_fits(ctx, "teacher", ctx.teacher_path(seed), cfg)  # a finished run is loaded only if it fits
    loader = ctx.train_loader(batch_sizes=cfg.batch_sizes, seed=seed, with_teacher=False)
    model = models.CRNN(ctx.preset.teacher, seed=seed)
    result = train(model, loader, cfg, run_dir=run_dir, teacher_needs_embeddings=True,
                   val_fn=validation_fn(ctx, needs_embeddings=True) if validate else None,
                   progress=ctx.progress, preset=ctx.preset.name, data_fingerprint=ctx.data_fingerprint())
    stand_in = layout.embedding_checkpoint(ctx.work_dir)  # real DESED reads BEATs from HDF5: nothing to record
    _save_inference_bundle(ctx, run_dir, embedding_model=stand_in if stand_in.is_file() else None)
    _write_run_info(run_dir, result, cfg)
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
    _cached_run_fits(ctx, "teacher", path, cfg, model_config=plain_teacher_config(ctx))
    loader = ctx.train_loader(batch_sizes=cfg.batch_sizes, seed=seed, with_teacher=False, with_embeddings=False)
    model = models.CRNN(plain_teacher_config(ctx), seed=seed)
    result = train(model, loader, cfg, run_dir=path.parent, progress=ctx.progress, preset=ctx.preset.name,
                   val_fn=validation_fn(ctx) if validate else None, data_fingerprint=ctx.data_fingerprint())
    _save_inference_bundle(ctx, path.parent)
    _write_run_info(path.parent, result, cfg)
    return result.final_path


def student_run_dir(ctx: Context, mode: str, seed: int) -> Path:
    return layout.student_run_dir(ctx.work_dir, mode, seed)


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
    _cached_run_fits(ctx, "student", run_dir / "final.pt", cfg)  # loaded only if it fits
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
    _save_inference_bundle(ctx, run_dir)
    _write_run_info(run_dir, result, cfg)
    return result.final_path


def _write_run_info(run_dir: Path, result, cfg) -> None:
    batch = sum(cfg.batch_sizes)
    trained = result.steps - result.resumed_from
    info = {"steps": result.steps, "seconds": result.seconds, "resumed_from": result.resumed_from,
            "clips_per_second": (trained * batch / result.seconds) if result.seconds > 0 and trained else None}
    path = run_dir / "run_info.json"
    if trained or not path.exists():
        path.write_text(json.dumps(info, indent=2))


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
def evaluate_scores(ctx: Context, strong: np.ndarray, split: str = "evaluation", *, clips: int | None = None
                    ) -> dict:
    """PSDS1, PSDS2, collar and intersection F1 of frame scores ``[N, C, T]`` on ``split``
    (its first ``clips`` clips when given).

    Scores are median filtered (``preset.evaluation.median_filter_frames``)
    before PSDS and before thresholding at ``preset.evaluation.threshold``.
    Taught in notebook 04.
    """
    s = ctx.split(split) if clips is None else ctx.split(split).head(clips)
    ev = ctx.preset.evaluation
    frame_s = ctx.encoder.frame_seconds
    smoothed = evaluate.median_filter(strong, ev.median_filter_frames)
    scores = evaluate.scores_to_dataframes(smoothed, s.filenames, frame_seconds=frame_s)
    p1 = evaluate.psds_scenario(scores, s.ground_truth, s.durations, evaluate.PSDS1)
    p2 = evaluate.psds_scenario(scores, s.ground_truth, s.durations, evaluate.PSDS2)
    det = evaluate.decode_detections(smoothed, s.filenames, ctx.encoder, threshold=ev.threshold)
    f1c = evaluate.collar_f1(det, s.ground_truth, s.durations)
    f1i = evaluate.intersection_f1(det, s.ground_truth, s.durations)
    return {"psds1": float(p1.value), "psds2": float(p2.value),
            "f1_collar": float(f1c.macro), "f1_intersection": float(f1i.macro)}


def evaluate_model(ctx: Context, model: nn.Module, split: str = "evaluation", *, needs_embeddings: bool = False,
                   clips: int | None = None) -> dict:
    """Predict ``split`` (its first ``clips`` clips when given) with ``model`` and score it
    (see :func:`evaluate_scores`)."""
    s = ctx.split(split) if clips is None else ctx.split(split).head(clips)
    emb = ctx.embeddings(split) if needs_embeddings else None
    if emb is not None and clips is not None:
        position = {f: i for i, f in enumerate(ctx.split(split).filenames)}
        emb = emb[[position[f] for f in s.filenames]]
    strong, _ = predict_scores(model, s.features, embeddings=emb, progress=ctx.progress and clips is None)
    return evaluate_scores(ctx, strong, split, clips=clips)


def _cost(ctx: Context, model: nn.Module, emb_dim: int = 0) -> dict:
    from dualkd_lib.features import n_frames

    shape = (1, ctx.preset.features.n_mels, n_frames(ctx.preset.features))
    emb_shape = (1, emb_dim, n_output_frames(ctx.preset.features)) if emb_dim else None
    return {"params": models.count_parameters(model),
            "macs": models.count_macs(model, input_shape=shape, embeddings_shape=emb_shape)}


def run_metrics(ctx: Context, kind: str, mode: str, seed: int) -> dict:
    """Metrics of one finished run on the evaluation split, cached in ``metrics.json``."""
    plain = kind == "teacher" and mode == "no_embeddings"
    if plain:
        if not _cached_run_fits(ctx, "teacher", ctx.plain_teacher_path(seed), ctx.preset.teacher_config(seed),
                                model_config=plain_teacher_config(ctx)):
            train_plain_teacher(ctx, seed=seed)
        run_dir = ctx.plain_teacher_path(seed).parent
    elif kind == "teacher":
        ctx.teacher(seed)
        run_dir = ctx.teacher_path(seed).parent
    else:
        run_dir = student_run_dir(ctx, mode, seed)
        if not _cached_run_fits(ctx, "student", run_dir / "final.pt", ctx.preset.student_config(mode, seed)):
            train_student(ctx, mode, seed=seed)
    path = run_dir / "metrics.json"
    source = model_fingerprint(run_dir / "final.pt")
    if path.is_file():
        cached = json.loads(path.read_text())
        if (cached.get("source") == source and cached.get("split") == ctx.preset.evaluation.split
                and "weights" in cached):
            return cached
    own, mean, _ = load_model_from_checkpoint(run_dir / "final.pt", expected_kind=kind)
    split = ctx.preset.evaluation.split
    if kind == "student":
        both = {"student": own.without_embedding_head(), "mean": mean.without_embedding_head()}
        scores = {name: {"validation": evaluate_model(ctx, m, "validation"), "evaluation": evaluate_model(ctx, m, split)}
                  for name, m in both.items()}
        weights = choose_weights({name: s["validation"] for name, s in scores.items()})
        metrics, model = scores[weights]["evaluation"], both[weights]
        extra = {"weights": weights, "chosen_on": "validation", "both_weights": scores}
    else:  # the frozen teacher is its mean model, as its outputs teach the students; both reported
        needs = not plain
        scores = {name: {"validation": evaluate_model(ctx, m, "validation", needs_embeddings=needs),
                         "evaluation": evaluate_model(ctx, m, split, needs_embeddings=needs)}
                  for name, m in (("student", own), ("mean", mean))}
        metrics, model = scores["mean"]["evaluation"], mean
        extra = {"weights": "mean", "chosen_on": "fixed (the mean teacher teaches)", "both_weights": scores}
    emb_dim = ctx.preset.teacher.embedding_dim if kind == "teacher" and not plain else 0
    info = json.loads((run_dir / "run_info.json").read_text()) if (run_dir / "run_info.json").is_file() else {}
    result = {"kind": kind, "mode": mode, "seed": seed, "source": source, "split": split,
              **metrics, **_cost(ctx, model, emb_dim), "train_seconds": info.get("seconds"),
              "train_clips_per_second": info.get("clips_per_second"), **extra}
    path.write_text(json.dumps(result, indent=2))
    return result


def choose_weights(validation: Mapping[str, Mapping[str, float]]) -> str:
    """Which weights of a run to keep: the one with the higher mean of PSDS1 and PSDS2 on validation.

    ``validation`` maps ``"student"`` (the student's own weights) and ``"mean"`` (the mean
    student) to their validation metrics. As DCASE keeps the better of its student and
    mean teacher, chosen on the validation split, never on the evaluation split; a tie keeps
    the mean student. Taught in notebook 08.
    """
    if set(validation) != {"student", "mean"}:
        raise ValueError(f"validation must score 'student' and 'mean', got {sorted(validation)}.")
    score = {k: (v["psds1"] + v["psds2"]) / 2 for k, v in validation.items()}
    return "student" if score["student"] > score["mean"] else "mean"


# --------------------------------------------------------------------------
# The ablation table
# --------------------------------------------------------------------------
METRIC_KEYS: tuple[str, ...] = ("psds1", "psds2", "f1_collar", "f1_intersection")


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds, one entry per model name."""
    out = []
    for name in dict.fromkeys(r["name"] for r in rows):
        runs = [r for r in rows if r["name"] == name]
        entry = {"name": name, "params": runs[0]["params"], "macs": runs[0]["macs"], "seeds": len(runs)}
        for k in METRIC_KEYS:
            vals = np.array([r[k] for r in runs], dtype=float)
            entry[k] = float(vals.mean())
            entry[f"{k}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        chosen = [r.get("weights", "mean") for r in runs]
        entry["weights"] = chosen[0] if len(set(chosen)) == 1 else ", ".join(f"{w} {chosen.count(w)}/{len(chosen)}"
                                                                           for w in sorted(set(chosen)))
        if all("both_weights" in r for r in runs):  # both weights on evaluation, whichever was kept
            for w in ("student", "mean"):
                for k in ("psds1", "psds2"):
                    vals = np.array([r["both_weights"][w]["evaluation"][k] for r in runs], dtype=float)
                    entry[f"{k}_{w}_weights"] = float(vals.mean())
                    entry[f"{k}_{w}_weights_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        out.append(entry)
    return out


def markdown_table(summary: list[dict]) -> str:
    """The ablation as a Markdown table (mean ± std over seeds).

    ``weights`` says which weights were scored (chosen on validation per run, see
    :func:`choose_weights`); the last two columns give PSDS1/PSDS2 of the student's own
    weights and of the mean student on the evaluation split, whichever was kept.
    """
    head = ("| model | params | MACs / 10 s | PSDS1 | PSDS2 | collar F1 | intersection F1 | seeds | weights "
            "| own weights PSDS1 / PSDS2 | mean student PSDS1 / PSDS2 |\n"
            "|---|---:|---:|---|---|---|---|---:|---|---|---|\n")
    lines = []
    for e in summary:
        cells = [f"{e[k]:.3f} ± {e[k + '_std']:.3f}" for k in METRIC_KEYS]
        both = [f"{e[f'psds1_{w}_weights']:.3f} / {e[f'psds2_{w}_weights']:.3f}" if f"psds1_{w}_weights" in e else "-"
                for w in ("student", "mean")]
        lines.append(f"| {e['name']} | {e['params'] / 1e3:.1f} k | {e['macs'] / 1e6:.1f} M | "
                     + " | ".join(cells) + f" | {e['seeds']} | {e.get('weights', 'mean')} | " + " | ".join(both) + " |")
    return head + "\n".join(lines) + "\n"


def _train_run_in_worker(preset: Preset, data_root: Path, work_dir: Path, beats_dir: Path | None,
                         kind: str, mode: str, seed: int, threads: int) -> tuple[str, str, int]:
    """One run of :func:`train_runs_in_parallel` in a worker process: trained if missing, then
    scored (:func:`run_metrics` does both, caching ``metrics.json``), so the evaluations run in
    parallel too."""
    ctx = worker_context(preset, data_root, work_dir, beats_dir, threads)
    run_metrics(ctx, kind, mode, seed)
    return kind, mode, seed


def worker_context(preset: Preset, data_root: Path, work_dir: Path, beats_dir: Path | None, threads: int) -> Context:
    """The Context of a worker process that trains runs in parallel with others: the parent's
    folders, ``threads`` CPU threads, no data generation (the parent made it), no progress bars."""
    torch.set_num_threads(threads)
    ctx = Context.create(preset, data_root=data_root, work_dir=work_dir, make_data_if_missing=False, progress=False)
    ctx.beats_dir = beats_dir
    return ctx


def default_jobs() -> int:
    """Students trained at a time by default: 2 on a machine with 2 or more CPU cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def train_runs_in_parallel(ctx: Context, runs: Sequence[tuple[str, str, int]], jobs: int) -> None:
    """Train and score the ``runs`` [(kind, mode, seed), ...] ``jobs`` at a time, in worker processes.

    ``kind`` is ``"student"`` (any student mode) or ``"teacher"`` with mode ``"no_embeddings"``
    (the ablation's plain teacher CRNN). Two small models side by side, one CPU thread each,
    train more clips per second than one model on two threads (the small convolutions do not
    keep two threads busy). Everything the runs share (features, embeddings, the teacher and
    its outputs) is computed and cached first, so the workers only read it. Each run is the
    same as :func:`run_metrics` in this process (same seed, same numbers). Taught in notebook 08.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    for kind, mode, _ in runs:
        if kind == "teacher" and mode != "no_embeddings":
            raise ValueError(f"the teacher with embeddings is trained once, not in parallel runs; got ({kind}, {mode}).")
    runs = [(k, m, s) for k, m, s in runs if not _run_checkpoint(ctx, k, m, s).is_file()]
    if not runs:
        return
    # The costliest first (the teacher CRNN, then the students with more loss terms: dual, takd,
    # then kd and eefd), so that the last run to start is a short one and no core waits long.
    runs = sorted(runs, key=lambda run: (run[0] != "teacher", -len(MODE_TERMS.get(run[1], ()))))
    students = [m for k, m, _ in runs if k == "student"]
    if any(mode_uses(m, "kd") for m in students):
        ctx.training_datasets(with_teacher=True, with_embeddings=True)  # teacher, its outputs, embeddings
    elif any(mode_uses(m, "emb") for m in students):
        ctx.training_datasets(with_teacher=False, with_embeddings=True)
    else:
        ctx.training_datasets(with_teacher=False, with_embeddings=False)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    log.info("Training %d runs, %d at a time (%d thread(s) each).", len(runs), jobs, threads)
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: safe with torch and Jupyter
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        futures = [pool.submit(_train_run_in_worker, ctx.preset, ctx.data_root, ctx.work_dir, ctx.beats_dir,
                               kind, mode, seed, threads) for kind, mode, seed in runs]
        bar = tqdm(as_completed(futures), total=len(futures), disable=not ctx.progress, unit="run",
                   desc=f"train runs, {jobs} at a time")
        for future in bar:
            kind, mode, seed = future.result()  # re-raises a worker's error here
            bar.set_postfix_str(f"done: {kind} {mode} seed {seed}")


def _run_checkpoint(ctx: Context, kind: str, mode: str, seed: int) -> Path:
    """The ``final.pt`` of one run of :func:`train_runs_in_parallel`."""
    return ctx.plain_teacher_path(seed) if kind == "teacher" else student_run_dir(ctx, mode, seed) / "final.pt"


def probe_metrics(ctx: Context, seed: int = 0) -> dict:
    """The linear probe of the frozen embeddings as an ablation row (cached in ``probe.json``)."""
    path = layout.probe_record(ctx.work_dir, seed)
    emb = ctx.embedding_model()  # pre-trains (or installs) it first if needed
    source = model_fingerprint(layout.embedding_checkpoint(ctx.work_dir))
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("source") == source:
            return cached
    probe = linear_probe(ctx, seed=seed)
    cost = _cost(ctx, emb)
    dim = ctx.preset.embedding.emb_dim
    cost["params"] += dim * len(CLASSES) + len(CLASSES)
    result = {"kind": "probe", "mode": "linear probe", "seed": seed, "source": source, **probe["evaluation"],
              **cost, "validation": probe["validation"], "weights": "probe", "chosen_on": "-"}
    path.write_text(json.dumps(result, indent=2))
    return result


@contextlib.contextmanager
def _stage(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall-clock seconds of the ``with`` block in ``seconds[name]``."""
    t0 = time.perf_counter()
    yield
    seconds[name] = time.perf_counter() - t0


def pretrain(ctx: Context, out_dir: str | Path, *, overwrite: bool = False, command: str = "") -> Path:
    """Pre-train the embedding model and the teacher (seed 0) and write a shipped bundle (``dualkd pretrain``).

    Trains in ``ctx.work_dir`` (without installing a shipped bundle there), scores the
    teacher and the linear probe on validation and evaluation, and writes the bundle with
    :func:`dualkd_lib.recipe.pretrained.write_bundle`. Returns the manifest's path. Taught in notebook 03.
    """
    from dualkd_lib.recipe import pretrained

    if ctx.preset.generator is None:
        raise ValueError("dualkd pretrain trains the BEATs stand-in on generated data; the desed preset reads BEATs.")
    out = Path(out_dir)
    pretrained.refuse_existing(out, overwrite)  # before hours of training, not after
    ctx.use_pretrained = False
    seconds: dict[str, float] = {}
    with _stage(seconds, "data and features"):
        for split in ("strong", "weak", "unlabeled", "validation", "evaluation"):
            ctx.split(split)
    with _stage(seconds, "embedding model"):
        ctx.embedding_model()
    with _stage(seconds, "linear probe"):
        probe = probe_metrics(ctx)
    with _stage(seconds, "teacher"):
        teacher = run_metrics(ctx, "teacher", "teacher", 0)
    keys = ("psds1", "psds2", "f1_collar", "f1_intersection")
    scores = {"teacher": {"evaluation": {k: teacher[k] for k in keys},
                          "both_weights": teacher.get("both_weights")},
              "linear_probe": {"evaluation": {k: probe[k] for k in keys}, "validation": probe["validation"]}}
    return pretrained.write_bundle(ctx, out, scores=scores, seconds=seconds, overwrite=overwrite,
                                   command=command or f"dualkd pretrain --preset {ctx.preset.name}")


def run_ablation(ctx: Context, *, seeds: Iterable[int] = (0,), out_dir: str | Path | None = None,
                 modes: Sequence[str] = STUDENT_MODES, jobs: int = 1, baselines: bool = False) -> str:
    """Teacher and the five student modes over ``seeds``; writes ablation.md/.json.

    The teacher is the frozen pre-trained model of the method: trained once
    (seed 0) and shared by every student run. ``jobs > 1`` trains that many
    runs at a time in worker processes (:func:`train_runs_in_parallel`).
    ``baselines``: also the rows no notebook loads, the teacher CRNN without embeddings
    (one run per seed) and the linear probe of the frozen embeddings (generated data
    only). Returns the Markdown table. Taught in notebook 08.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed (e.g. --seeds 1).")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    timings: dict[str, float] = {}
    with _stage(timings, "features"):
        for split in ("strong", "weak", "unlabeled", "validation", "evaluation"):
            ctx.split(split)
    with _stage(timings, "embedding_model"):
        if ctx.preset.generator is not None:  # real DESED reads BEATs embeddings: no stand-in to pre-train
            ctx.embedding_model()
    with _stage(timings, "teacher"):
        rows = [{"name": "teacher (CRNN + embeddings)", **run_metrics(ctx, "teacher", "teacher", 0)}]
    plain = [("teacher", "no_embeddings", s) for s in seeds] if baselines else []
    if jobs > 1:
        with _stage(timings, f"students and plain teachers, {jobs} at a time"):
            train_runs_in_parallel(ctx, plain + [("student", m, s) for m in modes for s in seeds], jobs)
    if baselines:
        with _stage(timings, "teacher without embeddings"):
            rows += [{"name": "teacher CRNN without embeddings", **run_metrics(ctx, *run)} for run in plain]
        if ctx.preset.generator is not None:
            with _stage(timings, "linear probe"):
                rows.append({"name": "embedding model, linear probe", **probe_metrics(ctx)})
    for mode in modes:
        with _stage(timings, f"student {mode}"):
            rows += [{"name": f"student ({mode})", **run_metrics(ctx, "student", mode, seed)} for seed in seeds]
    summary = summarise(rows)
    table = markdown_table(summary)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ablation.md").write_text(f"# Ablation, preset {ctx.preset.name}, seeds {seeds}\n\n" + table)
        (out / "ablation.json").write_text(json.dumps(
            {"preset": ctx.preset.name, "seeds": seeds, "jobs": jobs, "models": summary, "runs": rows,
             "stage_seconds_this_call": timings}, indent=2))
    return table


# --------------------------------------------------------------------------
# Several processes (torchrun)
# --------------------------------------------------------------------------
def train_distributed(command: str, *, preset: str | None = None, data_root: str | Path | None = None,
                      work_dir: str | Path | None = None, mode: str = "dual", seed: int = 0,
                      split_batch: bool = True, backend: str | None = None) -> None:
    """``dualkd ddp {train-teacher,train-student}`` in each process started by ``torchrun``.

    Rank 0 first computes every cache the run needs (features, embeddings,
    teacher outputs) while the other processes wait, then all load them and
    train with :func:`dualkd_lib.train.distributed.ddp_train`. A student that
    needs the teacher requires a trained teacher (run ``train-teacher`` first).
    README "Running on real DESED".
    """
    from torch import distributed as dist

    from dualkd_lib.train.distributed import ddp_train, init_distributed

    if command not in ("train-teacher", "train-student"):
        raise ValueError(f"command must be 'train-teacher' or 'train-student', got {command!r}.")
    rank, world_size = init_distributed(backend)
    teacher = command == "train-teacher"
    needs_teacher = not teacher and mode_uses(mode, "kd")
    needs_emb = teacher or mode_uses(mode, "emb")

    def context() -> Context:
        return Context.create(preset, data_root=data_root, work_dir=work_dir,
                              make_data_if_missing=rank == 0, progress=rank == 0)

    work = Path(work_dir) if work_dir else layout.default_work_dir(get_preset(preset).name)
    teacher_ckpt = layout.teacher_checkpoint(work, seed)
    if needs_teacher and not teacher_ckpt.is_file():  # checked by every process: none waits forever
        raise FileNotFoundError(f"No trained teacher at {teacher_ckpt}; run "
                                "`torchrun ... -m dualkd_lib.cli ddp train-teacher` first.")
    if rank == 0:  # compute the caches once, alone
        ctx = context()
        data = ctx.training_datasets(with_teacher=needs_teacher, with_embeddings=needs_emb)
    if world_size > 1:
        dist.barrier()
    if rank != 0:
        ctx = context()
        data = ctx.training_datasets(with_teacher=needs_teacher, with_embeddings=needs_emb)

    if teacher:
        cfg = ctx.preset.teacher_config(seed)
        model: nn.Module = models.CRNN(ctx.preset.teacher, seed=seed)
        run_dir = ctx.teacher_path(seed).parent
    else:
        cfg = ctx.preset.student_config(mode, seed)
        model = models.SECRNN(ctx.preset.student, seed=seed)
        run_dir = student_run_dir(ctx, mode, seed)
    result = ddp_train(model, data, cfg, run_dir=run_dir, split_batch=split_batch,
                       teacher_needs_embeddings=teacher, progress=rank == 0, preset=ctx.preset.name,
                       data_fingerprint=ctx.data_fingerprint())
    if rank == 0:
        _save_inference_bundle(ctx, run_dir)
        _write_run_info(run_dir, result, cfg)
        log.info("Done: %s", result.final_path)
    if world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
