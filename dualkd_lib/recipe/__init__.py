"""The course's own experiment (DESED_task's recipe, beside the library).

Read it bottom-up:

- :mod:`.pretrained`: the shipped pre-trained embedding model and teacher (a bundle and its manifest);
- :mod:`.run_files`: what a run folder holds besides the weights, and when a finished run is reused;
- :mod:`.scoring`: PSDS and F1 of a model on a split, and which weights of a run to keep;
- :mod:`.runs`: the runs, i.e. the frozen models' pre-training and the students;
- :mod:`.context`: the :class:`Context` of a preset's data, caches and frozen models;
- :mod:`.ablation`: each run's metrics, runs in parallel, the table (``dualkd ablation``) and the
  bundle (``dualkd pretrain``);
- :mod:`.distributed`: the runs under ``torchrun`` (``dualkd ddp``).

Notebooks and the command line use the names below, e.g. ``recipe.Context.create("course")``.
"""
from dualkd_lib.recipe.run_files import cached_run_fits, model_fingerprint, save_inference_bundle, write_run_info
from dualkd_lib.recipe.scoring import choose_weights, evaluate_model, evaluate_scores, model_cost, validation_fn
from dualkd_lib.recipe.runs import (
    linear_probe,
    plain_teacher_config,
    pretrain_embedding_model,
    student_checkpoint,
    student_run_dir,
    train_plain_teacher,
    train_student,
    train_student_run,
    train_teacher,
)
from dualkd_lib.recipe.context import Context, SplitTensors, data_present, embedding_input, make_data
from dualkd_lib.recipe.ablation import (
    METRIC_KEYS,
    default_jobs,
    markdown_table,
    pretrain,
    probe_metrics,
    run_ablation,
    run_metrics,
    summarise,
    train_runs_in_parallel,
    train_run_in_worker,
    worker_context,
)
from dualkd_lib.recipe.distributed import train_distributed

__all__ = [
    "Context", "SplitTensors", "make_data", "data_present", "embedding_input",
    "cached_run_fits", "model_fingerprint", "save_inference_bundle", "write_run_info",
    "evaluate_scores", "evaluate_model", "validation_fn", "choose_weights", "model_cost",
    "pretrain_embedding_model", "linear_probe", "train_teacher", "plain_teacher_config", "train_plain_teacher",
    "student_run_dir", "student_checkpoint", "train_student", "train_student_run",
    "run_metrics", "probe_metrics", "METRIC_KEYS", "summarise", "markdown_table", "train_run_in_worker", "worker_context",
    "default_jobs", "train_runs_in_parallel", "pretrain", "run_ablation", "train_distributed",
]
