"""The notebook build system: one source, two variants, no drift; running; notebook set-up."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from dualkd_lib import cli
from dualkd_lib.course import build, run
from dualkd_lib.constants import DATA_ROOT_ENV_VAR
from dualkd_lib.teaching import doctor, plots, setup

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]

DEMO = textwrap.dedent(
    '''\
    # %% [markdown]
    # # 09 · Demo

    # %%
    import os

    # %% tags=["parameters"]
    PRESET = os.environ.get("DUALKD_PRESET", "course")
    SEED = 0
    DATA_ROOT = None

    # %% tags=["exercise"]
    def double(x):
        """Twice x."""
        # BEGIN SOLUTION Exercise 9.1: double the input
        y = 2 * x
        return y
        # END SOLUTION


    # %%
    double = check_stub("9.1", double)
    '''
)


def _make_root(tmp_path: Path, sources: dict[str, str]) -> Path:
    src = tmp_path / "notebooks" / "src"
    src.mkdir(parents=True)
    for name, text in sources.items():
        (src / name).write_text(text, encoding="utf-8")
    return tmp_path


def _copy_course(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return tmp_path


# --- build -------------------------------------------------------------------
def test_build_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    root = _make_root(tmp_path, {p.name: p.read_text() for p in (ROOT / "notebooks" / "src").glob("*.py")})
    written = build.build(root)
    assert {p.name for p in written} >= {"00_course_map.ipynb"}
    first = {p: p.read_bytes() for p in written}
    assert build.build(root) == []  # nothing changed
    for p in first:
        p.unlink()
    build.build(root)
    assert {p: p.read_bytes() for p in first} == first
    nb = json.loads((root / "notebooks" / "00_course_map.ipynb").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert [c["id"] for c in nb["cells"]][:3] == ["cell-000", "cell-001", "cell-002"]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in nb["cells"])


def test_committed_notebooks_match_their_sources() -> None:
    assert build.check(ROOT) == [], "run `dualkd notebooks build`"


def test_student_variant_replaces_solutions_with_stubs(tmp_path: Path) -> None:
    root = _make_root(tmp_path, {"09_demo.py": DEMO})
    source = root / "notebooks" / "src" / "09_demo.py"
    student = build.build_notebook(source, "student")
    solution = build.build_notebook(source, "solutions")
    cell, sol_cell = student.cells[3], solution.cells[3]
    assert cell.metadata["tags"] == ["exercise", "raises-exception"]
    assert sol_cell.metadata["tags"] == ["exercise"]
    assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source
    assert "2 * x" not in cell.source and "2 * x" in sol_cell.source
    assert "BEGIN SOLUTION" not in sol_cell.source and "Exercise 9.1: double the input (solution)" in sol_cell.source
    namespace: dict = {}
    exec(cell.source, namespace)  # the stub cell itself runs
    with pytest.raises(NotImplementedError, match=r"^Exercise 9\.1: double the input$"):
        namespace["double"](3)
    exec(sol_cell.source, namespace)
    assert namespace["double"](3) == 6
    assert [s.message for s in build.list_exercises(source)] == ["Exercise 9.1: double the input"]


@pytest.mark.parametrize(
    "old, new, match",
    [
        ("    # END SOLUTION\n", "", "never closed"),
        ("# BEGIN SOLUTION Exercise 9.1: double the input", "# BEGIN SOLUTION", "must read"),
        ('# %% tags=["exercise"]', "# %%", "not tagged 'exercise'"),
        ('# %% tags=["parameters"]', "# %%", "exactly one cell tagged 'parameters'"),
        ("SEED = 0\n", "", "must assign SEED"),
        ('double = check_stub("9.1", double)', "double = double", "no checker cell"),
        ("Exercise 9.1", "Exercise 4.1", "should be numbered 9.M"),
    ],
)
def test_malformed_sources_are_refused_with_a_message(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in DEMO
    root = _make_root(tmp_path, {"09_demo.py": DEMO.replace(old, new)})
    with pytest.raises(ValueError, match=match):
        build.build_notebook(root / "notebooks" / "src" / "09_demo.py", "student")


def test_badly_named_source_is_refused(tmp_path: Path) -> None:
    root = _make_root(tmp_path, {"9_Demo.py": DEMO})
    with pytest.raises(ValueError, match="NN_slug.py"):
        build.find_sources(root)


# --- check -------------------------------------------------------------------
def test_check_fails_on_a_notebook_with_outputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _copy_course(tmp_path)
    path = root / "notebooks" / "00_course_map.ipynb"
    nb = json.loads(path.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 1
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    path.write_text(json.dumps(nb, indent=1))
    problems = build.check(root)
    assert any("00_course_map.ipynb" in p and "outputs" in p and "notebooks build" in p for p in problems)
    assert cli.main(["notebooks", "--root", str(root), "check"]) == 1
    assert "00_course_map.ipynb" in capsys.readouterr().err
    build.build(root)
    assert build.check(root) == []
    assert cli.main(["notebooks", "--root", str(root), "check"]) == 0


def test_check_fails_on_stale_missing_and_orphan_notebooks(tmp_path: Path) -> None:
    root = _copy_course(tmp_path)
    src = root / "notebooks" / "src" / "00_course_map.py"
    src.write_text(src.read_text() + "\n# %% [markdown]\n# One more cell.\n")
    (root / "notebooks" / "solutions" / "00_course_map.ipynb").unlink()
    shutil.copy(root / "notebooks" / "00_course_map.ipynb", root / "notebooks" / "99_orphan.ipynb")
    problems = "\n".join(build.check(root))
    assert "notebooks/00_course_map.ipynb: out of date" in problems
    assert "notebooks/solutions/00_course_map.ipynb: missing" in problems
    assert "99_orphan.ipynb: no source" in problems


# --- running -------------------------------------------------------------------
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
    root = _make_root(tmp_path, {"09_demo.py": RUNNABLE})
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
    root = _make_root(tmp_path, {"09_demo.py": DEMO})
    with pytest.raises(ValueError, match="Unknown notebook '42'"):
        run.run_notebooks("student", "tiny", names=["42"], root=root)
    with pytest.raises(ValueError, match="variant"):
        run.run_notebooks("teacher", "tiny", root=root)
    with pytest.raises(ValueError, match="preset"):
        run.run_notebooks("student", "huge", root=root)


# --- inside the notebooks ---------------------------------------------------------
def test_notebook_setup_seeds_and_resolves_paths(tmp_path: Path) -> None:
    settled = setup.notebook_setup("tiny", seed=3)
    a = torch.rand(3), np.random.rand(2)
    setup.notebook_setup("tiny", seed=3)
    b = torch.rand(3), np.random.rand(2)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert settled.preset == "tiny" and settled.data_root == ROOT / "data" / "generated" / "tiny"
    assert settled.cache_dir == ROOT / "data" / "cache" / "tiny"
    assert setup.notebook_setup("course", data_root=str(tmp_path)).data_root == tmp_path.resolve()
    with pytest.raises(ValueError, match="Unknown preset 'large'"):
        setup.notebook_setup("large")


def test_data_status_reports_missing_splits_and_the_command(tmp_path: Path) -> None:
    status = setup.data_status(tmp_path / "nothing", "tiny")
    assert not status.ready and len(status.missing) >= 5
    assert status.command.startswith("dualkd make-data --preset tiny --out ")
    inside = setup.data_status(ROOT / "data" / "generated" / "tiny", "tiny")
    assert inside.command == "dualkd make-data --preset tiny --out data/generated/tiny"
    from dualkd_lib.layout import SPLITS, split_paths

    for split in SPLITS:
        audio, labels, durations = split_paths(tmp_path, split)
        audio.mkdir(parents=True)
        (audio / "000000.wav").write_bytes(b"")
        for tsv in (labels, durations):
            if tsv is not None:
                tsv.parent.mkdir(parents=True, exist_ok=True)
                tsv.write_text("filename\n")
    assert setup.data_status(tmp_path, "tiny").ready


def test_environment_report_and_method_diagram() -> None:
    rows = {r["item"]: r for r in doctor.report("tiny")}
    assert rows["torch + torchaudio"]["value"].startswith("2.11") and rows["torch + torchaudio"]["status"] == "ok"
    assert {"python", "lock", "sed_scores_eval", "GPU (CUDA)", "CPU threads (torch)", "data (tiny)", "cache (tiny)"} <= set(rows)
    fig = plots.draw_method_diagram()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for word in ("teacher", "mean student", "embedding distillation", "L_{TAKD}", "L_{EEFD}"):
        assert word in texts
    import matplotlib.pyplot as plt

    plt.close(fig)


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


def test_prepare_models_runs_notebook_08s_ablation_once_outside_the_kernel(tmp_path: Path, monkeypatch) -> None:
    from dualkd_lib import recipe

    seen = {}

    class FakeContext:
        @classmethod
        def create(cls, preset, *, data_root, work_dir):
            seen["create"] = (preset, data_root, work_dir)
            return "ctx"

    def fake_ablation(ctx, *, seeds, out_dir, jobs):
        seen["ablation"] = (ctx, list(seeds), out_dir, jobs)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "ablation.json").write_text(json.dumps({"stage_seconds_this_call": {"teacher": 12.5}}))
        return "| table |"

    from dualkd_lib.teaching import learner_runs

    monkeypatch.setattr(recipe, "Context", FakeContext)
    monkeypatch.setattr(recipe, "run_ablation", fake_ablation)
    monkeypatch.setattr(learner_runs, "train_in_parallel", lambda ctx, *, jobs: seen.update(short=(ctx, jobs)))
    monkeypatch.setattr(run, "default_data_root", lambda preset: tmp_path / "data" / "generated" / preset)
    monkeypatch.setattr(run, "default_work_dir", lambda preset: tmp_path / "data" / "cache" / preset)
    monkeypatch.delenv(DATA_ROOT_ENV_VAR, raising=False)
    seconds = run.prepare_models("tiny", jobs=2)
    assert list(seconds) == ["data", "teacher", "learner runs", "total"] and seconds["teacher"] == 12.5
    assert seen["short"] == ("ctx", 2)  # the experiments' short runs too, after the ablation
    assert seconds["total"] >= seconds["data"] >= 0
    # the same data, cache and ablation folder as notebooks 01-08 (seed 0)
    assert seen["create"] == ("tiny", tmp_path / "data" / "generated" / "tiny", tmp_path / "data" / "cache" / "tiny")
    assert seen["ablation"] == ("ctx", [0], tmp_path / "data" / "cache" / "tiny" / "ablation", 2)
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


THINK = DEMO + textwrap.dedent(
    '''\

    # %% [markdown]
    # ### Think!
    #
    # Why is the sky blue?
    #
    # <!-- BEGIN ANSWER -->
    # Rayleigh scattering.
    # <!-- END ANSWER -->
    '''
)


def test_think_answers_are_shown_in_solutions_folded_for_students_and_required(tmp_path: Path) -> None:
    root = _make_root(tmp_path, {"09_demo.py": THINK})
    source = root / "notebooks" / "src" / "09_demo.py"
    student = build.build_notebook(source, "student").cells[-1].source
    solution = build.build_notebook(source, "solutions").cells[-1].source
    assert "Rayleigh scattering." in student and "Rayleigh scattering." in solution
    assert "<details>" in student and "</details>" in student and "BEGIN ANSWER" not in student
    assert "<details>" not in solution and "**Answer**" in solution and "END ANSWER" not in solution
    for broken, message in (
        (THINK.replace("# <!-- END ANSWER -->\n", ""), "never closed"),
        (THINK.replace("# <!-- BEGIN ANSWER -->\n", ""), "without a"),
        (THINK.replace("# <!-- BEGIN ANSWER -->\n# Rayleigh scattering.\n# <!-- END ANSWER -->\n", ""), "without an answer"),
    ):
        (root / "notebooks" / "src" / "09_demo.py").write_text(broken, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            build.build_notebook(source, "student")


def test_every_think_question_and_quiz_of_the_course_has_an_answer() -> None:
    sources = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
    assert len(sources) == 10
    for source in sources:
        text = source.read_text(encoding="utf-8")
        questions = text.count("# ### Think!") + text.count("# ## Check your understanding")
        assert questions >= 2 and text.count(build.ANSWER_BEGIN) == questions, source.name
        build.build_notebook(source, "student")  # and the build accepts them


# --- the markdown-number lint -------------------------------------------------


def test_measured_numbers_finds_results_but_not_code_math_links_or_arxiv() -> None:
    text = ("The student reaches PSDS1 0.43 ± 0.02, F1: 0.6 and an accuracy of 0.71.\n"
            "`lr=0.003` and $\\alpha = 0.999$ and [the paper](https://arxiv.org/abs/2402.02781), "
            "arXiv 2402.02781, 450 steps, 16 ms, dropout 0.5, 4 × 32 ms.")
    assert build.measured_numbers(text) == ["PSDS1 0.43", "± 0.02", "F1: 0.6", "accuracy of 0.71"]
    more = ("It scores 0.431. Dual improves 62 % of the clips and is 3.2x faster (+/- 0.2); "
            "psds1 (0.4), PSDS2 ≈ 0.5, F1 score 0.6, PSDS1 rose to 0.4.")
    assert build.measured_numbers(more) == ["0.431", "62 %", "3.2x", "+/- 0.2", "psds1 (0.4", "PSDS2 ≈ 0.5",
                                             "F1 score 0.6", "PSDS1 rose to 0.4"]


def test_a_measured_number_in_markdown_is_refused_unless_allowed(tmp_path: Path, monkeypatch) -> None:
    typed = DEMO.replace("# # 09 · Demo\n", "# # 09 · Demo\n#\n# Our student scores 0.431 on evaluation.\n")
    root = _make_root(tmp_path, {"09_demo.py": typed})
    source = root / "notebooks" / "src" / "09_demo.py"
    with pytest.raises(ValueError, match=r"'0.431' looks like a measured result.*MARKDOWN_NUMBERS_ALLOWED"):
        build.build_notebook(source, "solutions")
    monkeypatch.setitem(build.MARKDOWN_NUMBERS_ALLOWED, (9, "0.431"), "a test's constant")
    assert "0.431" in build.build_notebook(source, "solutions").cells[0].source
    monkeypatch.setitem(build.MARKDOWN_NUMBERS_ALLOWED, (8, "0.431"), "allowed in another notebook only")
    monkeypatch.delitem(build.MARKDOWN_NUMBERS_ALLOWED, (9, "0.431"))
    with pytest.raises(ValueError, match="looks like a measured result"):
        build.build_notebook(source, "solutions")


def test_every_allowed_markdown_number_is_still_used() -> None:
    """A stale allowance would let a later measured number with the same digits through."""
    import jupytext

    used = set()
    for source in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py")):
        for cell in jupytext.read(source, fmt="py:percent").cells:
            if cell.cell_type == "markdown":
                used |= {(int(source.name[:2]), found) for found in build.measured_numbers(cell.source)}
    assert set(build.MARKDOWN_NUMBERS_ALLOWED) - used == set()
    assert all(reason.strip() for reason in build.MARKDOWN_NUMBERS_ALLOWED.values())


# --- the instructor's schedule -----------------------------------------------


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def test_every_notebooks_time_items_add_up_to_its_total(tmp_path: Path) -> None:
    for source in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py")):
        total, items = build.time_estimate(source)
        assert total == sum(m for _, m in items) and len(items) >= 3, source.name
    wrong = DEMO.replace("# # 09 · Demo\n", "# # 09 · Demo\n#\n# **Time.** About 9 minutes: a 2 min · b 3 min.\n")
    root = _make_root(tmp_path, {"09_demo.py": wrong})
    with pytest.raises(ValueError, match="add up to 5 min, not the 9"):
        build.time_estimate(root / "notebooks" / "src" / "09_demo.py")


def _instructor_section(heading: str) -> str:
    """The text of ``docs/INSTRUCTOR.md`` under ``## heading``, up to the next ``## `` heading."""
    text = (ROOT / "docs" / "INSTRUCTOR.md").read_text(encoding="utf-8")
    return text.split(f"## {heading}")[1].split("\n## ")[0]


