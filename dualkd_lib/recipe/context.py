"""The :class:`Context` of a preset: where its data, caches and runs are, and the frozen models.

Every expensive object (log-mel features, the scaler, the pre-trained embedding model and
its frame embeddings, the teacher and its soft outputs) is computed on first use, saved in
the work folder (``data/cache/<preset>`` by default) and loaded from there afterwards; the
frozen models are trained once by :mod:`.runs` when neither a shipped bundle
(:mod:`.pretrained`) nor a finished run is there. Taught in notebooks 01-03.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from dualkd_lib import desed_io, generate, layout
from dualkd_lib.config import Preset, get_preset
from dualkd_lib.constants import CLASSES
from dualkd_lib.datasets import SEDDataset, build_train_loader
from dualkd_lib.features import FeatureCache, ManyHotEncoder, Scaler, n_output_frames
from dualkd_lib.train import load_checkpoint, load_model_from_checkpoint, predict_scores
from dualkd_lib.recipe import pretrained, runs
from dualkd_lib.recipe.run_files import cached_run_fits, model_fingerprint

log = logging.getLogger(__name__)


def make_data(preset: str | Preset | None, out: str | Path, *, seed: int = 0, overwrite: bool = False,
              progress: bool = True, jobs: int = 1) -> dict:
    """Generate the preset's DESED-like dataset into ``out`` (``dualkd make-data``), ``jobs``
    worker processes at a time (the same bytes for any ``jobs``).

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
    return generate.make_dataset(out, p.generator, seed, overwrite=overwrite, progress=progress, jobs=jobs)


def data_present(root: str | Path) -> bool:
    """True if ``root`` holds every split's audio folder."""
    return all(layout.split_paths(root, s)[0].is_dir() for s in layout.SPLITS)


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
               progress: bool = True, data_jobs: int = 1) -> "Context":
        """Context for ``preset``; generates the default data (seed 0) if they are missing,
        ``data_jobs`` worker processes at a time.

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
            make_data(p, root, seed=0, progress=progress, jobs=data_jobs)
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
            if not cached_run_fits(self, "embedding", path, self.preset.pretrain):
                runs.pretrain_embedding_model(self, path)
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
        return pretrained.install(self)

    def plain_teacher_path(self, seed: int = 0) -> Path:
        """The teacher CRNN trained *without* embeddings (the paper's "baseline CRNN")."""
        return layout.final_checkpoint(layout.plain_teacher_run_dir(self.work_dir, seed))

    def teacher(self, seed: int = 0) -> nn.Module:
        """The frozen teacher of ``seed`` (its mean model, as DCASE reports); trains it once."""
        if seed not in self._teachers:
            if seed == 0:
                self._install_pretrained()
            if not cached_run_fits(self, "teacher", self.teacher_path(seed), self.preset.teacher_config(seed)):
                runs.train_teacher(self, seed=seed)
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
            digest = hashlib.sha256()
            for split in ("strong", "weak", "unlabeled"):
                audio_dir, labels, _ = layout.split_paths(self.data_root, split)
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


@torch.no_grad()
def _embed(model: nn.Module, features: torch.Tensor, *, progress: bool, desc: str, batch_size: int = 32
           ) -> torch.Tensor:
    out = []
    for i in tqdm(range(0, len(features), batch_size), desc=desc, disable=not progress, unit="batch"):
        out.append(model(features[i:i + batch_size]).frame)
    return torch.cat(out)


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

