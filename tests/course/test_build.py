"""Tests of dualkd_lib/course/build.py: one source, two variants, no drift; the checks of a source (malformed cells, think answers, measured numbers in markdown, time estimates)."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import matplotlib
import pytest

from dualkd_lib import cli
from notebook_sources import DEMO, make_root
from dualkd_lib.course import build


matplotlib.use("Agg")


ROOT = Path(__file__).resolve().parents[2]


def _copy_course(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return tmp_path


def test_build_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    root = make_root(tmp_path, {p.name: p.read_text() for p in (ROOT / "notebooks" / "src").glob("*.py")})
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
    root = make_root(tmp_path, {"09_demo.py": DEMO})
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
    root = make_root(tmp_path, {"09_demo.py": DEMO.replace(old, new)})
    with pytest.raises(ValueError, match=match):
        build.build_notebook(root / "notebooks" / "src" / "09_demo.py", "student")


def test_badly_named_source_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"9_Demo.py": DEMO})
    with pytest.raises(ValueError, match="NN_slug.py"):
        build.find_sources(root)


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
    root = make_root(tmp_path, {"09_demo.py": THINK})
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
    root = make_root(tmp_path, {"09_demo.py": typed})
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


def test_every_notebooks_time_items_add_up_to_its_total(tmp_path: Path) -> None:
    for source in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py")):
        total, items = build.time_estimate(source)
        assert total == sum(m for _, m in items) and len(items) >= 3, source.name
    wrong = DEMO.replace("# # 09 · Demo\n", "# # 09 · Demo\n#\n# **Time.** About 9 minutes: a 2 min · b 3 min.\n")
    root = make_root(tmp_path, {"09_demo.py": wrong})
    with pytest.raises(ValueError, match="add up to 5 min, not the 9"):
        build.time_estimate(root / "notebooks" / "src" / "09_demo.py")

