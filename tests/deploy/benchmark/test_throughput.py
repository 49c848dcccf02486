"""Tests of dualkd_lib/deploy/benchmark/throughput.py: full training steps are timed on a copy, never on the caller's model."""
from __future__ import annotations

import torch

from dualkd_lib import models
from dualkd_lib.config import TINY
from dualkd_lib.deploy.benchmark.throughput import data_generation_speed, training_throughput


def test_training_throughput_times_steps_on_a_copy_of_the_model() -> None:
    student = models.SECRNN(TINY.student, seed=0)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    result = training_throughput(student, TINY, "dual", steps=2)
    assert result["batch"] == sum(TINY.student_train.batch_sizes) and result["threads"] == 1
    assert result["clips_per_second"] > 0 and result["seconds_per_step"] > 0
    assert all(torch.equal(before[k], v) for k, v in student.state_dict().items())


def test_the_teacher_is_timed_with_its_cached_embeddings() -> None:
    teacher = models.CRNN(TINY.teacher, seed=0)
    assert training_throughput(teacher, TINY, "teacher", steps=1)["clips_per_second"] > 0


def test_data_generation_speed_counts_clips() -> None:
    speed = data_generation_speed(TINY, n_clips=2)
    assert speed["clips"] == 2 and speed["generate_clips_per_second"] > 0 and speed["logmel_clips_per_second"] > 0
