"""Tests of dualkd_lib/teaching/exercises/nb09.py: exercise 9.1 accepts the reference and explains a mistake."""
from __future__ import annotations

import pytest

from dualkd_lib.teaching import exercises
from dualkd_lib.deploy.benchmark import latency_summary


def test_exercise_9_1_accepts_reference_and_explains_a_mistake(capsys: pytest.CaptureFixture) -> None:
    assert latency_summary(20.0, 1e8) == pytest.approx(
        {"realtime_factor": 0.002, "clips_per_second": 50.0, "gmacs_per_second": 5.0})
    exercises.check("9.1", latency_summary)
    assert capsys.readouterr().out.startswith("✅")

    def in_ms(ms_per_clip, macs, clip_seconds=10.0):
        s = ms_per_clip / 1000
        return {"realtime_factor": ms_per_clip / clip_seconds, "clips_per_second": 1 / s, "gmacs_per_second": macs / s / 1e9}

    fn = exercises.check("9.1", in_ms)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "milliseconds to seconds" in out
    assert fn is not in_ms
