"""The widgets' pure figure functions run headless with their defaults; the wrappers build."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dualkd_lib import evaluate  # noqa: E402
from dualkd_lib.teaching import widgets
from dualkd_lib.distill import ema_alpha  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def clip() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = np.zeros((3, 10, 60), dtype=np.float32)
    truth[0, 8, 10:40] = 1
    truth[1, 2, 5:12] = 1
    return truth, np.clip(0.8 * truth + 0.3 * rng.random(truth.shape), 0, 1)


def test_spectrogram_figure_reports_the_feature_shape() -> None:
    wave = np.random.default_rng(0).normal(size=16000).astype(np.float32)
    fig = widgets.spectrogram_figure(wave, events=[("Dog", 0.2, 0.5)])
    assert "[64, 63]" in fig.axes[0].get_title()
    fig = widgets.spectrogram_figure(wave, hop_length=512, n_mels=16, n_fft=512)
    assert "[16, 32]" in fig.axes[0].get_title()
    assert widgets.interactive_spectrogram(wave) is not None


def test_median_filter_figure_counts_detections(clip) -> None:
    truth, scores = clip
    fig = widgets.median_filter_figure(scores[0], truth[0])
    assert fig.axes[0].get_title().startswith("Speech: 1 true events")
    fig = widgets.median_filter_figure(scores[0], None, length=1, class_name="Dog")
    assert fig.axes[0].get_title().startswith("Dog: 0 true events")
    with pytest.raises(ValueError, match="class_name"):
        widgets.median_filter_figure(scores[0], class_name="Unicorn")
    assert widgets.interactive_median_filter(scores[0], truth[0]) is not None


def test_operating_points_and_threshold_figure() -> None:
    gt = pd.DataFrame({"filename": ["a.wav", "a.wav"], "onset": [1.0, 4.0], "offset": [2.0, 8.0],
                       "event_label": ["Dog", "Speech"]})
    dur = {"a.wav": 3600.0}
    ops = {0.2: pd.concat([gt, gt.assign(onset=[2.5, 9.0], offset=[3.0, 9.5])]), 0.8: gt.iloc[:1]}
    classes = ["Dog", "Speech"]
    points = widgets.operating_points(ops, gt, dur, classes=classes, **evaluate.PSDS1.as_kwargs())
    assert points.shape == (4, 4)
    low = points[points.threshold == 0.2].set_index("event_label")
    assert low.loc["Dog", "tpr"] == 1.0 and low.loc["Dog", "efpr"] == 1.0
    high = points[points.threshold == 0.8].set_index("event_label")
    assert high.loc["Speech", "tpr"] == 0.0 and high.loc["Speech", "efpr"] == 0.0
    result = evaluate.psds_from_operating_points(ops, gt, dur, classes=classes, **evaluate.PSDS1.as_kwargs())
    fig = widgets.threshold_figure(result, points, threshold=0.75)  # the nearest available one
    assert fig.axes[0].get_title().startswith("threshold 0.80: mean TPR 0.50")
    assert widgets.interactive_threshold(result, points) is not None
    with pytest.raises(ValueError, match="empty"):
        widgets.threshold_figure(result, points.iloc[:0])


def test_ema_matches_the_warm_start_rule() -> None:
    values = np.array([4.0, 2.0, 6.0, 0.0])
    assert widgets.ema_of(values, 0.99).tolist() == pytest.approx([4.0, 3.0, 4.0, 3.0])  # plain running mean
    expected, m = [], 0.0
    for t, v in enumerate(values):
        a = min(ema_alpha(t, 0.5), 0.5)
        m = a * m + (1 - a) * v
        expected.append(m)
    assert widgets.ema_of(values, 0.5).tolist() == pytest.approx(expected)
    assert widgets.ema_of(values, 0.5, warm_start=False)[0] == pytest.approx(2.0)
    fig = widgets.ema_demo()
    assert widgets.ema_demo is widgets.ema_figure and isinstance(fig, Figure) and "memory ≈ 100" in fig.axes[0].get_title()
    assert widgets.interactive_ema() is not None


def test_clip_predictions_figure(clip) -> None:
    truth, scores = clip
    models = {"teacher": scores, "student": scores * 0.9, "mean student": scores * 0.95}
    fig = widgets.clip_predictions_demo(0, models, truth)
    assert [ax.get_ylabel() for ax in fig.axes][0] == "Speech"
    fig = widgets.clip_predictions_figure(1, models, truth, class_name="Cat", filenames=["a", "b", "c"])
    assert len(fig.axes) == 1 and fig.axes[0].get_title().startswith("b:")
    with pytest.raises(ValueError, match="out of range"):
        widgets.clip_predictions_figure(5, models, truth)
    with pytest.raises(ValueError, match="same shape"):
        widgets.clip_predictions_figure(0, {"a": scores, "b": scores[:, :, :10]})
    assert widgets.interactive_clip_predictions(models, truth) is not None


def test_class_menus_show_their_default_entry(clip) -> None:
    """ipywidgets shows a dropdown whose value is None as empty (index None): the default is "" instead."""
    truth, scores = clip
    for w, label in ((widgets.interactive_median_filter(scores[0], truth[0]), "most ground truth"),
                     (widgets.interactive_clip_predictions({"a": scores}, truth), "classes in the clip")):
        menu = next(c for c in w.children if getattr(c, "description", "") == "class")
        assert menu.index == 0 and menu.label == label and menu.value == ""
