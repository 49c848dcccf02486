"""The course machinery: build the notebooks from their sources, check them, run them.

One source, two variants. Each notebook's source is a jupytext "percent" script
``notebooks/src/NN_slug.py``. Exercise solutions sit between marker lines inside a
cell tagged ``exercise``::

    # %% tags=["exercise"]
    def seconds_to_frames(seconds, hop_length, sample_rate=16000):
        # BEGIN SOLUTION Exercise 0.1: convert times in seconds to frame indices
        return np.floor(np.asarray(seconds) * sample_rate / hop_length).astype(np.int64)
        # END SOLUTION

From it :func:`build` writes

- ``notebooks/NN_slug.ipynb``, the *student* variant: each solution block becomes
  ``raise NotImplementedError("Exercise 0.1: convert ...")`` and the cell gets the
  tag ``raises-exception``;
- ``notebooks/solutions/NN_slug.ipynb``, the *instructor* variant, with the solutions.

Both are written without outputs, with a Python 3 kernelspec and stable cell ids, so
building twice gives byte-identical files; :func:`check` fails when a generated file
is stale or a committed notebook carries outputs. :mod:`dualkd_lib.course.run` executes the
notebooks headless, and :mod:`dualkd_lib.teaching.setup` holds what the first cells of
every notebook call.

Command line::

    dualkd notebooks build            # (re)generate notebooks/*.ipynb
    dualkd notebooks check            # exit 1 when something is stale
    dualkd notebooks run --variant student --preset tiny [--out DIR] [NAMES...]

Taught in notebook 00 (course map and set-up check); the conventions are documented
in ``notebooks/README.md``.
"""
from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from dualkd_lib import layout

logger = logging.getLogger(__name__)


#: The two generated variants: ``student`` (stubs) and ``solutions`` (instructor).
VARIANTS: tuple[str, ...] = ("student", "solutions")
#: Tag of a source cell that holds exercise solutions.
EXERCISE_TAG: str = "exercise"
#: Tag nbclient (and nbmake) honour: the cell may raise (we allow NotImplementedError only).
RAISES_TAG: str = "raises-exception"
#: Tag of the one cell whose assignments papermill-like tools may override.
PARAMETERS_TAG: str = "parameters"
#: Names the ``parameters`` cell of every notebook must assign.
REQUIRED_PARAMETERS: tuple[str, ...] = ("PRESET", "SEED", "DATA_ROOT")

