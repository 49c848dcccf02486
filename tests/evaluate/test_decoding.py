"""Tests of dualkd_lib/evaluate/decoding.py: median filter, thresholds, decoding, sed_scores_eval score tables."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage
import torch

from dualkd_lib import evaluate as ev
from dualkd_lib.constants import CLASSES

from evaluation_data import FRAME, N_FRAMES


@pytest.mark.parametrize("length", [1, 2, 3, 4, 7, 8, 31])
def test_median_filter_equals_scipy(length: int) -> None:
    rng = np.random.default_rng(length)
    x = rng.random((3, 10, 50))
    ours = ev.median_filter(x, length)
    expected = scipy.ndimage.median_filter(x, size=(1, 1, length), mode="nearest")
    np.testing.assert_array_equal(ours, expected)


def test_median_filter_per_class_lengths_and_2d_and_torch() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((10, 40)).astype(np.float32)
    lengths = [1, 2, 3, 4, 5, 6, 7, 9, 11, 41]
    ours = ev.median_filter(x, lengths)
    for c, k in enumerate(lengths):
        np.testing.assert_array_equal(ours[c], scipy.ndimage.median_filter(x[c], size=k, mode="nearest"))
    t = ev.median_filter(torch.from_numpy(x), lengths)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), ours)


@pytest.mark.parametrize("lengths", [0, [3] * 9, [3] * 9 + [2.5]])
def test_median_filter_bad_lengths(lengths: object) -> None:
    with pytest.raises(ValueError):
        ev.median_filter(np.zeros((10, 20)), lengths)


def test_median_filter_bad_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        ev.median_filter(np.zeros(20), 3)


def test_binarize_is_strict_and_per_class() -> None:
    x = np.array([[0.2, 0.5, 0.6], [0.2, 0.5, 0.6]])
    np.testing.assert_array_equal(ev.binarize(x, 0.5), [[False, False, True], [False, False, True]])
    np.testing.assert_array_equal(ev.binarize(x, [0.1, 0.55]), [[True, True, True], [False, False, True]])
    assert ev.binarize(torch.tensor(x), 0.5).dtype == torch.bool


def test_decode_detections_hand_made() -> None:
    scores = np.zeros((2, 10, 20))
    scores[0, 0, 2:5] = 0.9  # Alarm, frames 2..4 -> [1.0, 2.5)
    scores[0, 8, 15:] = 0.8  # Speech runs to the end of the clip
    scores[0, 8, 10] = 0.9  # a one-frame blip
    scores[1, 3, 0:1] = 0.7  # Dishes, first frame only
    det = ev.decode_detections(scores, ["a.wav", "b.wav"], 0.5, threshold=0.5)
    assert list(det.columns) == ["filename", "onset", "offset", "event_label"]
    assert det.values.tolist() == [
        ["a.wav", 1.0, 2.5, "Alarm_bell_ringing"],
        ["a.wav", 5.0, 5.5, "Speech"],
        ["a.wav", 7.5, 10.0, "Speech"],
        ["b.wav", 0.0, 0.5, "Dishes"],
    ]
    # A median filter of 3 frames removes the blip. The one-frame Dishes event
    # survives: at the edge the first frame is repeated, so its window is (0.7, 0.7, 0).
    smooth = ev.decode_detections(scores, ["a.wav", "b.wav"], 0.5, 0.5, median_lengths=3)
    assert smooth.values.tolist() == [
        ["a.wav", 1.0, 2.5, "Alarm_bell_ringing"],
        ["a.wav", 7.5, 10.0, "Speech"],
        ["b.wav", 0.0, 0.5, "Dishes"],
    ]


def test_decode_detections_with_encoder_clips_offsets() -> None:
    encoder = SimpleNamespace(frame_seconds=0.6, clip_seconds=10.0)  # 17 frames overrun 10 s
    scores = np.zeros((1, 10, 17))
    scores[0, 1, 10:] = 1.0
    det = ev.decode_detections(torch.tensor(scores), ["x.wav"], encoder)
    assert det.values.tolist() == [["x.wav", 6.0, 10.0, "Blender"]]
    with pytest.raises(ValueError, match="filenames"):
        ev.decode_detections(scores, ["x.wav", "y.wav"], encoder)
    with pytest.raises(ValueError, match="frame"):
        ev.decode_detections(scores, ["x.wav"], "fast")


def test_decode_detections_with_the_library_encoder() -> None:
    features = pytest.importorskip("dualkd_lib.features")
    encoder = features.ManyHotEncoder(n_frames=156, frame_seconds=0.064)
    events = [("Dog", 1.024, 2.048), ("Speech", 5.12, 9.984)]
    labels = encoder.encode_strong(events)[None]  # [1, classes, frames]
    det = ev.decode_detections(labels, ["x.wav"], encoder)
    assert det.values.tolist() == [["x.wav", 1.024, 2.048, "Dog"], ["x.wav", 5.12, 9.984, "Speech"]]


def test_decode_then_score_round_trip(synthetic: SimpleNamespace) -> None:
    det = ev.decode_detections(synthetic.perfect, synthetic.files, FRAME)
    got = det.sort_values(["filename", "event_label", "onset"]).reset_index(drop=True)
    want = synthetic.gt.sort_values(["filename", "event_label", "onset"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_scores_to_dataframes_and_scores_dir(tmp_path: Path, synthetic: SimpleNamespace) -> None:
    tables = ev.scores_to_dataframes(synthetic.noisy[:3], synthetic.files[:3], frame_seconds=FRAME)
    assert list(tables) == ["clip000", "clip001", "clip002"]
    df = tables["clip001"]
    assert list(df.columns) == ["onset", "offset", *CLASSES]
    assert len(df) == N_FRAMES and df.onset.iloc[0] == 0.0 and df.offset.iloc[-1] == pytest.approx(10.0)
    np.testing.assert_allclose(df[CLASSES[4]].to_numpy(), synthetic.noisy[1, 4])
    folder = ev.write_scores_dir(tables, tmp_path / "scores")
    back = ev.read_scores_dir(folder)
    assert list(back) == list(tables)
    pd.testing.assert_frame_equal(back["clip002"], tables["clip002"])
    with pytest.raises(FileNotFoundError):
        ev.read_scores_dir(tmp_path / "nowhere")


def test_scores_to_dataframes_clips_frames_past_the_clip() -> None:
    tables = ev.scores_to_dataframes(np.ones((1, 10, 17)), ["x.wav"], frame_seconds=0.6, clip_seconds=10.0)
    df = tables["x"]
    assert len(df) == 17 and df.offset.iloc[-1] == 10.0  # last frame [9.6, 10.0)
    short = ev.scores_to_dataframes(np.ones((1, 10, 17)), ["x.wav"], frame_seconds=0.6, clip_seconds=[3.0])
    assert len(short["x"]) == 5 and short["x"].offset.iloc[-1] == 3.0
