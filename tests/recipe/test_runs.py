"""Tests of dualkd_lib/recipe/runs.py on the tiny preset: every student mode, the same seed's same numbers, learning curves, the clip-taxonomy embedding model."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from dualkd_lib import recipe
from dualkd_lib.distill import STUDENT_MODES
from dualkd_lib.train import load_checkpoint


pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", STUDENT_MODES)
def test_every_student_mode_trains_and_evaluates(ctx: recipe.Context, mode: str) -> None:
    metrics = recipe.run_metrics(ctx, "student", mode, 0)
    for key in ("psds1", "psds2", "f1_collar", "f1_intersection"):
        assert 0.0 <= metrics[key] <= 1.0
    hist = load_checkpoint(recipe.student_checkpoint(ctx, mode, 0))["history"]
    assert len(hist) == ctx.preset.student_train.max_steps
    terms = set(hist[-1])
    assert ("kd" in terms) == (mode in ("kd", "takd", "dual"))
    assert ("emb" in terms) == (mode in ("eefd", "dual"))


def test_same_seed_same_numbers(ctx: recipe.Context, tmp_path: Path) -> None:
    first = load_checkpoint(recipe.student_checkpoint(ctx, "supervised", 0))
    other = recipe.Context(ctx.preset, ctx.data_root, tmp_path / "work2", progress=False)
    other._scaler, other._embedding_model = ctx.scaler(), ctx.embedding_model()
    recipe.train_student(other, "supervised", seed=0)
    second = load_checkpoint(recipe.student_checkpoint(other, "supervised", 0))
    assert [h["loss"] for h in first["history"]] == pytest.approx([h["loss"] for h in second["history"]], rel=1e-5)


@pytest.mark.parametrize("kind", ["teacher", "plain teacher", "eefd"])
def test_validate_records_one_validation_score_per_epoch(ctx: recipe.Context, tmp_path: Path, kind: str) -> None:
    """``validate=True`` gives a learning curve: the validation PSDS after every epoch, in the checkpoint."""
    import dataclasses

    ctx.embedding_model(), ctx.scaler()  # the copied work folder brings them and their caches
    shutil.copytree(ctx.work_dir, tmp_path / "work", ignore=shutil.ignore_patterns("runs"))
    two_epochs = dict(max_steps=None, epochs=2)  # the tiny preset stops before its first epoch ends
    preset = dataclasses.replace(ctx.preset, teacher_train=dataclasses.replace(ctx.preset.teacher_train, **two_epochs),
                                 student_train=dataclasses.replace(ctx.preset.student_train, **two_epochs))
    other = recipe.Context(preset, ctx.data_root, tmp_path / "work", progress=False)
    if kind == "teacher":
        path = recipe.train_teacher(other, seed=0, validate=True)
    elif kind == "plain teacher":
        path = recipe.train_plain_teacher(other, seed=0, validate=True)
    else:  # a student with an embedding head (EEFD) is scored on its predictions alone
        path = recipe.train_student(other, kind, seed=0, validate=True)
    checkpoint = load_checkpoint(path)
    per_epoch = checkpoint["extra"]["steps_per_epoch"]
    curve = checkpoint["extra"]["val_history"]
    assert [v["step"] for v in curve] == [per_epoch, 2 * per_epoch]
    for v in curve:
        assert 0.0 <= v["psds1"] <= 1.0 and 0.0 <= v["psds2"] <= 1.0
    assert load_checkpoint(recipe.train_student(ctx, "supervised", seed=0))["extra"]["val_history"] == []  # off by default


def test_a_preset_with_curve_clips_gives_every_student_a_learning_curve_on_that_many_clips(
        ctx: recipe.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from dualkd_lib.config import EvalConfig

    full, head = ctx.split("validation"), ctx.split("validation").head(5)
    assert head.filenames[:5] == full.filenames[:5] and head.features.shape[0] == len(head) >= 5
    gt = full.ground_truth
    missing = set(gt["event_label"]) - set(gt[gt["filename"].isin(full.filenames[:5])]["event_label"])
    firsts = {min(full.filenames.index(f) for f in gt[gt["event_label"] == c]["filename"]) for c in missing}
    assert head.filenames[5:] == [full.filenames[i] for i in sorted(firsts - set(range(5)))]  # no more, no fewer
    assert set(head.ground_truth["event_label"]) == set(full.ground_truth["event_label"])  # PSDS is defined
    assert set(head.ground_truth["filename"]) <= set(head.filenames) and set(head.durations["filename"]) == set(head.filenames)
    assert torch.equal(head.features[-1], full.features[full.filenames.index(head.filenames[-1])])
    ctx.embedding_model(), ctx.scaler()
    shutil.copytree(ctx.work_dir, tmp_path / "work", ignore=shutil.ignore_patterns("runs"))
    preset = dataclasses.replace(
        ctx.preset, evaluation=dataclasses.replace(ctx.preset.evaluation, curve_clips=5),
        student_train=dataclasses.replace(ctx.preset.student_train, max_steps=None, epochs=2))
    other = recipe.Context(preset, ctx.data_root, tmp_path / "work", progress=False)
    scored = []
    real = recipe.evaluate_scores
    monkeypatch.setattr(recipe.scoring, "evaluate_scores",
                        lambda c, strong, split="evaluation", clips=None: scored.append((split, len(strong), clips))
                        or real(c, strong, split, clips=clips))
    extra = load_checkpoint(recipe.train_student(other, "supervised", seed=0))["extra"]
    assert len(extra["val_history"]) == 2 and scored == [("validation", len(head), 5)] * 2
    assert load_checkpoint(recipe.train_student(other, "supervised", seed=1, validate=False))["extra"]["val_history"] == []
    with pytest.raises(ValueError, match="curve_clips=-1"):
        EvalConfig(curve_clips=-1)


def test_clip_taxonomy_embedding_model_keeps_its_own_scaler(taxonomy_ctx: recipe.Context) -> None:
    emb = taxonomy_ctx.embeddings("strong")
    assert emb.shape[:2] == (len(taxonomy_ctx.split("strong")), taxonomy_ctx.preset.embedding.emb_dim)
    ckpt = load_checkpoint(taxonomy_ctx.work_dir / "embedding" / "final.pt")
    assert "input_scaler" in ckpt["extra"] and ckpt["train_config"]["objective"] == "clip_taxonomy"
    assert all(set(h) == {"step", "epoch", "loss"} for h in ckpt["history"])
    own = recipe.embedding_input(taxonomy_ctx, "strong")
    assert not torch.allclose(own, taxonomy_ctx.split("strong").features)  # its scaler, not the course's


def test_clip_taxonomy_needs_the_taxonomy_size(taxonomy_ctx: recipe.Context, tmp_path: Path) -> None:
    import dataclasses

    wrong = dataclasses.replace(taxonomy_ctx.preset, embedding=dataclasses.replace(taxonomy_ctx.preset.embedding,
                                                                                  n_classes=10))
    other = recipe.Context(wrong, taxonomy_ctx.data_root, tmp_path / "w", progress=False)
    with pytest.raises(ValueError, match="n_classes="):
        other.embedding_model()


def test_corpus_features_batch_by_batch_equal_the_features_of_the_whole_corpus() -> None:
    from dualkd_lib import corpus
    from dualkd_lib.features import FeatureConfig, LogMel

    logmel = LogMel(FeatureConfig())
    waves, labels = corpus.make_taxonomy_corpus(7, seed=2, progress=False)
    clips = corpus.taxonomy_clips(7, seed=2, progress=False)
    features, got_labels = recipe.runs.corpus_features(clips, logmel, batch_size=3)
    assert [len(f) for f in features] == [3, 3, 1]  # the last batch holds the rest
    with torch.no_grad():
        whole = [logmel(torch.from_numpy(waves[i:i + 3])) for i in range(0, 7, 3)]
    for batch, expected in zip(features, whole):
        assert torch.equal(batch, expected)  # bit for bit: a shipped bundle retrains the same
    assert all((a == b).all() for a, b in zip(got_labels, labels))
    with pytest.raises(ValueError, match="no clips"):
        recipe.runs.corpus_features(iter(()), logmel)


def test_frame_labels_stand_in_learns_the_course_frames(ctx: recipe.Context, tmp_path: Path) -> None:
    """The old objective (strong labels of the course classes) still trains, with the course's scaler."""
    import dataclasses

    from dualkd_lib.constants import CLASSES

    pretrain = dataclasses.replace(ctx.preset.pretrain, objective="frame_labels", n_clips=20)
    wrong = recipe.Context(dataclasses.replace(ctx.preset, pretrain=pretrain), ctx.data_root, tmp_path / "w",
                           progress=False)
    with pytest.raises(ValueError, match="set n_classes=10"):  # the taxonomy's head cannot learn the course frames
        recipe.runs.pretrain_embedding_model(wrong, tmp_path / "wrong.pt")
    preset = dataclasses.replace(ctx.preset, pretrain=pretrain,
                                 embedding=dataclasses.replace(ctx.preset.embedding, n_classes=len(CLASSES)))
    other = recipe.Context(preset, ctx.data_root, tmp_path / "work", progress=False)
    path = recipe.runs.pretrain_embedding_model(other, tmp_path / "embedding.pt")
    ckpt = load_checkpoint(path)
    assert len(ckpt["history"]) == preset.pretrain.epochs * -(-20 // preset.pretrain.batch_size)
    assert "input_scaler" not in ckpt["extra"]  # it standardises with the course's scaler