_SOURCE_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.py$")
_BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\b(?P<rest>.*)$")
_END = re.compile(r"^\s*# END SOLUTION\s*$")
#: Markers of an answer in a markdown cell (a Think! question, the quiz): shown in the
#: solutions variant, a collapsed ``<details>`` block in the student variant.
ANSWER_BEGIN: str = "<!-- BEGIN ANSWER -->"
ANSWER_END: str = "<!-- END ANSWER -->"
#: Headings whose markdown cell must hold an answer block.
ANSWERED_HEADINGS: tuple[str, ...] = ("### Think!", "## Check your understanding")
_EXERCISE_TEXT = re.compile(r"^\s*Exercise\s+(?P<id>\d+\.\d+[a-z]?)\s*:\s*(?P<task>\S.*?)\s*$")
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}
#: Cell metadata kept from the source (jupytext's own bookkeeping keys are dropped).
_KEPT_CELL_METADATA = ("tags", "jupyter")
_BUILD_HINT = "run `dualkd notebooks build` and commit the result"
#: What a measured result looks like in prose: a decimal with two or more digits after the point
#: (``0.43``), a spread (``± 0.02``), a percentage (``62 %``), a ratio (``3.2x``), or a number right
#: after a metric's name (``PSDS1 0.4``, ``F1 ≈ 0.6``).
MEASURED_NUMBER = re.compile(
    r"(?<![\w.])\d+\.\d{2,}(?!\w|\.\d)"
    r"|(?:±|\+/-)\s*\d+(?:\.\d+)?"
    r"|(?<![\w.])\d+(?:\.\d+)?\s*%"
    r"|(?<![\w.])\d+(?:\.\d+)?\s*[x×](?!\w|\s*\d)"
    r"|\b(?:PSDS[12₁₂]?|F1(?: score)?|F-score|accuracy|RTF)"
    r"(?:\s*[=:≈~(]\s*|\s+(?:of|is|reaches|scores|rose to|fell to|at)\s+|\s+)\d+(?:\.\d+)?",
    re.IGNORECASE,
)
#: Spans the markdown-number lint does not read: code, math, link targets and arXiv identifiers.
_NOT_PROSE = re.compile(r"`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)|arXiv \d{4}\.\d{4,5}", re.DOTALL)
#: Numbers a notebook's markdown may type, keyed ``(notebook number, the number as written)``,
#: each with why: the paper's figures, constants of the recipe, and the inputs and worked
#: arithmetic of questions. Every other measured-looking number belongs in a code cell's output,
#: so that the prose cannot drift from what the course prints (notebooks/README.md).
MARKDOWN_NUMBERS_ALLOWED: dict[tuple[int, str], str] = {
    (2, "0.512"): "a constant: one output frame at a 4x longer hop (4 x 128 ms)",
    (2, "4×"): "a constant: the CNN's time pooling, and the quiz's 4x longer hop",
    (2, "70 %"): "a constant: PSDS1's detection tolerance criterion",
    (2, "1.000"): "a quiz question's input (an event's onset)",
    (2, "1.010"): "a quiz question's input (an event's offset)",
    (2, "0.960"): "the quiz answer's arithmetic (frame 15 of 64 ms)",
    (2, "1.024"): "the quiz answer's arithmetic (frame 15 of 64 ms)",
    (3, "4×"): "a constant: the pooling between blocks (4x fewer positions)",
    (4, "20 %"): "a constant: the collar F1's offset tolerance (20 % of the event)",
    (4, "70 %"): "a constant: PSDS1's detection and ground-truth tolerance criteria",
    (5, "4×"): "a constant: the time pooling after the first two blocks",
    (4, "0.01"): "a constant: the first of sed_scores_eval's 50 decision thresholds",
    (4, "0.03"): "a constant: the second decision threshold",
    (4, "0.99"): "a constant: the last decision threshold",
    (4, "PSDS1 0.474"): "the paper's figure: its best student's PSDS1 on DESED public evaluation",
    (4, "PSDS2 0.698"): "the paper's figure: its best student's PSDS2 on DESED public evaluation",
    (4, "0.359"): "the paper's figure: the DCASE 2023 CRNN baseline's PSDS1",
    (4, "0.562"): "the paper's figure: the DCASE 2023 CRNN baseline's PSDS2",
    (9, "4x"): "a constant: float32 to int8 is 4 bytes to 1 (what the file does not shrink by)",
    (8, "0.01"): "a Think! question's hypothetical difference between two students",
    (9, "RTF 0.01"): "a constant: the definition's example",
    (9, "RTF = 0.025"): "the quiz answer's arithmetic (25 ms per 10-s clip)",
    (9, "0.0025"): "the quiz answer's arithmetic (0.025 s / 10 s)",
}


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CoursePaths:
    """Where the course's notebooks live, given the repository root."""

    root: Path

    @property
    def notebooks(self) -> Path:
        """``notebooks/``: the student variants, and the working directory of every run."""
        return self.root / "notebooks"

    @property
    def src(self) -> Path:
        """``notebooks/src/``: the jupytext sources (the only files you edit)."""
        return self.notebooks / "src"

    @property
    def solutions(self) -> Path:
        """``notebooks/solutions/``: the instructor variants."""
        return self.notebooks / "solutions"

    def generated(self, source: Path, variant: str) -> Path:
        """Path of the ``variant`` notebook generated from ``source``."""
        _check_variant(variant)
        folder = self.notebooks if variant == "student" else self.solutions
        return folder / (source.stem + ".ipynb")


def repo_root() -> Path:
    """The repository root this package was installed from (editable install), with its notebooks.

    Raises ``FileNotFoundError`` when the package is not inside a clone of the course
    repository (then the notebooks are not available).
    """
    root = layout.package_parent()
    if not (root / "notebooks").is_dir():
        raise FileNotFoundError(
            f"No notebooks/ folder next to the dualkd_lib package (looked in {root}). "
            "Install the course from a clone of the repository with `pip install -e .`, "
            "or pass root=<repository folder>."
        )
    return root


def _paths(root: str | Path | None) -> CoursePaths:
    return CoursePaths(Path(root).resolve() if root is not None else repo_root())


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"Unknown notebook variant {variant!r}; use one of {VARIANTS}.")


def find_sources(root: str | Path | None = None) -> list[Path]:
    """All notebook sources ``notebooks/src/NN_slug.py``, sorted by number.

    Raises ``FileNotFoundError`` when the folder is missing and ``ValueError`` for a
    ``.py`` file in it whose name does not follow ``NN_slug.py`` (lower case).
    """
    src = _paths(root).src
    if not src.is_dir():
        raise FileNotFoundError(f"Notebook source folder {src} does not exist.")
    sources = []
    for path in sorted(src.glob("*.py")):
        if not _SOURCE_NAME.match(path.name):
            raise ValueError(
                f"Notebook source {path} is not named NN_slug.py (two digits, underscore, "
                "lower-case slug, e.g. 05_se_crnn_student.py); rename it."
            )
        sources.append(path)
    return sources


