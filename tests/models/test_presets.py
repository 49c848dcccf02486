"""Tests of dualkd_lib/models/presets.py: the preset models' sizes."""
from __future__ import annotations

import pytest

from dualkd_lib import models as M

from small_models import SED_PRESETS


@pytest.mark.parametrize("preset", list(SED_PRESETS))
def test_student_at_most_a_third_of_teacher(preset: str) -> None:
    t_cfg, s_cfg = SED_PRESETS[preset]
    teacher = M.count_parameters(M.CRNN(t_cfg, seed=0))  # embedding model not counted
    student = M.SECRNN(s_cfg, seed=0)
    assert M.count_parameters(student.without_embedding_head()) * 3 <= teacher
    assert M.count_parameters(student) * 3 <= teacher  # even with the training-only head


def test_dcase_teacher_parameter_count() -> None:
    """DCASE 2023 CRNN: 1,112,420 parameters + Linear(896, 128) fusion = 1,227,236."""
    teacher = M.CRNN(M.DESED_TEACHER, seed=0)
    assert M.count_parameters(teacher.fusion) == 896 * 128 + 128
    assert M.count_parameters(teacher) == 1_227_236
