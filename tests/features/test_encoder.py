"""Tests of dualkd_lib/features/encoder.py: ManyHotEncoder, events <-> frames."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from dualkd_lib import layout
from dualkd_lib.constants import CLASSES
from dualkd_lib.features import FeatureConfig, ManyHotEncoder


RESOURCES = layout.desed_validation_dir()


#: 64 mels at the DCASE hop (156 output frames of 64 ms): the numbers below are worked out for it.
HOP256_FEATURES = FeatureConfig(n_fft=1024, win_length=1024, hop_length=256, n_mels=64)


@pytest.fixture
def enc() -> ManyHotEncoder:
    return ManyHotEncoder.from_config(HOP256_FEATURES)


def test_encoder_from_config(enc):
    assert enc.n_frames == 156 and enc.frame_seconds == pytest.approx(0.064)
    assert enc.frame_times().shape == (156,) and enc.frame_edges().shape == (157,)
    assert enc.frame_edges()[-1] == pytest.approx(9.984)
    assert enc.classes == CLASSES


def _random_events(rng: np.random.Generator, fs: float) -> list[tuple[str, float, float]]:
    """Non-overlapping events per class, separated by more than two frames."""
    events = []
    for label in CLASSES:
        t = rng.uniform(0, 1)
        while True:
            onset = t
            offset = onset + rng.uniform(0.01, 3.0)
            if offset > 10.0:
                break
            events.append((label, round(onset, 3), round(offset, 3)))
            t = offset + 2 * fs + rng.uniform(0.01, 2.0)
    return events


def test_encoder_round_trip_random_events(enc):
    rng = np.random.default_rng(0)
    fs = enc.frame_seconds
    for _ in range(50):
        events = _random_events(rng, fs)
        decoded = enc.decode_strong(enc.encode_strong(events))
        assert len(decoded) == len(events)
        for (l1, on1, off1), (l2, on2, off2) in zip(sorted(events), sorted(decoded)):
            assert l1 == l2
            assert abs(on1 - on2) <= fs + 1e-9 and on2 <= on1 + 1e-9
            assert abs(off1 - off2) <= fs + 1e-9


def test_frames_to_events_to_frames_is_exact(enc):
    rng = np.random.default_rng(1)
    for _ in range(20):
        frames = (rng.random((10, 156)) < 0.3).astype(np.float32)
        assert np.array_equal(enc.encode_strong(enc.decode_strong(frames)), frames)


def test_encoder_edge_cases(enc):
    y = enc.encode_strong([("Dog", 0.0, 0.5)])
    assert y[4, 0] == 1 and y[4].sum() == 8  # ceil(0.5 / 0.064) = 8 frames
    y = enc.encode_strong([("Speech", 9.5, 10.0)])
    assert y[8, -1] == 1 and y[8].sum() == 156 - 148
    assert enc.decode_strong(y) == [("Speech", pytest.approx(148 * 0.064), pytest.approx(9.984))]
    y = enc.encode_strong([("Speech", 9.0, 10.115)])  # DESED has offsets past 10 s
    assert y[8, -1] == 1
    # overlapping events of one class merge into one
    y = enc.encode_strong([("Cat", 1.0, 2.0), ("Cat", 1.5, 3.0)])
    assert enc.decode_strong(y) == [("Cat", pytest.approx(0.96), pytest.approx(3.008))]
    # a very short event still gets one frame, also right on a frame edge
    assert enc.encode_strong([("Dishes", 1.0, 1.01)])[3].sum() == 1
    assert enc.encode_strong([("Dishes", 0.128, 0.128)])[3, 2] == 1
    assert enc.encode_strong([("Dishes", 9.999, 10.0)])[3, -1] == 1
    # an onset exactly on a frame edge lands in that frame despite float rounding
    assert enc.encode_strong([("Dog", 3 * 0.064, 0.5)])[4].argmax() == 3
    # empty input
    assert enc.encode_strong([]).sum() == 0


def test_encoder_errors(enc):
    with pytest.raises(ValueError, match="'Cow'.*Alarm_bell_ringing"):
        enc.encode_strong([("Cow", 0.0, 1.0)])
    with pytest.raises(ValueError, match="'Cow'"):
        enc.encode_weak(["Dog", "Cow"])
    with pytest.raises(ValueError, match="before its onset"):
        enc.encode_strong([("Dog", 2.0, 1.0)])
    df = pd.DataFrame({"filename": ["a.wav"], "onset": [0.0], "offset": [1.0],
                       "event_label": ["Cow"]})
    with pytest.raises(ValueError, match="Cow"):
        enc.encode_strong_dataframe(df, ["a.wav"])
    with pytest.raises(ValueError, match=r"\[classes, n_frames\]"):
        enc.decode_strong(np.zeros((10, 100)))


def test_encode_weak_and_decode_weak(enc):
    v = enc.encode_weak("Dog,Speech")
    assert v.shape == (10,) and v.sum() == 2
    assert enc.decode_weak(v) == ["Dog", "Speech"]
    assert enc.encode_weak("").sum() == 0
    assert enc.decode_weak(torch.tensor([0.9] + [0.1] * 9)) == ["Alarm_bell_ringing"]


def test_encode_strong_dataframe_matches_per_file_on_real_desed(enc):
    gt = pd.read_csv(RESOURCES / "validation_groundtruth.tsv", sep="\t")
    filenames = list(dict.fromkeys(gt["filename"]))[:200] + ["not_in_tsv.wav"]
    labels = enc.encode_strong_dataframe(gt, filenames)
    assert labels.shape == (201, 10, 156) and labels.dtype == np.float32
    for i, name in enumerate(filenames[:200]):
        expected = enc.encode_strong(gt[gt["filename"] == name])
        assert np.array_equal(labels[i], expected), name
    assert labels[-1].sum() == 0
    assert labels.sum() > 0
