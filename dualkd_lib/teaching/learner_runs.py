"""Short training runs that a learner changes, predicts and starts from a notebook.

The course's big runs come from caches. These do not: the learner changes one training
setting (``w_kd``, ``ema_alpha``, ``takd_blend``, ``eefd_kind``, the number of steps),
writes down a prediction, and trains a short run live (about a minute per run on the
``course`` preset, seconds on ``tiny``). A short run continues the finished supervised
student (``start="supervised"``, the default): a few steps from random weights would leave
every student on the all-zeros plateau, where no setting shows an effect on PSDS::

    runs = [learner_runs.short_run(ctx, "kd", w_kd=w) for w in (0.25, 4.0)]
    learner_runs.check_prediction("6.A", PREDICTION, choices=..., outcome=...)

A run is kept under ``<work_dir>/runs/learner/`` in a folder named after its settings, so
running the cell again loads it instead of training. Taught in notebooks 06, 07 and 08.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from dualkd_lib import layout
from dualkd_lib import recipe
from dualkd_lib.distill import STUDENT_MODES
from dualkd_lib.train import COSMETIC_CHANGES, TrainConfig, load_checkpoint, load_model_from_checkpoint

#: Steps of a short run per preset: a few minutes on a laptop for a pair of runs on ``course``,
#: and in every preset a fraction of the full student runs (so a short run is shorter).
SHORT_RUN_STEPS: dict[str, int] = {"tiny": 3, "course": 100, "desed": 500}
#: TrainConfig fields a short run sets through its own arguments, not through ``changes``.
_SET_BY_ARGUMENTS: tuple[str, ...] = ("mode", "seed", "max_steps", "epochs")


@dataclass(frozen=True)
class ShortRun:
    """One finished short run: what was changed, its training history and validation scores.

    ``validation``: the metrics of the kept weights (the student's own or the mean student's,
    chosen on validation as in the ablation, ``weights`` says which).
    """

    name: str
    mode: str
    changes: dict[str, Any]
    steps: int
    start: str | None
    history: list[dict[str, float]]
    validation: dict[str, float]
    weights: str
    seconds: float  # of the training, also when the run was loaded
    path: Path

    def final(self, key: str, fraction: float = 0.1) -> float:
        """Where history column ``key`` ended: its mean over the last ``fraction`` of the steps
        (one step is noisy)."""
        values = [h[key] for h in self.history if key in h]
        if not values:
            logged = sorted(self.history[0]) if self.history else []
            raise KeyError(f"Run {self.name!r} logged no {key!r}; it has {logged}.")
        tail = max(1, int(round(len(values) * fraction)))
        return float(np.mean(values[-tail:]))

    def kept_model(self) -> nn.Module:
        """The kept weights as a model (with its embedding distillation layer)."""
        own, mean, _ = load_model_from_checkpoint(self.path, expected_kind="student")
        return mean if self.weights == "mean" else own


def _number(v: Any) -> Any:
    """``4`` and ``4.0`` train the same: one spelling for the folder name."""
    return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


def _run_folder(ctx: recipe.Context, cfg: TrainConfig, start: str) -> Path:
    """``runs/learner/<mode>-<steps>steps-seed<N>-<key>``: the key is a hash of what decides the
    training (the settings without the cosmetic ones, the student's architecture, the data, the
    weights it starts from)."""
    settings = {k: _number(v) for k, v in cfg.to_dict().items() if k not in COSMETIC_CHANGES}
    what = {"train": settings, "student": dataclasses.asdict(ctx.preset.student), "data": ctx.data_fingerprint(),
            "start": start}
    key = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return layout.learner_runs_dir(ctx.work_dir) / f"{cfg.mode}-{cfg.max_steps}steps-seed{cfg.seed}-{key}"


def short_run(ctx: recipe.Context, mode: str, *, steps: int | None = None, seed: int = 0,
              name: str | None = None, start: str | None = "supervised", **changes: Any) -> ShortRun:
    """Train (or load) a student in ``mode`` for ``steps`` steps with training settings ``changes``.

    ``changes`` are :class:`~dualkd_lib.train.TrainConfig` fields, e.g. ``w_kd=4.0`` or
    ``eefd_kind="cosine"``; everything else is the preset's. ``steps`` defaults to
    :data:`SHORT_RUN_STEPS` for the preset. ``start``: the student mode whose finished run (same
    seed, trained first if missing) gives the starting weights, the ones it keeps; ``None``:
    random weights. The run is scored on the validation split (never on evaluation: a
    learner's choice is a choice of settings). Taught in notebooks 06-08.
    """
    if mode not in STUDENT_MODES:
        raise ValueError(f"Unknown student mode {mode!r}; choose one of {list(STUDENT_MODES)}.")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise ValueError(f"{unknown} are not training settings; choose among {sorted(fields - set(_SET_BY_ARGUMENTS))}.")
    fixed = sorted(set(changes) & set(_SET_BY_ARGUMENTS))
    if fixed:
        raise ValueError(f"Set {fixed} through short_run's own arguments (mode, seed=, steps=), not as changes.")
    steps = SHORT_RUN_STEPS.get(ctx.preset.name, 150) if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    cfg = dataclasses.replace(ctx.preset.student_config(mode, seed), max_steps=steps, **changes)
    init, origin = None, "random"
    if start is not None:
        start_path = recipe.train_student(ctx, start, seed=seed)
        own, mean, _ = load_model_from_checkpoint(start_path, expected_kind="student")
        weights = recipe.run_metrics(ctx, "student", start, seed)["weights"]  # the kept ones
        init = (mean if weights == "mean" else own).state_dict()
        origin = f"{recipe.model_fingerprint(start_path)}:{weights}"
    run_dir = _run_folder(ctx, cfg, origin)
    label = name or (", ".join(f"{k}={v}" for k, v in changes.items()) or f"{mode} as the preset")
    done = layout.final_checkpoint(run_dir).is_file()
    if ctx.progress and not done:
        print(f"Training {label!r}: {mode}, {steps} steps from "
              f"{'the ' + start + ' student' if start else 'random weights'} ...", flush=True)
    path = recipe.train_student_run(ctx, cfg, run_dir, init=init)
    seconds = json.loads((run_dir / "run_info.json").read_text())["seconds"]  # the training's, also when loaded
    scores = _validation_scores(ctx, path)
    weights = recipe.choose_weights(scores)
    return ShortRun(name=label, mode=mode, changes=dict(changes), steps=steps, start=start,
                    history=list(load_checkpoint(path)["history"]), validation=scores[weights],
                    weights=weights, seconds=seconds, path=path)


def _validation_scores(ctx: recipe.Context, path: Path) -> dict[str, dict[str, float]]:
    """Both weights of a finished short run scored on validation, cached beside it
    (``validation.json``, valid for that ``final.pt`` only)."""
    record = path.parent / "validation.json"
    source = recipe.model_fingerprint(path)
    if record.is_file():
        cached = json.loads(record.read_text())
        if cached.get("source") == source:
            return cached["scores"]
    own, mean, _ = load_model_from_checkpoint(path, expected_kind="student")
    scores = {w: recipe.evaluate_model(ctx, m.without_embedding_head(), "validation")
              for w, m in (("student", own), ("mean", mean))}
    record.write_text(json.dumps({"source": source, "scores": scores}, indent=2))
    return scores


#: The short runs of the notebooks' experiments as they ship: (experiment, mode, changes).
#: ``dualkd course`` trains them before the notebooks run, jobs at a time
#: (:func:`train_in_parallel`); a test checks that the notebooks ask for these.
NOTEBOOK_RUNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("6.A", "kd", {"w_kd": 0.25}), ("6.A", "kd", {"w_kd": 4.0}),
    ("7.A", "eefd", {"eefd_kind": "mse"}), ("7.A", "eefd", {"eefd_kind": "cosine"}),
    ("8.A", "supervised", {}), ("8.A", "dual", {}),
)


def _short_run_in_worker(preset: Any, data_root: Path, work_dir: Path, beats_dir: Path | None, mode: str,
                         changes: dict[str, Any], seed: int, threads: int) -> str:
    ctx = recipe.worker_context(preset, data_root, work_dir, beats_dir, threads)
    return short_run(ctx, mode, seed=seed, **changes).name


def train_in_parallel(ctx: recipe.Context, runs: Sequence[tuple[str, dict[str, Any]]] | None = None, *,
                      seed: int = 0, jobs: int = 2, students: Sequence[str] = ()) -> None:
    """Train (and score) short runs ``[(mode, changes), ...]`` (default: :data:`NOTEBOOK_RUNS`)
    ``jobs`` at a time in worker processes, so that the notebooks only load them.

    One pool does it all: first the finished supervised student every short run starts from,
    then the other full students of ``students`` (``dualkd course``: every mode, costliest
    first), and the short runs are queued the moment the supervised student is done. So no core
    waits while the last full student trains, as it would with two pools in a row. Each run is
    the one :func:`recipe.run_metrics` or :func:`short_run` makes in this process (same seed,
    same numbers); finished runs are loaded, not trained again. What the runs share (the
    teacher's outputs, the embeddings) is made first, in this process. Used by ``dualkd course``
    (notebook 00).
    """
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from tqdm.auto import tqdm

    from dualkd_lib.distill import MODE_TERMS

    unknown = sorted(set(students) - set(STUDENT_MODES))
    if unknown:
        raise ValueError(f"Unknown student mode(s) {unknown}; choose among {list(STUDENT_MODES)}.")
    runs = [(m, c) for _, m, c in NOTEBOOK_RUNS] if runs is None else list(runs)
    others = sorted(dict.fromkeys(m for m in students if m != "supervised"), key=lambda m: -len(MODE_TERMS[m]))
    others = [m for m in others if not recipe.student_checkpoint(ctx, m, seed).is_file()]
    ctx.training_datasets(with_teacher=True, with_embeddings=True)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    where = (ctx.preset, ctx.data_root, ctx.work_dir, ctx.beats_dir)
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        first = pool.submit(recipe.train_run_in_worker, *where, "student", "supervised", seed, threads)
        pending = {first, *(pool.submit(recipe.train_run_in_worker, *where, "student", m, seed, threads)
                            for m in others)}
        bar = tqdm(total=len(pending) + len(runs), disable=not ctx.progress, unit="run",
                   desc=f"the notebooks' students and short runs, {jobs} at a time")
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()  # re-raises a worker's error here
                bar.update(1)
                bar.set_postfix_str(f"done: {result if isinstance(result, str) else 'student ' + result[1]}")
                if future is first:  # the short runs start from its weights
                    pending |= {pool.submit(_short_run_in_worker, *where, mode, dict(changes), seed, threads)
                                for mode, changes in runs}
        bar.close()


@torch.no_grad()
def embedding_cosine(ctx: recipe.Context, run: ShortRun, split: str = "validation") -> float:
    """Mean cosine similarity of the run's predicted frame embeddings with the frozen ones on
    ``split`` (the kept weights). Taught in notebook 07."""
    from dualkd_lib.teaching.plots_distill import frame_cosine_similarity

    model = run.kept_model().eval()
    feats, target = ctx.split(split).features, ctx.embeddings(split)
    pred = torch.cat([model(feats[i:i + 32]).embedding_pred for i in range(0, len(feats), 32)])
    return float(np.mean(frame_cosine_similarity(pred, target)))


def check_prediction(exercise_id: str, prediction: Any, *, choices: Sequence[Any], outcome: Any,
                     why: str | Mapping[Any, str]) -> bool | None:
    """Print whether the learner's ``prediction`` (one of ``choices``) matches the measured
    ``outcome``, then why. ``why``: one text, or one per outcome (``{outcome: text}``), since a
    short run of one seed can go either way. Without a prediction (``None``) it asks for one and
    keeps the outcome to itself.

    Returns True, False, or None when there was no prediction. Taught in notebooks 06-08.
    """
    if prediction is None:
        print(f"Experiment {exercise_id}: write your prediction first (one of {list(choices)}) in the cell "
              "above, then run this cell again to see whether the runs agree.")
        return None
    if prediction not in choices:
        raise ValueError(f"Experiment {exercise_id}: {prediction!r} is not one of {list(choices)}.")
    right = prediction == outcome
    verdict = "✅ as you predicted" if right else f"❌ you predicted {prediction!r}"
    reason = why.get(outcome, "") if isinstance(why, Mapping) else why
    print(f"Experiment {exercise_id}: the runs gave {outcome!r} ({verdict}).\n{reason}".rstrip())
    return right


def runs_table(runs: Sequence[ShortRun], extra: Mapping[str, Sequence[float]] | None = None):
    """One row per run: its changes, steps, training seconds, kept weights and validation PSDS."""
    import pandas as pd

    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"Two runs share a name in {names}; give them different name= arguments.")
    rows = {r.name: {"mode": r.mode, "steps": r.steps, "train s": round(r.seconds, 1), "weights": r.weights,
                     "val psds1": r.validation["psds1"], "val psds2": r.validation["psds2"]} for r in runs}
    for column, values in (extra or {}).items():
        for r, v in zip(runs, values):
            rows[r.name][column] = v
    return pd.DataFrame.from_dict(rows, orient="index").round(3)
