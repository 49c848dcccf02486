"""Short runs the learner changes and trains live (notebooks 06-08)."""
from __future__ import annotations

import pytest

from contexts import tiny_context
import torch

from dualkd_lib import recipe
from dualkd_lib.teaching import learner_runs, plots_distill


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> recipe.Context:
    return tiny_context(tmp_path_factory, "learner")


def test_a_short_run_trains_once_then_loads_and_each_setting_has_its_own_folder(ctx: recipe.Context) -> None:
    first = learner_runs.short_run(ctx, "kd", steps=4, w_kd=4.0)
    assert first.steps == 4 and len(first.history) == 4 and first.changes == {"w_kd": 4.0}
    assert first.name == "w_kd=4.0" and first.weights in ("student", "mean")
    assert 0.0 <= first.validation["psds1"] <= 1.0 and first.seconds > 0
    assert first.path.parent.parent == ctx.work_dir / "runs" / "learner"
    stamp = first.path.stat().st_mtime_ns
    again = learner_runs.short_run(ctx, "kd", steps=4, w_kd=4.0)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp  # loaded, not retrained
    assert again.seconds == first.seconds and again.history == first.history
    assert learner_runs.short_run(ctx, "kd", steps=4, w_kd=4).path == first.path  # 4 and 4.0 train the same
    other = learner_runs.short_run(ctx, "kd", steps=4, w_kd=0.25, name="gentle")
    assert other.path != first.path and other.name == "gentle"
    assert first.final("kd_student") != other.final("kd_student")  # the weight changed the training
    assert not (recipe.student_checkpoint(ctx, "kd", 0)).exists()  # the course's run untouched


def test_short_run_defaults_to_the_presets_steps_and_scores_eefd_embeddings(ctx: recipe.Context) -> None:
    run = learner_runs.short_run(ctx, "eefd", eefd_kind="cosine")
    assert run.steps == learner_runs.SHORT_RUN_STEPS["tiny"] and "emb" in run.history[0]
    cosine = learner_runs.embedding_cosine(ctx, run)
    model = run.kept_model().eval()  # the weights chosen on validation, with the embedding head
    with torch.no_grad():
        pred = model(ctx.split("validation").features).embedding_pred
    expected = plots_distill.frame_cosine_similarity(pred, ctx.embeddings("validation")).mean()
    assert -1.0 <= cosine <= 1.0 and cosine == pytest.approx(float(expected), abs=1e-5)
    with pytest.raises(KeyError, match="logged no 'kd_student'"):
        run.final("kd_student")
    table = learner_runs.runs_table([run], extra={"cosine": [0.5]})
    assert list(table.index) == ["eefd_kind=cosine"] and {"val psds1", "weights", "cosine"} <= set(table.columns)
    with pytest.raises(ValueError, match="share a name"):
        learner_runs.runs_table([run, run])


def test_a_short_run_continues_the_kept_supervised_weights_unless_told_otherwise(ctx: recipe.Context) -> None:
    from dualkd_lib.train import load_model_from_checkpoint

    still = learner_runs.short_run(ctx, "supervised", steps=1, lr=1e-12)  # the one step barely moves them
    assert still.start == "supervised"
    own, mean, _ = load_model_from_checkpoint(recipe.train_student(ctx, "supervised", seed=0), expected_kind="student")
    kept = mean if recipe.run_metrics(ctx, "student", "supervised", 0)["weights"] == "mean" else own
    trained, _, _ = load_model_from_checkpoint(still.path, expected_kind="student")
    for (name, a), b in zip(trained.named_parameters(), kept.parameters()):
        assert torch.allclose(a, b, atol=1e-8), name
    fresh = learner_runs.short_run(ctx, "supervised", steps=1, lr=1e-12, start=None)
    assert fresh.path != still.path and fresh.start is None
    first = next(load_model_from_checkpoint(fresh.path, expected_kind="student")[0].parameters())
    assert not torch.allclose(first, next(kept.parameters()), atol=1e-3)


