"""Figures (and the small computations behind them) for the distillation notebooks.

- notebook 03: :func:`plot_clip_predictions` (teacher on one clip).
- notebook 05: :func:`plot_cost_bars` (parameters and MACs), :func:`se_attention_weights`
  and :func:`plot_se_attention` (what SE and tfwSE do on a clip).
- notebook 06: :func:`plot_loss_curves`, :func:`plot_kd_distances` (training histories),
  :func:`plot_over_seeds` (recorded curves over seeds; notebook 08 too).
- notebook 07: :func:`frame_cosine_similarity`, :func:`plot_similarity_heatmap`.
- notebook 08: :data:`PAPER_RESULTS`, :func:`paper_table`, :func:`plot_mode_bars`,
  :func:`plot_psds_vs_params`, :func:`plot_clip_predictions` (teacher, students, mean).

Every plotting function draws with matplotlib and returns its ``Figure`` (it does not
call ``plt.show()``), so tests and headless runs can call it.

The package's modules: :mod:`.histories` (the paper's numbers, training histories),
:mod:`.ablation` (the ablation's bars and PSDS against size), :mod:`.similarity` (embedding
similarity) and :mod:`.predictions` (predictions on one clip, size and attention).
"""
from dualkd_lib.teaching.plots_distill.histories import (
    PAPER_RESULTS,
    PAPER_SOURCE,
    moving_average,
    paper_table,
    plot_kd_distances,
    plot_loss_curves,
    plot_over_seeds,
)
from dualkd_lib.teaching.plots_distill.ablation import (
    plot_learning_curves,
    plot_mode_bars,
    plot_psds_vs_params,
)
from dualkd_lib.teaching.plots_distill.similarity import (
    frame_cosine_similarity,
    pca_2d,
    plot_embedding_pair,
    plot_embedding_projection,
    plot_similarity_heatmap,
    single_class_frames,
)
from dualkd_lib.teaching.plots_distill.predictions import (
    plot_clip_predictions,
    plot_cost_bars,
    plot_se_attention,
    se_attention_spread,
    se_attention_weights,
    se_inactive_units,
)

__all__ = [
    "PAPER_RESULTS",
    "PAPER_SOURCE",
    "frame_cosine_similarity",
    "moving_average",
    "paper_table",
    "pca_2d",
    "plot_clip_predictions",
    "plot_cost_bars",
    "plot_embedding_pair",
    "plot_embedding_projection",
    "plot_kd_distances",
    "plot_learning_curves",
    "plot_loss_curves",
    "plot_mode_bars",
    "plot_over_seeds",
    "plot_psds_vs_params",
    "plot_se_attention",
    "plot_similarity_heatmap",
    "se_attention_spread",
    "se_attention_weights",
    "se_inactive_units",
    "single_class_frames",
]
