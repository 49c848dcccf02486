"""Exercise checkers: compare a learner's function with the library's, then move on.

The pattern of every exercise in the course (see ``notebooks/README.md``)::

    # %% tags=["exercise"]
    def seconds_to_frames(seconds, hop_length, sample_rate=16000):
        # BEGIN SOLUTION Exercise 0.1: convert times in seconds to frame indices
        ...
        # END SOLUTION

    # %%
    seconds_to_frames = exercises.check("0.1", seconds_to_frames)

:func:`check` calls the learner's function and the reference (a library function) on
the same seeded random inputs, prints a verdict (✅, or ❌ with a specific hint) and
returns the function later cells should use: the learner's when it is right, the
reference otherwise, so the notebook always runs to the end. The verdict is the
checker's output for the learner, so it is printed, not logged.

Each notebook's exercises live in their own module, ``nbNN.py`` of this package, and
register themselves with :func:`register_exercise` when :func:`check` first asks for one of
them: ``check("6.1", fn)`` imports ``nb06``; a notebook imports nothing else. Taught in
notebook 00.
"""
from __future__ import annotations

import copy
import importlib
import sys
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import numpy as np


#: ``predicate(user_output, reference_output, inputs) -> bool`` or a mismatch kind
#: (``"type"``, ``"shape"``, ``"dtype"``, ``"length"``, ``"keys"``, ``"columns"``,
#: ``"values"``, ``"error"``), paired with the message shown when it matches.
HintRule = tuple[Union[str, Callable[[Any, Any, Any], bool]], str]
Hints = Union[Mapping[str, str], Sequence[HintRule], None]
#: ``make_inputs(rng) -> tuple`` (positional arguments) or ``dict`` (keyword arguments).
MakeInputs = Callable[[np.random.Generator], Union[tuple, dict]]

_FALLBACK = "Later cells use the library's version so the notebook can go on."


# ---------------------------------------------------------------------------
# Comparing outputs
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Mismatch:
    """Why an output differs from the reference: ``kind``, where (``output[1]``), a message."""

    kind: str
    where: str
    message: str


def _describe(value: Any) -> str:
    """Short description of a value for messages: ``tensor[float32] shape (4, 10)``."""
    import torch

    if isinstance(value, torch.Tensor):
        return f"tensor[{str(value.dtype).replace('torch.', '')}] shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"array[{value.dtype}] shape {value.shape}"
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return f"DataFrame {value.shape[0]} rows × columns {list(value.columns)}"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    if isinstance(value, (int, float, bool, str, np.generic)) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return type(value).__name__


def _format_number(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.6g}"


def _compare_arrays(got: np.ndarray, exp: np.ndarray, where: str, atol: float, rtol: float, check_dtype: bool, kind: str) -> Mismatch | None:
    if got.shape != exp.shape:
        msg = f"{where}: expected shape {exp.shape}, got {got.shape}."
        if sorted(got.shape) == sorted(exp.shape):
            msg += " Same sizes in a different order: check the axis convention (e.g. [batch, classes, frames])."
        elif got.size == exp.size:
            msg += " Same number of elements: a reshape or view went wrong?"
        return Mismatch("shape", where, msg)
    if check_dtype and got.dtype != exp.dtype:
        return Mismatch("dtype", where, f"{where}: expected dtype {exp.dtype}, got {got.dtype}.")
    if exp.dtype.kind in "biuf" and got.dtype.kind in "biuf":
        g, e = got.astype(np.float64), exp.astype(np.float64)
        bad = ~np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=True)
    else:
        bad = ~(got == exp)
        bad = np.asarray(bad, dtype=bool).reshape(exp.shape)
    if not bad.any():
        return None
    n_bad = int(bad.sum())
    if exp.dtype.kind in "biuf" and got.dtype.kind in "biuf":
        diff = np.where(bad, np.abs(np.nan_to_num(g - e, nan=np.inf)), -1.0)
        flat = int(np.argmax(diff))
    else:
        flat = int(np.argmax(bad.reshape(-1)))
    index = np.unravel_index(flat, exp.shape) if exp.ndim else ()
    idx = tuple(int(i) for i in index)
    g0, e0 = got[idx] if idx else got[()], exp[idx] if idx else exp[()]
    if exp.dtype.kind in "biuf" and got.dtype.kind in "biuf":
        tolerance = "" if exp.dtype.kind in "biu" and got.dtype.kind in "biu" else f", atol {atol:g}"
        detail = f"expected {_format_number(e0)}, got {_format_number(g0)} (|difference| {abs(float(g0) - float(e0)):.3g}{tolerance})"
    else:
        detail = f"expected {e0!r}, got {g0!r}"
    at = f" at index {idx}" if idx else ""
    return Mismatch(
        kind, where, f"{where}: values differ{at}: {detail}; {n_bad} of {exp.size} entries differ."
    )


