"""Tests of dualkd_lib/generate/config.py: bad generator inputs raise ValueError."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dualkd_lib import generate as gen


def test_bad_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="synthesize_event|duration"):
        gen.synthesize_event("Dog", 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_strong"):
        gen.GeneratorConfig(n_strong=-1)
    with pytest.raises(ValueError, match="snr_db_range"):
        gen.GeneratorConfig(snr_db_range=(10.0, 0.0))
    with pytest.raises(ValueError, match="class_weights"):
        gen.GeneratorConfig(class_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="seed"):
        gen.clip_rng(-1, "strong", 0)
    with pytest.raises(ValueError, match="split"):
        gen.clip_rng(0, "train", 0)
    with pytest.raises(ValueError, match="columns"):
        gen.event_statistics(pd.DataFrame({"onset": [0.0]}))
