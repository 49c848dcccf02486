"""Tests of dualkd_lib.evaluate: post-processing, PSDS and F1.

The reference figures in tests/data/psds_reference.json were computed with
psds_eval 0.5.3 and sed_eval 0.2.1 by tests/data/make_psds_reference.py on the
real DESED validation detections shipped with the library.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage
import torch
from sed_scores_eval import intersection_based

from dualkd_lib import evaluate as ev
from dualkd_lib import layout
from dualkd_lib.constants import CLASSES

RES = layout.resources_dir() / "desed_validation"
GT_TSV = RES / "validation_groundtruth.tsv"
DUR_TSV = RES / "validation_metadata.tsv"
OPS_DIR = RES / "baseline_2020_detections"
DET_05 = RES / "baseline_2020_detections_at_0.5.tsv"
REFERENCE = json.loads((Path(__file__).parent / "data" / "psds_reference.json").read_text())

FRAME = 0.1  # seconds per frame of the synthetic scores
N_FRAMES = 100  # 10-s clips


# --------------------------------------------------------------------------- synthetic data
def _synthetic_set(n_clips: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ground truth (events on the 0.1-s frame grid, every class present) and durations."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_clips):
        name = f"clip{i:03d}.wav"
        labels = [CLASSES[i % len(CLASSES)], *rng.choice(CLASSES, size=2, replace=False)]
        for label in dict.fromkeys(labels):  # unique, so no same-class overlap
            start = int(rng.integers(0, 80))
            length = int(rng.integers(3, 100 - start + 1))
            rows.append((name, round(start * FRAME, 3), round((start + length) * FRAME, 3), label))
    gt = pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])
    dur = pd.DataFrame({"filename": [f"clip{i:03d}.wav" for i in range(n_clips)], "duration": 10.0})
    return gt, dur


def _frames_of(gt: pd.DataFrame, filenames: list[str]) -> np.ndarray:
    """Ground-truth activity ``[n_files, classes, frames]`` (1 inside events)."""
    out = np.zeros((len(filenames), len(CLASSES), N_FRAMES))
    index = {f: i for i, f in enumerate(filenames)}
    for row in gt.itertuples():
        a, b = int(round(row.onset / FRAME)), int(round(row.offset / FRAME))
        out[index[row.filename], CLASSES.index(row.event_label), a:b] = 1.0
    return out


@pytest.fixture(scope="module")
def synthetic() -> SimpleNamespace:
    gt, dur = _synthetic_set()
    files = list(dur.filename)
    perfect = _frames_of(gt, files)
    rng = np.random.default_rng(1)
    # An imperfect detector: events raise the score by 0.4, every (clip, class)
    # gets a random offset (whole-clip false alarms) plus a little frame noise.
    offset = 0.6 * rng.random(perfect.shape[:2] + (1,))
    noisy = np.clip(0.4 * perfect + offset + 0.2 * rng.random(perfect.shape), 0, 1)
    noisy = ev.median_filter(noisy, 3)
    return SimpleNamespace(gt=gt, dur=dur, files=files, perfect=perfect, noisy=noisy)


# --------------------------------------------------------------------------- scenarios
def test_scenarios_are_the_dcase_ones() -> None:
    assert ev.PSDS1 == ev.PSDSScenario(0.7, 0.7, None, 0, 1, 100)
    assert ev.PSDS2 == ev.PSDSScenario(0.1, 0.1, 0.3, 0.5, 1, 100)
    assert ev.DCASE2020 == ev.PSDSScenario(0.5, 0.5, 0.3, 0, 0, 100)
    assert ev.PSDS2.as_kwargs() == dict(dtc=0.1, gtc=0.1, cttc=0.3, alpha_ct=0.5, alpha_st=1, max_efpr=100)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(dtc=0.0), "dtc"),
        (dict(gtc=1.5), "gtc"),
        (dict(cttc=-0.1), "cttc"),
        (dict(alpha_ct=0.5, cttc=None), "cttc must be given"),
        (dict(alpha_st=-1.0), "alpha_st"),
        (dict(max_efpr=0.0), "max_efpr"),
    ],
)
def test_scenario_validation(kwargs: dict, word: str) -> None:
    params = {**ev.PSDS1.as_kwargs(), **kwargs}
    with pytest.raises(ValueError, match=word):
        ev.PSDSScenario(**params)


# --------------------------------------------------------------------------- post-processing
@pytest.mark.parametrize("length", [1, 2, 3, 4, 7, 8, 31])
def test_median_filter_equals_scipy(length: int) -> None:
    rng = np.random.default_rng(length)
    x = rng.random((3, 10, 50))
    ours = ev.median_filter(x, length)
    expected = scipy.ndimage.median_filter(x, size=(1, 1, length), mode="nearest")
    np.testing.assert_array_equal(ours, expected)


def test_median_filter_per_class_lengths_and_2d_and_torch() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((10, 40)).astype(np.float32)
    lengths = [1, 2, 3, 4, 5, 6, 7, 9, 11, 41]
    ours = ev.median_filter(x, lengths)
    for c, k in enumerate(lengths):
        np.testing.assert_array_equal(ours[c], scipy.ndimage.median_filter(x[c], size=k, mode="nearest"))
    t = ev.median_filter(torch.from_numpy(x), lengths)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), ours)


@pytest.mark.parametrize("lengths", [0, [3] * 9, [3] * 9 + [2.5]])
def test_median_filter_bad_lengths(lengths: object) -> None:
    with pytest.raises(ValueError):
        ev.median_filter(np.zeros((10, 20)), lengths)


def test_median_filter_bad_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        ev.median_filter(np.zeros(20), 3)


def test_binarize_is_strict_and_per_class() -> None:
    x = np.array([[0.2, 0.5, 0.6], [0.2, 0.5, 0.6]])
    np.testing.assert_array_equal(ev.binarize(x, 0.5), [[False, False, True], [False, False, True]])
    np.testing.assert_array_equal(ev.binarize(x, [0.1, 0.55]), [[True, True, True], [False, False, True]])
    assert ev.binarize(torch.tensor(x), 0.5).dtype == torch.bool


def test_decode_detections_hand_made() -> None:
    scores = np.zeros((2, 10, 20))
    scores[0, 0, 2:5] = 0.9  # Alarm, frames 2..4 -> [1.0, 2.5)
    scores[0, 8, 15:] = 0.8  # Speech runs to the end of the clip
    scores[0, 8, 10] = 0.9  # a one-frame blip
    scores[1, 3, 0:1] = 0.7  # Dishes, first frame only
    det = ev.decode_detections(scores, ["a.wav", "b.wav"], 0.5, threshold=0.5)
    assert list(det.columns) == ["filename", "onset", "offset", "event_label"]
    assert det.values.tolist() == [
        ["a.wav", 1.0, 2.5, "Alarm_bell_ringing"],
        ["a.wav", 5.0, 5.5, "Speech"],
        ["a.wav", 7.5, 10.0, "Speech"],
        ["b.wav", 0.0, 0.5, "Dishes"],
    ]
    # A median filter of 3 frames removes the blip. The one-frame Dishes event
    # survives: at the edge the first frame is repeated, so its window is (0.7, 0.7, 0).
    smooth = ev.decode_detections(scores, ["a.wav", "b.wav"], 0.5, 0.5, median_lengths=3)
    assert smooth.values.tolist() == [
        ["a.wav", 1.0, 2.5, "Alarm_bell_ringing"],
        ["a.wav", 7.5, 10.0, "Speech"],
        ["b.wav", 0.0, 0.5, "Dishes"],
    ]


def test_decode_detections_with_encoder_clips_offsets() -> None:
    encoder = SimpleNamespace(frame_seconds=0.6, clip_seconds=10.0)  # 17 frames overrun 10 s
    scores = np.zeros((1, 10, 17))
    scores[0, 1, 10:] = 1.0
    det = ev.decode_detections(torch.tensor(scores), ["x.wav"], encoder)
    assert det.values.tolist() == [["x.wav", 6.0, 10.0, "Blender"]]
    with pytest.raises(ValueError, match="filenames"):
        ev.decode_detections(scores, ["x.wav", "y.wav"], encoder)
    with pytest.raises(ValueError, match="frame"):
        ev.decode_detections(scores, ["x.wav"], "fast")


def test_decode_detections_with_the_library_encoder() -> None:
    features = pytest.importorskip("dualkd_lib.features")
    encoder = features.ManyHotEncoder(n_frames=156, frame_seconds=0.064)
    events = [("Dog", 1.024, 2.048), ("Speech", 5.12, 9.984)]
    labels = encoder.encode_strong(events)[None]  # [1, classes, frames]
    det = ev.decode_detections(labels, ["x.wav"], encoder)
    assert det.values.tolist() == [["x.wav", 1.024, 2.048, "Dog"], ["x.wav", 5.12, 9.984, "Speech"]]


def test_decode_then_score_round_trip(synthetic: SimpleNamespace) -> None:
    det = ev.decode_detections(synthetic.perfect, synthetic.files, FRAME)
    got = det.sort_values(["filename", "event_label", "onset"]).reset_index(drop=True)
    want = synthetic.gt.sort_values(["filename", "event_label", "onset"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


# --------------------------------------------------------------------------- sed_scores_eval bridge
def test_scores_to_dataframes_and_scores_dir(tmp_path: Path, synthetic: SimpleNamespace) -> None:
    tables = ev.scores_to_dataframes(synthetic.noisy[:3], synthetic.files[:3], frame_seconds=FRAME)
    assert list(tables) == ["clip000", "clip001", "clip002"]
    df = tables["clip001"]
    assert list(df.columns) == ["onset", "offset", *CLASSES]
    assert len(df) == N_FRAMES and df.onset.iloc[0] == 0.0 and df.offset.iloc[-1] == pytest.approx(10.0)
    np.testing.assert_allclose(df[CLASSES[4]].to_numpy(), synthetic.noisy[1, 4])
    folder = ev.write_scores_dir(tables, tmp_path / "scores")
    back = ev.read_scores_dir(folder)
    assert list(back) == list(tables)
    pd.testing.assert_frame_equal(back["clip002"], tables["clip002"])
    with pytest.raises(FileNotFoundError):
        ev.read_scores_dir(tmp_path / "nowhere")


def test_scores_to_dataframes_clips_frames_past_the_clip() -> None:
    tables = ev.scores_to_dataframes(np.ones((1, 10, 17)), ["x.wav"], frame_seconds=0.6, clip_seconds=10.0)
    df = tables["x"]
    assert len(df) == 17 and df.offset.iloc[-1] == 10.0  # last frame [9.6, 10.0)
    short = ev.scores_to_dataframes(np.ones((1, 10, 17)), ["x.wav"], frame_seconds=0.6, clip_seconds=[3.0])
    assert len(short["x"]) == 5 and short["x"].offset.iloc[-1] == 3.0


# --------------------------------------------------------------------------- threshold-independent PSDS
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


# --------------------------------------------------------------------------- counting and operating points
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


# --------------------------------------------------------------------------- F1 on hand-made cases
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


@pytest.mark.parametrize(
    "change, error, word",
    [
        (lambda d: d.assign(event_label="Bird"), ValueError, "Bird"),
        (lambda d: d.assign(filename="ghost.wav"), ValueError, "missing from the durations"),
        (lambda d: pd.concat([d, d.iloc[:1].assign(onset=d.onset.iloc[0] + 0.01)]), ValueError, "overlapping"),
        (lambda d: d.assign(offset=d.onset - 1), ValueError, "before onset"),
        (lambda d: d.drop(columns="onset"), ValueError, "lacks columns"),
    ],
)
def test_detection_validation(synthetic: SimpleNamespace, change, error, word) -> None:  # noqa: ANN001
    det = change(synthetic.gt.copy())
    with pytest.raises(error, match=word):
        ev.collar_f1(det, synthetic.gt, synthetic.dur)
    with pytest.raises(error, match=word):
        ev.psds_from_operating_points({0.5: det}, synthetic.gt, synthetic.dur, **ev.PSDS1.as_kwargs())


def test_ground_truth_and_durations_validation(synthetic: SimpleNamespace, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing from the durations"):
        ev.intersection_f1(synthetic.gt, synthetic.gt, synthetic.dur.iloc[1:])
    with pytest.raises(ValueError, match="positive"):
        ev.intersection_f1(synthetic.gt, synthetic.gt, synthetic.dur.assign(duration=0.0))
    with pytest.raises(ValueError, match="lacks columns"):
        ev.intersection_f1(synthetic.gt, synthetic.gt, synthetic.dur.rename(columns={"duration": "seconds"}))
    with pytest.raises(FileNotFoundError):
        ev.psds_from_operating_points(tmp_path / "none", synthetic.gt, synthetic.dur, **ev.PSDS1.as_kwargs())
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "best.tsv").write_text("filename\tonset\toffset\tevent_label\n")
    with pytest.raises(ValueError, match="threshold"):
        ev.psds_from_operating_points(tmp_path / "ops", synthetic.gt, synthetic.dur, **ev.PSDS1.as_kwargs())


# --------------------------------------------------------------------------- one-call evaluation (CLI)
def test_evaluate_detections_path_single_tsv_and_folder(synthetic: SimpleNamespace, tmp_path: Path) -> None:
    single = ev.evaluate_detections_path(GT_TSV, DUR_TSV, DET_05)
    assert set(single) >= {"psds1", "psds2", "f1_collar", "f1_intersection"}
    assert single["f1_collar"] == pytest.approx(REFERENCE["collar_f1"]["macro"], abs=1e-3)
    assert single["f1_intersection"] == pytest.approx(REFERENCE["intersection_f1"]["macro"], abs=1e-3)
    json.dumps(single)

    gt_tsv, dur_tsv, ops = tmp_path / "gt.tsv", tmp_path / "dur.tsv", tmp_path / "ops"
    synthetic.gt.to_csv(gt_tsv, sep="\t", index=False)
    synthetic.dur.to_csv(dur_tsv, sep="\t", index=False)
    ops.mkdir()
    tables = {}
    for threshold in (0.3, 0.5, 0.7):
        tables[threshold] = ev.decode_detections(synthetic.noisy, synthetic.files, FRAME, threshold)
        tables[threshold].to_csv(ops / f"{threshold:.3f}.tsv", sep="\t", index=False)
    folder = ev.evaluate_detections_path(gt_tsv, dur_tsv, ops)
    assert folder["n_operating_points"] == 3 and "f1_collar" not in folder
    direct = ev.psds_from_operating_points(tables, synthetic.gt, synthetic.dur, **ev.PSDS2.as_kwargs())
    assert folder["psds2"] == pytest.approx(direct.value)
    custom = ev.evaluate_detections_path(gt_tsv, dur_tsv, ops, dtc=0.5, gtc=0.5, alpha_st=0.0)
    assert set(custom) >= {"psds", "scenario"} and "psds1" not in custom
    assert custom["scenario"] == dict(dtc=0.5, gtc=0.5, cttc=None, alpha_ct=0.0, alpha_st=0.0, max_efpr=100.0)
    json.dumps(custom)
    with pytest.raises(FileNotFoundError):
        ev.evaluate_detections_path(gt_tsv, dur_tsv, tmp_path / "missing.tsv")


def test_evaluate_scores_path(synthetic: SimpleNamespace, tmp_path: Path) -> None:
    scores = ev.scores_to_dataframes(synthetic.noisy, synthetic.files, frame_seconds=FRAME)
    folder = ev.write_scores_dir(scores, tmp_path / "scores")
    gt_tsv, dur_tsv = tmp_path / "gt.tsv", tmp_path / "dur.tsv"
    synthetic.gt.to_csv(gt_tsv, sep="\t", index=False)
    synthetic.dur.to_csv(dur_tsv, sep="\t", index=False)
    result = ev.evaluate_scores_path(gt_tsv, dur_tsv, folder)
    assert result["psds1"] == pytest.approx(ev.psds1(scores, synthetic.gt, synthetic.dur).value)
    assert result["psds2"] == pytest.approx(ev.psds2(scores, synthetic.gt, synthetic.dur).value)
    custom = ev.evaluate_scores_path(gt_tsv, dur_tsv, folder, alpha_ct=0.5, cttc=0.3, max_efpr=50.0)
    expected = ev.psds(scores, gt_tsv, dur_tsv, dtc=0.7, gtc=0.7, cttc=0.3, alpha_ct=0.5, alpha_st=1.0, max_efpr=50.0)
    assert custom["psds"] == pytest.approx(expected.value)
    json.dumps(custom)
    with pytest.raises(ValueError, match="Unknown scenario"):
        ev.evaluate_scores_path(gt_tsv, dur_tsv, folder, beta=2.0)


def test_evaluation_paths_can_leave_out_clips_missing_from_the_audio_folder(synthetic: SimpleNamespace,
                                                                           tmp_path: Path) -> None:
    """Real DESED copies lack some clips: --audio-dir evaluates only the clips on disk."""
    gt_tsv, dur_tsv = tmp_path / "gt.tsv", tmp_path / "dur.tsv"
    synthetic.gt.to_csv(gt_tsv, sep="\t", index=False)
    synthetic.dur.to_csv(dur_tsv, sep="\t", index=False)
    on_disk = synthetic.files[:-5]  # the last five clips are "missing"
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in on_disk:
        (audio / name).write_bytes(b"")  # only the names matter here
    kept = [i for i, f in enumerate(synthetic.files) if f in on_disk]
    gt_kept = synthetic.gt[synthetic.gt.filename.isin(on_disk)]
    dur_kept = synthetic.dur[synthetic.dur.filename.isin(on_disk)]

    # detections: without the folder, the missing clips' events count as misses
    det = ev.decode_detections(synthetic.noisy[kept], on_disk, FRAME, 0.5)
    det_tsv = tmp_path / "det.tsv"
    det.to_csv(det_tsv, sep="\t", index=False)
    everything = ev.evaluate_detections_path(gt_tsv, dur_tsv, det_tsv)
    on_disk_only = ev.evaluate_detections_path(gt_tsv, dur_tsv, det_tsv, audio_dir=audio)
    assert on_disk_only["n_files"] == len(on_disk) and on_disk_only["n_files_left_out"] == 5
    assert on_disk_only["f1_intersection"] == pytest.approx(ev.intersection_f1(det, gt_kept, dur_kept).macro)
    assert on_disk_only["f1_intersection"] > everything["f1_intersection"]

    # scores: the unscored clips are an error that names the way out, unless --audio-dir is given
    scores = ev.scores_to_dataframes(synthetic.noisy[kept], on_disk, frame_seconds=FRAME)
    folder = ev.write_scores_dir(scores, tmp_path / "scores")
    with pytest.raises(ValueError, match="5 file.*no score file.*--audio-dir"):
        ev.evaluate_scores_path(gt_tsv, dur_tsv, folder)
    result = ev.evaluate_scores_path(gt_tsv, dur_tsv, folder, audio_dir=audio)
    assert result["n_files_left_out"] == 5
    assert result["psds1"] == pytest.approx(ev.psds1(scores, gt_kept, dur_kept).value)

    with pytest.raises(FileNotFoundError, match="Audio folder"):
        ev.evaluate_scores_path(gt_tsv, dur_tsv, folder, audio_dir=tmp_path / "nowhere")
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="None of the 40 files"):
        ev.evaluate_detections_path(gt_tsv, dur_tsv, det_tsv, audio_dir=tmp_path / "other")