def compare_outputs(
    got: Any, expected: Any, *, atol: float = 1e-5, rtol: float = 1e-5, check_dtype: bool = True, where: str = "output"
) -> Mismatch | None:
    """First difference between ``got`` and ``expected``, or ``None`` when they match.

    Handles ``torch.Tensor``, ``np.ndarray``, ``pandas`` DataFrame/Series, tuples,
    lists, dicts and scalars, recursively. Numbers match within
    ``|got - expected| <= atol + rtol * |expected|`` (NaN equals NaN). Taught in notebook 00.
    """
    import pandas as pd
    import torch

    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return Mismatch("type", where, f"{where}: expected a torch.Tensor, got {_describe(got)}. Convert with torch.as_tensor(...).")
        g, e = got.detach().cpu().numpy(), expected.detach().cpu().numpy()
        if g.shape == e.shape and check_dtype and got.dtype != expected.dtype:
            return Mismatch("dtype", where, f"{where}: expected dtype {expected.dtype}, got {got.dtype}.")
        return _compare_arrays(g, e, where, atol, rtol, False, "values")
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray):
            hint = " Convert with .numpy()." if isinstance(got, torch.Tensor) else " Convert with np.asarray(...)."
            return Mismatch("type", where, f"{where}: expected a numpy array, got {_describe(got)}.{hint}")
        return _compare_arrays(got, expected, where, atol, rtol, check_dtype, "values")
    if isinstance(expected, pd.DataFrame):
        if not isinstance(got, pd.DataFrame):
            return Mismatch("type", where, f"{where}: expected a pandas DataFrame, got {_describe(got)}.")
        if list(got.columns) != list(expected.columns):
            return Mismatch("columns", where, f"{where}: expected columns {list(expected.columns)}, got {list(got.columns)}.")
        if len(got) != len(expected):
            return Mismatch("length", where, f"{where}: expected {len(expected)} rows, got {len(got)}.")
        for column in expected.columns:
            found = compare_outputs(
                got[column].to_numpy(), expected[column].to_numpy(), atol=atol, rtol=rtol, check_dtype=False, where=f"{where}[{column!r}]"
            )
            if found is not None:
                return found
        return None
    if isinstance(expected, pd.Series):
        if not isinstance(got, pd.Series):
            return Mismatch("type", where, f"{where}: expected a pandas Series, got {_describe(got)}.")
        return compare_outputs(got.to_numpy(), expected.to_numpy(), atol=atol, rtol=rtol, check_dtype=False, where=where)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return Mismatch("type", where, f"{where}: expected a {type(expected).__name__} of {len(expected)} items, got {_describe(got)}.")
        if len(got) != len(expected):
            return Mismatch("length", where, f"{where}: expected {len(expected)} items, got {len(got)}.")
        for i, (g, e) in enumerate(zip(got, expected)):
            found = compare_outputs(g, e, atol=atol, rtol=rtol, check_dtype=check_dtype, where=f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return Mismatch("type", where, f"{where}: expected a dict, got {_describe(got)}.")
        if set(got) != set(expected):
            missing, extra = sorted(map(str, set(expected) - set(got))), sorted(map(str, set(got) - set(expected)))
            return Mismatch("keys", where, f"{where}: keys differ (missing {missing}, unexpected {extra}).")
        for key in expected:
            found = compare_outputs(got[key], expected[key], atol=atol, rtol=rtol, check_dtype=check_dtype, where=f"{where}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)) or bool(got) != bool(expected):
            return Mismatch("values", where, f"{where}: expected {bool(expected)}, got {_describe(got)}.")
        return None
    if isinstance(expected, str) or expected is None:
        if not isinstance(got, type(expected)) or got != expected:
            return Mismatch("values", where, f"{where}: expected {expected!r}, got {_describe(got)}.")
        return None
    if isinstance(expected, (int, float, np.integer, np.floating)):
        if (isinstance(got, torch.Tensor) and got.numel() == 1) or (isinstance(got, np.ndarray) and got.size == 1):
            got = got.item()
        if not isinstance(got, (int, float, np.integer, np.floating)) or isinstance(got, bool):
            return Mismatch("type", where, f"{where}: expected a number, got {_describe(got)}.")
        if not np.isclose(float(got), float(expected), atol=atol, rtol=rtol, equal_nan=True):
            return Mismatch("values", where, f"{where}: expected {_format_number(expected)}, got {_format_number(got)}.")
        return None
    try:  # anything else: plain equality
        equal = bool(got == expected)
    except Exception:
        equal = False
    if not equal:
        return Mismatch("values", where, f"{where}: expected {_describe(expected)}, got {_describe(got)}.")
    return None


# ---------------------------------------------------------------------------
# Checking one function
# ---------------------------------------------------------------------------
@contextmanager
def _preserve_rng() -> Iterator[None]:
    """Run a block without changing the global random state of Python, NumPy and PyTorch."""
    import torch

    py, npy, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(th)


def _call(fn: Callable, inputs: tuple | dict, seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed)
    inputs = copy.deepcopy(inputs)
    if isinstance(inputs, dict):
        return fn(**inputs)
    return fn(*inputs)


def _describe_inputs(inputs: tuple | dict) -> str:
    if isinstance(inputs, dict):
        return ", ".join(f"{k}={_describe(v)}" for k, v in inputs.items())
    return ", ".join(_describe(v) for v in inputs)


def _hint_rules(hints: Hints) -> list[HintRule]:
    if hints is None:
        return []
    if isinstance(hints, Mapping):
        return list(hints.items())
    rules = list(hints)
    for rule in rules:
        if not (isinstance(rule, tuple) and len(rule) == 2 and isinstance(rule[1], str) and (isinstance(rule[0], str) or callable(rule[0]))):
            raise ValueError(f"Bad hint {rule!r}: use (predicate(user_out, ref_out, inputs) -> bool, message) or (kind, message).")
    return rules


def _pick_hint(rules: list[HintRule], kind: str, user_out: Any, ref_out: Any, inputs: Any) -> str | None:
    for condition, message in rules:
        if isinstance(condition, str):
            if condition == kind:
                return message
            continue
        try:
            if condition(user_out, ref_out, inputs):
                return message
        except Exception:  # a hint predicate must never break the checker
            continue
    return None


def _resolve(reference: Callable | str) -> Callable:
    if callable(reference):
        return reference
    module, _, attr = reference.partition(":")
    if not attr:
        raise ValueError(f"Reference {reference!r} must be a callable or 'package.module:function'.")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def check_exercise(
    name: str,
    user_fn: Any,
    reference_fn: Callable | str,
    make_inputs: MakeInputs,
    *,
    n_trials: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    compare: Callable[[Any, Any], Any] | None = None,
    hints: Hints = None,
    check_dtype: bool = True,
    seed: int = 0,
) -> Callable:
    """Compare ``user_fn`` with ``reference_fn`` on ``n_trials`` random inputs; return the one to use.

    Trial ``i`` draws its inputs with ``make_inputs(np.random.default_rng(seed + i))``
    (a tuple of positional or a dict of keyword arguments; PyTorch is seeded the same
    way), calls both functions on separate copies, and compares the outputs with
    ``compare(user_out, ref_out)`` (returns ``None``/``True`` when right, else ``False``
    or a message) or :func:`compare_outputs`. Prints ✅ and returns ``user_fn`` when
    every trial matches; otherwise prints ❌ with what differs and the first matching
    hint (``hints``: ``{kind: message}`` or ``[(predicate_or_kind, message), ...]``) and
    returns the reference. ``NotImplementedError`` counts as "not attempted yet".
    The global random state is left as it was. Taught in notebook 00.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}.")
    reference = _resolve(reference_fn)
    rules = _hint_rules(hints)
    title = f"Exercise {name}"
    if not callable(user_fn):
        print(f"❌ {title}: expected a function, got {_describe(user_fn)}. {_FALLBACK}")
        return reference

    with _preserve_rng():
        for trial in range(n_trials):
            rng = np.random.default_rng(seed + trial)
            import torch

            torch.manual_seed(seed + trial)
            inputs = make_inputs(rng)
            if not isinstance(inputs, (tuple, dict)):
                raise ValueError(f"make_inputs for {title} must return a tuple or a dict, got {type(inputs).__name__}.")
            ref_out = _call(reference, inputs, seed + trial)
            try:
                user_out = _call(user_fn, inputs, seed + trial)
            except NotImplementedError:
                print(f"❌ {title}: not attempted yet (your function raises NotImplementedError). {_FALLBACK}")
                return reference
            except Exception as err:  # the learner's bug, reported kindly
                hint = _pick_hint(rules, "error", err, ref_out, inputs)
                print(
                    f"❌ {title}: your function raised {type(err).__name__}: {err}\n"
                    f"   on random input {trial + 1} of {n_trials} ({_describe_inputs(inputs)})."
                    + (f"\n   Hint: {hint}" if hint else "")
                    + f"\n   {_FALLBACK} Fix your function, re-run its cell and this one."
                )
                return reference
            if compare is not None:
                verdict = compare(user_out, ref_out)
                mismatch = None if verdict is None or verdict is True else Mismatch(
                    "values", "output", verdict if isinstance(verdict, str) else "output differs from the reference."
                )
            else:
                mismatch = compare_outputs(user_out, ref_out, atol=atol, rtol=rtol, check_dtype=check_dtype)
            if mismatch is not None:
                hint = _pick_hint(rules, mismatch.kind, user_out, ref_out, inputs)
                print(
                    f"❌ {title}: not quite. On random input {trial + 1} of {n_trials} ({_describe_inputs(inputs)}):\n"
                    f"   {mismatch.message}"
                    + (f"\n   Hint: {hint}" if hint else "")
                    + f"\n   {_FALLBACK} Fix your function, re-run its cell and this one."
                )
                return reference
    print(f"✅ {title}: correct! `{_name(user_fn)}` matches the library's `{_name(reference)}` on {n_trials} random inputs. Later cells use your function.")
    return user_fn


# ---------------------------------------------------------------------------
# The registry: exercises.check("6.1", fn)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its reference function (or ``"module:function"``) and inputs."""

    exercise_id: str
    reference: Callable | str
    make_inputs: MakeInputs
    hints: Hints = None
    task: str = ""
    n_trials: int = 5
    atol: float = 1e-5
    rtol: float = 1e-5
    check_dtype: bool = True
    compare: Callable[[Any, Any], Any] | None = field(default=None)


_REGISTRY: dict[str, Exercise] = {}


def register_exercise(
    exercise_id: str,
    reference: Callable | str,
    make_inputs: MakeInputs,
    hints: Hints = None,
    *,
    task: str = "",
    n_trials: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    check_dtype: bool = True,
    compare: Callable[[Any, Any], Any] | None = None,
    replace: bool = False,
) -> Exercise:
    """Register exercise ``"N.M"`` so that ``check("N.M", fn)`` works; returns it.

    ``reference`` may be a ``"dualkd_lib.module:function"`` string, imported only when
    the exercise is checked (so registering costs nothing). Registering an id twice
    raises ``ValueError`` unless ``replace=True``.
    """
    if not isinstance(exercise_id, str) or not exercise_id.strip():
        raise ValueError(f"exercise_id must be a non-empty string like '5.1', got {exercise_id!r}.")
    if exercise_id in _REGISTRY and not replace:
        raise ValueError(f"Exercise {exercise_id!r} is already registered; pass replace=True to redefine it.")
    if not (callable(reference) or (isinstance(reference, str) and ":" in reference)):
        raise ValueError(f"reference for exercise {exercise_id!r} must be a callable or 'module:function', got {reference!r}.")
    _hint_rules(hints)  # validates
    exercise = Exercise(exercise_id, reference, make_inputs, hints, task, n_trials, atol, rtol, check_dtype, compare)
    _REGISTRY[exercise_id] = exercise
    return exercise


#: The notebooks that have exercises: ``nbNN.py`` of this package registers notebook NN's.
EXERCISE_NOTEBOOKS: tuple[int, ...] = (0, 2, 3, 4, 5, 6, 7, 8, 9)


def _load_notebook_exercises(exercise_id: str) -> None:
    """Import ``nbNN`` for ``"N.M"`` (it registers its exercises); unknown notebooks are left alone."""
    number = exercise_id.split(".")[0]
    if number.isdigit() and int(number) in EXERCISE_NOTEBOOKS:
        name = f"dualkd_lib.teaching.exercises.nb{int(number):02d}"
        module = sys.modules.get(name)
        if module is None:
            importlib.import_module(name)
        elif exercise_id not in _REGISTRY:  # imported, but its registrations were dropped (a test's registry copy)
            importlib.reload(module)


def registered_exercises() -> dict[str, Exercise]:
    """Every exercise of the course, ``{exercise_id: Exercise}`` (imports each ``nbNN`` once)."""
    for number in EXERCISE_NOTEBOOKS:
        _load_notebook_exercises(f"{number}.1")
    return dict(_REGISTRY)


def check(exercise_id: str, user_fn: Any) -> Callable:
    """Check the learner's function for a registered exercise; return the function to use.

    Raises ``ValueError`` naming the registered ids when ``exercise_id`` is unknown.
    Taught in notebook 00.
    """
    if isinstance(exercise_id, str) and exercise_id not in _REGISTRY:
        _load_notebook_exercises(exercise_id)
    if exercise_id not in _REGISTRY:
        raise ValueError(f"No exercise {exercise_id!r} is registered; registered: {sorted(registered_exercises())}.")
    ex = _REGISTRY[exercise_id]
    return check_exercise(
        exercise_id, user_fn, ex.reference, ex.make_inputs, n_trials=ex.n_trials, atol=ex.atol,
        rtol=ex.rtol, compare=ex.compare, hints=ex.hints, check_dtype=ex.check_dtype,
    )
