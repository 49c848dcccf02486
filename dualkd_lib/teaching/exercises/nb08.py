"""Exercises of notebook 08 (the total loss): registered when ``exercises.check("8.x", fn)`` first asks.

Taught in notebook 08.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dualkd_lib import distill
from dualkd_lib.teaching.exercises.common import close as _close, register as _register


# ----------------------------------------------------------------------------------------
# Notebook 08: the total loss
# ----------------------------------------------------------------------------------------
def _inputs_8_1(rng: np.random.Generator) -> tuple:
    names = ("sup", "cons", "kd", "emb", "kd_student", "kd_mean")
    terms = {k: torch.tensor(float(rng.uniform(0.05, 2.0))) for k in names}
    mode = str(rng.choice(list(distill.STUDENT_MODES)))
    return (terms, mode, float(rng.uniform(0.1, 2.0)), float(rng.uniform(0.2, 2.0)), float(rng.uniform(0.2, 2.0)))


def _all_terms(u: Any, r: Any, i: tuple) -> bool:
    terms, mode, wc, wk, we = i
    return mode != "dual" and _close(u, terms["sup"] + wc * terms["cons"] + wk * terms["kd"] + we * terms["emb"])


def _diagnostics(u: Any, r: Any, i: tuple) -> bool:
    terms = i[0]
    extras = (terms["kd_student"], terms["kd_mean"], terms["kd_student"] + terms["kd_mean"])
    return any(_close(u, r + x) for x in extras)


_register(
    "8.1",
    "dualkd_lib.distill:total_loss",
    _inputs_8_1,
    hints=[
        (_all_terms, "Only the terms of the mode count: kd in kd/takd/dual, emb in eefd/dual "
                     "(distill.mode_uses(mode, 'kd') tells you)."),
        (_diagnostics, "kd_student and kd_mean are diagnostics for plots; they never enter the loss."),
        ("error", "Use terms['sup'], terms['cons'], terms['kd'], terms['emb'] (a dict of scalar tensors)."),
    ],
    task="assemble the total loss of a distillation mode",
)
