"""Tests of dualkd_lib/teaching/exercises/common.py: re-importing an exercise module registers again without error."""
from __future__ import annotations

from dualkd_lib.teaching import exercises
from dualkd_lib.teaching.exercises import nb03, nb05, nb06, nb07, nb08


def test_reimport_does_not_fail() -> None:
    import importlib

    for module in (nb03, nb05, nb06, nb07, nb08):
        importlib.reload(module)
    assert "8.1" in exercises.registered_exercises()
