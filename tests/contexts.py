"""Shared test helper: a tiny-preset Context in its own folders (imported by name; tests/ is on the path)."""
from __future__ import annotations

import pytest
import torch

from dualkd_lib import recipe


def tiny_context(tmp_path_factory: pytest.TempPathFactory, name: str) -> recipe.Context:
    """A tiny-preset Context with its own data and work folders (one thread, no progress bars)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp(name)
    return recipe.Context.create("tiny", data_root=root / "data", work_dir=root / "work", progress=False)