# ---------------------------------------------------------------------------
# Building the two variants
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ExerciseStub:
    """One solution block found in a source: ``Exercise 5.1: write the SE block``."""

    exercise_id: str
    task: str
    cell_index: int

    @property
    def message(self) -> str:
        """The text of the student's ``NotImplementedError``."""
        return f"Exercise {self.exercise_id}: {self.task}"


def _split_solutions(source: str, variant: str, where: str, cell_index: int) -> tuple[str, list[ExerciseStub]]:
    """Replace (student) or unmark (solutions) the solution blocks of one cell's code."""
    out: list[str] = []
    stubs: list[ExerciseStub] = []
    inside: ExerciseStub | None = None
    for lineno, line in enumerate(source.split("\n"), start=1):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if inside is not None:
                raise ValueError(f"{where}, line {lineno}: nested '# BEGIN SOLUTION'; close the first block with '# END SOLUTION'.")
            text = _EXERCISE_TEXT.match(begin["rest"])
            if text is None:
                raise ValueError(
                    f"{where}, line {lineno}: solution marker {line.strip()!r} must read "
                    "'# BEGIN SOLUTION Exercise N.M: <one-line task>'."
                )
            inside = ExerciseStub(text["id"], text["task"], cell_index)
            stubs.append(inside)
            indent = begin["indent"]
            if variant == "student":
                out.append(f"{indent}# TODO {inside.message}. Replace the next line with your code.")
                out.append(f"{indent}raise NotImplementedError({json.dumps(inside.message, ensure_ascii=False)})")
            else:
                out.append(f"{indent}# {inside.message} (solution)")
        elif end:
            if inside is None:
                raise ValueError(f"{where}, line {lineno}: '# END SOLUTION' without a '# BEGIN SOLUTION' before it.")
            inside = None
        elif inside is None or variant == "solutions":
            out.append(line)
    if inside is not None:
        raise ValueError(f"{where}: '# BEGIN SOLUTION {inside.message}' is never closed; add '# END SOLUTION'.")
    return "\n".join(out), stubs


def _render_answers(text: str, variant: str, where: str) -> str:
    """A markdown cell with its answer blocks rendered for ``variant`` (see :data:`ANSWER_BEGIN`).

    Solutions: the answer is shown under a bold "Answer" line. Student: it is folded into a
    ``<details>`` block the learner opens after trying. Both come from the one source.
    Raises ``ValueError`` on unbalanced markers, and when a Think! question or a quiz has no
    answer.
    """
    out, inside, found = [], False, 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped == ANSWER_BEGIN:
            if inside:
                raise ValueError(f"{where}: nested {ANSWER_BEGIN}; close the first answer with {ANSWER_END}.")
            inside, found = True, found + 1
            out += (["**Answer** (instructor's version)", ""] if variant == "solutions"
                    else ["<details>", "<summary>Answer (try it yourself first)</summary>", ""])
        elif stripped == ANSWER_END:
            if not inside:
                raise ValueError(f"{where}: {ANSWER_END} without a {ANSWER_BEGIN} before it.")
            inside = False
            if variant == "student":
                out += ["", "</details>"]
        else:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: an answer is never closed; add {ANSWER_END}.")
    for heading in ANSWERED_HEADINGS:
        if any(line.strip().startswith(heading) for line in text.split("\n")) and not found:
            raise ValueError(f"{where}: '{heading}' without an answer; add one between {ANSWER_BEGIN} and "
                             f"{ANSWER_END} in the same cell (see notebooks/README.md).")
    return "\n".join(out)


def measured_numbers(text: str) -> list[str]:
    """The measured-looking numbers of one markdown cell (see :data:`MEASURED_NUMBER`).

    Code spans, math, link targets and arXiv identifiers are not read. Taught in notebook 00
    (how the course keeps its prose true).
    """
    prose = _NOT_PROSE.sub(" ", text)
    return [re.sub(r"\s+", " ", m.group(0)) for m in MEASURED_NUMBER.finditer(prose)]


def _check_markdown_numbers(text: str, number: int, where: str) -> None:
    """Refuse a measured-looking number typed into markdown unless it is allowed (see above)."""
    for found in measured_numbers(text):
        if (number, found) not in MARKDOWN_NUMBERS_ALLOWED:
            raise ValueError(
                f"{where}: {found!r} looks like a measured result typed into markdown. Print it from a "
                f"code cell instead, so that it cannot drift from what the course measures; if it is the "
                f"paper's figure or a constant, add ({number}, {found!r}) with the reason to "
                f"MARKDOWN_NUMBERS_ALLOWED in dualkd_lib/course/build.py.")


