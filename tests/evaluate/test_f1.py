"""Tests of dualkd_lib/evaluate/f1.py: intersection and collar F1, against psds_eval and sed_eval."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from dualkd_lib import evaluate as ev

from evaluation_data import DET_05, DUR_TSV, GT_TSV, REFERENCE


def test_intersection_f1_equals_psds_eval() -> None:
    ref = REFERENCE["intersection_f1"]
    result = ev.intersection_f1(DET_05, GT_TSV, DUR_TSV, dtc=ref["dtc"], gtc=ref["gtc"], cttc=ref["cttc"])
    assert result.macro == pytest.approx(ref["macro"], abs=1e-3)
    assert result.per_class == pytest.approx(ref["per_class"], abs=1e-3)


def test_collar_f1_equals_sed_eval() -> None:
    ref = REFERENCE["collar_f1"]
    result = ev.collar_f1(DET_05, GT_TSV, DUR_TSV)
    assert result.micro == pytest.approx(ref["micro"], abs=1e-3)
    assert result.macro == pytest.approx(ref["macro"], abs=1e-3)
    assert result.per_class == pytest.approx(ref["per_class"], abs=1e-3)


def test_collar_f1_perfect_and_shifted(synthetic: SimpleNamespace) -> None:
    perfect = ev.collar_f1(synthetic.gt, synthetic.gt, synthetic.dur)
    assert perfect.micro == 1.0 and perfect.macro == 1.0
    within = synthetic.gt.copy()
    within.loc[0, ["onset", "offset"]] += 0.15  # inside the 200-ms collars
    assert ev.collar_f1(within, synthetic.gt, synthetic.dur).micro == 1.0
    shifted = synthetic.gt.copy()
    shifted.loc[0, "onset"] = synthetic.gt.loc[0, "onset"] + 0.3  # onset past the collar
    result = ev.collar_f1(shifted, synthetic.gt, synthetic.dur)
    label = synthetic.gt.loc[0, "event_label"]
    assert result.micro < 1.0 and result.per_class[label] < 1.0
    assert result.tp[label] == perfect.tp[label] - 1 and result.fp[label] == 1 and result.fn[label] == 1
    assert ev.intersection_f1(synthetic.gt, synthetic.gt, synthetic.dur).macro == 1.0


def test_collar_offset_collar_grows_with_event_length() -> None:
    gt = pd.DataFrame([["a.wav", 0.0, 5.0, "Blender"]], columns=["filename", "onset", "offset", "event_label"])
    det = gt.copy()
    det.loc[0, "offset"] = 5.9  # 0.9 s late, within 20 % of 5 s = 1.0 s
    dur = {"a.wav": 10.0}
    assert ev.collar_f1(det, gt, dur, classes=["Blender"]).micro == 1.0
    assert ev.collar_f1(det, gt, dur, offset_collar_rate=0.0, classes=["Blender"]).micro == 0.0
