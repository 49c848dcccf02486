"""The exercise checker: accepts right answers, rejects wrong ones with the right hint, falls back."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dualkd_lib import exercises
from dualkd_lib.exercises import check, check_exercise, compare_outputs, register_exercise, seconds_to_frames


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A private copy of the registry, so tests can register freely."""
    copy = dict(exercises._REGISTRY)
    monkeypatch.setattr(exercises, "_REGISTRY", copy)
    return copy


def _rounded(seconds, hop_length, sample_rate=16000):
    return np.round(np.asarray(seconds) * sample_rate / hop_length).astype(np.int64)


def _floats(seconds, hop_length, sample_rate=16000):
    return np.floor(np.asarray(seconds) * sample_rate / hop_length)


def _no_sample_rate(seconds, hop_length, sample_rate=16000):
    return np.floor(np.asarray(seconds) / hop_length).astype(np.int64)


def _stub(seconds, hop_length, sample_rate=16000):
    raise NotImplementedError("Exercise 0.1: convert times in seconds to frame indices")


def test_seconds_to_frames_reference() -> None:
    out = seconds_to_frames([0.0, 0.016, 0.0159, 9.999], hop_length=256)
    assert out.dtype == np.int64 and out.tolist() == [0, 1, 0, 624]
    with pytest.raises(ValueError, match="hop_length"):
        seconds_to_frames([1.0], hop_length=0)


