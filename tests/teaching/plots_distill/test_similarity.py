"""Tests of dualkd_lib/teaching/plots_distill/similarity.py: frame cosine similarity, heatmaps, embedding pictures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dualkd_lib.teaching import plots_distill


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
