"""End to end on the tiny preset: data -> features -> embedding model -> teacher -> every student mode.

One tiny context is shared by the module (it takes a little while to build);
each test checks one behaviour of the pipeline or the CLI on it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import tiny_context
from dualkd_lib import cli, predict
from dualkd_lib import recipe
from dualkd_lib.distill import STUDENT_MODES
from dualkd_lib.constants import CLASSES
from dualkd_lib.train import load_checkpoint, load_model_from_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> recipe.Context:
    return tiny_context(tmp_path_factory, "tiny")


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


@pytest.mark.parametrize("mode", STUDENT_MODES)
def test_every_student_mode_trains_and_evaluates(ctx: recipe.Context, mode: str) -> None:
    metrics = recipe.run_metrics(ctx, "student", mode, 0)
    for key in ("psds1", "psds2", "f1_collar", "f1_intersection"):
        assert 0.0 <= metrics[key] <= 1.0
    hist = load_checkpoint(recipe.student_run_dir(ctx, mode, 0) / "final.pt")["history"]
    assert len(hist) == ctx.preset.student_train.max_steps
    terms = set(hist[-1])
    assert ("kd" in terms) == (mode in ("kd", "takd", "dual"))
    assert ("emb" in terms) == (mode in ("eefd", "dual"))


def test_student_metrics_keep_the_weights_chosen_on_validation(ctx: recipe.Context) -> None:
    metrics = recipe.run_metrics(ctx, "student", "supervised", 0)
    both = metrics["both_weights"]
    assert set(both) == {"student", "mean"} and metrics["chosen_on"] == "validation"
    assert metrics["weights"] == recipe.choose_weights({w: both[w]["validation"] for w in both})
    assert metrics["psds1"] == both[metrics["weights"]]["evaluation"]["psds1"]  # scored on evaluation
    table = recipe.markdown_table(recipe.summarise([{"name": "s", **metrics}]))
    assert f"| {metrics['weights']} |" in table


def test_choose_weights_on_validation_scores() -> None:
    low, high = {"psds1": 0.1, "psds2": 0.2}, {"psds1": 0.3, "psds2": 0.2}
    assert recipe.choose_weights({"student": high, "mean": low}) == "student"
    assert recipe.choose_weights({"student": low, "mean": high}) == "mean"
    assert recipe.choose_weights({"student": low, "mean": low}) == "mean"  # a tie keeps the mean student
    with pytest.raises(ValueError, match="student"):
        recipe.choose_weights({"mean": low})


def test_student_is_at_most_a_third_of_the_teacher(ctx: recipe.Context) -> None:
    teacher = recipe.run_metrics(ctx, "teacher", "teacher", 0)
    student = recipe.run_metrics(ctx, "student", "dual", 0)
    assert student["params"] * 3 <= teacher["params"]
    assert student["macs"] < teacher["macs"]


def test_same_seed_same_numbers(ctx: recipe.Context, tmp_path: Path) -> None:
    first = load_checkpoint(recipe.student_run_dir(ctx, "supervised", 0) / "final.pt")
    other = recipe.Context(ctx.preset, ctx.data_root, tmp_path / "work2", progress=False)
    other._scaler, other._embedding_model = ctx.scaler(), ctx.embedding_model()
    recipe.train_student(other, "supervised", seed=0)
    second = load_checkpoint(recipe.student_run_dir(other, "supervised", 0) / "final.pt")
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


def test_ablation_writes_table_and_json(ctx: recipe.Context, tmp_path: Path) -> None:
    table = recipe.run_ablation(ctx, seeds=[0], out_dir=tmp_path)
    assert "student (dual)" in table and "teacher" in table
    data = json.loads((tmp_path / "ablation.json").read_text())
    names = [m["name"] for m in data["models"]]
    assert len(names) == 6
    for entry in data["models"]:
        for key in ("name", "params", "macs", "psds1", "psds2", "psds1_std", "psds2_std"):
            assert key in entry


def test_students_trained_in_worker_processes_equal_serial_ones(ctx: recipe.Context, tmp_path: Path) -> None:
    runs = [("supervised", 1), ("dual", 1)]
    recipe.train_runs_in_parallel(ctx, [("student", *r) for r in runs], jobs=2)
    parallel = {r: load_checkpoint(recipe.student_run_dir(ctx, *r) / "final.pt")["model_state"] for r in runs}
    for r in runs:  # the workers scored their runs too
        metrics = json.loads((recipe.student_run_dir(ctx, *r) / "metrics.json").read_text())
        assert metrics["weights"] in ("student", "mean") and "psds1" in metrics
    serial_ctx = recipe.Context.create("tiny", data_root=ctx.data_root, work_dir=tmp_path / "work", progress=False)
    for name in ("scaler.pt", "embedding", "embeddings", "runs/teacher-seed0", "teacher_outputs", "features"):
        src = ctx.work_dir / name  # share the frozen models and caches, not the student runs
        if src.is_dir():
            shutil.copytree(src, serial_ctx.work_dir / name)
        elif src.is_file():
            shutil.copy2(src, serial_ctx.work_dir / name)
    for mode, seed in runs:
        recipe.train_student(serial_ctx, mode, seed=seed)
        serial = load_checkpoint(recipe.student_run_dir(serial_ctx, mode, seed) / "final.pt")["model_state"]
        for key, value in serial.items():
            torch.testing.assert_close(parallel[(mode, seed)][key], value, msg=f"{mode}: {key} differs")
    with pytest.raises(ValueError, match="jobs"):
        recipe.train_runs_in_parallel(ctx, [("student", *r) for r in runs], jobs=0)


def test_plain_teachers_train_in_the_worker_pool_like_serial_ones(ctx: recipe.Context, tmp_path: Path) -> None:
    """The ablation's teacher without embeddings trains beside the students, with the serial run's weights."""
    recipe.train_runs_in_parallel(ctx, [("teacher", "no_embeddings", 1), ("student", "supervised", 2)], jobs=2)
    parallel = load_checkpoint(ctx.plain_teacher_path(1))["model_state"]
    assert json.loads((ctx.plain_teacher_path(1).parent / "metrics.json").read_text())["mode"] == "no_embeddings"
    serial_ctx = recipe.Context.create("tiny", data_root=ctx.data_root, work_dir=tmp_path / "work", progress=False)
    shutil.copy2(ctx.work_dir / "scaler.pt", serial_ctx.work_dir / "scaler.pt")
    serial = load_checkpoint(recipe.train_plain_teacher(serial_ctx, seed=1))["model_state"]
    for key, value in serial.items():
        torch.testing.assert_close(parallel[key], value, msg=f"plain teacher: {key} differs")
    with pytest.raises(ValueError, match="trained once"):
        recipe.train_runs_in_parallel(ctx, [("teacher", "teacher", 0)], jobs=2)


def test_wrong_model_checkpoint_is_refused(ctx: recipe.Context) -> None:
    with pytest.raises(ValueError, match="teacher model"):
        load_model_from_checkpoint(ctx.teacher_path(), expected_kind="student")


def test_predict_on_a_long_stereo_44k_recording(ctx: recipe.Context, tmp_path: Path) -> None:
    ckpt = recipe.student_run_dir(ctx, "dual", 0) / "final.pt"
    if not ckpt.is_file():
        recipe.train_student(ctx, "dual", seed=0)
    rng = np.random.default_rng(0)
    wav = tmp_path / "mine.wav"
    sf.write(wav, 0.1 * rng.standard_normal((44_100 * 23, 2)).astype("float32"), 44_100)
    out = tmp_path / "det.tsv"
    predict.predict_files(ckpt, [wav], out, scores_out=tmp_path / "scores", threshold=0.0, progress=False)
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["event_label", "onset", "offset", "filename"]
    offsets = [float(line.split("\t")[2]) for line in lines[1:]]
    assert offsets and max(offsets) == pytest.approx(23.0, abs=0.07)  # threshold 0: active to the end
    assert (tmp_path / "scores" / "mine.tsv").is_file()
    with pytest.raises(FileExistsError):
        predict.predict_files(ckpt, [wav], out, progress=False)
    # the teacher runs too: train_teacher records its embedding model in the run's inference bundle
    teacher = predict.predict_files(ctx.teacher_path(), [wav], tmp_path / "t.tsv", progress=False)
    assert teacher.processed and not teacher.skipped and (tmp_path / "t.tsv").is_file()


def test_cli_make_data_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "my_notes.txt").write_text("keep me")
    assert cli.main(["make-data", "--preset", "tiny", "--out", str(out)]) == 2
    assert "my_notes.txt" in {p.name for p in out.iterdir()}
    assert "error" in capsys.readouterr().err


def test_a_stale_cached_student_is_refused_not_reused(ctx: recipe.Context, tmp_path: Path) -> None:
    """A cached run trained with other settings than the preset's says so instead of giving old numbers."""
    import dataclasses

    from dualkd_lib import models
    from dualkd_lib.train import save_checkpoint

    other = recipe.Context(ctx.preset, ctx.data_root, tmp_path / "work", False)
    run_dir = recipe.student_run_dir(other, "supervised", 0)
    stale = dataclasses.replace(ctx.preset.student_config("supervised", 0), lr=0.123)
    save_checkpoint(run_dir / "final.pt", model=models.SECRNN(ctx.preset.student), mean_model=None, optimizer=None,
                    step=1, epoch=1, history=[], model_kind="student", model_config=ctx.preset.student,
                    train_config=stale, preset="tiny")
    with pytest.raises(ValueError, match=r"training lr: 0.123 ->.*move its folder away"):
        recipe.run_metrics(other, "student", "supervised", 0)
    with pytest.raises(ValueError, match=r"training lr: 0.123 ->.*move its folder away"):
        recipe.train_student(other, "supervised", seed=0)  # the notebooks' call: same message
    assert (run_dir / "final.pt").is_file() and not (run_dir / "metrics.json").exists()


