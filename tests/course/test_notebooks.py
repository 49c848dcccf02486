"""Every notebook runs top to bottom, both variants, on the tiny preset.

Student variants may raise only NotImplementedError, and only in stub cells; the
checker cells fall back to the library so the rest of the notebook runs. One test per
notebook and variant, so a failure names the notebook; the timing table is printed at
the end of the module (also without ``-s``). Run just these with ``pytest -m notebooks``.
"""
from __future__ import annotations

from pathlib import Path

import pytest


from dualkd_lib.course import build, run

ROOT = Path(__file__).resolve().parents[2]
NAMES = [p.stem for p in build.find_sources(ROOT)]

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def timings(request: pytest.FixtureRequest) -> list[run.NotebookTiming]:
    collected: list[run.NotebookTiming] = []
    yield collected
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if collected and reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # print past pytest's output capture
            reporter.write_line("")
            reporter.write_line("Notebook timings (tiny preset):")
            for line in run.timing_table(collected).splitlines():
                reporter.write_line(line)


@pytest.mark.parametrize("variant", build.VARIANTS)
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name: str, variant: str, tmp_path: Path, timings: list) -> None:
    result = run.run_notebooks(variant, preset="tiny", names=[name], out_dir=tmp_path, root=ROOT, timeout=300)
    assert [t.name for t in result] == [name]
    if variant == "solutions":
        assert result[0].stubs_raised == 0
    timings.extend(result)
    print(run.timing_table(result))
