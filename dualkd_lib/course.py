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
is stale or a committed notebook carries outputs. :func:`run_notebooks` executes the
notebooks headless (tolerating only ``NotImplementedError`` in stub cells) and
:func:`notebook_setup` is what the first cells of every notebook call.

Command line::

    python -m dualkd_lib.course build            # (re)generate notebooks/*.ipynb
    python -m dualkd_lib.course check            # exit 1 when something is stale
    python -m dualkd_lib.course run --variant student --preset tiny [--out DIR] [NAMES...]

Taught in notebook 00 (course map and set-up check); the conventions are documented
in ``notebooks/README.md``.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from dualkd_lib.constants import PRESET_ENV_VAR
from dualkd_lib.layout import SPLITS, split_paths

logger = logging.getLogger(__name__)

#: The two generated variants: ``student`` (stubs) and ``solutions`` (instructor).
VARIANTS: tuple[str, ...] = ("student", "solutions")
#: Preset names accepted by :func:`notebook_setup` and :func:`run_notebooks`.
PRESETS: tuple[str, ...] = ("tiny", "course", "desed")
#: Environment variable that overrides the notebooks' ``DATA_ROOT`` parameter.
DATA_ROOT_ENV_VAR: str = "DUALKD_DATA_ROOT"
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
_BUILD_HINT = "run `python -m dualkd_lib.course build` and commit the result"
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
    """The repository root this package was installed from (editable install).

    Raises ``FileNotFoundError`` when the package is not inside a clone of the course
    repository (then the notebooks are not available).
    """
    root = Path(__file__).resolve().parents[1]
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
                f"MARKDOWN_NUMBERS_ALLOWED in dualkd_lib/course.py.")


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
                "note": "Generated file: edit the source and run `python -m dualkd_lib.course build`.",
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


# ---------------------------------------------------------------------------
# Running the notebooks
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NotebookTiming:
    """How one notebook run went: wall time (s), cells, stub cells that raised NotImplementedError."""

    name: str
    variant: str
    seconds: float
    cells: int
    stubs_raised: int
    output: Path | None = None


class NotebookExecutionError(RuntimeError):
    """A notebook failed: names the notebook, the cell index and the error."""

    def __init__(self, name: str, cell_index: int | None, ename: str, evalue: str, traceback: str = "") -> None:
        self.name, self.cell_index, self.ename, self.evalue = name, cell_index, ename, evalue
        where = f"cell {cell_index}" if cell_index is not None else "start-up"
        message = f"notebook {name}, {where}: {ename}: {evalue}"
        if traceback:
            message += "\n" + traceback
        super().__init__(message)


def _select(sources: list[Path], names: Sequence[str] | None) -> list[Path]:
    if names is None:
        return sources
    chosen = []
    for name in names:
        stem = Path(name).stem
        hits = [s for s in sources if s.stem == stem or s.stem[:2] == stem]
        if len(hits) != 1:
            raise ValueError(f"Unknown notebook {name!r}; available: {[s.stem for s in sources]}.")
        chosen.append(hits[0])
    return chosen


