"""PyTorch datasets over cached features, and the strong/weak/unlabeled batch sampler.

Features (log-mels), teacher outputs and frozen embeddings are computed once and
cached by other modules; a :class:`SEDDataset` only indexes those tensors, so
loading a batch is cheap and needs no worker processes.

Every training batch mixes three parts in fixed proportions, as in the DCASE
baseline: strongly labeled clips first, then weakly labeled, then unlabeled
(e.g. 12/12/24 in the ``desed`` preset). :class:`MixedBatchSampler` yields the
indices of such batches; :func:`build_train_loader` puts it all together.

Taught in notebook 02.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler, default_collate

from dualkd_lib.constants import CLASSES

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "SEDDataset", "MixedBatchSampler", "collate_batch", "build_train_loader"]

#: The three kinds of training clips, in the order they appear in a mixed batch.
KINDS: tuple[str, ...] = ("strong", "weak", "unlabeled")

_RESERVED_KEYS = ("features", "strong", "weak", "has_strong", "has_weak", "index")


def _as_float_tensor(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (or numpy array), got {type(x).__name__}.")
    if not x.is_floating_point():
        x = x.float()
    return x.to(torch.float32)


def _check_labels(x: torch.Tensor, name: str) -> None:
    if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name} must hold values in [0, 1] (1 = class active); found range "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]."
        )


class SEDDataset(Dataset):
    """Clips of one kind (strong, weak or unlabeled) as a map-style dataset.

    Args:
        features: ``[n_clips, n_mels, frames]`` log-mel features (float32).
        kind: ``"strong"``, ``"weak"`` or ``"unlabeled"``.
        strong_labels: ``[n_clips, classes, out_frames]`` in [0, 1]; required for
            ``kind="strong"``, not allowed otherwise.
        weak_labels: ``[n_clips, classes]`` in [0, 1]; required for ``kind="weak"``,
            not allowed otherwise (strong clips derive it: a class is present if
            any of its frames is active).
        extras: more per-clip tensors added to each item under their name, e.g.
            ``{"embeddings": [n_clips, dim, out_frames], "teacher_strong":
            [n_clips, classes, out_frames], "teacher_weak": [n_clips, classes]}``.
        out_frames: frames at the model's output resolution; needed for weak and
            unlabeled clips (their ``strong`` item is all zeros of this length),
            checked against ``strong_labels`` for strong clips.
        n_classes: number of classes (default ``len(CLASSES)``).
        filenames: optional clip names, kept as ``self.filenames`` for look-ups.

    Each item is a dict: ``features [n_mels, frames]``, ``strong [classes,
    out_frames]`` (zeros unless strong), ``weak [classes]`` (zeros if unlabeled),
    ``has_strong``/``has_weak`` (bool tensors), ``index`` (int, position in *this*
    dataset) and one entry per extra. Items of the three kinds have the same keys
    and shapes, so ``default_collate`` stacks a mixed batch.

    Taught in notebook 02.
    """

    def __init__(
        self,
        features: torch.Tensor,
        kind: str,
        *,
        strong_labels: torch.Tensor | None = None,
        weak_labels: torch.Tensor | None = None,
        extras: Mapping[str, torch.Tensor] | None = None,
        out_frames: int | None = None,
        n_classes: int = len(CLASSES),
        filenames: Sequence[str] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}.")
        features = _as_float_tensor(features, "features")
        if features.dim() != 3:
            raise ValueError(
                f"features must be [n_clips, n_mels, frames], got shape {tuple(features.shape)}."
            )
        n = features.shape[0]

        if kind == "strong":
            if strong_labels is None:
                raise ValueError("kind='strong' needs strong_labels [n_clips, classes, out_frames].")
            if weak_labels is not None:
                raise ValueError(
                    "kind='strong' derives weak labels from strong_labels (any active frame); "
                    "do not pass weak_labels."
                )
            strong_labels = _as_float_tensor(strong_labels, "strong_labels")
            if strong_labels.dim() != 3 or strong_labels.shape[:2] != (n, n_classes):
                raise ValueError(
                    f"strong_labels must be [n_clips={n}, classes={n_classes}, out_frames], got "
                    f"shape {tuple(strong_labels.shape)}."
                )
            if out_frames is not None and strong_labels.shape[2] != out_frames:
                raise ValueError(
                    f"strong_labels has {strong_labels.shape[2]} frames but out_frames={out_frames}."
                )
            _check_labels(strong_labels, "strong_labels")
            out_frames = strong_labels.shape[2]
            weak_labels = strong_labels.amax(dim=2)  # [n, classes]: any frame active
        else:
            if strong_labels is not None:
                raise ValueError(f"kind={kind!r} has no strong labels; do not pass strong_labels.")
            if out_frames is None or out_frames <= 0:
                raise ValueError(
                    f"kind={kind!r} needs out_frames (frames at the model output, e.g. 156) to "
                    f"build its all-zero strong target; got {out_frames!r}."
                )
            if kind == "weak":
                if weak_labels is None:
                    raise ValueError("kind='weak' needs weak_labels [n_clips, classes].")
                weak_labels = _as_float_tensor(weak_labels, "weak_labels")
                if tuple(weak_labels.shape) != (n, n_classes):
                    raise ValueError(
                        f"weak_labels must be [n_clips={n}, classes={n_classes}], got shape "
                        f"{tuple(weak_labels.shape)}."
                    )
                _check_labels(weak_labels, "weak_labels")
            elif weak_labels is not None:
                raise ValueError("kind='unlabeled' has no labels; do not pass weak_labels.")

        extras = dict(extras or {})
        for name, value in list(extras.items()):
            if name in _RESERVED_KEYS:
                raise ValueError(f"extras key {name!r} clashes with a built-in item key {_RESERVED_KEYS}; rename it.")
            if not isinstance(value, (torch.Tensor, np.ndarray)) or value.shape[0] != n:
                shape = tuple(getattr(value, "shape", ()))
                raise ValueError(
                    f"extras[{name!r}] must be a tensor with n_clips={n} rows first, got "
                    f"{type(value).__name__} of shape {shape}."
                )
            extras[name] = torch.as_tensor(value)
        if filenames is not None and len(filenames) != n:
            raise ValueError(f"filenames has {len(filenames)} names but features has {n} clips.")

        self.features = features
        self.kind = kind
        self.strong_labels = strong_labels
        self.weak_labels = weak_labels
        self.extras = extras
        self.out_frames = int(out_frames)
        self.n_classes = n_classes
        self.filenames = list(filenames) if filenames is not None else None

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        if self.strong_labels is not None:
            strong = self.strong_labels[index]
        else:
            strong = torch.zeros(self.n_classes, self.out_frames)
        if self.weak_labels is not None:
            weak = self.weak_labels[index]
        else:
            weak = torch.zeros(self.n_classes)
        item: dict[str, torch.Tensor | int] = {
            "features": self.features[index],
            "strong": strong,
            "weak": weak,
            "has_strong": torch.tensor(self.kind == "strong"),
            "has_weak": torch.tensor(self.kind != "unlabeled"),
            "index": int(index),
        }
        for name, value in self.extras.items():
            item[name] = value[index]
        return item

    def __repr__(self) -> str:
        return (
            f"SEDDataset(kind={self.kind!r}, clips={len(self)}, features="
            f"{tuple(self.features.shape[1:])}, out_frames={self.out_frames}, "
            f"extras={sorted(self.extras)})"
        )


class MixedBatchSampler(Sampler[list[int]]):
    """Batches with a fixed number of clips from each part of a ``ConcatDataset``.

    Each batch is a list of indices into ``dataset``: ``batch_sizes[0]`` from the
    first part, then ``batch_sizes[1]`` from the second, and so on (strong, weak,
    unlabeled), so the training step can slice the batch by these counts.

    Each part is an endless stream of shuffles: when a part runs out it starts a
    new shuffle (small parts cycle). One epoch has ``batches_per_epoch`` batches,
    by default as many as the part needing the most batches to be seen once:
    ``max_p ceil(len_p / (batch_p * num_replicas))``.

    Shuffles come from a ``torch.Generator`` seeded by ``(seed, epoch, part)``:
    same seed and epoch, same batches. Iterating starts at the current epoch and
    moves it on by one; :meth:`set_epoch` sets it (call it every epoch with DDP).
    With ``num_replicas > 1`` all replicas draw the same shuffle and replica
    ``rank`` keeps its own slice of each global batch, so replicas see disjoint
    clips within each pass over a part.

    Taught in notebook 02.
    """

    def __init__(
        self,
        dataset: ConcatDataset,
        batch_sizes: Sequence[int],
        *,
        seed: int = 0,
        batches_per_epoch: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if not isinstance(dataset, ConcatDataset):
            raise ValueError(
                f"dataset must be a torch.utils.data.ConcatDataset of the parts, got "
                f"{type(dataset).__name__}."
            )
        sizes = [len(d) for d in dataset.datasets]
        batch_sizes = [int(b) for b in batch_sizes]
        if len(batch_sizes) != len(sizes):
            raise ValueError(
                f"batch_sizes has {len(batch_sizes)} entries but the dataset has {len(sizes)} parts."
            )
        if any(b < 0 for b in batch_sizes) or sum(batch_sizes) == 0:
            raise ValueError(f"batch_sizes must be >= 0 with a positive sum, got {batch_sizes}.")
        for part, (size, bs) in enumerate(zip(sizes, batch_sizes)):
            if bs > 0 and size == 0:
                raise ValueError(f"Part {part} of the dataset is empty but its batch size is {bs}.")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"Need num_replicas >= 1 and 0 <= rank < num_replicas; got {num_replicas}, {rank}.")
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}.")
        if batches_per_epoch is not None and batches_per_epoch < 1:
            raise ValueError(f"batches_per_epoch must be >= 1 or None, got {batches_per_epoch}.")

        self.sizes = sizes
        self.offsets = [0] + list(dataset.cumulative_sizes[:-1])  # first global index of each part
        self.batch_sizes = batch_sizes
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        if batches_per_epoch is None:
            batches_per_epoch = max(
                math.ceil(size / (bs * num_replicas)) for size, bs in zip(sizes, batch_sizes) if bs > 0
            )
        self.batches_per_epoch = int(batches_per_epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffles of ``epoch`` for the next iteration (DDP-style)."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}.")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _stream(self, part: int, epoch: int) -> Iterator[int]:
        """Endless shuffled local indices of one part: shuffle, shuffle again, ..."""
        # One independent seed per (seed, epoch, part), mixed by numpy's SeedSequence.
        part_seed = np.random.SeedSequence([self.seed, epoch, part]).generate_state(1)[0]
        generator = torch.Generator()
        generator.manual_seed(int(part_seed))
        while True:
            yield from torch.randperm(self.sizes[part], generator=generator).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        self.epoch += 1
        streams = [self._stream(p, epoch) for p in range(len(self.sizes))]
        for _ in range(self.batches_per_epoch):
            batch: list[int] = []
            for part, bs in enumerate(self.batch_sizes):
                # All replicas draw the same global batch of bs * num_replicas; keep our slice.
                global_batch = [next(streams[part]) for _ in range(bs * self.num_replicas)]
                mine = global_batch[self.rank * bs : (self.rank + 1) * bs]
                batch += [self.offsets[part] + i for i in mine]
            yield batch


def collate_batch(items: list[dict]) -> dict:
    """Stack a list of dataset items into a batch (``default_collate``).

    Shapes gain a leading ``batch`` axis; ``index`` becomes a long tensor.
    Taught in notebook 02.
    """
    return default_collate(items)


def _check_same_items(parts: Sequence[tuple[str, SEDDataset]]) -> None:
    """Raise if items of the parts differ in keys or shapes (default_collate would fail)."""
    ref_name, ref_ds = parts[0]
    ref = ref_ds[0]
    for name, ds in parts[1:]:
        item = ds[0]
        if set(item) != set(ref):
            raise ValueError(
                f"Items of the {name} and {ref_name} datasets have different keys: "
                f"{sorted(item)} vs {sorted(ref)}. Give every part the same extras."
            )
        for key, value in item.items():
            if isinstance(value, torch.Tensor) and value.shape != ref[key].shape:
                raise ValueError(
                    f"Item {key!r} has shape {tuple(value.shape)} in the {name} dataset but "
                    f"{tuple(ref[key].shape)} in the {ref_name} dataset; they must match to "
                    f"form one batch."
                )


def build_train_loader(
    strong_ds: SEDDataset | None,
    weak_ds: SEDDataset | None,
    unlabeled_ds: SEDDataset | None,
    batch_sizes: Sequence[int] = (12, 12, 24),
    *,
    seed: int = 0,
    batches_per_epoch: int | None = None,
    num_replicas: int = 1,
    rank: int = 0,
) -> DataLoader:
    """A ``DataLoader`` of mixed batches: strong clips first, then weak, then unlabeled.

    ``batch_sizes = (s, w, u)`` clips per batch from each part; a part may be
    ``None`` if its batch size is 0. Batches are dicts as in :class:`SEDDataset`
    with a leading ``batch`` axis; the first ``s`` rows are strong, the next ``w``
    weak, the last ``u`` unlabeled. ``loader.batch_sampler`` is the
    :class:`MixedBatchSampler` (call its ``set_epoch`` with DDP). Runs in the main
    process (``num_workers=0``): items are slices of in-memory tensors.

    Taught in notebook 02.
    """
    if len(batch_sizes) != 3:
        raise ValueError(f"batch_sizes must be (strong, weak, unlabeled), got {tuple(batch_sizes)}.")
    parts: list[tuple[str, SEDDataset]] = []
    sizes: list[int] = []
    for kind, ds, bs in zip(KINDS, (strong_ds, weak_ds, unlabeled_ds), batch_sizes):
        if ds is None:
            if bs:
                raise ValueError(f"The {kind} dataset is None but its batch size is {bs}; pass it or use 0.")
            continue
        if len(ds) == 0:
            raise ValueError(f"The {kind} dataset is empty.")
        if bs == 0:
            continue
        parts.append((kind, ds))
        sizes.append(int(bs))
    if not parts:
        raise ValueError(f"No part has a positive batch size: batch_sizes={tuple(batch_sizes)}.")
    _check_same_items(parts)
    concat = ConcatDataset([ds for _, ds in parts])
    sampler = MixedBatchSampler(
        concat,
        sizes,
        seed=seed,
        batches_per_epoch=batches_per_epoch,
        num_replicas=num_replicas,
        rank=rank,
    )
    logger.debug(
        "Train loader: parts %s, batch sizes %s, %d batches per epoch.",
        [k for k, _ in parts],
        sizes,
        len(sampler),
    )
    return DataLoader(concat, batch_sampler=sampler, num_workers=0, collate_fn=collate_batch)


#: Batch entries mixed by mixup (features, labels and cached targets, the same way).
MIXED_KEYS: tuple[str, ...] = ("features", "strong", "weak", "embeddings", "teacher_strong", "teacher_weak")


def mixup_batch(batch: Mapping[str, Any], rng: np.random.Generator, *, prob: float, beta: float) -> dict[str, Any]:
    """DCASE-style mixup inside the batch, with probability ``prob``.

    One weight ``c ~ Beta(beta, beta)`` (taken as ``max(c, 1-c)``) per batch;
    each clip is mixed with another clip *of the same group* (strong, weak or
    unlabeled, from the masks), so the masks stay true. Features, labels and
    cached embeddings / teacher outputs (:data:`MIXED_KEYS`) are mixed the same
    way: ``c·x + (1-c)·x[perm]``. (DCASE mixes only the labeled groups; we mix
    the unlabeled one too, its cached targets stay consistent.) Returns a new
    dict; the input is not changed. Taught in notebook 03.
    """
    out = dict(batch)
    if prob <= 0 or rng.random() >= prob:
        return out
    c = float(rng.beta(beta, beta))
    c = max(c, 1.0 - c)
    has_strong = batch["has_strong"].bool().cpu().numpy()
    has_weak = batch["has_weak"].bool().cpu().numpy()
    groups = [has_strong, has_weak & ~has_strong, ~has_weak & ~has_strong]
    perm = np.arange(len(has_strong))
    for g in groups:
        idx = np.flatnonzero(g)
        perm[idx] = idx[rng.permutation(len(idx))]
    perm_t = torch.from_numpy(perm)
    for key in MIXED_KEYS:
        value = batch.get(key)
        if isinstance(value, torch.Tensor):
            out[key] = c * value + (1.0 - c) * value[perm_t.to(value.device)]
    return out
