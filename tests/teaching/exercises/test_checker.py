"""Tests of dualkd_lib/teaching/exercises/checker.py: accepts right answers, rejects wrong ones with the right
hint, falls back; every course exercise accepts its reference and hints at typical mistakes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from dualkd_lib.teaching import exercises
from dualkd_lib.teaching.exercises import checker, check, check_exercise, compare_outputs, register_exercise
from dualkd_lib.teaching.exercises.nb00 import seconds_to_frames
from dualkd_lib.teaching.exercises.nb02 import encode_strong, event_frame_range
from dualkd_lib.teaching.exercises.nb04 import decode_clip
from dualkd_lib.distill import total_loss


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A private copy of the registry, so tests can register freely."""
    copy = dict(checker._REGISTRY)
    monkeypatch.setattr(checker, "_REGISTRY", copy)
    return copy


def _rounded(seconds, hop_length, sample_rate=16000):
    return np.round(np.asarray(seconds) * sample_rate / hop_length).astype(np.int64)


def _floats(seconds, hop_length, sample_rate=16000):
    return np.floor(np.asarray(seconds) * sample_rate / hop_length)


def _no_sample_rate(seconds, hop_length, sample_rate=16000):
    return np.floor(np.asarray(seconds) / hop_length).astype(np.int64)


def _stub(seconds, hop_length, sample_rate=16000):
    raise NotImplementedError("Exercise 0.1: convert times in seconds to frame indices")


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


def _floor_end(onset, offset, frame_seconds, n_frames):
    first = np.clip(np.floor(np.asarray(onset) / frame_seconds + 1e-6), 0, n_frames - 1).astype(np.int64)
    end = np.clip(np.floor(np.asarray(offset) / frame_seconds), 0, n_frames).astype(np.int64)
    return first, np.maximum(end, first + 1)


def _inclusive_end(onset, offset, frame_seconds, n_frames):
    first, end = event_frame_range(onset, offset, frame_seconds, n_frames)
    return first, end - 1


def _no_tolerance(onset, offset, frame_seconds, n_frames):
    first = np.clip(np.floor(np.asarray(onset) / frame_seconds), 0, n_frames - 1).astype(np.int64)
    end = np.clip(np.ceil(np.asarray(offset) / frame_seconds), 0, n_frames).astype(np.int64)
    return first, np.maximum(end, first + 1)


def _no_clip(onset, offset, frame_seconds, n_frames):
    first = np.floor(np.asarray(onset) / frame_seconds + 1e-6).astype(np.int64)
    return first, np.ceil(np.asarray(offset) / frame_seconds - 1e-6).astype(np.int64)


def _transposed(events, n_frames, frame_seconds, classes):
    return encode_strong(events, n_frames, frame_seconds, classes).T


def _short_events(events, n_frames, frame_seconds, classes):
    out = np.zeros((len(classes), n_frames), dtype=np.float32)
    for label, onset, offset in events:
        first, end = _floor_end([onset], [offset], frame_seconds, n_frames)
        out[list(classes).index(label), first[0]:end[0]] = 1
    return out


def _float64_labels(events, n_frames, frame_seconds, classes):
    return encode_strong(events, n_frames, frame_seconds, classes).astype(np.float64)


def _batch_stats(features, mean, std):
    return (features - features.mean()) / features.std()


def _variance(features, mean, std):
    return (features - mean[:, None]) / std[:, None] ** 2


def _wrong_axis(features, mean, std):
    return (features - mean[None, None, :]) / std


def _across_classes(scores, length):
    from scipy.ndimage import median_filter as nd

    return nd(scores, size=(length, 1), mode="nearest")


def _zero_edges(scores, length):
    from scipy.ndimage import median_filter as nd

    return nd(scores, size=(1, length), mode="constant")


def _decode_geq(scores, threshold, frame_seconds, classes=None):
    return decode_clip(np.where(scores >= threshold, 1.0, 0.0), 0.5, frame_seconds, classes)


def _decode_short(scores, threshold, frame_seconds, classes=None):
    out = decode_clip(scores, threshold, frame_seconds, classes)
    return out.assign(offset=(out["offset"] - frame_seconds).round(3))


def _decode_frames(scores, threshold, frame_seconds, classes=None):
    out = decode_clip(scores, threshold, 1.0, classes)
    return out


def _decode_drop_edges(scores, threshold, frame_seconds, classes=None):
    out = decode_clip(scores, threshold, frame_seconds, classes)
    end = round(scores.shape[1] * frame_seconds, 3)
    return out[(out["onset"] > 0) & (out["offset"] < end)]


