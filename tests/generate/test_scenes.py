"""Tests of dualkd_lib/generate/scenes.py: generated clips, their events and statistics that follow real DESED."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dualkd_lib import generate as gen


@pytest.fixture(scope="module")
def sample_300() -> pd.DataFrame:
    """300 clips generated in memory, as one strong table."""
    frames = []
    for i in range(300):
        _, ev = gen.generate_clip(gen.clip_rng(7, "strong", i), gen.GeneratorConfig())
        frames.append(ev.assign(filename=f"c{i:03d}.wav"))
    return pd.concat(frames, ignore_index=True)


def test_median_durations_within_factor_two_of_desed(sample_300: pd.DataFrame) -> None:
    cmp = gen.compare_with_desed(sample_300)
    assert cmp["median_ratio"].notna().all()
    bad = cmp[(cmp["median_ratio"] < 0.5) | (cmp["median_ratio"] > 2.0)]
    assert bad.empty, f"median durations off by more than x2:\n{bad}"


def test_events_per_clip_and_class_frequencies(sample_300: pd.DataFrame) -> None:
    clip = gen.clip_statistics(sample_300)
    assert 2.5 <= clip["events_per_clip"] <= 4.5
    assert 0.0 < clip["overlap_fraction"] < 0.3
    st = gen.event_statistics(sample_300)
    assert st["n_events"].idxmax() == "Speech"
    assert st["frac_clips"].idxmax() == "Speech"
    assert (st["n_events"] > 0).all()
    # events cut at the clip edges, long classes often last the whole clip
    assert st.loc["Speech", "frac_cut_onset"] > 0.02 and st.loc["Speech", "frac_cut_offset"] > 0.02
    assert st.loc["Vacuum_cleaner", "frac_whole_clip"] > 0.3
    assert st.loc["Dog", "events_per_clip"] > 2.0 and st.loc["Vacuum_cleaner", "events_per_clip"] < 1.3


def test_generate_clip_contract_and_forced_classes() -> None:
    wav, ev = gen.generate_clip(np.random.default_rng(0), gen.GeneratorConfig(), classes=["Cat", "Frying"])
    assert wav.shape == (160000,) and wav.dtype == np.float32
    assert np.isfinite(wav).all() and 0 < np.abs(wav).max() <= 1.0
    assert list(ev.columns) == ["onset", "offset", "event_label"]
    assert {"Cat", "Frying"} <= set(ev["event_label"])
    assert (ev["onset"] >= 0).all() and (ev["offset"] <= 10).all() and (ev["onset"] < ev["offset"]).all()
    assert ev["onset"].is_monotonic_increasing
    with pytest.raises(ValueError, match="Unknown event label"):
        gen.generate_clip(np.random.default_rng(0), classes=["Cow"])


def test_same_class_events_do_not_overlap_and_polyphony_is_bounded() -> None:
    cfg = dataclasses.replace(gen.GeneratorConfig(), max_polyphony=2, events_per_class_scale=2.0)
    for i in range(20):
        _, ev = gen.generate_clip(np.random.default_rng(i), cfg)
        for _, g in ev.groupby("event_label"):
            g = g.sort_values("onset")
            assert (g["onset"].to_numpy()[1:] >= g["offset"].to_numpy()[:-1]).all()
        grid = np.zeros(1000, dtype=int)
        for on, off in zip(ev["onset"], ev["offset"]):
            grid[int(round(on * 100)):int(round(off * 100))] += 1
        assert grid.max() <= 2


def test_compose_clip_parts_add_up() -> None:
    parts = gen.compose_clip(np.random.default_rng(5), gen.GeneratorConfig())
    total = parts.background.copy()
    for _, start, audio in parts.stems:
        total[start:start + len(audio)] += audio
    np.testing.assert_allclose(total, parts.mixture, atol=1e-5)
    lo, hi = gen.GeneratorConfig().snr_db_range
    assert parts.events["snr_db"].between(lo - gen.GeneratorConfig().heavy_background_db, hi).all()
