"""Tests of dualkd_lib/teaching/exercises/nb08.py: Exercise 8.1 accepts the loop's own total loss and explains the usual slips."""
from __future__ import annotations

import pytest

from dualkd_lib import distill
from dualkd_lib.teaching import exercises


def test_the_librarys_total_loss_passes(capsys: pytest.CaptureFixture) -> None:
    assert exercises.check("8.1", distill.total_loss) is distill.total_loss
    assert capsys.readouterr().out.startswith("✅ Exercise 8.1")


def _every_term(terms, mode, w_cons, w_kd, w_emb):  # noqa: ANN001, ARG001
    return terms["sup"] + w_cons * terms["cons"] + w_kd * terms["kd"] + w_emb * terms["emb"]


def _with_diagnostics(terms, mode, w_cons, w_kd, w_emb):  # noqa: ANN001
    return distill.total_loss(terms, mode, w_cons, w_kd, w_emb) + terms["kd_student"]


@pytest.mark.parametrize(("wrong", "hint"), [(_every_term, "Only the terms of the mode count"),
                                             (_with_diagnostics, "they never enter the loss")])
def test_a_slip_falls_back_to_the_library_with_its_hint(wrong, hint: str, capsys: pytest.CaptureFixture) -> None:  # noqa: ANN001
    assert exercises.check("8.1", wrong) is distill.total_loss
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 8.1") and hint in out