@pytest.mark.parametrize(
    "exercise_id, wrong, expected_hint",
    [
        ("2.1", _floor_end, "use np.ceil for the end"),
        ("2.1", _inclusive_end, "exclusive, like a Python slice"),
        ("2.1", _no_tolerance, "Float rounding"),
        ("2.1", _no_clip, "clip first to [0, n_frames - 1]"),
        ("2.2", _transposed, "Rows are classes and columns frames"),
        ("2.2", _short_events, "Some active frames are missing"),
        ("2.2", _float64_labels, "Labels are float32"),
        ("2.3", _batch_stats, "not statistics of this batch"),
        ("2.3", _variance, "not the variance"),
        ("2.3", _wrong_axis, "mean[:, None]"),
        ("4.1", _across_classes, "You filtered across classes"),
        ("4.1", _zero_edges, "the edges are not"),
        ("4.2", _decode_geq, "strictly above the threshold"),
        ("4.2", _decode_short, "Offsets are one frame short"),
        ("4.2", _decode_frames, "must be in seconds"),
        ("4.2", _decode_drop_edges, "Pad the activity with a 0"),
    ],
)
def test_course_exercises_reject_typical_mistakes(exercise_id: str, wrong, expected_hint: str,
                                                  capsys: pytest.CaptureFixture) -> None:
    reference = checker._resolve(exercises.registered_exercises()[exercise_id].reference)
    assert check(exercise_id, wrong) is reference
    out = capsys.readouterr().out
    assert out.startswith(f"❌ Exercise {exercise_id}") and expected_hint in out, out


@pytest.mark.parametrize("exercise_id", ["2.1", "2.2", "2.3", "4.1", "4.2"])
def test_course_exercises_accept_their_reference(exercise_id: str, capsys: pytest.CaptureFixture) -> None:
    reference = checker._resolve(exercises.registered_exercises()[exercise_id].reference)
    assert check(exercise_id, reference) is reference
    assert capsys.readouterr().out.startswith(f"✅ Exercise {exercise_id}")


IDS = ("3.1", "3.2", "5.1", "5.2", "6.1", "6.2", "7.1", "8.1")


def _check(exercise_id: str, fn, capsys: pytest.CaptureFixture) -> tuple[object, str]:
    used = exercises.check(exercise_id, fn)
    return used, capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_exercise_is_registered_and_accepts_its_reference(exercise_id: str, capsys) -> None:
    ex = exercises.registered_exercises()[exercise_id]
    reference = checker._resolve(ex.reference)
    used, out = _check(exercise_id, reference, capsys)
    assert used is reference and out.startswith(f"✅ Exercise {exercise_id}")


@pytest.mark.parametrize("exercise_id", IDS)
def test_stub_means_not_attempted(exercise_id: str, capsys) -> None:
    def stub(*args, **kwargs):
        raise NotImplementedError(f"Exercise {exercise_id}")

    used, out = _check(exercise_id, stub, capsys)
    assert used is not stub and "not attempted yet" in out


def _softmax_time(strong, logits):
    att = torch.softmax(logits, dim=2)
    return (strong * att).sum(2) / att.sum(2)


def _always_interpolate(emb, n):
    return F.interpolate(emb, size=n, mode="linear", align_corners=False)


def _se_no_bias(x, w1, b1, w2, b2):
    return x * torch.sigmoid(torch.relu(x.mean((2, 3)) @ w1.T) @ w2.T)[:, :, None, None]


def _conv_no_bias(cin, cout, k, t, f):
    return {"params": cout * cin * k * k, "macs": cout * t * f * cin * k * k}


def _ema_no_warm_start(bar, th, alpha, step):
    return alpha * bar + (1 - alpha) * th


def _kd_as_bce(ps, pw, ts, tw):
    return F.binary_cross_entropy(ps, ts) + F.binary_cross_entropy(pw, tw)


def _eefd_time_cosine(p, t, kind="mse"):
    if kind == "mse":
        return F.mse_loss(p, t)
    return (1 - F.cosine_similarity(p, t, dim=2)).mean()


def _total_all_terms(terms, mode, wc, wk, we):
    return terms["sup"] + wc * terms["cons"] + wk * terms["kd"] + we * terms["emb"]


def _total_with_diagnostics(terms, mode, wc, wk, we):
    return total_loss(terms, mode, wc, wk, we) + terms["kd_mean"]


@pytest.mark.parametrize(
    "exercise_id, wrong, hint",
    [
        ("3.1", _softmax_time, "over the *classes*"),
        ("3.2", _always_interpolate, "adaptive average pooling"),
        ("5.1", _se_no_bias, "Add the biases"),
        ("5.2", _conv_no_bias, "one bias"),
        ("6.1", _ema_no_warm_start, "warm start"),
        ("6.2", _kd_as_bce, "binary KL"),
        ("7.1", _eefd_time_cosine, "dimension axis"),
        ("8.1", _total_all_terms, "Only the terms of the mode count"),
        ("8.1", _total_with_diagnostics, "diagnostics"),
    ],
)
def test_typical_mistakes_get_their_hint(exercise_id: str, wrong, hint: str, capsys) -> None:
    used, out = _check(exercise_id, wrong, capsys)
    assert used is not wrong
    assert out.startswith(f"❌ Exercise {exercise_id}") and hint in out, out
