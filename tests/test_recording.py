"""Tests of dualkd_lib/recording.py: the two recording domains: dry (DESED's synthetic strong clips) and
room + microphone."""
from __future__ import annotations

import numpy as np
import pytest

from dualkd_lib import generate as G
from dualkd_lib import recording as R
from dualkd_lib.constants import SAMPLE_RATE


def test_dry_domain_draws_nothing_and_changes_nothing() -> None:
    assert R.DRY.is_dry and not R.ROOM_MICROPHONE.is_dry
    a, ev_a = G.generate_clip(G.clip_rng(0, "weak", 3), G.TINY_GENERATOR)
    b, ev_b = G.generate_clip(G.clip_rng(0, "weak", 3), G.TINY_GENERATOR, domain=R.DRY)
    np.testing.assert_array_equal(a, b)  # the same draws, the same samples
    assert ev_a.equals(ev_b)


def test_recorded_clip_keeps_the_labels_and_changes_the_audio() -> None:
    dry, ev_dry = G.generate_clip(G.clip_rng(0, "weak", 5), G.TINY_GENERATOR)
    rec, ev_rec = G.generate_clip(G.clip_rng(0, "weak", 5), G.TINY_GENERATOR, domain=R.ROOM_MICROPHONE)
    assert ev_dry.equals(ev_rec)  # same plan, same labels
    assert rec.shape == dry.shape and rec.dtype == np.float32 and np.isfinite(rec).all()
    assert np.max(np.abs(rec)) <= 0.98 + 1e-6
    assert not np.allclose(rec, dry)


def test_room_impulse_response_decays_by_its_rt60() -> None:
    rir = R.room_impulse_response(0.5, -6.0, np.random.default_rng(0))
    assert len(rir) == int(0.5 * SAMPLE_RATE) and rir[0] == 1.0
    tail = rir[1:]
    assert 10 * np.log10(np.sum(tail**2)) == pytest.approx(-6.0, abs=1e-3)  # wet level relative to direct
    early, late = np.sum(tail[:800] ** 2), np.sum(tail[-800:] ** 2)
    assert 10 * np.log10(early / late) > 40  # ~60 dB over the length, minus the 2 ms gap
    with pytest.raises(ValueError, match="rt60"):
        R.room_impulse_response(0.0, 0.0, np.random.default_rng(0))


def test_microphone_band_removes_low_frequencies() -> None:
    t = np.arange(SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
    low = np.sin(2 * np.pi * 40 * t).astype(np.float32)
    rec = R.ClipRecording(None, R.microphone_filter(300.0, 6000.0))
    out = R.render_event(low, rec)
    assert out.shape == low.shape and np.sqrt(np.mean(out[4000:] ** 2)) < 0.1 * np.sqrt(np.mean(low**2))


def test_domain_validation() -> None:
    with pytest.raises(ValueError, match="reverb_prob"):
        R.RecordingDomain(reverb_prob=2.0)
    with pytest.raises(ValueError, match="low <= high"):
        R.RecordingDomain(rt60_range=(1.0, 0.5))