def _kernel_manager() -> Any:
    """A kernel manager that always starts ipykernel with *this* interpreter.

    Its clients wait for replies in short polls (:mod:`dualkd_lib.notebook_kernel`).
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    from dualkd_lib.notebook_kernel import SlicedWaitKernelClient

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython(),
                              client_factory=SlicedWaitKernelClient)


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def run_notebooks(
    variant: str = "solutions",
    preset: str = "tiny",
    out_dir: str | Path | None = None,
    names: Sequence[str] | None = None,
    timeout: int = 1800,
    *,
    root: str | Path | None = None,
    data_root: str | Path | None = None,
) -> list[NotebookTiming]:
    """Execute the notebooks top to bottom, in order, headless; return their timings.

    Each notebook is built from its source (``variant`` ``"solutions"`` or
    ``"student"``) and run with nbclient in a fresh ``python3`` kernel of the current
    interpreter, in ``notebooks/`` as working directory, with ``DUALKD_PRESET=preset``,
    ``MPLBACKEND=Agg`` and (when given) ``DUALKD_DATA_ROOT=data_root``. Only cells tagged
    ``raises-exception`` may fail, and only with ``NotImplementedError``; anything else
    raises :class:`NotebookExecutionError` naming the notebook, the cell and the error.
    ``names`` picks notebooks by stem or number (``"05"``); ``timeout`` is per cell (s).
    Executed copies (with outputs and figures) go to ``out_dir`` when given, also for a
    notebook that failed. Taught in notebook 00.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from tqdm.auto import tqdm

    _check_variant(variant)
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; use one of {PRESETS}.")
    paths = _paths(root)
    chosen = _select(find_sources(paths.root), names)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({PRESET_ENV_VAR: preset, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                # fewer progress-bar messages on the kernel's IOPub channel in headless runs
                "TQDM_MININTERVAL": "2"})
    if data_root is not None:
        env[DATA_ROOT_ENV_VAR] = str(Path(data_root).resolve())

    timings = []
    for source in tqdm(chosen, desc=f"notebooks ({variant}, {preset})", unit="nb"):
        nb = build_notebook(source, variant)
        current: dict[str, int | None] = {"cell": None}
        tolerated: list[int] = []

        def on_start(cell: Any, cell_index: int) -> None:
            current["cell"] = cell_index

        def on_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
            content = execute_reply.get("content", {}) if execute_reply else {}
            if content.get("status") != "error":
                return
            if content.get("ename") == "NotImplementedError" and RAISES_TAG in cell.metadata.get("tags", []):
                tolerated.append(cell_index)
                return
            raise NotebookExecutionError(
                source.stem, cell_index, content.get("ename", "?"), content.get("evalue", ""),
                _strip_ansi("\n".join(content.get("traceback", []))),
            )

        target = out / f"{source.stem}.ipynb" if out is not None else None
        start = time.perf_counter()
        for attempt in (1, 2):
            client = NotebookClient(
                nb,
                km=_kernel_manager(),
                timeout=timeout,
                allow_errors=False,
                resources={"metadata": {"path": str(paths.notebooks)}},
                on_cell_start=on_start,
                on_cell_executed=on_executed,
            )
            try:
                client.execute(cleanup_kc=True, env=env)
                break
            except NotebookExecutionError:
                raise
            except CellExecutionError as err:
                raise NotebookExecutionError(
                    source.stem, current["cell"], err.ename, err.evalue, _strip_ansi(err.traceback)
                ) from err
            except (CellTimeoutError, DeadKernelError) as err:
                # Seen on loaded 2-core machines: kernel and client both idle, a reply lost between
                # them. Re-run the notebook once, loudly; a second hang is an error.
                if attempt == 2:
                    raise NotebookExecutionError(source.stem, current["cell"], type(err).__name__, str(err)) from err
                logger.warning("%s: no answer from the kernel in cell %s (%s); running the notebook once more.",
                               source.stem, current["cell"], type(err).__name__)
                nb = build_notebook(source, variant)
                tolerated.clear()
                start = time.perf_counter()
            finally:
                if target is not None:
                    nbformat.write(nb, target)
        seconds = time.perf_counter() - start
        timing = NotebookTiming(source.stem, variant, round(seconds, 2), len(nb.cells), len(tolerated), target)
        logger.info("%s (%s): %.1f s, %d cells, %d stubs raised", source.stem, variant, seconds, len(nb.cells), len(tolerated))
        timings.append(timing)
    return timings


def timing_table(timings: Iterable[NotebookTiming]) -> str:
    """A Markdown table of notebook run times (with a total row)."""
    rows = ["| notebook | variant | cells | stubs raised | seconds |", "|---|---|---:|---:|---:|"]
    total = 0.0
    for t in timings:
        rows.append(f"| {t.name} | {t.variant} | {t.cells} | {t.stubs_raised} | {t.seconds:.1f} |")
        total += t.seconds
    rows.append(f"| **total** | | | | **{total:.1f}** |")
    return "\n".join(rows)


