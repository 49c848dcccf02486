"""Fixtures of the prediction tests: the tiny preset's embedding model, teacher and a supervised student,
built once for the session by the recipe."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dualkd_lib import recipe


@pytest.fixture(scope="session")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> recipe.Context:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    context = recipe.Context.create("tiny", data_root=root / "data", work_dir=root / "work", progress=False)
    context.teacher()  # pre-trains the embedding model first
    recipe.train_student(context, "supervised", seed=0)
    return context


@pytest.fixture(scope="session")
def student(ctx: recipe.Context) -> Path:
    return recipe.student_run_dir(ctx, "supervised", 0) / "final.pt"


@pytest.fixture(scope="session")
def embedding_ckpt(ctx: recipe.Context) -> Path:
    return ctx.work_dir / "embedding" / "final.pt"

