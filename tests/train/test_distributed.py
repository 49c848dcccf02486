"""Tests of dualkd_lib/train/distributed.py: 2 CPU processes (gloo) against 1 process.

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

import pytest
import torch
from torch import nn

from dualkd_lib import datasets, models
from dualkd_lib.train import distributed
from dualkd_lib.train import load_checkpoint, train, world

from toy_ddp import CFG, STUDENT_CFG, toy_parts


#: Largest difference allowed between 2-process and 1-process weights. Measured: 7.9e-6 (model),
#: 2.3e-6 (mean student) after 6 steps that move the weights by up to 1.3e-2. The gradients agree to
#: float32 rounding (sums in another order); Adam divides by sqrt(v), which enlarges the rounding of
#: near-zero gradients, so the bound has head-room for other CPUs/BLAS builds.
TOL = 5e-5


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
