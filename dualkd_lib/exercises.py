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

Exercises are registered once, here, with :func:`register_exercise`; each notebook's
block is at the end of this file. Taught in notebook 00.
"""
from __future__ import annotations

import copy
import importlib
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import numpy as np

from dualkd_lib.constants import SAMPLE_RATE

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


def registered_exercises() -> dict[str, Exercise]:
    """A copy of the registry, ``{exercise_id: Exercise}``."""
    return dict(_REGISTRY)


def check(exercise_id: str, user_fn: Any) -> Callable:
    """Check the learner's function for a registered exercise; return the function to use.

    Raises ``ValueError`` naming the registered ids when ``exercise_id`` is unknown.
    Taught in notebook 00.
    """
    if exercise_id not in _REGISTRY:
        raise ValueError(f"No exercise {exercise_id!r} is registered; registered: {sorted(_REGISTRY)}.")
    ex = _REGISTRY[exercise_id]
    return check_exercise(
        exercise_id, user_fn, ex.reference, ex.make_inputs, n_trials=ex.n_trials, atol=ex.atol,
        rtol=ex.rtol, compare=ex.compare, hints=ex.hints, check_dtype=ex.check_dtype,
    )


# ---------------------------------------------------------------------------
# Notebook 00: warm-up
# ---------------------------------------------------------------------------
def seconds_to_frames(seconds: Any, hop_length: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Index of the feature frame that contains each time: ``floor(seconds * sample_rate / hop_length)``.

    ``seconds``: array-like of times (s); ``hop_length``: samples between frames;
    returns ``int64`` frame indices, same shape. Frame ``k`` covers samples
    ``[k * hop_length, (k + 1) * hop_length)``. Taught in notebook 00 (Exercise 0.1).
    """
    if hop_length <= 0 or sample_rate <= 0:
        raise ValueError(f"hop_length and sample_rate must be positive, got {hop_length} and {sample_rate}.")
    samples = np.asarray(seconds, dtype=np.float64) * sample_rate
    return np.floor(samples / hop_length).astype(np.int64)


def _inputs_0_1(rng: np.random.Generator) -> dict:
    n = int(rng.integers(3, 12))
    return {"seconds": rng.uniform(0.0, 10.0, size=n), "hop_length": int(rng.choice([160, 256, 320, 512]))}


def _used_round(user: Any, ref: Any, inputs: dict) -> bool:
    r = np.round(np.asarray(inputs["seconds"]) * SAMPLE_RATE / inputs["hop_length"])
    return np.array_equal(np.asarray(user), r) and not np.array_equal(r, ref)


def _forgot_sample_rate(user: Any, ref: Any, inputs: dict) -> bool:
    return np.allclose(np.asarray(user, dtype=float), np.floor(np.asarray(inputs["seconds"]) / inputs["hop_length"]))


register_exercise(
    "0.1",
    seconds_to_frames,
    _inputs_0_1,
    hints=[
        (_used_round, "You rounded to the nearest frame. A time belongs to the frame that has already *started*: use np.floor."),
        (_forgot_sample_rate, "Go through samples: seconds × sample_rate gives samples, samples / hop_length gives frames."),
        ("dtype", "Frame indices are whole numbers: finish with .astype(np.int64)."),
        ("type", "Return a numpy array (np.floor(...) of an array is one), not a list or a tensor."),
    ],
    task="convert times in seconds to frame indices",
)


