"""Every figure of plots_distill.py draws on tiny synthetic inputs and rejects malformed ones."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dualkd_lib import models  # noqa: E402
from dualkd_lib.teaching import plots_distill
from dualkd_lib.constants import CLASSES  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(n: int, *, kd: bool, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    rows = []
    for step in range(n):
        row = {"step": step, "loss": 2.0 / (step + 1), "sup": 1.0 / (step + 1), "cons": 0.01 * rng.random()}
        if kd:
            row.update(kd=0.1 / (step + 1), kd_student=0.2 / (step + 1) + 0.01 * rng.random(), kd_mean=0.15 / (step + 1))
        rows.append(row)
    return rows


SUMMARY = [
    {"name": "teacher (CRNN + embeddings)", "params": 1_150_000, "macs": 5e8, "psds1": 0.42, "psds1_std": 0.0,
     "psds2": 0.61, "psds2_std": 0.0},
    {"name": "student (supervised)", "params": 180_000, "macs": 9e7, "psds1": 0.30, "psds1_std": 0.02,
     "psds2": 0.50, "psds2_std": 0.03},
    {"name": "student (dual)", "params": 180_000, "macs": 9e7, "psds1": 0.35, "psds1_std": 0.01,
     "psds2": 0.56, "psds2_std": 0.02},
]


def test_paper_numbers_are_the_published_ones() -> None:
    table = plots_distill.paper_table()
    assert table.loc["SE-CRNN-16 with DualKD", "psds1"] == 0.474
    assert table.loc["SE-CRNN-16 with DualKD", "psds2"] == 0.698
    assert table.loc["SE-CRNN-16 with DualKD", "f1_event"] == 0.556
    assert table.loc["DCASE 2023 baseline CRNN", ["psds1", "psds2"]].tolist() == [0.359, 0.562]
    assert "2402.02781" in plots_distill.PAPER_SOURCE


def test_moving_average() -> None:
    out = plots_distill.moving_average([1.0, 3.0, np.nan, 5.0], 2)
    assert out.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert plots_distill.moving_average([4.0, 2.0], 1).tolist() == [4.0, 2.0]
    with pytest.raises(ValueError, match="window"):
        plots_distill.moving_average([1.0], 0)


def test_loss_curves_one_panel_per_term_and_runs_without_a_term_left_out() -> None:
    histories = {"supervised": _history(12, kd=False), "kd": pd.DataFrame(_history(12, kd=True, seed=1))}
    fig = plots_distill.plot_loss_curves(histories, keys=("sup", "kd"), window=3, title="t")
    assert isinstance(fig, Figure)
    sup_ax, kd_ax = fig.axes
    assert len(sup_ax.get_lines()) == 2 and len(kd_ax.get_lines()) == 1
    assert sup_ax.get_legend() is not None  # the legend sits on the panel that has every run
    with pytest.raises(ValueError, match="No run has the loss term 'emb'"):
        plots_distill.plot_loss_curves(histories, keys=("emb",))
    with pytest.raises(ValueError, match="empty"):
        plots_distill.plot_loss_curves({"x": []})


def test_kd_distances_two_lines_per_run_and_needs_teacher_runs() -> None:
    fig = plots_distill.plot_kd_distances({"kd": _history(8, kd=True), "takd": _history(8, kd=True, seed=2),
                                           "supervised": _history(8, kd=False)})
    assert len(fig.axes[0].get_lines()) == 4
    with pytest.raises(ValueError, match="kd_student"):
        plots_distill.plot_kd_distances({"supervised": _history(5, kd=False)})


def test_mode_bars_with_error_bars_and_paper_lines() -> None:
    fig = plots_distill.plot_mode_bars(SUMMARY)
    ax1, ax2 = fig.axes
    assert [p.get_height() for p in ax1.patches] == pytest.approx([0.42, 0.30, 0.35])
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["teacher", "supervised", "dual"]
    assert [line.get_ydata()[0] for line in ax2.get_lines() if line.get_linestyle() in (":", "--")] == [0.562, 0.698]
    assert len(ax1.collections) == 1  # the error bars
    fig = plots_distill.plot_mode_bars(pd.DataFrame(SUMMARY), metrics=("psds1",), paper=False)
    assert len(fig.axes) == 1 and not fig.legends
    with pytest.raises(ValueError, match="no metric 'f1_collar'"):
        plots_distill.plot_mode_bars(SUMMARY, metrics=("f1_collar",))
    with pytest.raises(ValueError, match="name"):
        plots_distill.plot_mode_bars([])


def test_psds_vs_params_one_point_per_model() -> None:
    fig = plots_distill.plot_psds_vs_params(SUMMARY, metric="psds2")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.containers) == 3
    with pytest.raises(ValueError, match="params"):
        plots_distill.plot_psds_vs_params([{"name": "a", "psds1": 0.1}])


def test_frame_cosine_similarity_values() -> None:
    a = torch.randn(2, 8, 5)
    sim = plots_distill.frame_cosine_similarity(a, 3 * a)
    assert sim.shape == (2, 5) and np.allclose(sim, 1.0, atol=1e-6)
    assert np.allclose(plots_distill.frame_cosine_similarity(a.numpy(), -a.numpy()), -1.0, atol=1e-6)
    with pytest.raises(ValueError, match="align the frames"):
        plots_distill.frame_cosine_similarity(a, a[..., :4])


def test_similarity_heatmap_panels_and_mean_in_title() -> None:
    sims = {"eefd": np.full((30, 6), 0.8), "supervised": np.zeros((30, 6))}
    fig = plots_distill.plot_similarity_heatmap(sims, frame_seconds=0.128, max_clips=10)
    images = [ax for ax in fig.axes if ax.get_images()]
    assert len(images) == 2 and images[0].get_images()[0].get_array().shape == (10, 6)
    assert "0.80" in images[0].get_title()
    fig = plots_distill.plot_similarity_heatmap(np.zeros((3, 4)))
    assert fig.axes[0].get_xlabel() == "frame"
    with pytest.raises(ValueError, match="clips, frames"):
        plots_distill.plot_similarity_heatmap({"x": np.zeros(5)})


def test_similarity_heatmap_scale_follows_the_data_unless_full() -> None:
    sims = {"eefd": np.linspace(0.80, 0.95, 60).reshape(10, 6), "another clip": np.full((10, 6), 0.78)}
    lo, hi = plots_distill.plot_similarity_heatmap(sims).axes[0].get_images()[0].get_clim()
    assert 0.77 < lo < 0.79 and 0.93 < hi < 0.95  # the panels' own range: the difference shows
    assert plots_distill.plot_similarity_heatmap(sims, scale="full").axes[0].get_images()[0].get_clim() == (-1, 1)
    with pytest.raises(ValueError, match="scale="):
        plots_distill.plot_similarity_heatmap(sims, scale="auto")


def test_embedding_pair_shares_one_scale_and_draws_the_frame_cosine() -> None:
    target = torch.randn(16, 12)
    fig = plots_distill.plot_embedding_pair(2 * target, target, frame_seconds=0.128, title="clip")
    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(images) == 2 and images[0].get_clim() == images[1].get_clim()
    cosine = fig.axes[2].get_lines()[0].get_ydata()
    assert np.allclose(cosine, 1.0, atol=1e-6) and fig.axes[2].get_xlabel() == "time (s)"
    with pytest.raises(ValueError, match="one clip's"):
        plots_distill.plot_embedding_pair(target[None], target[None])


def test_single_class_frames_and_a_projection_on_the_targets_basis() -> None:
    strong = np.zeros((2, 3, 4))
    strong[0, 1, :2] = 1  # clip 0: class 1 alone on frames 0-1
    strong[1, 0, 3] = strong[1, 2, 3] = 1  # clip 1, frame 3: two classes, left out
    clip, frame, cls = plots_distill.single_class_frames(strong)
    assert clip.tolist() == [0, 0] and frame.tolist() == [0, 1] and cls.tolist() == [1, 1]
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(200, 5)) * np.array([5.0, 2.0, 0.1, 0.1, 0.1])
    pts = plots_distill.pca_2d(basis)
    assert pts.shape == (200, 2) and abs(pts[:, 0].var() / basis[:, 0].var() - 1) < 0.05
    shifted = plots_distill.pca_2d(basis + 1.0, basis)  # predictions in the targets' picture
    assert shifted.shape == (200, 2) and not np.allclose(shifted, pts)
    fig = plots_distill.plot_embedding_projection({"target": pts, "predicted": shifted}, rng.integers(0, 10, 200))
    assert len([ax for ax in fig.axes if ax.collections]) == 2
    with pytest.raises(ValueError, match="expected"):
        plots_distill.plot_embedding_projection({"target": pts[:5]}, np.zeros(200))


def test_learning_curves_one_line_per_run_with_a_record() -> None:
    curve = [{"epoch": e, "step": 10 * (e + 1), "psds1": 0.1 * e, "psds2": 0.2 * e} for e in range(3)]
    fig = plots_distill.plot_learning_curves({"supervised": curve, "dual": curve[:2], "old run": []})
    assert len(fig.axes) == 2 and [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == pytest.approx([0.0, 0.2, 0.4])
    with pytest.raises(ValueError, match="recorded a validation curve"):
        plots_distill.plot_learning_curves({"old run": []})


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


def test_plot_over_seeds_draws_the_mean_and_the_seed_range() -> None:
    seeds = [{"step": [10, 20, 30], "kd_mean": [1.0, 0.5, 0.2 + 0.1 * s]} for s in range(3)]
    fig = plots_distill.plot_over_seeds({"takd": seeds, "kd": seeds[:1]}, ("kd_mean",), ylabel="KD", title="t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["takd (3 seeds)", "kd (1 seeds)"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 0.5, 0.3])
    assert len(ax.collections) == 1  # one band: the run with three seeds
    plt.close(fig)
    bad = [{"step": [10, 20], "kd_mean": [1, 2]}, {"step": [10, 30], "kd_mean": [1, 2]}]
    with pytest.raises(ValueError, match="different steps"):
        plots_distill.plot_over_seeds({"x": bad}, ("kd_mean",), ylabel="KD", title="t")
    with pytest.raises(ValueError, match="no curves"):
        plots_distill.plot_over_seeds({}, ("kd_mean",), ylabel="KD", title="t")
