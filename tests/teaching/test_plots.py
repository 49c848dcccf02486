"""Every figure of plots.py draws on tiny inputs and rejects malformed ones."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dualkd_lib import evaluate  # noqa: E402
from dualkd_lib.teaching import plots
from dualkd_lib.constants import CLASSES  # noqa: E402

EVENTS = pd.DataFrame({"onset": [0.5, 2.0, 0.0], "offset": [1.2, 6.0, 10.0],
                       "event_label": ["Dog", "Speech", "Frying"]})


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_class_colors_are_fixed_and_distinct() -> None:
    colors = plots.class_colors()
    assert list(colors) == list(CLASSES) and len(set(colors.values())) == len(CLASSES)


def test_basic_figures() -> None:
    rng = np.random.default_rng(0)
    logmel = rng.normal(size=(16, 100))
    assert isinstance(plots.plot_waveform(rng.normal(size=1600)), Figure)
    fig = plots.plot_logmel(logmel, hop_length=160, mel_frequencies=np.linspace(50, 7000, 16))
    assert fig.axes[0].get_ylabel() == "frequency (Hz)"
    fig = plots.plot_event_rows(EVENTS, only_present=True)
    assert len(fig.axes[0].patches) == 3
    fig = plots.plot_spectrogram_with_events(logmel, EVENTS, hop_length=1600)
    assert len(fig.axes) == 2
    labels = np.zeros((10, 20))
    labels[4, 3:8] = 1
    assert isinstance(plots.plot_frame_labels(labels, 0.5, events=EVENTS), Figure)


def test_event_statistics_figure() -> None:
    table = pd.DataFrame({"generated_median_s": [1.0, 2.0], "desed_median_s": [1.5, 2.5],
                          "generated_frac_events": [0.4, 0.6], "desed_frac_events": [0.5, 0.5]},
                         index=["Dog", "Cat"])
    fig = plots.plot_event_statistics(table)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 4
    with pytest.raises(ValueError, match="compare_with_desed"):
        plots.plot_event_statistics(table.drop(columns="desed_median_s"))


def test_scores_figure_shows_classes_with_truth_or_detections() -> None:
    scores = np.zeros((10, 40))
    scores[CLASSES.index("Dog"), 5:10] = 0.9
    scores[CLASSES.index("Cat"), 20:22] = 0.7
    det = pd.DataFrame({"onset": [0.5], "offset": [1.0], "event_label": ["Dog"]})
    fig = plots.plot_scores(scores, 0.1, ground_truth=EVENTS.iloc[:1], detections=det)
    assert [ax.get_ylabel() for ax in fig.axes] == ["Cat", "Dog"]


def test_psd_roc_and_intersection_figures() -> None:
    gt = pd.DataFrame({"filename": ["a.wav"] * 2, "onset": [1.0, 4.0], "offset": [2.0, 8.0],
                       "event_label": ["Dog", "Speech"]})
    dur = {"a.wav": 10.0}
    det = gt.copy()
    result = evaluate.psds_from_operating_points({0.5: det}, gt, dur, classes=["Dog", "Speech"],
                                                 **evaluate.PSDS1.as_kwargs())
    fig = plots.plot_psd_roc(result)
    assert "PSDS 1.000" in fig.axes[0].get_legend_handles_labels()[1][-1]
    assert isinstance(plots.plot_psd_roc({"a": result, "b": result}, per_class=False), Figure)
    with pytest.raises(ValueError, match="PSDSResult"):
        plots.plot_psd_roc({})
    wrong = pd.DataFrame({"onset": [5.0], "offset": [7.0], "event_label": ["Dog"]})
    fig = plots.plot_intersection_example(wrong, gt, dtc=0.7, gtc=0.7, cttc=0.3)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("cross-trigger on Speech" in t for t in texts) and any("✗ FN" in t for t in texts)


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="2 dimensions"):
        plots.plot_logmel(np.zeros(5))
    with pytest.raises(ValueError, match="Unknown event label"):
        plots.plot_event_rows([("Unicorn", 0.0, 1.0)])
    with pytest.raises(ValueError, match=r"\[classes, frames\]"):
        plots.plot_frame_labels(np.zeros((3, 5)), 0.1)
    with pytest.raises(ValueError, match="lacks columns"):
        plots.plot_event_rows(pd.DataFrame({"onset": [1.0]}))