COURSE_CELL_TIMEOUT = 600
"""Per-cell timeout (s) of ``dualkd course``: after :func:`prepare_models` a cell only loads
cached models, so a cell this slow is a kernel that stopped answering (it is re-run once)."""


def _cache_dir(preset: str) -> Path:
    """``data/cache/<preset>`` beside :func:`default_data_root`: the notebooks' ``SETUP.cache_dir``."""
    return default_data_root(preset).parent.parent / "cache" / preset


def _ablation_dir(preset: str) -> Path:
    """``data/cache/<preset>/ablation``: where notebook 08 (and ``dualkd course``) write the table."""
    return _cache_dir(preset) / "ablation"


def prepare_models(preset: str, *, jobs: int | None = None) -> dict[str, float]:
    """Generate the data and train every model the notebooks load, in this process.

    The same calls as notebooks 01-08 (seed 0 data, the teacher, the five student modes with
    seed 0, notebook 08's ablation table, the short runs of the experiments 6.A-8.A), made
    before the notebooks run so that the long
    training happens in a plain Python process (students ``jobs`` at a time, in parallel)
    rather than inside a Jupyter kernel. The data folder is ``$DUALKD_DATA_ROOT`` when set, as
    in the notebooks. Everything already cached is reused. Returns the seconds of each stage
    (``data``, then the ablation's stages, then ``total``). Taught in notebook 00.
    """
    from dualkd_lib import learner_runs, pipeline

    start = time.perf_counter()
    data_root = os.environ.get(DATA_ROOT_ENV_VAR) or default_data_root(preset)  # as the notebooks' parameters cell
    ctx = pipeline.Context.create(preset, data_root=Path(data_root), work_dir=_cache_dir(preset))
    seconds = {"data": time.perf_counter() - start}
    out = _ablation_dir(preset)
    jobs = jobs if jobs is not None else pipeline.default_jobs()
    pipeline.run_ablation(ctx, seeds=[0], out_dir=out, jobs=jobs)
    report = out / "ablation.json"
    if report.is_file():
        seconds.update(json.loads(report.read_text(encoding="utf-8")).get("stage_seconds_this_call", {}))
    t0 = time.perf_counter()
    learner_runs.train_in_parallel(ctx, jobs=jobs)  # the short runs of Experiments 6.A, 7.A and 8.A
    seconds["learner runs"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - start
    return seconds


def main_run_course(preset: str = "course", out_dir: str | Path = "build/notebooks", *, jobs: int | None = None) -> int:
    """``dualkd course`` / ``make course``: train what the notebooks need, run them all, save them.

    First :func:`prepare_models` (data, teacher, students; cached runs are reused), then
    every notebook (solutions variant) with a per-cell timeout of :data:`COURSE_CELL_TIMEOUT`.
    Executed copies with their figures go to ``out_dir``, the timing table to
    ``out_dir/timings.md`` and stdout, followed by notebook 08's ablation table. Returns the
    exit code (0 ok, 1 a notebook or the preparation failed).
    """
    out = Path(out_dir)
    print(f"dualkd course ({preset}): step 1/2, data and models (trained once, then read from "
          f"{_cache_dir(preset)})", flush=True)
    try:
        stages = prepare_models(preset, jobs=jobs)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"dualkd course: could not prepare the data and models: {err}", file=sys.stderr)
        return 1
    print(f"dualkd course ({preset}): data and models ready in {stages['total']:.0f} s; "
          f"step 2/2, the notebooks, saved to {out}", flush=True)
    try:
        timings = run_notebooks("solutions", preset, out_dir=out, timeout=COURSE_CELL_TIMEOUT)
    except NotebookExecutionError as err:
        print(f"dualkd course: {err}", file=sys.stderr)
        print(f"The partly executed notebook is in {out}.", file=sys.stderr)
        return 1
    table = timing_table(timings)
    table += (f"\n\nData and models prepared before the notebooks in {stages['total']:.1f} s ("
              + ", ".join(f"{name} {sec:.1f} s" for name, sec in stages.items() if name != "total") + ").")
    out.mkdir(parents=True, exist_ok=True)
    (out / "timings.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    ablation = _ablation_dir(preset) / "ablation.md"
    if ablation.is_file():  # written by notebook 08
        print(f"\nThe ablation table of notebook 08 ({ablation}):\n")
        print(ablation.read_text(encoding="utf-8"))
    return 0


# ---------------------------------------------------------------------------
# Inside the notebooks: set-up and set-up check
# ---------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and CUDA)."""
    import torch

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA devices


def default_data_root(preset: str) -> Path:
    """``<repository>/data/generated/<preset>``: where ``dualkd make-data`` puts a preset's data.

    Outside a clone of the repository, ``data/generated/<preset>`` under the current folder.
    """
    try:
        base = repo_root()
    except FileNotFoundError:
        base = Path.cwd()
    return base / "data" / "generated" / preset


@dataclass(frozen=True)
class NotebookSetup:
    """What :func:`notebook_setup` settled: preset name, seed, data folder, cache folder.

    ``cache_dir`` is ``<repository>/data/cache/<preset>`` (features, frozen models' outputs,
    checkpoints), the same default as the ``dualkd`` command line's ``--work-dir``.
    """

    preset: str
    seed: int
    data_root: Path
    cache_dir: Path

    def config(self) -> Any:
        """The preset's typed configuration, ``dualkd_lib.config.get_preset(self.preset)``."""
        from dualkd_lib.config import get_preset

        return get_preset(self.preset)


def _in_ipython_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def notebook_setup(
    preset: str | None = None, *, seed: int = 0, data_root: str | Path | None = None
) -> NotebookSetup:
    """The one call after the ``parameters`` cell of every notebook.

    Checks the preset (``None``: ``$DUALKD_PRESET`` or ``"course"``), seeds Python,
    NumPy and PyTorch with ``seed``, sets matplotlib's default figure size and resolves
    ``data_root`` (``None`` or ``""``: :func:`default_data_root`). Inside a Jupyter
    kernel it also sends library logging (INFO) to the notebook and shows figures
    inline, even when ``MPLBACKEND=Agg`` is set for headless runs, so executed copies
    keep their figures. Taught in notebook 00.
    """
    name = preset if preset is not None else os.environ.get(PRESET_ENV_VAR, "course")
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset {name!r}; use one of {PRESETS} (set PRESET in the parameters cell "
            f"or the {PRESET_ENV_VAR} environment variable)."
        )
    seed_everything(seed)
    import matplotlib

    if _in_ipython_kernel():  # outside a notebook, leave logging and backends to the caller
        from IPython import get_ipython

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout, force=True)
        for noisy in ("matplotlib", "PIL", "numba", "h5py", "traitlets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        get_ipython().run_line_magic("matplotlib", "inline")
    matplotlib.rcParams.update({"figure.figsize": (8.0, 4.0), "figure.dpi": 100, "savefig.dpi": 100})
    root = Path(data_root) if data_root not in (None, "") else default_data_root(name)
    cache = _cache_dir(name)
    return NotebookSetup(name, seed, root.resolve(), cache.resolve())


def environment_report(preset: str | None = None, data_root: str | Path | None = None) -> list[dict[str, str]]:
    """Rows ``{"item", "value", "status"}`` of the set-up check: :func:`dualkd_lib.doctor.report`.

    Kept here because notebook 00 and earlier course versions call ``course.environment_report``.
    """
    from dualkd_lib import doctor

    return doctor.report(preset, data_root)


@dataclass(frozen=True)
class DataStatus:
    """Whether a preset's dataset is on disk, and the command that creates it."""

    root: Path
    ready: bool
    missing: tuple[str, ...] = field(default_factory=tuple)
    command: str = ""


def data_status(data_root: str | Path, preset: str) -> DataStatus:
    """Check that every split of the DESED layout exists under ``data_root``.

    A split counts as present when its audio folder holds at least one ``.wav`` and its
    label/duration TSVs exist. ``command`` is what creates the data, e.g.
    ``dualkd make-data --preset tiny --out data/generated/tiny`` (run in the repository).
    Taught in notebook 00.
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; use one of {PRESETS}.")
    root = Path(data_root).resolve()
    missing = []
    for split in SPLITS:
        audio, labels, durations = split_paths(root, split)
        if not audio.is_dir() or next(audio.glob("*.wav"), None) is None:
            missing.append(str(audio.relative_to(root)))
        for tsv in (labels, durations):
            if tsv is not None and not tsv.is_file():
                missing.append(str(tsv.relative_to(root)))
    try:
        shown = root.relative_to(repo_root())
    except (FileNotFoundError, ValueError):
        shown = root
    command = f"dualkd make-data --preset {preset} --out {shown.as_posix()}"
    return DataStatus(root, not missing, tuple(missing), command)


def draw_method_diagram(ax: Any = None) -> Any:
    """Draw dual knowledge distillation in one picture; returns the matplotlib Figure.

    Frozen models (teacher, embedding model) in blue, trained parts (student, mean
    student, embedding distillation layer) in orange, losses in red; dashed boxes exist
    in training only. Taught in notebook 00.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 5.6))
    else:
        fig = ax.figure
    ax.set_xlim(0, 12.8)
    ax.set_ylim(-0.5, 7.4)
    ax.axis("off")
    frozen, trained, loss, plain = "#cfe2f3", "#fce5cd", "#f4cccc", "#eeeeee"

    def box(x: float, y: float, w: float, h: float, text: str, color: str, dashed: bool = False) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x, y), w, h, boxstyle="round,pad=0.05,rounding_size=0.15", facecolor=color,
                edgecolor="black", linewidth=1.2, linestyle="--" if dashed else "-",
            )
        )
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9.5)

    def path(points: list[tuple[float, float]], text: str = "", color: str = "black", ls: str = "-", label_at: int = -1) -> None:
        """A polyline with an arrow head at its last point; ``text`` labels segment ``label_at``."""
        xs, ys = zip(*points)
        ax.plot(xs[:-1], ys[:-1], color=color, linestyle=ls, linewidth=1.3)
        ax.annotate("", xy=points[-1], xytext=points[-2],
                    arrowprops=dict(arrowstyle="-|>", linestyle=ls, color=color, linewidth=1.3, shrinkA=0, shrinkB=2))
        if text:
            (x0, y0), (x1, y1) = points[label_at - 1], points[label_at]
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.08, text, ha="center", va="bottom", fontsize=8, color=color)

    # columns: 1 = embedding model / student / distillation layer, 2 = teacher / mean
    # student / EEFD loss, 3 = the other losses
    c1, c2, c3, w = 2.5, 6.4, 10.3, 2.5
    box(0.1, 3.2, 1.7, 1.0, "audio clip\n→ log-mel", plain)
    box(c1, 5.7, w, 1.1, "embedding model\n(frozen, BEATs stand-in)", frozen)
    box(c2, 5.7, w, 1.1, "CRNN teacher (frozen)\nfuses the embeddings", frozen)
    box(c1, 3.1, w, 1.2, "SE-CRNN student\nCNN → BiGRU → heads", trained)
    box(c2, 3.1, w, 1.2, "mean student\n(EMA of the student)", trained, dashed=True)
    box(c1, 0.9, w, 1.0, "embedding distillation\nlayer (CNN → emb. dim)", trained, dashed=True)
    box(c2, 0.9, w, 1.0, "$L_{EEFD}$\nMSE / cosine", loss)
    box(c3, 5.75, w - 0.1, 1.0, "$L_{TAKD}$\nteacher ↔ mean student", loss)
    box(c3, 3.2, w - 0.1, 1.0, "$L_{sup}$ + $L_{cons}$", loss)
    mid2, mid3 = c2 + w / 2, c3 + (w - 0.1) / 2

    path([(0.95, 4.2), (0.95, 6.25), (c1, 6.25)])
    path([(0.95, 6.25), (0.95, 7.2), (mid2, 7.2), (mid2, 6.8)], "log-mel", label_at=2)
    path([(1.8, 3.7), (c1, 3.7)])
    path([(c1 + w, 6.25), (c2, 6.25)], "embeddings")
    path([(c2 + w, 6.25), (c3, 6.25)], "soft outputs")
    path([(c1 + w, 3.95), (c2, 3.95)])
    ax.text((c1 + w + c2) / 2, 4.45, "EMA: θ̄ ← αθ̄ + (1−α)θ", ha="center", va="bottom", fontsize=8)
    path([(c2, 3.4), (c1 + w, 3.4)], color="#990000", ls="--")
    ax.text((c1 + w + c2) / 2, 3.3, "TAKD\ngradient", ha="center", va="top", fontsize=8, color="#990000")
    path([(c2 + w, 4.1), (mid3, 5.75)], "outputs")
    path([(c2 + w, 3.7), (c3, 3.7)])
    path([(c1 + 2.0, 3.1), (c1 + 2.0, 2.45), (mid3, 2.45), (mid3, 3.2)], "student outputs vs labels", label_at=2)
    path([(c1 + 0.9, 3.1), (c1 + 0.9, 1.9)])
    ax.text(c1 + 0.8, 2.5, "CNN\nfeatures", ha="right", va="center", fontsize=8)
    path([(c1 + w, 1.4), (c2, 1.4)])
    path([(c1, 5.95), (c1 - 0.35, 5.95), (c1 - 0.35, 0.45), (mid2, 0.45), (mid2, 0.9)], "targets: frame embeddings", color="#1f4e79", label_at=3)
    ax.text(
        6.4, -0.3,
        "Dashed boxes exist only in training; teacher and embedding model stay frozen. On the device: the student alone.",
        ha="center", va="center", fontsize=8.5, style="italic",
    )
    ax.set_title("Dual knowledge distillation = TAKD (through the mean student) + EEFD (through the embedding distillation layer)", fontsize=10, pad=14)
    return fig


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m dualkd_lib.course build|check|run``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dualkd_lib.course", description="Build, check and run the course notebooks.")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: the one this package lives in)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="generate notebooks/*.ipynb and notebooks/solutions/*.ipynb from notebooks/src/*.py")
    sub.add_parser("check", help="exit 1 when a generated notebook is stale or a notebook has outputs")
    p = sub.add_parser("run", help="execute notebooks headless and print a timing table")
    p.add_argument("--variant", choices=VARIANTS, default="solutions")
    p.add_argument("--preset", choices=PRESETS, default="tiny")
    p.add_argument("--out", type=Path, default=None, help="save executed copies here")
    p.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    p.add_argument("names", nargs="*", help="notebooks by stem or number (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "build":
            changed = build(args.root)
            print(f"{len(changed)} notebook file(s) written" if changed else "all notebooks up to date")
            return 0
        if args.command == "check":
            problems = check(args.root)
            for problem in problems:
                print(f"course check: {problem}", file=sys.stderr)
            if not problems:
                print("course check: all notebooks match their sources and carry no outputs")
            return 1 if problems else 0
        timings = run_notebooks(args.variant, args.preset, out_dir=args.out, names=args.names or None, timeout=args.timeout, root=args.root)
        print(timing_table(timings))
        return 0
    except NotebookExecutionError as err:
        print(f"course run: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"course {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
