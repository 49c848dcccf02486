"""Tests of dualkd_lib.train.distributed: 2 CPU processes (gloo) against 1 process, and the AMP code path.

Equivalence: 2 processes with per-process batch B/2 take the same steps as 1
process with batch B, because the MixedBatchSampler splits the same global
batch and every loss is a mean over equal-sized groups, so the average of the
two processes' gradients is the one-process gradient. Two things break it on
purpose-built CPU runs, so the equivalence model has neither: dropout (each
process draws its own noise) and BatchNorm (PyTorch's SyncBatchNorm needs GPUs,
so each CPU process normalises with its own clips' statistics). A second run
with BatchNorm and dropout checks that the processes still hold identical
weights, BatchNorm statistics and mean-student (EMA) weights.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dualkd_lib import datasets, models
from dualkd_lib.train import distributed
from dualkd_lib.train import TrainConfig, load_checkpoint, train, training_step, world

N_MELS, FRAMES, OUT_FRAMES, EMB_DIM = 16, 64, 16, 8
STUDENT_CFG = models.CRNNConfig(
    n_mels=N_MELS, channels=(8, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), dropout=0.0, rnn_hidden=8,
    rnn_layers=1, activation="cg", se=True, tfwse=True, embedding_distill_dim=EMB_DIM,
)
CFG = TrainConfig(mode="dual", max_steps=6, batch_sizes=(4, 4, 4), mixup_prob=0.0, lr=3e-3, lr_rampup_steps=2,
                  cons_rampup_steps=4, ema_alpha=0.9, log_every=2, checkpoint_every=4)
#: Largest difference allowed between 2-process and 1-process weights. Measured: 7.9e-6 (model),
#: 2.3e-6 (mean student) after 6 steps that move the weights by up to 1.3e-2. The gradients agree to
#: float32 rounding (sums in another order); Adam divides by sqrt(v), which enlarges the rounding of
#: near-zero gradients, so the bound has head-room for other CPUs/BLAS builds.
TOL = 5e-5


def toy_parts(n: int = 16) -> tuple[datasets.SEDDataset, ...]:
    """Strong, weak, unlabeled toy clips with cached embeddings and teacher outputs (seeded)."""
    parts = []
    for seed, kind in enumerate(("strong", "weak", "unlabeled")):
        g = torch.Generator().manual_seed(seed)
        strong = (torch.rand(n, 10, OUT_FRAMES, generator=g) < 0.2).float()
        x = torch.randn(n, N_MELS, FRAMES, generator=g)
        x[:, :10] += 2.0 * strong.repeat_interleave(4, dim=2)
        extras = {"embeddings": torch.randn(n, EMB_DIM, OUT_FRAMES, generator=g),
                  "teacher_strong": 0.05 + 0.9 * strong, "teacher_weak": 0.05 + 0.9 * strong.amax(2)}
        labels = {"strong_labels": strong} if kind == "strong" else {"out_frames": OUT_FRAMES}
        if kind == "weak":
            labels["weak_labels"] = strong.amax(2)
        parts.append(datasets.SEDDataset(x, kind, extras=extras, **labels))
    return tuple(parts)


def without_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer by an identity (see the module docstring)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
    return model


def flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten().float() for v in state.values()])


def _worker(out_dir: str) -> None:
    """Runs in each of the 2 processes: both trainings, then save this rank's weights."""
    torch.set_num_threads(1)
    rank, world_size = world()
    assert world_size == 2
    saved = {}
    for name, model, cfg in (
        ("plain", without_batchnorm(models.SECRNN(STUDENT_CFG, seed=0)), CFG),
        ("bn", models.SECRNN(dataclasses.replace(STUDENT_CFG, dropout=0.3), seed=rank),  # different inits on purpose
         dataclasses.replace(CFG, mode="takd", mixup_prob=1.0, max_steps=4)),
    ):
        result = distributed.ddp_train(model, toy_parts(), cfg, run_dir=Path(out_dir) / name, progress=False)
        saved[name] = {"model": result.model.state_dict(), "mean": result.mean_model.state_dict(),
                       "history": result.history}
    torch.save(saved, Path(out_dir) / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> tuple[Path, dict, dict]:
    out = tmp_path_factory.mktemp("ddp")
    distributed.spawn(_worker, 2, str(out))
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    return out, ranks[0], ranks[1]


def test_two_processes_equal_one_process(two_processes, tmp_path: Path) -> None:
    out, r0, r1 = two_processes
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = train(without_batchnorm(models.SECRNN(STUDENT_CFG, seed=0)),
                    datasets.build_train_loader(*toy_parts(), batch_sizes=CFG.batch_sizes, seed=CFG.seed),
                    CFG, run_dir=tmp_path, progress=False)
    finally:
        torch.set_num_threads(before)
    for key, ref in (("model", one.model.state_dict()), ("mean", one.mean_model.state_dict())):
        torch.testing.assert_close(flat(r0["plain"][key]), flat(ref), rtol=0, atol=TOL)
        torch.testing.assert_close(flat(r0["plain"][key]), flat(r1["plain"][key]), rtol=0, atol=0)
    # the history holds the loss averaged over the processes: the one-process loss
    assert [h["loss"] for h in r0["plain"]["history"]] == pytest.approx([h["loss"] for h in one.history], abs=1e-5)
    assert r0["plain"]["history"] == r1["plain"]["history"]
    ckpt = load_checkpoint(out / "plain" / "final.pt", expected_kind="student")  # written by rank 0
    assert ckpt["step"] == CFG.max_steps and tuple(ckpt["train_config"]["batch_sizes"]) == CFG.batch_sizes
    torch.testing.assert_close(flat(ckpt["model_state"]), flat(r0["plain"]["model"]), rtol=0, atol=0)


def test_ranks_stay_identical_with_batchnorm_dropout_mixup(two_processes) -> None:
    _, r0, r1 = two_processes
    for key in ("model", "mean"):  # weights, BatchNorm statistics and the EMA mean student
        assert r0["bn"][key].keys() == r1["bn"][key].keys()
        for name in r0["bn"][key]:
            torch.testing.assert_close(r0["bn"][key][name], r1["bn"][key][name], rtol=0, atol=0, msg=name)
    assert any("running_mean" in k for k in r0["bn"]["model"])


def test_split_batch_sizes() -> None:
    assert distributed.split_batch_sizes((12, 12, 24), 4) == (3, 3, 6)
    with pytest.raises(ValueError, match="cannot be split over 5"):
        distributed.split_batch_sizes((12, 12, 24), 5)


def test_autocast_path_and_device_config(tmp_path: Path) -> None:
    """The AMP code path of training_step (bfloat16 autocast on CPU stands in for float16 on CUDA)."""
    model = models.SECRNN(STUDENT_CFG, seed=0)
    mean = models.SECRNN(STUDENT_CFG, seed=0).eval()
    batch = datasets.collate_batch([toy_parts(4)[k][i] for k in range(3) for i in range(4)])
    full, terms = training_step(model, mean, batch, CFG, step=3)
    amp, amp_terms = training_step(model, mean, batch, CFG, step=3, autocast_device="cpu")
    assert amp.dtype == torch.float32 and set(amp_terms) == set(terms)
    assert abs(float(amp.detach()) - float(full.detach())) < 0.05 * float(full.detach())  # bfloat16 forward, float32 losses
    amp.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())

    with pytest.raises(ValueError, match="not a torch device"):
        TrainConfig(device="gpu0")
    cpu = train(models.SECRNN(STUDENT_CFG), datasets.build_train_loader(*toy_parts(4), batch_sizes=(2, 2, 2)),
                dataclasses.replace(CFG, max_steps=1, device="cpu", amp=True), run_dir=tmp_path, progress=False)
    assert np.isfinite(cpu.history[0]["loss"])  # amp=True is ignored on CPU
    # old checkpoints (before `device`/`amp`) and another device resume without complaint
    resumed = train(models.SECRNN(STUDENT_CFG), datasets.build_train_loader(*toy_parts(4), batch_sizes=(2, 2, 2)),
                    dataclasses.replace(CFG, max_steps=1, device="auto", amp=False), run_dir=tmp_path, progress=False)
    assert resumed.resumed_from == 1