# ---------------------------------------------------------------------------
# Notebook 02: features and label encoding
# ---------------------------------------------------------------------------
def _safe_array(x: Any) -> np.ndarray:
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def event_frame_range(onset: Any, offset: Any, frame_seconds: float, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames an event covers: ``(first, end)`` int64 arrays, ``end`` exclusive.

    ``first = floor(onset / frame_seconds)``, ``end = ceil(offset / frame_seconds)``
    (with a 1e-6-frame tolerance against float rounding), clipped to the
    ``n_frames`` grid, at least one frame. The convention of
    :meth:`dualkd_lib.features.ManyHotEncoder.time_to_frames`, which this calls.
    Taught in notebook 02 (Exercise 2.1).
    """
    from dualkd_lib.features import ManyHotEncoder

    enc = ManyHotEncoder(("event",), clip_seconds=n_frames * frame_seconds, n_frames=n_frames,
                         frame_seconds=frame_seconds)
    return enc.time_to_frames(onset, offset)


def encode_strong(events: Any, n_frames: int, frame_seconds: float, classes: Sequence[str]) -> np.ndarray:
    """Events ``[(label, onset_s, offset_s), ...]`` -> frame labels ``[classes, n_frames]`` (float32 0/1).

    Frames as in :func:`event_frame_range`; the reference is
    :meth:`dualkd_lib.features.ManyHotEncoder.encode_strong`. Taught in notebook 02 (Exercise 2.2).
    """
    from dualkd_lib.features import ManyHotEncoder

    enc = ManyHotEncoder(tuple(classes), clip_seconds=n_frames * frame_seconds, n_frames=n_frames,
                         frame_seconds=frame_seconds)
    return enc.encode_strong(list(events))


def standardise(features: Any, mean: Any, std: Any) -> Any:
    """Per-mel standardisation ``(x - mean[mel]) / std[mel]`` of ``[batch, n_mels, frames]``.

    ``mean``, ``std``: ``[n_mels]`` tensors fitted on training data. The reference is
    :class:`dualkd_lib.features.Scaler`, loaded with these statistics.
    Taught in notebook 02 (Exercise 2.3).
    """
    import torch

    from dualkd_lib.features import Scaler

    mean = torch.as_tensor(mean, dtype=torch.float32)
    scaler = Scaler(len(mean))
    scaler.load_state_dict({"mean": mean, "std": torch.as_tensor(std, dtype=torch.float32),
                            "fitted": torch.tensor(True)})
    with torch.no_grad():
        return scaler(torch.as_tensor(features))


def _inputs_2_1(rng: np.random.Generator) -> dict:
    frame_seconds = float(rng.choice([0.064, 0.032, 0.1]))
    n_frames = int(10.0 / frame_seconds)
    n = 12
    onset = np.round(rng.uniform(0.0, 9.5, size=n), 3)
    offset = np.round(onset + rng.uniform(0.05, 3.0, size=n), 3)  # some run past the last frame
    # DESED-style times that sit exactly on frame edges (0.192 s = 3 frames of 64 ms)
    k = rng.integers(1, n_frames - 20, size=4)
    onset[:4] = np.round(k * frame_seconds, 3)
    offset[:4] = np.round((k + rng.integers(1, 15, size=4)) * frame_seconds, 3)
    return {"onset": onset, "offset": offset, "frame_seconds": frame_seconds, "n_frames": n_frames}


def _frame_variant(inputs: dict, on_rule: Callable, off_rule: Callable, tol: float = 1e-6, clip: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Frame ranges computed with other rounding rules, to recognise typical mistakes."""
    on = np.asarray(inputs["onset"]) / inputs["frame_seconds"]
    off = np.asarray(inputs["offset"]) / inputs["frame_seconds"]
    first, end = on_rule(on + tol).astype(np.int64), off_rule(off - tol).astype(np.int64)
    if clip:
        first, end = np.clip(first, 0, inputs["n_frames"] - 1), np.clip(end, 0, inputs["n_frames"])
        end = np.maximum(end, first + 1)
    return first, end


def _same_pair(user: Any, other: tuple[np.ndarray, np.ndarray]) -> bool:
    return len(user) == 2 and all(np.array_equal(_safe_array(u), o) for u, o in zip(user, other))


def _hint_2_1_end_floor(user: Any, ref: Any, inputs: dict) -> bool:
    end = _safe_array(user[1])
    return any(np.array_equal(end, _frame_variant(inputs, np.floor, np.floor, tol=tol)[1]) for tol in (1e-6, 0.0))


def _hint_2_1_inclusive(user: Any, ref: Any, inputs: dict) -> bool:
    return np.array_equal(_safe_array(user[0]), ref[0]) and np.array_equal(_safe_array(user[1]), ref[1] - 1)


def _hint_2_1_round(user: Any, ref: Any, inputs: dict) -> bool:
    return _same_pair(user, _frame_variant(inputs, np.round, np.round, tol=0.0))


def _hint_2_1_tolerance(user: Any, ref: Any, inputs: dict) -> bool:
    return _same_pair(user, _frame_variant(inputs, np.floor, np.ceil, tol=0.0))


def _hint_2_1_no_clip(user: Any, ref: Any, inputs: dict) -> bool:
    return int(np.max(_safe_array(user[1]))) > inputs["n_frames"]


register_exercise(
    "2.1",
    event_frame_range,
    _inputs_2_1,
    hints=[
        (_hint_2_1_no_clip, "Some events run past the last frame: clip first to [0, n_frames - 1] and end to "
                            "[0, n_frames] (np.clip)."),
        (_hint_2_1_end_floor, "The offset's own frame is active too: use np.ceil for the end (and np.floor for "
                              "the onset), so every frame the event touches is labelled."),
        (_hint_2_1_inclusive, "Return `end` exclusive, like a Python slice (labels[first:end]): one more than the "
                              "last active frame."),
        (_hint_2_1_round, "Don't round to the nearest frame: floor the onset, ceil the offset."),
        (_hint_2_1_tolerance, "Float rounding: 0.192 / 0.064 = 2.9999999999999996, so floor gives 2. Add a "
                              "tolerance of 1e-6 frames: floor(x + 1e-6) for onsets, ceil(x - 1e-6) for offsets."),
        ("dtype", "Frame indices are whole numbers: finish with .astype(np.int64)."),
        ("type", "Return a tuple (first, end) of two numpy arrays."),
        ("length", "Return a tuple of exactly two arrays: (first, end)."),
    ],
    task="turn onset/offset times into frame ranges",
)


def _inputs_2_2(rng: np.random.Generator) -> dict:
    from dualkd_lib.constants import CLASSES

    classes = list(CLASSES[: int(rng.integers(3, len(CLASSES) + 1))])
    frame_seconds = float(rng.choice([0.064, 0.1]))
    n_frames = int(10.0 / frame_seconds)
    events = []
    for _ in range(int(rng.integers(2, 7))):
        onset = round(float(rng.uniform(0.0, 9.0)), 3)
        events.append((str(rng.choice(classes)), onset, round(min(onset + float(rng.uniform(0.1, 4.0)), 10.0), 3)))
    events.append((classes[0], round(3 * frame_seconds, 3), round(7 * frame_seconds, 3)))  # on frame edges
    return {"events": events, "n_frames": n_frames, "frame_seconds": frame_seconds, "classes": classes}


def _hint_2_2_transposed(user: Any, ref: Any, inputs: dict) -> bool:
    return _safe_array(user).shape == ref.shape[::-1]


def _hint_2_2_end_floor(user: Any, ref: Any, inputs: dict) -> bool:
    u = _safe_array(user)
    return u.shape == ref.shape and u.sum() < ref.sum() and np.all(u <= ref)


def _hint_2_2_inclusive(user: Any, ref: Any, inputs: dict) -> bool:
    u = _safe_array(user)
    return u.shape == ref.shape and u.sum() > ref.sum() and np.all(u >= ref)


register_exercise(
    "2.2",
    encode_strong,
    _inputs_2_2,
    hints=[
        (_hint_2_2_transposed, "Rows are classes and columns frames: np.zeros((len(classes), n_frames)), "
                               "then labels[class_index, first:end] = 1."),
        (_hint_2_2_end_floor, "Some active frames are missing: the offset's frame counts (ceil, with the 1e-6 "
                              "tolerance), and `end` is exclusive. Reuse event_frame_range from Exercise 2.1."),
        (_hint_2_2_inclusive, "Too many active frames: `end` is exclusive (labels[c, first:end]), and onsets "
                              "use floor with a +1e-6 tolerance so 0.192 s starts frame 3, not 2."),
        ("dtype", "Labels are float32 (the loss compares them with float scores): np.zeros(..., dtype=np.float32)."),
        ("type", "Return a numpy array [classes, n_frames]."),
    ],
    task="encode events as frame labels",
)


def _inputs_2_3(rng: np.random.Generator) -> tuple:
    import torch

    n_mels = int(rng.choice([8, 16, 64]))
    frames = int(rng.integers(20, 40))
    mean = rng.normal(-20.0, 10.0, size=n_mels)
    std = rng.uniform(5.0, 15.0, size=n_mels)
    x = mean[None, :, None] + std[None, :, None] * rng.standard_normal((3, n_mels, frames)) + 3.0
    as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    return (as_t(x), as_t(mean), as_t(std))


def _hint_2_3_batch_stats(user: Any, ref: Any, inputs: tuple) -> bool:
    x = inputs[0]
    own = (x - x.mean()) / x.std()
    per_mel = (x - x.mean(dim=(0, 2), keepdim=True)) / x.std(dim=(0, 2), keepdim=True)
    return any(bool(np.allclose(_safe_array(user), o.numpy(), atol=1e-3)) for o in (own, per_mel))


def _hint_2_3_variance(user: Any, ref: Any, inputs: tuple) -> bool:
    x, mean, std = inputs
    return bool(np.allclose(_safe_array(user), ((x - mean[:, None]) / std[:, None] ** 2).numpy(), atol=1e-4))


register_exercise(
    "2.3",
    standardise,
    _inputs_2_3,
    hints=[
        ("error", "mean and std have one value per mel bin; index them as mean[:, None] so they broadcast "
                  "over [batch, n_mels, frames] along dim 1."),
        (_hint_2_3_batch_stats, "Use the given mean and std (fitted once on the training set), not statistics "
                                "of this batch: a test clip must be scaled exactly like the training data."),
        (_hint_2_3_variance, "Divide by the standard deviation, not the variance."),
        ("shape", "Keep the shape [batch, n_mels, frames]: mean[:, None] broadcasts over frames."),
        ("type", "Return a torch tensor (torch operations on the inputs give one)."),
    ],
    task="standardise features with the training mean and std",
)


# ---------------------------------------------------------------------------
# Notebook 04: post-processing
# ---------------------------------------------------------------------------
def _inputs_4_1(rng: np.random.Generator) -> tuple:
    frames = int(rng.integers(30, 80))
    scores = rng.random((10, frames))
    scores[:, : frames // 3] += 0.4 * (rng.random((10, 1)) > 0.5)  # a step, so edges matter
    return (np.clip(scores, 0.0, 1.0), int(rng.choice([3, 5, 7, 9])))


def _scipy_median(scores: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    from scipy.ndimage import median_filter as nd_median

    return nd_median(scores, size=size, mode=mode)


def _hint_4_1_axis(user: Any, ref: Any, inputs: tuple) -> bool:
    scores, length = inputs
    return bool(np.allclose(_safe_array(user), _scipy_median(scores, (length, 1), "nearest")))


def _hint_4_1_edges(user: Any, ref: Any, inputs: tuple) -> bool:
    u = _safe_array(user)
    half = inputs[1] // 2
    inner = slice(half, u.shape[-1] - half)
    return u.shape == ref.shape and np.allclose(u[:, inner], ref[:, inner]) and not np.allclose(u, ref)


register_exercise(
    "4.1",
    "dualkd_lib.evaluate:median_filter",
    _inputs_4_1,
    hints=[
        (_hint_4_1_axis, "You filtered across classes. Filter each class along time only: window (1, length), "
                         "or loop over the rows."),
        (_hint_4_1_edges, "The middle is right, the edges are not: pad each row by repeating its first and last "
                          "frame (np.pad(..., mode='edge'), or scipy's mode='nearest'), not with zeros or a mirror."),
        ("shape", "Return the same shape as the scores, [classes, frames]: pad the edges so the filter "
                  "keeps every frame."),
        ("type", "Return a numpy array."),
    ],
    task="median-filter the scores along time",
)


def decode_clip(scores: Any, threshold: float, frame_seconds: float, classes: Sequence[str] | None = None
                ) -> Any:
    """Scores of one clip ``[classes, frames]`` -> events ``event_label, onset, offset`` (s).

    A frame is active when its score is *above* ``threshold``; each run of active
    frames is one event from its first frame's start to its last frame's end.
    Rows sorted by class order, then onset. The reference is
    :func:`dualkd_lib.evaluate.decode_detections` on one clip. Taught in notebook 04
    (Exercise 4.2).
    """
    import pandas as pd

    from dualkd_lib.constants import CLASSES
    from dualkd_lib.evaluate import decode_detections

    classes = list(CLASSES if classes is None else classes)
    x = _safe_array(scores).astype(np.float64)
    det = decode_detections(x[None], ["clip"], frame_seconds, threshold, classes=classes,
                            clip_seconds=x.shape[-1] * frame_seconds)
    det["order"] = det["event_label"].map({c: i for i, c in enumerate(classes)})
    det = det.sort_values(["order", "onset"]).reset_index(drop=True)
    return pd.DataFrame(det[["event_label", "onset", "offset"]])


def _inputs_4_2(rng: np.random.Generator) -> dict:
    from dualkd_lib.constants import CLASSES

    frames = int(rng.integers(40, 100))
    scores = np.round(rng.random((len(CLASSES), frames)) ** 2, 1)  # values on a 0.1 grid: some exactly 0.5
    scores[0, :3] = 0.9  # an event at the start of the clip
    scores[1, -3:] = 0.9  # and one that lasts to its end
    return {"scores": scores, "threshold": 0.5, "frame_seconds": float(rng.choice([0.064, 0.1]))}


def _as_events(table: Any) -> Any:
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, got {_describe(table)}")
    missing = {"event_label", "onset", "offset"} - set(table.columns)
    if missing:
        raise KeyError(f"missing columns {sorted(missing)}")
    out = table[["event_label", "onset", "offset"]].copy()
    out["onset"] = out["onset"].astype(float).round(3)
    out["offset"] = out["offset"].astype(float).round(3)
    return out.sort_values(["event_label", "onset"]).reset_index(drop=True)


def _compare_4_2(user: Any, ref: Any) -> str | None:
    try:
        u = _as_events(user)
    except (TypeError, KeyError) as err:
        return f"Return a DataFrame with columns event_label, onset, offset ({err})."
    r = _as_events(ref)
    if len(u) != len(r):
        return f"expected {len(r)} events, got {len(u)}."
    mismatch = compare_outputs(u, r, atol=1.5e-3, rtol=0.0, check_dtype=False)
    return None if mismatch is None else mismatch.message


def _variant_4_2(inputs: dict, active: np.ndarray, end_shift: int = 0, in_frames: bool = False) -> Any:
    import pandas as pd

    from dualkd_lib.constants import CLASSES

    fs = 1.0 if in_frames else inputs["frame_seconds"]
    rows = []
    for c, label in enumerate(CLASSES):
        edges = np.diff(np.concatenate([[0], active[c].astype(int), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            rows.append((label, a * fs, (b + end_shift) * fs))
    return pd.DataFrame(rows, columns=["event_label", "onset", "offset"])


def _matches(user: Any, other: Any) -> bool:
    return _compare_4_2(user, other) is None


def _hint_4_2_geq(user: Any, ref: Any, inputs: dict) -> bool:
    return _matches(user, _variant_4_2(inputs, inputs["scores"] >= inputs["threshold"]))


def _hint_4_2_end(user: Any, ref: Any, inputs: dict) -> bool:
    return _matches(user, _variant_4_2(inputs, inputs["scores"] > inputs["threshold"], end_shift=-1))


def _hint_4_2_frames(user: Any, ref: Any, inputs: dict) -> bool:
    return _matches(user, _variant_4_2(inputs, inputs["scores"] > inputs["threshold"], in_frames=True))


def _hint_4_2_edges(user: Any, ref: Any, inputs: dict) -> bool:
    return len(_as_events(user)) < len(ref)


register_exercise(
    "4.2",
    decode_clip,
    _inputs_4_2,
    hints=[
        (_hint_4_2_geq, "A frame is active when its score is strictly above the threshold: use `>`, not `>=`."),
        (_hint_4_2_end, "Offsets are one frame short: an event ends at the *end* of its last active frame, "
                        "(last + 1) × frame_seconds."),
        (_hint_4_2_frames, "Onsets and offsets must be in seconds: multiply frame indices by frame_seconds."),
        (_hint_4_2_edges, "Some events are missing: runs that start in the first frame or last until the final "
                          "frame need edges too. Pad the activity with a 0 on both sides before np.diff."),
        (lambda user, ref, inputs: True, "Binarize (scores > threshold), then for each class find where runs "
                                         "of active frames start (+1 in np.diff) and end (-1)."),
    ],
    task="binarize the scores and decode them into events",
    compare=_compare_4_2,
)
