"""Fixtures of the recipe's tests: one tiny Context for the whole session (it takes a little while to
build, and every test file of tests/recipe/ checks one behaviour on it), and one of the faithful stand-in.
"""
from __future__ import annotations

import pytest

from contexts import tiny_context
from dualkd_lib import recipe


@pytest.fixture(scope="session")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> recipe.Context:
    return tiny_context(tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def taxonomy_ctx(ctx: recipe.Context, tmp_path_factory: pytest.TempPathFactory) -> recipe.Context:
    import dataclasses

    from dualkd_lib.config import TINY
    from dualkd_lib.corpus import TAXONOMY
    from dualkd_lib.recording import ROOM_MICROPHONE

    preset = dataclasses.replace(
        TINY, generator=dataclasses.replace(TINY.generator, recorded_domain=ROOM_MICROPHONE),
        embedding=dataclasses.replace(TINY.embedding, n_classes=len(TAXONOMY)),
        pretrain=dataclasses.replace(TINY.pretrain, objective="clip_taxonomy", n_clips=24))
    root = tmp_path_factory.mktemp("tiny-taxonomy")
    return recipe.Context.create(preset, data_root=root / "data", work_dir=root / "work", progress=False)