def test_a_run_trained_on_other_data_is_refused(ctx: recipe.Context, tmp_path: Path) -> None:
    """Regenerating the dataset (another seed) must not silently reuse models trained on the old one."""
    from dualkd_lib import models
    from dualkd_lib.train import save_checkpoint

    fingerprint = ctx.data_fingerprint()
    assert len(fingerprint) == 16 and fingerprint == recipe.Context(ctx.preset, ctx.data_root, tmp_path, False).data_fingerprint()
    other = recipe.Context(ctx.preset, ctx.data_root, tmp_path / "work", False)
    final = recipe.student_run_dir(other, "supervised", 0) / "final.pt"
    save_checkpoint(final, model=models.SECRNN(ctx.preset.student), mean_model=None, optimizer=None, step=1, epoch=1,
                    history=[], model_kind="student", model_config=ctx.preset.student,
                    train_config=ctx.preset.student_config("supervised", 0), preset="tiny",
                    extra={"data_fingerprint": "0123456789abcdef"})
    with pytest.raises(ValueError, match=r"trained on other data \(data fingerprint 0123456789abcdef -> "):
        recipe.run_metrics(other, "student", "supervised", 0)
    with pytest.raises(ValueError, match="trained on other data"):
        recipe.train_student(other, "supervised", seed=0)
    assert final.is_file()

    copy = tmp_path / "copy"  # the same files elsewhere: the same fingerprint; one label changed: another
    shutil.copytree(ctx.data_root, copy)
    assert recipe.Context(ctx.preset, copy, tmp_path, False).data_fingerprint() == fingerprint
    from dualkd_lib.layout import split_paths

    labels = split_paths(copy, "strong")[1]
    labels.write_text(labels.read_text().replace("Speech", "Dog", 1))
    assert recipe.Context(ctx.preset, copy, tmp_path, False).data_fingerprint() != fingerprint


