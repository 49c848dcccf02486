"""Tests of dualkd_lib/evaluate/psds.py: PSDS from scores and from operating points (against psds_eval),
intersection counts."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sed_scores_eval import intersection_based

from dualkd_lib import evaluate as ev
from dualkd_lib.constants import CLASSES

from evaluation_data import DUR_TSV, FRAME, GT_TSV, OPS_DIR, REFERENCE


def test_psds_is_one_for_a_perfect_detector(synthetic: SimpleNamespace) -> None:
    scores = ev.scores_to_dataframes(synthetic.perfect, synthetic.files, frame_seconds=FRAME)
    for scenario in (ev.PSDS1, ev.PSDS2, ev.DCASE2020):
        result = ev.psds_scenario(scores, synthetic.gt, synthetic.dur, scenario)
        assert result.value == pytest.approx(1.0)
        assert all(v == pytest.approx(1.0) for v in result.per_class.values())


def test_psds_equals_direct_sed_scores_eval(synthetic: SimpleNamespace, tmp_path: Path) -> None:
    scores = ev.scores_to_dataframes(synthetic.noisy, synthetic.files, frame_seconds=FRAME)
    gt_tsv = tmp_path / "gt.tsv"
    dur_tsv = tmp_path / "dur.tsv"
    synthetic.gt.to_csv(gt_tsv, sep="\t", index=False)
    synthetic.dur.to_csv(dur_tsv, sep="\t", index=False)
    for scenario, ours in ((ev.PSDS1, ev.psds1), (ev.PSDS2, ev.psds2)):
        result = ours(scores, gt_tsv, dur_tsv)
        value, per_class, (etpr, efpr), _ = intersection_based.psds(
            scores=scores,
            ground_truth=gt_tsv,
            audio_durations=dur_tsv,
            dtc_threshold=scenario.dtc,
            gtc_threshold=scenario.gtc,
            cttc_threshold=scenario.cttc,
            alpha_ct=scenario.alpha_ct,
            alpha_st=scenario.alpha_st,
            max_efpr=scenario.max_efpr,
        )
        assert 0.05 < value < 0.99  # a non-trivial case
        assert result.value == pytest.approx(value, abs=1e-12)
        assert result.per_class == pytest.approx(per_class, abs=1e-12)
        np.testing.assert_allclose(result.efpr, efpr)
        np.testing.assert_allclose(result.etpr, etpr)


def test_psds_with_desed_style_names_through_a_scores_folder(synthetic: SimpleNamespace, tmp_path: Path) -> None:
    # Real DESED ids contain dots ("Y00pK0GMmE9s_70.000_80.000.wav"); only ".wav" may be stripped.
    rename = {f: f"Y{i:011d}_70.000_80.000.wav" for i, f in enumerate(synthetic.files)}
    gt = synthetic.gt.assign(filename=synthetic.gt.filename.map(rename))
    dur = synthetic.dur.assign(filename=synthetic.dur.filename.map(rename))
    scores = ev.scores_to_dataframes(synthetic.noisy, list(dur.filename), frame_seconds=FRAME)
    assert "Y00000000000_70.000_80.000" in scores
    folder = ev.write_scores_dir(scores, tmp_path / "scores")
    from_dict = ev.psds1(scores, gt, dur).value
    assert ev.psds1(folder, gt, dur).value == pytest.approx(from_dict)
    named = ev.scores_to_dataframes(synthetic.noisy, synthetic.files, frame_seconds=FRAME)
    assert ev.psds1(named, synthetic.gt, synthetic.dur).value == pytest.approx(from_dict)


def test_psds_refuses_touching_ground_truth_events(synthetic: SimpleNamespace) -> None:
    scores = ev.scores_to_dataframes(synthetic.noisy, synthetic.files, frame_seconds=FRAME)
    first = synthetic.gt.iloc[:1]
    touching = first.assign(onset=first.offset, offset=first.offset + 0.1)
    if float(touching.offset.iloc[0]) > 10.0:  # keep it inside the clip
        touching = first.assign(onset=first.onset - 0.1, offset=first.onset)
    gt = pd.concat([synthetic.gt, touching], ignore_index=True)
    with pytest.raises(ValueError, match="overlapping"):
        ev.psds1(scores, gt, synthetic.dur)


def test_psd_roc_data(synthetic: SimpleNamespace) -> None:
    scores = ev.scores_to_dataframes(synthetic.noisy, synthetic.files, frame_seconds=FRAME)
    result = ev.psds1(scores, synthetic.gt, synthetic.dur)
    data = ev.psd_roc_data(result)
    assert list(data.columns) == ["curve", "efpr", "tpr"]
    assert list(data.curve.unique()) == ["PSD-ROC", *CLASSES]
    for _, curve in data.groupby("curve"):
        assert curve.efpr.iloc[0] == 0.0 and curve.efpr.iloc[-1] == 100.0
        assert np.all(np.diff(curve.efpr) >= 0) and curve.tpr.between(0, 1).all()
    with pytest.raises(ValueError, match="PSDSResult"):
        ev.psd_roc_data(0.5)


def test_psds_handles_empty_label_rows_and_unlisted_clips(synthetic: SimpleNamespace) -> None:
    scores = ev.scores_to_dataframes(synthetic.noisy, synthetic.files, frame_seconds=FRAME)
    base = ev.psds1(scores, synthetic.gt, synthetic.dur).value
    # Remove clip000's events but keep an empty-label row for it, as real DESED does.
    gt = synthetic.gt[synthetic.gt.filename != "clip000.wav"]
    with_empty = pd.concat([gt, pd.DataFrame([["clip000.wav", np.nan, np.nan, np.nan]], columns=gt.columns)])
    without_row = ev.psds1(scores, gt, synthetic.dur).value
    assert ev.psds1(scores, with_empty, synthetic.dur).value == pytest.approx(without_row)
    assert without_row != pytest.approx(base)


def test_psds_input_validation(synthetic: SimpleNamespace) -> None:
    scores = ev.scores_to_dataframes(synthetic.noisy, synthetic.files, frame_seconds=FRAME)
    with pytest.raises(ValueError, match="no scores"):
        ev.psds1(dict(list(scores.items())[:-1]), synthetic.gt, synthetic.dur)
    with pytest.raises(ValueError, match="missing from the durations"):
        ev.psds1(scores, synthetic.gt, synthetic.dur.iloc[:-1])
    bad_gt = synthetic.gt.copy()
    bad_gt.loc[0, "event_label"] = "Bird"
    with pytest.raises(ValueError, match="Bird"):
        ev.psds1(scores, bad_gt, synthetic.dur)
    with pytest.raises(ValueError, match="no ground-truth event"):
        ev.psds1(scores, synthetic.gt[synthetic.gt.event_label != "Cat"], synthetic.dur)
    with pytest.raises(ValueError, match="alpha_ct"):
        ev.psds(scores, synthetic.gt, synthetic.dur, dtc=0.5, gtc=0.5, cttc=0.3, alpha_ct=2, alpha_st=0, max_efpr=100)
    with pytest.raises(FileNotFoundError):
        ev.psds1(scores, "no/such/gt.tsv", synthetic.dur)


def test_count_intersections_hand_made() -> None:
    gt = pd.DataFrame(
        [
            ["a.wav", 1.0, 3.0, "Dog"],
            ["a.wav", 4.5, 7.0, "Speech"],
            ["b.wav", 0.0, 10.0, "Frying"],
            ["c.wav", 0.0, 1.0, "Cat"],
            ["c.wav", 2.0, 3.0, "Dishes"],
            ["d.wav", np.nan, np.nan, np.nan],  # a clip without events
        ],
        columns=["filename", "onset", "offset", "event_label"],
    )
    det = pd.DataFrame(
        [
            ["a.wav", 1.5, 2.5, "Dog"],  # inside the Dog event (DTC 1.0), covers half of it: TP
            ["a.wav", 5.0, 6.0, "Cat"],  # on Speech: FP, and a cross-trigger on Speech
            ["b.wav", 0.0, 2.0, "Frying"],  # passes the DTC but covers only 20 %: neither TP nor FP
            ["b.wav", 3.0, 11.0, "Dishes"],  # FP, 7/8 of it on Frying: cross-trigger on Frying
            ["c.wav", 17.0, 18.0, "Cat"],  # after the end of the clip: not counted (psds_eval)
        ],
        columns=["filename", "onset", "offset", "event_label"],
    )
    dur = {"a.wav": 10.0, "b.wav": 10.0, "c.wav": 16.0, "d.wav": 4.0}
    classes = ["Cat", "Dishes", "Dog", "Frying", "Speech"]
    counts = ev.count_intersections(det, gt, dur, dtc=0.5, gtc=0.5, cttc=0.3, classes=classes)
    assert counts.tp.tolist() == [0, 0, 1, 0, 0]
    assert counts.fp.tolist() == [1, 1, 0, 0, 0]
    expected_ct = np.zeros((5, 5), dtype=int)
    expected_ct[0, 4] = 1  # Cat on Speech
    expected_ct[1, 3] = 1  # Dishes on Frying
    np.testing.assert_array_equal(counts.ct, expected_ct)
    assert counts.n_ref.tolist() == [1, 1, 1, 1, 1]
    np.testing.assert_allclose(counts.ref_seconds, [1.0, 1.0, 2.0, 10.0, 2.5])
    assert counts.total_seconds == 40.0  # the event-less clip counts too
    tpr, efpr = counts.rates(alpha_ct=0.5)
    np.testing.assert_allclose(tpr, [0, 0, 1, 0, 0])
    # Cat: 1 FP in 40 s = 90/h, plus 0.5 x mean(0, 0, 0, 1 CT per 2.5 s of Speech = 1440/h).
    assert efpr[0] == pytest.approx(90 + 0.5 * 1440 / 4)
    assert ev.count_intersections(det, gt, dur, dtc=0.5, gtc=0.2, classes=classes).tp.tolist() == [0, 0, 1, 1, 0]
    nothing = ev.count_intersections(det.iloc[:0], gt, dur, dtc=0.5, gtc=0.5, cttc=0.3, classes=classes)
    assert nothing.tp.sum() == nothing.fp.sum() == nothing.ct.sum() == 0
    f1 = ev.intersection_f1(det, gt, dur, classes=classes)
    assert f1.per_class == {"Cat": 0.0, "Dishes": 0.0, "Dog": 1.0, "Frying": 0.0, "Speech": 0.0}
    assert (f1.tp["Frying"], f1.fp["Frying"], f1.fn["Frying"]) == (0, 0, 1)


def test_psds_from_operating_points_perfect_and_sorted(synthetic: SimpleNamespace) -> None:
    det = ev.decode_detections(synthetic.perfect, synthetic.files, FRAME)
    result = ev.psds_from_operating_points({0.5: det}, synthetic.gt, synthetic.dur, **ev.PSDS2.as_kwargs())
    assert result.value == pytest.approx(1.0)
    assert result.efpr[-1] == 100.0


@pytest.mark.parametrize("name", ["psds1", "psds2", "dcase2020"])
def test_psds_from_operating_points_equals_psds_eval(name: str) -> None:
    ref = REFERENCE["psds"][name]
    result = ev.psds_from_operating_points(OPS_DIR, GT_TSV, DUR_TSV, **ref["scenario"])
    assert result.value == pytest.approx(ref["value"], abs=1e-3)
    assert result.per_class == pytest.approx(ref["per_class"], abs=1e-3)