_TIME_LINE = re.compile(r"\*\*Time\.\*\* About (?P<total>\d+) minutes(?P<rest>.*?)(?:\n\n|\Z)", re.DOTALL)
_TIME_ITEM = re.compile(r"(?P<what>[^·:]+?)\s+(?P<minutes>\d+) min\b")


def time_estimate(source: str | Path) -> tuple[int, list[tuple[str, int]]]:
    """A notebook's time estimate: the total of its "**Time.** About N minutes: a 5 min · ..."
    line, and its items ``[(what, minutes), ...]``. Raises ``ValueError`` when the line is missing
    or its items do not add up to the total. Taught in notebook 00 (the course map); the
    instructor's schedule (docs/INSTRUCTOR.md) is made from them."""
    import jupytext

    source = Path(source)
    text = "\n\n".join(c.source for c in jupytext.read(source, fmt="py:percent").cells if c.cell_type == "markdown")
    match = _TIME_LINE.search(text)
    if match is None:
        raise ValueError(f"{source.name}: no '**Time.** About N minutes: ...' line (see notebooks/README.md).")
    rest = match.group("rest").replace("\n", " ")
    items = [(m.group("what").strip(" ·:,.").split("):")[-1].strip(), int(m.group("minutes")))
             for m in _TIME_ITEM.finditer(rest.split(":", 1)[-1] if ":" in rest else rest)]
    total = int(match.group("total"))
    if sum(m for _, m in items) != total:
        raise ValueError(f"{source.name}: the time items add up to {sum(m for _, m in items)} min, "
                         f"not the {total} of 'About {total} minutes'; fix one or the other.")
    return total, items


def _lint(nb: Any, source: Path, stubs: list[ExerciseStub]) -> None:
    """The conventions every notebook follows (see notebooks/README.md)."""
    number = int(source.name[:2])
    params = [c for c in nb.cells if PARAMETERS_TAG in c.metadata.get("tags", [])]
    if len(params) != 1:
        raise ValueError(f"{source}: needs exactly one cell tagged {PARAMETERS_TAG!r}, found {len(params)}.")
    for name in REQUIRED_PARAMETERS:
        if not re.search(rf"^{name}\s*=", params[0].source, flags=re.MULTILINE):
            raise ValueError(f"{source}: the {PARAMETERS_TAG!r} cell must assign {name} (see notebooks/README.md).")
    seen: set[str] = set()
    for stub in stubs:
        if stub.exercise_id in seen:
            raise ValueError(f"{source}: Exercise {stub.exercise_id} appears twice; number exercises uniquely.")
        seen.add(stub.exercise_id)
        if int(stub.exercise_id.split(".")[0]) != number:
            raise ValueError(
                f"{source}: Exercise {stub.exercise_id} should be numbered {number}.M in notebook {number:02d}."
            )
        later = [c.source for c in nb.cells[stub.cell_index + 1 :] if c.cell_type == "code"]
        if not any(f'"{stub.exercise_id}"' in s or f"'{stub.exercise_id}'" in s for s in later):
            raise ValueError(
                f"{source}: Exercise {stub.exercise_id} has no checker cell after it; add a cell like "
                f'`my_fn = exercises.check("{stub.exercise_id}", my_fn)`.'
            )


