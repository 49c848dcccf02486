"""Shared test helper: a small notebook source (``DEMO``) and a copy of the repository layout to build it
in, for the tests of dualkd_lib/course/. Imported by name (tests/ is on the path)."""
from __future__ import annotations

import textwrap
from pathlib import Path

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


def make_root(tmp_path: Path, sources: dict[str, str]) -> Path:
    src = tmp_path / "notebooks" / "src"
    src.mkdir(parents=True)
    for name, text in sources.items():
        (src / name).write_text(text, encoding="utf-8")
    return tmp_path