@pytest.mark.parametrize("kwargs, match", [
    ({"w_kdd": 1.0}, r"\['w_kdd'\] are not training settings"),
    ({"max_steps": 3}, r"short_run's own arguments"),
    ({"eefd_kind": "cosinus"}, r"eefd_kind='cosinus' is not valid"),
    ({"steps": 0}, r"at least 1"),
])
def test_short_run_refuses_bad_settings_with_the_reason(ctx: recipe.Context, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        learner_runs.short_run(ctx, "eefd", **kwargs)
    with pytest.raises(ValueError, match="Unknown student mode"):
        learner_runs.short_run(ctx, "teacher")


def test_check_prediction_says_right_wrong_or_asks_first(capsys: pytest.CaptureFixture) -> None:
    choices = ("w_kd=0.25", "w_kd=4.0")
    assert learner_runs.check_prediction("6.A", None, choices=choices, outcome="w_kd=4.0", why="Because.") is None
    out = capsys.readouterr().out
    assert "write your prediction first" in out and "runs gave" not in out and "Because" not in out  # no spoiler
    assert learner_runs.check_prediction("6.A", "w_kd=4.0", choices=choices, outcome="w_kd=4.0", why="Because.")
    assert "✅" in capsys.readouterr().out
    assert learner_runs.check_prediction("6.A", "w_kd=0.25", choices=choices, outcome="w_kd=4.0",
                                         why="Because.") is False
    out = capsys.readouterr().out
    assert "❌" in out and "Because." in out
    why = {"w_kd=4.0": "Expected.", "w_kd=0.25": "Surprising."}
    assert learner_runs.check_prediction("6.A", "w_kd=4.0", choices=choices, outcome="w_kd=0.25", why=why) is False
    out = capsys.readouterr().out
    assert "Surprising." in out and "Expected." not in out
    assert learner_runs.check_prediction("8.A", "larger", choices=("larger", "smaller"), outcome="a tie", why=why) is False
    with pytest.raises(ValueError, match="not one of"):
        learner_runs.check_prediction("6.A", "4", choices=choices, outcome="w_kd=4.0", why="")


def test_the_notebooks_experiments_ask_for_the_runs_dualkd_course_prepares() -> None:
    """NOTEBOOK_RUNS is what `dualkd course` trains ahead; the notebooks' defaults must match it."""
    import ast
    import re
    from pathlib import Path

    def assigned(text: str, name: str):
        return ast.literal_eval(re.search(rf"^{name} = (.*?)(?:  #.*)?$", text, flags=re.MULTILINE).group(1))

    src = Path(__file__).resolve().parents[2] / "notebooks" / "src"
    nb06, nb07, nb08 = ((src / f).read_text(encoding="utf-8") for f in
                        ("06_takd_mean_student.py", "07_eefd.py", "08_dual_kd_ablation.py"))
    runs = {exp: [(m, c) for e, m, c in learner_runs.NOTEBOOK_RUNS if e == exp] for exp in ("6.A", "7.A", "8.A")}
    w_kd = tuple(c["w_kd"] for _, c in runs["6.A"])
    assert assigned(nb06, "W_KD_TRY") == w_kd and 'learner_runs.short_run(ctx, "kd", seed=SEED, w_kd=w)' in nb06
    kinds = tuple(c["eefd_kind"] for _, c in runs["7.A"])
    assert assigned(nb07, "EEFD_KINDS_TRY") == kinds and 'short_run(ctx, "eefd", seed=SEED, eefd_kind=kind)' in nb07
    assert runs["8.A"] == [("supervised", {}), ("dual", {})] and 'for mode in ("supervised", "dual")}' in nb08
    assert assigned(nb08, "SHORT_STEPS") is None  # the preset's steps, as prepared


def test_train_in_parallel_makes_the_runs_that_short_run_then_loads(ctx: recipe.Context) -> None:
    runs = [("kd", {"w_kd": 2.0}), ("eefd", {"eefd_kind": "mse+cosine"})]
    learner_runs.train_in_parallel(ctx, runs, jobs=2, students=("takd",))
    for mode, changes in runs:
        run = learner_runs.short_run(ctx, mode, **changes)
        assert (run.path.parent / "validation.json").is_file()
        stamp = run.path.stat().st_mtime_ns
        assert learner_runs.short_run(ctx, mode, **changes).path.stat().st_mtime_ns == stamp
    # the full students of the same pool: trained and scored, so the ablation only loads them
    for mode in ("supervised", "takd"):
        final = recipe.student_checkpoint(ctx, mode, 0)
        assert final.is_file() and (final.parent / "metrics.json").is_file()
        stamp = final.stat().st_mtime_ns
        recipe.run_metrics(ctx, "student", mode, 0)
        assert final.stat().st_mtime_ns == stamp


def test_train_in_parallel_refuses_an_unknown_student_mode(ctx: recipe.Context) -> None:
    with pytest.raises(ValueError, match="Unknown student mode.*'distilled'"):
        learner_runs.train_in_parallel(ctx, [], jobs=1, students=("distilled",))