def _cells(line: str) -> list[str]:
    """The stripped cells of one markdown table row."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_the_instructors_schedules_use_the_notebooks_times_and_add_up() -> None:
    totals = {source.name[:2]: build.time_estimate(source)[0]
              for source in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))}
    day = _instructor_section("A one-day schedule")
    rows = [_cells(line) for line in day.splitlines() if line.startswith("| ") and ":" in _cells(line)[0]]
    seen = []
    for (start, what, minutes), (next_start, _, _) in zip(rows, rows[1:]):
        assert _minutes(next_start) - _minutes(start) == int(minutes), (start, what)
        if what[:2].isdigit():
            seen.append(what[:2])
            assert int(minutes) == totals[what[:2]], what
    assert seen == sorted(totals), "the day must teach every notebook, in order"
    teaching = sum(totals.values())
    assert f"{teaching} minutes of teaching" in day
    half = _instructor_section("A half day")
    half_rows = [_cells(line) for line in half.splitlines() if line.startswith("| ") and _cells(line)[0][:2].isdigit()]
    kept = [cells[0][:2] for cells in half_rows]
    for cells in half_rows:
        assert int(cells[1]) == totals[cells[0][:2]], cells
    assert f"That is {sum(totals[k] for k in kept)} minutes" in half


def test_the_instructors_fixed_numbers_are_the_librarys() -> None:
    from dualkd_lib import config, features, models

    rows = {_cells(line)[1]: _cells(line)[2] for line in
            _instructor_section("Numbers the room will see").splitlines() if line.startswith("| 0")}
    c = config.COURSE
    g = c.generator
    assert rows[next(k for k in rows if k.startswith("clips per split"))] == " / ".join(
        str(n) for n in (g.n_strong, g.n_weak, g.n_unlabeled, g.n_validation, g.n_evaluation))
    frames, out = features.n_frames(c.features), features.n_output_frames(c.features)
    ms = round(1000 * c.features.hop_length * c.features.net_pooling / c.features.sample_rate)
    assert rows[next(k for k in rows if k.startswith("log-mel"))] == f"{c.features.n_mels} x {frames}; {out} of {ms} ms"

    def size(model, **shapes) -> str:
        params, macs = models.count_parameters(model), models.count_macs(model, **shapes)
        return f"{params / 1e6:.{2 if params >= 1e6 else 3}f} M, {macs / 1e6:.0f} M"

    x = (1, c.features.n_mels, frames)
    assert rows[next(k for k in rows if k.startswith("teacher CRNN"))] == size(
        models.CRNN(c.teacher), input_shape=x, embeddings_shape=(1, c.teacher.embedding_dim, out))
    assert rows[next(k for k in rows if k.startswith("the embedding model"))] == size(
        models.EmbeddingModel(c.embedding), input_shape=x)
    assert rows[next(k for k in rows if k.startswith("deployed student"))] == size(
        models.SECRNN(c.student).without_embedding_head(), input_shape=x)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    psds1, psds2 = rows[next(k for k in rows if k.startswith("PSDS1 / PSDS2"))].split(" / ")
    assert f"PSDS1 {psds1}, PSDS2 {psds2}" in readme  # the README's measured figure, with its command


def _span(values: list[float]) -> str:
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return low if low == high else f"{low}-{high}"


def test_the_instructors_score_ranges_are_the_records() -> None:
    from dualkd_lib.teaching import measured

    rows = {_cells(line)[0]: _cells(line)[1:] for line in _instructor_section("Scores of the trained models").splitlines()
            if line.startswith("| ") and not line.startswith("| model")}
    record = measured.read("ablation_course")
    assert set(rows) == {row["reading"] for row in record["rows"]}, "one line per row of the record"
    for row in record["rows"]:
        assert rows[row["reading"]] == [str(len(row["seeds"])), _span(row["psds1"]), _span(row["psds2"])], row["reading"]
