"""Tests of dualkd_lib/recipe/context.py on the tiny preset: the Context's data, features, scaler, frozen models and their caches."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from dualkd_lib import cli
from dualkd_lib import recipe
from dualkd_lib.constants import CLASSES


pytestmark = pytest.mark.slow


def test_context_generates_missing_data_and_labels(ctx: recipe.Context) -> None:
    assert recipe.data_present(ctx.data_root)
    s = ctx.split("strong")
    assert s.features.shape[1:] == (64, 313)
    assert s.strong.shape[1:] == (len(CLASSES), 78)
    # every class has ground truth in the strong split (generator guarantee, encoder agrees)
    assert (s.strong.amax(dim=(0, 2)) == 1).all()
    ev = ctx.split("evaluation")
    assert set(ev.ground_truth["event_label"]) == set(CLASSES)
    assert len(ev.durations) == len(ev)


def test_scaler_standardises_training_features(ctx: recipe.Context) -> None:
    x = torch.cat([ctx.split(s).features for s in ("strong", "weak", "unlabeled")])
    per_mel_mean = x.mean(dim=(0, 2))
    per_mel_std = x.std(dim=(0, 2))
    assert per_mel_mean.abs().max() < 1e-2
    assert (per_mel_std - 1).abs().max() < 1e-2


def test_frozen_embeddings_are_cached_and_reused(ctx: recipe.Context) -> None:
    emb = ctx.embeddings("strong")
    assert emb.shape == (len(ctx.split("strong")), ctx.preset.embedding.emb_dim, 78)
    path = ctx.work_dir / "embeddings" / "strong.pt"
    mtime = path.stat().st_mtime_ns
    ctx._embeddings.clear()
    again = ctx.embeddings("strong")
    assert path.stat().st_mtime_ns == mtime  # loaded, not recomputed
    assert torch.equal(emb, again)
    assert all(not p.requires_grad for p in ctx.embedding_model().parameters())


def test_cli_make_data_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "my_notes.txt").write_text("keep me")
    assert cli.main(["make-data", "--preset", "tiny", "--out", str(out)]) == 2
    assert "my_notes.txt" in {p.name for p in out.iterdir()}
    assert "error" in capsys.readouterr().err


def test_teacher_is_cached_per_seed(taxonomy_ctx: recipe.Context) -> None:
    t0 = taxonomy_ctx.teacher(0)
    recipe.train_teacher(taxonomy_ctx, seed=1)
    t1 = taxonomy_ctx.teacher(1)
    assert t1 is not t0 and taxonomy_ctx.teacher(0) is t0
    assert not torch.equal(next(t0.parameters()), next(t1.parameters()))


def test_a_copied_work_folder_keeps_its_cached_teacher_outputs_and_embeddings(ctx: recipe.Context,
                                                                              tmp_path: Path) -> None:
    """Caches are keyed by the model file's content, not its folder: a copied cache is reused."""
    ctx.teacher_outputs("weak")
    ctx.embeddings("weak")
    copy = tmp_path / "copied-work"
    shutil.copytree(ctx.work_dir, copy)  # copytree keeps the files' time stamps; the content decides anyway
    cached = {p: p.stat().st_mtime_ns for p in (copy / "teacher_outputs" / "weak.pt", copy / "embeddings" / "weak.pt")}
    other = recipe.Context.create("tiny", data_root=ctx.data_root, work_dir=copy, progress=False)
    torch.testing.assert_close(other.teacher_outputs("weak")[0], ctx.teacher_outputs("weak")[0])
    other.embeddings("weak")
    assert {p: p.stat().st_mtime_ns for p in cached} == cached  # read, not recomputed

