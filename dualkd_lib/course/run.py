"""Running the notebooks headless: :func:`run_notebooks` (nbclient, timings, the stub cells' ``NotImplementedError``
tolerated) and ``dualkd course`` (:func:`main_run_course`: train what the notebooks load, then run them all).

Taught in notebook 00 (the course map).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence


from dualkd_lib import layout
from dualkd_lib.config import PRESETS
from dualkd_lib.constants import DATA_ROOT_ENV_VAR, PRESET_ENV_VAR
from dualkd_lib.distill import STUDENT_MODES
from dualkd_lib.course.build import RAISES_TAG, _check_variant, _paths, build_notebook, find_sources
from dualkd_lib.layout import default_data_root, default_work_dir

logger = logging.getLogger(__name__)

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

    Its clients wait for replies in short polls (:mod:`dualkd_lib.course.kernel`).
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    from dualkd_lib.course.kernel import SlicedWaitKernelClient

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
        raise ValueError(f"Unknown preset {preset!r}; use one of {tuple(PRESETS)}.")
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


def _ablation_dir(preset: str) -> Path:
    """``data/cache/<preset>/ablation``: where notebook 08 (and ``dualkd course``) write the table."""
    return layout.ablation_dir(default_work_dir(preset))


def prepare_models(preset: str, *, jobs: int | None = None) -> dict[str, float]:
    """Generate the data and train every model the notebooks load, in this process.

    The same calls as notebooks 01-08 (seed 0 data, the teacher, the five student modes with
    seed 0, notebook 08's ablation table, the short runs of the experiments 6.A-8.A), made
    before the notebooks run so that the long training happens in plain Python processes
    rather than inside a Jupyter kernel: the students and the short runs ``jobs`` at a time in
    one pool (:func:`dualkd_lib.teaching.learner_runs.train_in_parallel`), then the table from
    the finished runs. The data folder is ``$DUALKD_DATA_ROOT`` when set, as in the notebooks.
    Everything already cached is reused. Returns the seconds of each stage (``data``, the shared
    inputs, the pool, then the table's own stages, which only score, and ``total``).
    Taught in notebook 00.
    """
    from dualkd_lib import recipe
    from dualkd_lib.teaching import learner_runs

    start = time.perf_counter()
    data_root = os.environ.get(DATA_ROOT_ENV_VAR) or default_data_root(preset)  # as the notebooks' parameters cell
    jobs = jobs if jobs is not None else recipe.default_jobs()
    ctx = recipe.Context.create(preset, data_root=Path(data_root), work_dir=default_work_dir(preset),
                                data_jobs=jobs)
    seconds = {"data": time.perf_counter() - start}
    out = _ablation_dir(preset)
    t0 = time.perf_counter()
    ctx.training_datasets(with_teacher=True, with_embeddings=True)  # what every run reads
    seconds["features, embeddings, teacher outputs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # the five students of seed 0 and the short runs of Experiments 6.A, 7.A and 8.A, in one pool
    learner_runs.train_in_parallel(ctx, jobs=jobs, students=STUDENT_MODES)
    seconds[f"students and short runs, {jobs} at a time"] = time.perf_counter() - t0
    recipe.run_ablation(ctx, seeds=[0], out_dir=out, jobs=jobs)  # notebook 08's table, from the finished runs
    report = out / "ablation.json"
    if report.is_file():
        seconds.update(json.loads(report.read_text(encoding="utf-8")).get("stage_seconds_this_call", {}))
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
          f"{default_work_dir(preset)})", flush=True)
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


