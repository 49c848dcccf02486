"""Tests of dualkd_lib/teaching/plots_distill/predictions.py: clip predictions, cost bars, SE attention."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dualkd_lib import models
from dualkd_lib.teaching import plots_distill
from dualkd_lib.constants import CLASSES


def test_clip_predictions_picks_classes_from_ground_truth_and_scores() -> None:
    rng = np.random.default_rng(0)
    scores = {"teacher": rng.uniform(0, 0.4, (10, 20)), "dual (mean)": torch.rand(10, 20) * 0.4}
    scores["teacher"][CLASSES.index("Cat"), 3] = 0.9
    gt = pd.DataFrame({"onset": [0.2], "offset": [1.0], "event_label": ["Dog"]})
    fig = plots_distill.plot_clip_predictions(scores, frame_seconds=0.128, ground_truth=gt, title="clip")
    assert [ax.get_ylabel() for ax in fig.axes] == ["Dog", "Cat"]  # ground truth first, then scored
    assert len(fig.axes[1].get_lines()) == 3  # two models and the threshold line
    fig = plots_distill.plot_clip_predictions(scores, frame_seconds=0.128, classes=["Speech"], threshold=None)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="Index one clip first"):
        plots_distill.plot_clip_predictions({"a": np.zeros((2, 10, 20))}, frame_seconds=0.128)
    with pytest.raises(ValueError, match="unknown classes"):
        plots_distill.plot_clip_predictions(scores, frame_seconds=0.128, classes=["Bird"])


def test_cost_bars_ratios_to_first_row() -> None:
    rows = [{"name": "teacher (CRNN)", "params": 1000, "macs": 2e6}, {"name": "student", "params": 250, "macs": 5e5}]
    fig = plots_distill.plot_cost_bars(rows)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("0.25×" in t for t in texts)
    with pytest.raises(ValueError, match="macs"):
        plots_distill.plot_cost_bars([{"name": "a", "params": 1}])


def test_se_attention_weights_shapes_and_plot() -> None:
    cfg = models.CRNNConfig(n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), rnn_hidden=6,
                            rnn_layers=1, activation="cg", se=True, tfwse=True)
    model = models.SECRNN(cfg, seed=0).train()
    x = torch.randn(1, 16, 40)
    weights = plots_distill.se_attention_weights(model, x)
    assert model.training  # mode restored
    assert [w["se"].shape for w in weights] == [(4,), (8,), (8,)]
    assert [w["tfwse"].shape for w in weights] == [(40, 16), (20, 8), (10, 4)]
    assert all(((w["se"] > 0) & (w["se"] < 1)).all() for w in weights)
    fig = plots_distill.plot_se_attention(weights)
    assert len([ax for ax in fig.axes if ax.get_images()]) == 3  # blocks 0, n // 3 = 1 and 2n // 3 = 2
    with pytest.raises(ValueError, match="out of range"):
        plots_distill.plot_se_attention(weights, blocks=[3])
    with pytest.raises(ValueError, match="one clip"):
        plots_distill.se_attention_weights(model, torch.randn(2, 16, 40))
    teacher = models.CRNN(models.CRNNConfig(n_mels=16, channels=(4, 4, 4), pooling=cfg.pooling, rnn_hidden=6))
    with pytest.raises(ValueError, match="no SE or tfwSE"):
        plots_distill.se_attention_weights(teacher, x)


def test_se_attention_spread_is_zero_for_a_dead_bottleneck_and_positive_for_a_live_one() -> None:
    cfg = models.CRNNConfig(n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), rnn_hidden=6,
                            rnn_layers=1, activation="relu", se=True, tfwse=True, se_first_block=1,
                            se_bias=True, se_activation="silu")
    model = models.SECRNN(cfg, seed=0)
    with torch.no_grad():  # block 1's SE: its excite layer ignores the clip, a constant attention
        model.cnn[1].se.excite.weight.zero_()
    x = torch.randn(5, 16, 40)
    spread = plots_distill.se_attention_spread(model, x)
    assert list(zip(spread["block"], spread["attention"])) == [(1, "se"), (1, "tfwse"), (2, "se"), (2, "tfwse")]
    dead = spread[(spread["block"] == 1) & (spread["attention"] == "se")].iloc[0]
    assert dead["spread"] < 1e-6 and dead["constant"] == 1.0
    live = spread[(spread["block"] == 2) & (spread["attention"] == "se")].iloc[0]
    assert live["spread"] > 1e-6 and live["constant"] < 1.0
    weights = plots_distill.se_attention_weights(model, x[:1])
    assert weights[0] == {}
    fig = plots_distill.plot_se_attention(weights)  # default blocks start at the first with attention
    assert len([ax for ax in fig.axes if ax.get_images()]) == 2
    with pytest.raises(ValueError, match="several clips"):
        plots_distill.se_attention_spread(model, x[:1])


def test_se_inactive_units_counts_units_negative_on_every_clip() -> None:
    cfg = models.CRNNConfig(n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), rnn_hidden=6,
                            rnn_layers=1, activation="relu", se=True, tfwse=True)
    model = models.SECRNN(cfg, seed=0)
    with torch.no_grad():  # block 2's SE: every unit negative (its inputs are post-ReLU, so >= 0)
        model.cnn[2].se.squeeze.weight.copy_(-model.cnn[2].se.squeeze.weight.abs() - 0.1)
        model.cnn[1].se.squeeze.weight.copy_(model.cnn[1].se.squeeze.weight.abs() + 0.1)  # all positive
    table = plots_distill.se_inactive_units(model, torch.randn(4, 16, 40))
    assert len(table) == 6 and set(table["activation"]) == {"ReLU"}
    row = lambda b, k: table[(table["block"] == b) & (table["attention"] == k)].iloc[0]  # noqa: E731
    assert row(2, "se")["inactive"] == 1.0 and row(2, "se")["units"] == 4
    assert row(1, "se")["inactive"] == 0.0
    assert ((table["inactive"] >= 0) & (table["inactive"] <= 1)).all()
    teacher = models.CRNN(models.CRNNConfig(n_mels=16, channels=(4, 4, 4), pooling=cfg.pooling, rnn_hidden=6))
    with pytest.raises(ValueError, match="no SE or tfwSE"):
        plots_distill.se_inactive_units(teacher, torch.randn(2, 16, 40))