def build_notebook(source: str | Path, variant: str) -> Any:
    """Read one jupytext source and return its ``variant`` as an ``nbformat`` notebook.

    ``variant`` is ``"student"`` or ``"solutions"``. The result has no outputs, cell ids
    ``cell-000``, ``cell-001``, ..., only the ``tags``/``jupyter`` cell metadata, and a
    Python 3 kernelspec. Raises ``ValueError`` on malformed solution markers or a
    notebook that breaks the conventions of notebooks/README.md. Taught in notebook 00.
    """
    import jupytext
    import nbformat

    _check_variant(variant)
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"Notebook source {source} does not exist.")
    nb = jupytext.read(source, fmt="py:percent")
    cells = []
    all_stubs: list[ExerciseStub] = []
    for index, cell in enumerate(nb.cells):
        tags = list(cell.metadata.get("tags", []))
        text = cell.source
        where = f"{source.name}, cell {index}"
        if cell.cell_type == "code":
            has_markers = any(_BEGIN.match(x) or _END.match(x) for x in text.split("\n"))
            if has_markers and EXERCISE_TAG not in tags:
                raise ValueError(f"{where}: solution markers in a cell that is not tagged {EXERCISE_TAG!r}; add tags=[\"{EXERCISE_TAG}\"].")
            if EXERCISE_TAG in tags:
                text, stubs = _split_solutions(text, variant, where, index)
                if not stubs:
                    raise ValueError(f"{where}: tagged {EXERCISE_TAG!r} but has no '# BEGIN SOLUTION Exercise N.M: ...' block.")
                all_stubs.extend(stubs)
                if variant == "student" and RAISES_TAG not in tags:
                    tags.append(RAISES_TAG)
            new = nbformat.v4.new_code_cell(text)
        elif cell.cell_type == "markdown":
            _check_markdown_numbers(text, int(source.name[:2]), where)
            new = nbformat.v4.new_markdown_cell(_render_answers(text, variant, where))
        else:
            new = nbformat.v4.new_raw_cell(text)
        meta = {k: copy.deepcopy(cell.metadata[k]) for k in _KEPT_CELL_METADATA if k in cell.metadata}
        if tags:
            meta["tags"] = tags
        else:
            meta.pop("tags", None)
        new.metadata = nbformat.from_dict(meta)
        new.id = f"cell-{index:03d}"
        cells.append(new)
    out = nbformat.v4.new_notebook(cells=cells)
    out.nbformat, out.nbformat_minor = 4, 5
    out.metadata = nbformat.from_dict(
        {
            "kernelspec": dict(_KERNELSPEC),
            "language_info": dict(_LANGUAGE_INFO),
            "dualkd": {
                "variant": variant,
                "source": f"notebooks/src/{source.name}",
                "note": "Generated file: edit the source and run `dualkd notebooks build`.",
            },
        }
    )
    _lint(out, source, all_stubs)
    nbformat.validate(out)
    return out


def notebook_json(nb: Any) -> str:
    """The exact text a generated notebook is written as (sorted keys, indent 1, final newline)."""
    import nbformat

    return nbformat.writes(nb, version=4) + "\n"


def list_exercises(source: str | Path) -> list[ExerciseStub]:
    """The exercises of one notebook source, in order (e.g. for a table of contents)."""
    import jupytext

    nb = jupytext.read(Path(source), fmt="py:percent")
    stubs: list[ExerciseStub] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and EXERCISE_TAG in cell.metadata.get("tags", []):
            stubs.extend(_split_solutions(cell.source, "solutions", f"{Path(source).name}, cell {index}", index)[1])
    return stubs


def _expected_files(paths: CoursePaths) -> dict[Path, str]:
    expected: dict[Path, str] = {}
    for source in find_sources(paths.root):
        for variant in VARIANTS:
            expected[paths.generated(source, variant)] = notebook_json(build_notebook(source, variant))
    return expected


def build(root: str | Path | None = None) -> list[Path]:
    """(Re)generate both variants of every source; returns the files that changed.

    Files whose content is already right are not touched. Taught in notebook 00.
    """
    paths = _paths(root)
    changed = []
    for path, text in _expected_files(paths).items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")  # same bytes on every OS
        changed.append(path)
        logger.info("wrote %s", path.relative_to(paths.root))
    return changed


def _committed_notebooks(paths: CoursePaths) -> list[Path]:
    return sorted(p for p in paths.notebooks.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def check(root: str | Path | None = None) -> list[str]:
    """Problems that make the committed notebooks disagree with their sources.

    Returns one message per problem (empty list: all good): a generated notebook that
    is missing or differs from what its source gives, a notebook with outputs or
    execution counts, a notebook without a source. Each message says how to fix it.
    """
    paths = _paths(root)
    problems = []
    expected = _expected_files(paths)
    for path in _committed_notebooks(paths):
        rel = path.relative_to(paths.root)
        nb = json.loads(path.read_text(encoding="utf-8"))
        dirty = [
            i
            for i, c in enumerate(nb.get("cells", []))
            if c.get("outputs") or c.get("execution_count") is not None
        ]
        if dirty:
            problems.append(
                f"{rel}: cells {dirty} have outputs or execution counts; notebooks are committed "
                f"without outputs: {_BUILD_HINT}."
            )
        if path not in expected:
            problems.append(
                f"{rel}: no source notebooks/src/{path.stem}.py generates it; delete it, "
                "or move its content into a source and build."
            )
    for path, text in expected.items():
        rel = path.relative_to(paths.root)
        if not path.is_file():
            problems.append(f"{rel}: missing; {_BUILD_HINT}.")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: out of date with notebooks/src/{path.stem}.py; {_BUILD_HINT}.")
    return problems


