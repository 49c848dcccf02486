"""Tests of dualkd_lib/evaluate/report.py: the one-call evaluation of detection and score files (the CLI's)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from dualkd_lib import evaluate as ev

from evaluation_data import DET_05, DUR_TSV, FRAME, GT_TSV, REFERENCE


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