def test_right_answer_is_accepted_and_returned(capsys: pytest.CaptureFixture) -> None:
    def mine(seconds, hop_length, sample_rate=16000):
        return (np.asarray(seconds) * sample_rate // hop_length).astype(np.int64)

    assert check("0.1", mine) is mine
    out = capsys.readouterr().out
    assert out.startswith("✅ Exercise 0.1") and "Later cells use your function" in out


@pytest.mark.parametrize(
    "wrong, expected_hint",
    [
        (_rounded, "use np.floor"),
        (_floats, ".astype(np.int64)"),
        (_no_sample_rate, "seconds × sample_rate"),
        (lambda seconds, hop_length, sample_rate=16000: list(seconds_to_frames(seconds, hop_length)), "not a list"),
    ],
)
def test_wrong_answer_falls_back_with_the_right_hint(wrong, expected_hint: str, capsys: pytest.CaptureFixture) -> None:
    assert check("0.1", wrong) is seconds_to_frames
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 0.1") and expected_hint in out
    assert "library's version" in out


def test_wrong_values_report_index_and_difference(capsys: pytest.CaptureFixture) -> None:
    check("0.1", _rounded)
    out = capsys.readouterr().out
    assert "values differ at index (" in out and "expected" in out and "of 10 entries differ" in out


def test_not_implemented_means_not_attempted(capsys: pytest.CaptureFixture) -> None:
    assert check("0.1", _stub) is seconds_to_frames
    out = capsys.readouterr().out
    assert "not attempted yet" in out and "library's version so the notebook can go on" in out


def test_other_errors_and_non_functions_fall_back(capsys: pytest.CaptureFixture) -> None:
    def broken(seconds, hop_length, sample_rate=16000):
        return seconds.nope

    assert check("0.1", broken) is seconds_to_frames
    assert "raised AttributeError" in capsys.readouterr().out
    assert check("0.1", 42) is seconds_to_frames
    assert "expected a function" in capsys.readouterr().out


def test_checker_leaves_global_random_state_alone() -> None:
    np.random.seed(7)
    torch.manual_seed(7)
    expected = np.random.rand(), torch.rand(1)
    np.random.seed(7)
    torch.manual_seed(7)
    check("0.1", seconds_to_frames)
    assert (np.random.rand(), torch.rand(1)) == expected


def test_registry(registry: dict, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"No exercise '7.7' is registered; registered: \['0.1'"):
        check("7.7", abs)
    register_exercise(
        "7.7",
        "numpy:cumsum",  # lazy "module:function" reference
        lambda rng: (rng.standard_normal(6),),
        hints={"type": "Stay in numpy."},
    )
    with pytest.raises(ValueError, match="already registered"):
        register_exercise("7.7", np.cumsum, lambda rng: ())
    mine = lambda x: np.add.accumulate(x)  # noqa: E731
    assert check("7.7", mine) is mine
    assert "✅" in capsys.readouterr().out
    assert check("7.7", lambda x: list(np.cumsum(x))) is np.cumsum
    assert "Hint: Stay in numpy." in capsys.readouterr().out
    register_exercise("7.7", np.cumsum, lambda rng: {"a": rng.random(5)}, replace=True)
    assert check("7.7", lambda a: np.cumsum(a)) is not np.cumsum
    with pytest.raises(ValueError, match="callable or 'module:function'"):
        register_exercise("7.8", "cumsum", lambda rng: ())
    with pytest.raises(ValueError, match="Bad hint"):
        register_exercise("7.9", np.cumsum, lambda rng: (), hints=[("shape",)])


def test_check_exercise_with_tensors_custom_compare_and_predicate_hints(capsys: pytest.CaptureFixture) -> None:
    def ref(x):
        return x.transpose(1, 2).softmax(dim=1)

    def make(rng):
        return (torch.from_numpy(rng.standard_normal((2, 5, 7)).astype(np.float32)),)

    def same_as_input_shape(user, expected, inputs):
        return tuple(user.shape) == tuple(inputs[0].shape)

    wrong = check_exercise("3.2", lambda x: x.softmax(dim=1), ref, make, hints=[(same_as_input_shape, "Transpose first.")])
    assert wrong is ref
    out = capsys.readouterr().out
    assert "expected shape (2, 7, 5), got (2, 5, 7)" in out and "different order" in out and "Transpose first." in out
    assert check_exercise("3.2", lambda x: ref(x).double(), ref, make) is ref
    assert "expected dtype torch.float32, got torch.float64" in capsys.readouterr().out
    mine = lambda x: ref(x) + 1  # noqa: E731
    assert check_exercise("3.2", mine, ref, make, compare=lambda u, r: True) is mine
    assert check_exercise("3.2", mine, ref, make, compare=lambda u, r: "sums must be one") is ref
    assert "sums must be one" in capsys.readouterr().out
    with pytest.raises(ValueError, match="n_trials"):
        check_exercise("3.2", mine, ref, make, n_trials=0)


def test_compare_outputs_on_containers_frames_and_scalars() -> None:
    assert compare_outputs((np.zeros(3), {"a": 1.0}), (np.zeros(3), {"a": 1.0 + 1e-9})) is None
    assert compare_outputs(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) is None
    m = compare_outputs((np.zeros(3), {"a": 1.0}), (np.zeros(3), {"a": 2.0}))
    assert m.kind == "values" and m.where == "output[1]['a']"
    assert compare_outputs([1, 2], [1, 2, 3]).kind == "length"
    assert compare_outputs({"a": 1}, {"b": 1}).kind == "keys"
    assert compare_outputs(np.ones((2, 6)), np.ones((3, 4))).message.endswith("a reshape or view went wrong?")
    df = pd.DataFrame({"event_label": ["Dog", "Cat"], "onset": [0.5, 1.0]})
    assert compare_outputs(df.copy(), df) is None
    assert compare_outputs(df[["onset", "event_label"]], df).kind == "columns"
    other = df.assign(onset=[0.5, 1.25])
    m = compare_outputs(other, df)
    assert m.where == "output['onset']" and "index (1,)" in m.message and "expected 1, got 1.25" in m.message
    assert compare_outputs(df.iloc[:1], df).kind == "length"
    assert compare_outputs(torch.tensor(3.0), 3.0) is None
    assert compare_outputs("Dog", "Cat").kind == "values"
    assert compare_outputs(True, 1).kind == "type"
    assert compare_outputs(None, None) is None
