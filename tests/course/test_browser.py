"""The course in a real JupyterLab, in a real (headless) Chromium (issue #13).

One JupyterLab server (this interpreter's, 127.0.0.1, no token, ``DUALKD_PRESET=tiny`` for
its kernels) serves a temporary copy of the student notebooks, so autosave never touches the
committed ones; the data and caches are the usual ``data/generated/tiny`` and
``data/cache/tiny`` of the headless notebook tests. For every numbered notebook, in order:
open it in the UI, Run > Run All Cells, wait for every code cell's execution count and an
idle kernel, fail on any error output except the exercise stubs' ``NotImplementedError``,
check that every interactive widget rendered (controls showing values, a figure), move its
first control (slider: arrow key on the focused handle; dropdown: its <select>) and check
that the widget's figure (its ``<img>`` in the DOM) changes, then move each other control
once (the figure must be re-drawn without an error). Screenshots go to
``build/browser/NN_slug.png`` (the whole notebook, stitched), ``NN_slug_widgetK.png`` (each
widget after its controls moved), with ``summary.txt``, the server's log and each page's
browser console beside them.

Without chromium + chromedriver (``$DUALKD_CHROMIUM`` / ``$DUALKD_CHROMEDRIVER`` when set,
else Debian's ``/usr/bin`` ones, else those on PATH) the module is skipped, unless
``DUALKD_REQUIRE_BROWSER=1`` (CI): then ``test_browser_is_available`` fails. Run just this
with ``pytest -m browser``.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import browser_support as bs  # tests/ is on the path (pyproject.toml: pythonpath)

ROOT = bs.ROOT
SHOTS = ROOT / "build" / "browser"
NAMES = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
PATHS = bs.chromium_paths()

pytestmark = pytest.mark.browser

if PATHS is None and not bs.browser_required():
    pytest.skip(bs.SKIP_REASON, allow_module_level=True)


def test_browser_is_available() -> None:
    if PATHS is None:
        pytest.fail(f"{bs.SKIP_REASON} -- but {bs.REQUIRE_ENV_VAR}=1 makes it mandatory: failing", pytrace=False)


@pytest.fixture(scope="module")
def reports(request: pytest.FixtureRequest) -> list[bs.NotebookReport]:
    """The notebooks' reports; a summary is printed at the end of the module (also without ``-s``)."""
    collected: list[bs.NotebookReport] = []
    started = time.monotonic()
    yield collected
    if not collected:
        return
    lines = ["", f"JupyterLab + Chromium (tiny preset), {time.monotonic() - started:.0f} s in all:"]
    for rep in collected:
        lines.append("  " + rep.summary() + (f"; {rep.other_widgets} other widget view(s) (progress bars)"
                                              if rep.other_widgets else ""))
        lines += [f"      widget {w.line()}" for w in rep.widgets]
        lines += [f"      screenshot {p.relative_to(ROOT)}" for p in rep.screenshots[:1]]
        lines += [f"      stderr (not a failure): {text}" for text in dict.fromkeys(
            line.splitlines()[0][:200] for line in rep.stderr)]
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "summary.txt").write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            for line in lines:
                reporter.write_line(line)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> bs.JupyterLab:
    if PATHS is None:
        pytest.skip("no chromium/chromedriver: see test_browser_is_available")
    home = tmp_path_factory.mktemp("jupyterlab")
    bs.copy_student_notebooks(home / "root")
    env = bs.lab_environment("tiny", home)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in [*SHOTS.glob("*.png"), *SHOTS.glob("*.log"), *SHOTS.glob("summary.txt")]:
        old.unlink()  # no screenshot of an earlier run left beside this run's
    log = SHOTS / "jupyterlab.log"
    with bs.JupyterLab(home / "root", env, log) as server:
        yield server


class _Browser:
    """The module's Chromium; started again if a notebook left it unusable."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.driver, self.starts = folder, None, 0

    def get(self):
        if self.driver is not None:
            try:
                self.driver.execute_script("return 1;")
                return self.driver
            except Exception:  # noqa: BLE001 (crashed or hung: start a fresh one)
                self.quit()
        self.starts += 1
        profile = self.folder / f"profile{self.starts}"
        profile.mkdir(parents=True, exist_ok=True)
        self.driver = bs.start_chromium(profile)
        return self.driver

    def quit(self) -> None:
        driver, self.driver = self.driver, None
        if driver is None:
            return
        try:
            driver.quit()
        except Exception:  # noqa: BLE001
            pass
        process = getattr(getattr(driver, "service", None), "process", None)
        if process is not None and process.poll() is None:
            process.kill()


@pytest.fixture(scope="module")
def browser(lab: bs.JupyterLab, tmp_path_factory: pytest.TempPathFactory):
    holder = _Browser(tmp_path_factory.mktemp("chromium"))
    try:
        yield holder
    finally:
        holder.quit()


#: Seconds for all the notebooks together (about 3.5 min warm, 6.5 min cold on a loaded 2-core machine):
#: past it, the remaining notebooks fail at once rather than keep CI waiting.
MODULE_BUDGET = 1800.0
#: Seconds for one notebook's Run All Cells (the slowest, 06, takes about 100 s cold under load).
RUN_TIMEOUT = 420.0


@pytest.fixture(scope="module")
def deadline(lab: bs.JupyterLab) -> float:
    return time.monotonic() + MODULE_BUDGET


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_jupyterlab(name: str, lab: bs.JupyterLab, browser: _Browser, deadline: float,
                                     reports: list[bs.NotebookReport]) -> None:
    left = deadline - time.monotonic()
    if left < 60:
        pytest.fail(f"the browser test's time budget ({MODULE_BUDGET:.0f} s for all notebooks) is spent", pytrace=False)
    notebook = lab.root_dir / f"{name}.ipynb"
    driver = browser.get()
    try:
        report = bs.run_notebook_in_lab(driver, lab, notebook, SHOTS, run_timeout=min(RUN_TIMEOUT, left - 30))
    finally:
        try:  # the notebook's tab is closed (else leave the page): JupyterLab must not see its kernel go
            if bs.notebook_open(driver):
                driver.get("about:blank")
        except Exception:  # noqa: BLE001 (a dead browser is started again by the next test)
            pass
        leftovers = lab.shutdown_sessions(notebook.name)  # free the kernel's memory before the next notebook
    report.problems += [f"could not shut down the kernel: {e}" for e in leftovers]
    reports.append(report)
    print(report.summary())
    for line in report.stderr:
        print("stderr:", line)
    assert not report.problems, f"{name} in JupyterLab:\n" + "\n".join(f"- {p}" for p in report.problems)
