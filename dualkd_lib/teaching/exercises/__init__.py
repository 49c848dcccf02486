"""The course's exercises: :func:`check` compares a learner's function with the library's.

``exercises.check("6.1", fn)`` finds exercise 6.1 in ``nb06.py`` (imported on first use), so a
notebook needs only ``from dualkd_lib.teaching import exercises``. The checker itself is
:mod:`~dualkd_lib.teaching.exercises.checker`. Taught in notebook 00.
"""
from dualkd_lib.teaching.exercises.checker import (
    EXERCISE_NOTEBOOKS,
    Exercise,
    check,
    check_exercise,
    compare_outputs,
    register_exercise,
    registered_exercises,
)

__all__ = ["EXERCISE_NOTEBOOKS", "Exercise", "check", "check_exercise", "compare_outputs", "register_exercise",
           "registered_exercises"]
