"""Fixtures of the tests of dualkd_lib/desed_real/: a fake DESED tree at 44.1 kHz in the DCASE recipe's folders,
prepared.

The tree is built from generated clips: a few files are listed in the TSVs but missing, one WAV is corrupt, and
a BEATs-format HDF5 file holds embeddings for all but one clip.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dualkd_lib import desed_real

# the fake tree's builder, shared with test_desed_end_to_end.py (pytest puts tests/ on sys.path)
from fake_desed import make_clips, make_fake_desed


@pytest.fixture(scope="module")
def clips() -> dict[str, tuple[np.ndarray, pd.DataFrame]]:
    """One generated 10-s clip (16 kHz) and its events per name, seeded."""
    return make_clips()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, clips):
    root = make_fake_desed(tmp_path_factory.mktemp("desed"), clips)
    report = desed_real.prepare_desed(root, progress=False)
    return root, report
