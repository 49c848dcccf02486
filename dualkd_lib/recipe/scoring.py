"""The course's metrics of a model or of frame scores on a split: PSDS1, PSDS2, collar and
intersection F1 (the preset's median filter and threshold), and which weights of a run to keep.

Taught in notebooks 04 and 08.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
from torch import nn

from dualkd_lib import evaluate, models
from dualkd_lib.features import n_frames, n_output_frames
from dualkd_lib.train import predict_scores

if TYPE_CHECKING:  # a type name only: at run time the Context imports this module (through .runs), not the reverse
    from dualkd_lib.recipe.context import Context

def evaluate_scores(ctx: Context, strong: np.ndarray, split: str = "evaluation", *, clips: int | None = None
                    ) -> dict:
    """PSDS1, PSDS2, collar and intersection F1 of frame scores ``[N, C, T]`` on ``split``
    (its first ``clips`` clips when given).

    Scores are median filtered (``preset.evaluation.median_filter_frames``)
    before PSDS and before thresholding at ``preset.evaluation.threshold``.
    Taught in notebook 04.
    """
    s = ctx.split(split) if clips is None else ctx.split(split).head(clips)
    ev = ctx.preset.evaluation
    frame_s = ctx.encoder.frame_seconds
    smoothed = evaluate.median_filter(strong, ev.median_filter_frames)
    scores = evaluate.scores_to_dataframes(smoothed, s.filenames, frame_seconds=frame_s)
    p1 = evaluate.psds_scenario(scores, s.ground_truth, s.durations, evaluate.PSDS1)
    p2 = evaluate.psds_scenario(scores, s.ground_truth, s.durations, evaluate.PSDS2)
    det = evaluate.decode_detections(smoothed, s.filenames, ctx.encoder, threshold=ev.threshold)
    f1c = evaluate.collar_f1(det, s.ground_truth, s.durations)
    f1i = evaluate.intersection_f1(det, s.ground_truth, s.durations)
    return {"psds1": float(p1.value), "psds2": float(p2.value),
            "f1_collar": float(f1c.macro), "f1_intersection": float(f1i.macro)}


def evaluate_model(ctx: Context, model: nn.Module, split: str = "evaluation", *, needs_embeddings: bool = False,
                   clips: int | None = None) -> dict:
    """Predict ``split`` (its first ``clips`` clips when given) with ``model`` and score it
    (see :func:`evaluate_scores`)."""
    s = ctx.split(split) if clips is None else ctx.split(split).head(clips)
    emb = ctx.embeddings(split) if needs_embeddings else None
    if emb is not None and clips is not None:
        position = {f: i for i, f in enumerate(ctx.split(split).filenames)}
        emb = emb[[position[f] for f in s.filenames]]
    strong, _ = predict_scores(model, s.features, embeddings=emb, progress=ctx.progress and clips is None)
    return evaluate_scores(ctx, strong, split, clips=clips)


def validation_fn(ctx: Context, *, needs_embeddings: bool = False, clips: int | None = None
                  ) -> Callable[[nn.Module], dict]:
    """``model -> metrics on the validation split`` (its first ``clips`` clips when given), for
    ``train(val_fn=...)``: a learning curve. Each call predicts and scores the clips (a few
    seconds for the whole split on the course preset). Taught in notebook 08.
    """
    return lambda model: evaluate_model(ctx, model, "validation", needs_embeddings=needs_embeddings, clips=clips)


def choose_weights(validation: Mapping[str, Mapping[str, float]]) -> str:
    """Which weights of a run to keep: the one with the higher mean of PSDS1 and PSDS2 on validation.

    ``validation`` maps ``"student"`` (the student's own weights) and ``"mean"`` (the mean
    student) to their validation metrics. As DCASE keeps the better of its student and
    mean teacher, chosen on the validation split, never on the evaluation split; a tie keeps
    the mean student. Taught in notebook 08.
    """
    if set(validation) != {"student", "mean"}:
        raise ValueError(f"validation must score 'student' and 'mean', got {sorted(validation)}.")
    score = {k: (v["psds1"] + v["psds2"]) / 2 for k, v in validation.items()}
    return "student" if score["student"] > score["mean"] else "mean"


def model_cost(ctx: Context, model: nn.Module, emb_dim: int = 0) -> dict:
    shape = (1, ctx.preset.features.n_mels, n_frames(ctx.preset.features))
    emb_shape = (1, emb_dim, n_output_frames(ctx.preset.features)) if emb_dim else None
    return {"params": models.count_parameters(model),
            "macs": models.count_macs(model, input_shape=shape, embeddings_shape=emb_shape)}

