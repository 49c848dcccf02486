"""Tests of dualkd_lib/datasets.py: SEDDataset items, MixedBatchSampler, build_train_loader, mixup."""
from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, TensorDataset

from dualkd_lib.datasets import MixedBatchSampler, SEDDataset, build_train_loader, collate_batch, mixup_batch

N_MELS, FRAMES, OUT, C = 8, 20, 5, 10


def make_parts(n_strong=6, n_weak=5, n_unlabeled=11, *, extras=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    strong = (torch.rand(n_strong, C, OUT, generator=g) > 0.7).float()
    weak = (torch.rand(n_weak, C, generator=g) > 0.5).float()

    def ex(n):
        if not extras:
            return None
        return {"embeddings": torch.randn(n, 4, OUT, generator=g), "teacher_weak": torch.rand(n, C, generator=g)}

    s = SEDDataset(torch.randn(n_strong, N_MELS, FRAMES, generator=g), "strong", strong_labels=strong, extras=ex(n_strong))
    w = SEDDataset(torch.randn(n_weak, N_MELS, FRAMES, generator=g), "weak", weak_labels=weak, out_frames=OUT, extras=ex(n_weak))
    u = SEDDataset(torch.randn(n_unlabeled, N_MELS, FRAMES, generator=g), "unlabeled", out_frames=OUT, extras=ex(n_unlabeled))
    return s, w, u


# ---------------------------------------------------------------------------
# SEDDataset
# ---------------------------------------------------------------------------
def test_item_shapes_and_masks():
    s, w, u = make_parts()
    item = s[2]
    assert item["features"].shape == (N_MELS, FRAMES) and item["features"].dtype == torch.float32
    assert item["strong"].shape == (C, OUT) and item["weak"].shape == (C,)
    assert torch.equal(item["weak"], (s.strong_labels[2].amax(dim=1) > 0).float())  # any frame active
    assert item["has_strong"].dtype == torch.bool and bool(item["has_strong"]) and bool(item["has_weak"])
    assert item["index"] == 2
    assert item["embeddings"].shape == (4, OUT) and item["teacher_weak"].shape == (C,)

    wi = w[1]
    assert not wi["has_strong"] and wi["has_weak"]
    assert torch.count_nonzero(wi["strong"]) == 0 and wi["strong"].shape == (C, OUT)
    assert torch.equal(wi["weak"], w.weak_labels[1])

    ui = u[0]
    assert not ui["has_strong"] and not ui["has_weak"]
    assert torch.count_nonzero(ui["strong"]) == 0 and torch.count_nonzero(ui["weak"]) == 0
    assert set(ui) == set(item)


def test_features_not_copied():
    feats = torch.randn(3, N_MELS, FRAMES)
    ds = SEDDataset(feats, "unlabeled", out_frames=OUT)
    assert ds.features.data_ptr() == feats.data_ptr()


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(features=torch.zeros(3, 8), kind="unlabeled", out_frames=OUT), "n_clips, n_mels, frames"),
        (dict(features=torch.zeros(3, 8, 9), kind="teacher", out_frames=OUT), "kind must be one of"),
        (dict(features=torch.zeros(3, 8, 9), kind="strong"), "needs strong_labels"),
        (dict(features=torch.zeros(3, 8, 9), kind="strong", strong_labels=torch.zeros(2, C, OUT)), r"n_clips=3"),
        (dict(features=torch.zeros(3, 8, 9), kind="strong", strong_labels=torch.zeros(3, 7, OUT)), r"classes=10"),
        (dict(features=torch.zeros(3, 8, 9), kind="strong", strong_labels=torch.full((3, C, OUT), 2.0)), r"\[0, 1\]"),
        (
            dict(features=torch.zeros(3, 8, 9), kind="strong", strong_labels=torch.zeros(3, C, OUT), weak_labels=torch.zeros(3, C)),
            "derives weak labels",
        ),
        (dict(features=torch.zeros(3, 8, 9), kind="weak", out_frames=OUT), "needs weak_labels"),
        (dict(features=torch.zeros(3, 8, 9), kind="weak", weak_labels=torch.zeros(3, C)), "needs out_frames"),
        (dict(features=torch.zeros(3, 8, 9), kind="weak", weak_labels=torch.zeros(3, C, 1), out_frames=OUT), "weak_labels must be"),
        (
            dict(features=torch.zeros(3, 8, 9), kind="unlabeled", out_frames=OUT, extras={"emb": torch.zeros(2, 4, OUT)}),
            r"extras\['emb'\]",
        ),
        (
            dict(features=torch.zeros(3, 8, 9), kind="unlabeled", out_frames=OUT, extras={"weak": torch.zeros(3, C)}),
            "clashes",
        ),
        (dict(features=torch.zeros(3, 8, 9), kind="unlabeled", out_frames=OUT, filenames=["a"]), "filenames has 1"),
    ],
)
def test_dataset_validation(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        SEDDataset(**kwargs)


# ---------------------------------------------------------------------------
# MixedBatchSampler
# ---------------------------------------------------------------------------
def concat(*sizes):
    return ConcatDataset([TensorDataset(torch.zeros(n)) for n in sizes])


def part_of(index, sizes):
    edges = torch.tensor(sizes).cumsum(0)
    return int((index >= edges).sum())


def test_sampler_proportions_and_length():
    sizes = (10, 7, 30)
    sampler = MixedBatchSampler(concat(*sizes), (2, 1, 4), seed=3)
    assert len(sampler) == max(5, 7, 8)  # ceil(10/2), ceil(7/1), ceil(30/4)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        assert [part_of(i, sizes) for i in batch] == [0, 0, 1, 2, 2, 2, 2]
    # The largest part is seen once (almost: 8*4=32 draws from 30), the small ones cycle.
    unl = [i for b in batches for i in b[3:]]
    assert set(unl) == set(range(17, 47))
    strong = collections.Counter(i for b in batches for i in b[:2])
    assert set(strong) == set(range(10)) and max(strong.values()) == 2


def test_sampler_each_pass_is_a_permutation():
    sampler = MixedBatchSampler(concat(4, 9), (3, 3), seed=0)
    draws = [i for b in sampler for i in b[:3]]  # 3 batches * 3 = 9 draws from a part of 4
    assert sorted(draws[:4]) == [0, 1, 2, 3] and sorted(draws[4:8]) == [0, 1, 2, 3]


def test_sampler_deterministic_and_epoch_changes_shuffle():
    a = MixedBatchSampler(concat(10, 7, 30), (2, 1, 4), seed=5)
    b = MixedBatchSampler(concat(10, 7, 30), (2, 1, 4), seed=5)
    first_a, first_b = list(a), list(b)
    assert first_a == first_b
    second_a = list(a)  # iterating moves on to the next epoch
    assert second_a != first_a
    b.set_epoch(1)
    assert list(b) == second_a
    b.set_epoch(0)
    assert list(b) == first_a
    other_seed = MixedBatchSampler(concat(10, 7, 30), (2, 1, 4), seed=6)
    assert list(other_seed) != first_a
    # Parts are shuffled independently: the strong part's shuffle does not depend on the others.
    c = MixedBatchSampler(concat(10, 3, 30), (2, 2, 1), seed=5)
    assert [bt[:2] for bt in list(c)[:5]] == [bt[:2] for bt in first_a[:5]]


def test_sampler_batches_per_epoch():
    sampler = MixedBatchSampler(concat(10, 7, 30), (2, 1, 4), seed=0, batches_per_epoch=3)
    assert len(sampler) == 3 and len(list(sampler)) == 3


def test_sampler_ddp_shards_are_disjoint():
    sizes = (8, 4, 24)
    replicas = [
        MixedBatchSampler(concat(*sizes), (2, 1, 3), seed=1, num_replicas=4, rank=r) for r in range(4)
    ]
    assert {len(s) for s in replicas} == {2}  # ceil(24 / (3*4))
    for sampler in replicas:
        sampler.set_epoch(7)
    per_rank = [list(s) for s in replicas]
    for step in range(2):
        batches = [per_rank[r][step] for r in range(4)]
        flat = [i for b in batches for i in b]
        assert len(flat) == len(set(flat))  # disjoint within every step
        assert all(len(b) == 6 for b in batches)
    unl_sets = [{i for b in per_rank[r] for i in b[3:]} for r in range(4)]
    assert sum(len(s) for s in unl_sets) == 24 and set().union(*unl_sets) == set(range(12, 36))


def test_sampler_validation():
    with pytest.raises(ValueError, match="ConcatDataset"):
        MixedBatchSampler(TensorDataset(torch.zeros(3)), (1,))
    with pytest.raises(ValueError, match="2 entries but the dataset has 3 parts"):
        MixedBatchSampler(concat(3, 3, 3), (1, 1))
    with pytest.raises(ValueError, match="positive sum"):
        MixedBatchSampler(concat(3, 3), (0, 0))
    with pytest.raises(ValueError, match="Part 1 of the dataset is empty"):
        MixedBatchSampler(concat(3, 0), (1, 1))
    with pytest.raises(ValueError, match="rank"):
        MixedBatchSampler(concat(3, 3), (1, 1), num_replicas=2, rank=2)


# ---------------------------------------------------------------------------
# build_train_loader
# ---------------------------------------------------------------------------
def test_train_loader_batches():
    s, w, u = make_parts()
    loader = build_train_loader(s, w, u, (2, 2, 4), seed=0)
    assert len(loader) == 3  # ceil(11/4) for the largest part
    batches = list(loader)
    assert len(batches) == 3
    batch = batches[0]
    assert batch["features"].shape == (8, N_MELS, FRAMES)
    assert batch["strong"].shape == (8, C, OUT) and batch["weak"].shape == (8, C)
    assert batch["embeddings"].shape == (8, 4, OUT)
    assert batch["has_strong"].tolist() == [True] * 2 + [False] * 6
    assert batch["has_weak"].tolist() == [True] * 4 + [False] * 4
    assert batch["index"].dtype == torch.int64
    # Rows are the right clips of each part.
    idx = batch["index"]
    assert torch.equal(batch["features"][0], s.features[idx[0]])
    assert torch.equal(batch["weak"][2], w.weak_labels[idx[2]])
    assert torch.equal(batch["features"][7], u.features[idx[7]])
    assert loader.batch_sampler.epoch == 1
    again = build_train_loader(s, w, u, (2, 2, 4), seed=0)
    assert torch.equal(next(iter(again))["index"], idx)


def test_train_loader_without_unlabeled_and_mismatches():
    s, w, u = make_parts()
    loader = build_train_loader(s, w, None, (3, 3, 0), seed=0)
    batch = next(iter(loader))
    assert batch["has_weak"].all() and batch["features"].shape[0] == 6
    with pytest.raises(ValueError, match="unlabeled dataset is None but its batch size is 4"):
        build_train_loader(s, w, None, (2, 2, 4))
    s2, _, u2 = make_parts(extras=False)
    with pytest.raises(ValueError, match="different keys"):
        build_train_loader(s, w, u2, (1, 1, 1))
    wrong = SEDDataset(torch.zeros(3, N_MELS, FRAMES), "unlabeled", out_frames=OUT + 1)
    with pytest.raises(ValueError, match="'strong' has shape"):
        build_train_loader(s2, None, wrong, (1, 0, 1))


def test_collate_batch():
    s, _, _ = make_parts()
    batch = collate_batch([s[0], s[1]])
    assert batch["strong"].shape == (2, C, OUT) and batch["index"].tolist() == [0, 1]


# ---------------------------------------------------------------------------
# mixup_batch
# ---------------------------------------------------------------------------
def test_mixup_mixes_within_groups() -> None:
    g = torch.Generator().manual_seed(0)
    batch = {
        "features": torch.randn(6, 2, 4, generator=g),
        "strong": torch.cat([torch.ones(2, 10, 3), torch.zeros(4, 10, 3)]),
        "weak": torch.cat([torch.ones(4, 10), torch.zeros(2, 10)]),
        "has_strong": torch.tensor([1, 1, 0, 0, 0, 0]).bool(),
        "has_weak": torch.tensor([1, 1, 1, 1, 0, 0]).bool(),
        "teacher_weak": torch.arange(6.0)[:, None].expand(6, 10),
        "index": torch.arange(6),
    }
    rng = np.random.default_rng(3)
    mixed = mixup_batch(batch, rng, prob=1.0, beta=0.2)
    torch.testing.assert_close(mixed["strong"], batch["strong"])  # strong rows only mix with strong rows
    torch.testing.assert_close(mixed["weak"], batch["weak"])
    tw = mixed["teacher_weak"][:, 0]
    assert (tw[:2] <= 1).all() and ((tw[2:4] >= 2) & (tw[2:4] <= 3)).all() and (tw[4:] >= 4).all()
    assert mixed["index"] is batch["index"]
    same = mixup_batch(batch, np.random.default_rng(3), prob=0.0, beta=0.2)
    assert same["features"] is batch["features"]
