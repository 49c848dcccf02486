"""Tests of dualkd_lib/course/run.py: running notebooks headless, `dualkd course` (its timings, the ablation prepared once outside the kernel, a preparation error)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib
import pytest

from notebook_sources import DEMO, make_root
from dualkd_lib.course import run
from dualkd_lib.constants import DATA_ROOT_ENV_VAR


matplotlib.use("Agg")


RUNNABLE = DEMO.replace('double = check_stub("9.1", double)', 'result = double(2) if False else "9.1"') + textwrap.dedent(
    '''
    # %% tags=["exercise"]
    # BEGIN SOLUTION Exercise 9.2: set z
    z = 1
    # END SOLUTION

    # %%
    z = globals().get("z", "9.2")
    print("done", z)
    '''
)


def test_run_notebooks_tolerates_only_not_implemented_in_stub_cells(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"09_demo.py": RUNNABLE})
    timings = run.run_notebooks("student", "tiny", out_dir=tmp_path / "out", root=root, timeout=120)
    assert [(t.name, t.variant, t.stubs_raised) for t in timings] == [("09_demo", "student", 1)]
    executed = json.loads((tmp_path / "out" / "09_demo.ipynb").read_text())
    assert "done 9.2" in "".join(executed["cells"][-1]["outputs"][0]["text"])
    assert "| 09_demo | student |" in run.timing_table(timings)

    bad = RUNNABLE.replace('print("done", z)', 'raise ValueError("boom")')
    (root / "notebooks" / "src" / "09_demo.py").write_text(bad)
    with pytest.raises(run.NotebookExecutionError, match=r"notebook 09_demo, cell 6: ValueError: boom"):
        run.run_notebooks("solutions", "tiny", root=root, timeout=120)


def test_run_notebooks_rejects_bad_arguments(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"09_demo.py": DEMO})
    with pytest.raises(ValueError, match="Unknown notebook '42'"):
        run.run_notebooks("student", "tiny", names=["42"], root=root)
    with pytest.raises(ValueError, match="variant"):
        run.run_notebooks("teacher", "tiny", root=root)
    with pytest.raises(ValueError, match="preset"):
        run.run_notebooks("student", "huge", root=root)


def test_run_course_prints_timings_then_the_ablation_table(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = []

    def fake_prepare(preset, *, jobs=None):
        calls.append(("prepare", preset, jobs))
        return {"data": 1.0, "teacher": 2.0, "total": 3.0}

    def fake_run(variant, preset, out_dir=None, **kwargs):
        calls.append((variant, preset, kwargs["timeout"]))
        return [run.NotebookTiming("08_dual_kd_ablation", variant, 12.5, 30, 0)]

    monkeypatch.setattr(run, "prepare_models", fake_prepare)
    monkeypatch.setattr(run, "run_notebooks", fake_run)
    monkeypatch.setattr(run, "default_data_root", lambda preset: tmp_path / "data" / "generated" / preset)
    monkeypatch.setattr(run, "default_work_dir", lambda preset: tmp_path / "data" / "cache" / preset)
    assert run.main_run_course("tiny", tmp_path / "out", jobs=1) == 0
    printed = capsys.readouterr().out
    # models first (outside any kernel), then the notebooks with the short per-cell timeout
    assert calls == [("prepare", "tiny", 1), ("solutions", "tiny", run.COURSE_CELL_TIMEOUT)]
    assert "08_dual_kd_ablation" in printed and "ablation table" not in printed
    assert "prepared before the notebooks in 3.0 s (data 1.0 s, teacher 2.0 s)" in printed
    assert (tmp_path / "out" / "timings.md").read_text().startswith("| notebook")
    table = tmp_path / "data" / "cache" / "tiny" / "ablation" / "ablation.md"
    table.parent.mkdir(parents=True)
    table.write_text("| model | PSDS1 |\n|---|---|\n| student (dual) | 0.5 |\n")
    assert run.main_run_course("tiny", tmp_path / "out") == 0
    printed = capsys.readouterr().out
    assert printed.index("**total**") < printed.index("| student (dual) | 0.5 |")


def test_prepare_models_trains_in_one_pool_then_runs_notebook_08s_ablation_outside_the_kernel(
        tmp_path: Path, monkeypatch) -> None:
    from dualkd_lib import recipe
    from dualkd_lib.distill import STUDENT_MODES

    seen, calls = {}, []

    class FakeContext:
        def training_datasets(self, *, with_teacher, with_embeddings):
            calls.append(("shared inputs", with_teacher, with_embeddings))

        @classmethod
        def create(cls, preset, *, data_root, work_dir, data_jobs):
            seen["create"] = (preset, data_root, work_dir)
            seen["data_jobs"] = data_jobs
            seen["ctx"] = cls()
            return seen["ctx"]

    def fake_ablation(ctx, *, seeds, out_dir, jobs):
        calls.append("ablation")
        seen["ablation"] = (ctx, list(seeds), out_dir, jobs)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "ablation.json").write_text(json.dumps({"stage_seconds_this_call": {"teacher": 12.5}}))
        return "| table |"

    def fake_pool(ctx, *, jobs, students):
        calls.append("pool")
        seen["pool"] = (ctx, jobs, tuple(students))

    from dualkd_lib.teaching import learner_runs

    monkeypatch.setattr(recipe, "Context", FakeContext)
    monkeypatch.setattr(recipe, "run_ablation", fake_ablation)
    monkeypatch.setattr(learner_runs, "train_in_parallel", fake_pool)
    monkeypatch.setattr(run, "default_data_root", lambda preset: tmp_path / "data" / "generated" / preset)
    monkeypatch.setattr(run, "default_work_dir", lambda preset: tmp_path / "data" / "cache" / preset)
    monkeypatch.delenv(DATA_ROOT_ENV_VAR, raising=False)
    seconds = run.prepare_models("tiny", jobs=2)
    assert list(seconds) == ["data", "features, embeddings, teacher outputs", "students and short runs, 2 at a time",
                             "teacher", "total"] and seconds["teacher"] == 12.5
    # the shared inputs first, then every student and the short runs in one pool, then the table
    assert calls == [("shared inputs", True, True), "pool", "ablation"]
    assert seen["pool"] == (seen["ctx"], 2, tuple(STUDENT_MODES))
    assert seconds["total"] >= seconds["data"] >= 0
    # the same data, cache and ablation folder as notebooks 01-08 (seed 0)
    assert seen["create"] == ("tiny", tmp_path / "data" / "generated" / "tiny", tmp_path / "data" / "cache" / "tiny")
    assert seen["data_jobs"] == 2, "missing data are generated on every core the pool uses"
    assert seen["ablation"] == (seen["ctx"], [0], tmp_path / "data" / "cache" / "tiny" / "ablation", 2)
    monkeypatch.setenv(DATA_ROOT_ENV_VAR, str(tmp_path / "my_desed"))
    run.prepare_models("desed", jobs=1)
    assert seen["create"][1] == tmp_path / "my_desed"  # the notebooks' DUALKD_DATA_ROOT, not the default


def test_run_course_reports_a_preparation_error_and_runs_no_notebook(tmp_path: Path, monkeypatch, capsys) -> None:
    def failing_prepare(preset, *, jobs=None):
        raise FileNotFoundError("no DESED folder at /nowhere; set DUALKD_DATA_ROOT")

    monkeypatch.setattr(run, "prepare_models", failing_prepare)
    monkeypatch.setattr(run, "run_notebooks", lambda *a, **k: pytest.fail("notebooks must not run"))
    assert run.main_run_course("desed", tmp_path / "out") == 1
    assert "no DESED folder at /nowhere" in capsys.readouterr().err