# --- the faithful stand-in: clip-level taxonomy, recorded domain, baselines ------------
@pytest.fixture(scope="module")
def taxonomy_ctx(ctx: recipe.Context, tmp_path_factory: pytest.TempPathFactory) -> recipe.Context:
    import dataclasses

    from dualkd_lib.config import TINY
    from dualkd_lib.corpus import TAXONOMY
    from dualkd_lib.recording import ROOM_MICROPHONE

    preset = dataclasses.replace(
        TINY, generator=dataclasses.replace(TINY.generator, recorded_domain=ROOM_MICROPHONE),
        embedding=dataclasses.replace(TINY.embedding, n_classes=len(TAXONOMY)),
        pretrain=dataclasses.replace(TINY.pretrain, objective="clip_taxonomy", n_clips=24))
    root = tmp_path_factory.mktemp("tiny-taxonomy")
    return recipe.Context.create(preset, data_root=root / "data", work_dir=root / "work", progress=False)


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


def test_linear_probe_and_plain_teacher_rows(taxonomy_ctx: recipe.Context, tmp_path: Path) -> None:
    probe = recipe.probe_metrics(taxonomy_ctx)
    assert probe["kind"] == "probe" and 0.0 <= probe["psds1"] <= 1.0 and "validation" in probe
    assert recipe.probe_metrics(taxonomy_ctx) == probe  # cached
    plain = recipe.run_metrics(taxonomy_ctx, "teacher", "no_embeddings", 0)
    ckpt = load_checkpoint(taxonomy_ctx.plain_teacher_path(0))
    assert ckpt["model_config"]["embedding_dim"] == 0
    teacher = recipe.run_metrics(taxonomy_ctx, "teacher", "teacher", 0)
    assert plain["params"] < teacher["params"] and set(plain["both_weights"]) == {"student", "mean"}
    table = recipe.run_ablation(taxonomy_ctx, seeds=[0], out_dir=tmp_path, modes=("supervised",), baselines=True)
    assert "teacher CRNN without embeddings" in table and "embedding model, linear probe" in table


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


def test_dualkd_ddp_outside_torchrun_trains_in_one_process(ctx: recipe.Context, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    """`dualkd ddp train-student` (the torchrun entry) runs as one process without torchrun's environment,
    refuses a student that needs a teacher the work folder lacks, and writes the same run folder as Context."""
    from dualkd_lib import layout

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx.teacher(0)
    empty = tmp_path / "empty-work"
    assert cli.main(["ddp", "train-student", "--preset", "tiny", "--mode", "kd", "--data", str(ctx.data_root),
                     "--work-dir", str(empty)]) == 2
    assert "No trained teacher" in capsys.readouterr().err and not empty.exists()
    work = tmp_path / "work"
    shutil.copytree(ctx.work_dir, work, ignore=shutil.ignore_patterns("student-*"))
    assert cli.main(["ddp", "train-student", "--preset", "tiny", "--mode", "kd", "--data", str(ctx.data_root),
                     "--work-dir", str(work)]) == 0
    final = layout.student_run_dir(work, "kd", 0) / "final.pt"
    ckpt = load_checkpoint(final, expected_kind="student")
    assert ckpt["train_config"]["mode"] == "kd" and ckpt["step"] > 0
    assert (final.parent / "inference.pt").is_file()
