"""Tests of dualkd_lib/recipe/ablation.py on the tiny preset: run metrics, the table, runs in worker processes, the baseline rows."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from dualkd_lib import recipe
from dualkd_lib.train import load_checkpoint


pytestmark = pytest.mark.slow


def test_student_metrics_keep_the_weights_chosen_on_validation(ctx: recipe.Context) -> None:
    metrics = recipe.run_metrics(ctx, "student", "supervised", 0)
    both = metrics["both_weights"]
    assert set(both) == {"student", "mean"} and metrics["chosen_on"] == "validation"
    assert metrics["weights"] == recipe.choose_weights({w: both[w]["validation"] for w in both})
    assert metrics["psds1"] == both[metrics["weights"]]["evaluation"]["psds1"]  # scored on evaluation
    table = recipe.markdown_table(recipe.summarise([{"name": "s", **metrics}]))
    assert f"| {metrics['weights']} |" in table


def test_student_is_at_most_a_third_of_the_teacher(ctx: recipe.Context) -> None:
    teacher = recipe.run_metrics(ctx, "teacher", "teacher", 0)
    student = recipe.run_metrics(ctx, "student", "dual", 0)
    assert student["params"] * 3 <= teacher["params"]
    assert student["macs"] < teacher["macs"]


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
    parallel = {r: load_checkpoint(recipe.student_checkpoint(ctx, *r))["model_state"] for r in runs}
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
        serial = load_checkpoint(recipe.student_checkpoint(serial_ctx, mode, seed))["model_state"]
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

