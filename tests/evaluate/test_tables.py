"""Tests of dualkd_lib/evaluate/tables.py: detections, ground truth and durations are checked on the way in."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from dualkd_lib import evaluate as ev


@pytest.mark.parametrize(
    "change, error, word",
    [
        (lambda d: d.assign(event_label="Bird"), ValueError, "Bird"),
        (lambda d: d.assign(filename="ghost.wav"), ValueError, "missing from the durations"),
        (lambda d: pd.concat([d, d.iloc[:1].assign(onset=d.onset.iloc[0] + 0.01)]), ValueError, "overlapping"),
        (lambda d: d.assign(offset=d.onset - 1), ValueError, "before onset"),
        (lambda d: d.drop(columns="onset"), ValueError, "missing column"),
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
    with pytest.raises(ValueError, match="missing column"):
        ev.intersection_f1(synthetic.gt, synthetic.gt, synthetic.dur.rename(columns={"duration": "seconds"}))
    with pytest.raises(FileNotFoundError):
        ev.psds_from_operating_points(tmp_path / "none", synthetic.gt, synthetic.dur, **ev.PSDS1.as_kwargs())
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "best.tsv").write_text("filename\tonset\toffset\tevent_label\n")
    with pytest.raises(ValueError, match="threshold"):
        ev.psds_from_operating_points(tmp_path / "ops", synthetic.gt, synthetic.dur, **ev.PSDS1.as_kwargs())


def test_events_are_read_by_desed_io_with_its_rules(tmp_path: Path) -> None:
    """One rule set: a TSV given to the metrics is read by dualkd_lib.desed_io (typo hints, onsets >= 0)."""
    from dualkd_lib import desed_io

    gt = pd.DataFrame({"filename": ["a.wav", "a.wav", "b.wav"], "onset": [0.0, 2.0, 1.0],
                       "offset": [1.0, 3.0, 4.0], "event_label": ["Dog", "Cat", "Speech"]})
    path = tmp_path / "gt.tsv"
    desed_io.write_strong_tsv(gt, path)
    dur, three = {"a.wav": 10.0, "b.wav": 10.0}, ("Cat", "Dog", "Speech")
    assert ev.collar_f1(path, path, dur, classes=three).micro == 1.0
    typo = tmp_path / "typo.tsv"
    typo.write_text(path.read_text().replace("Speech", "Speach"))
    with pytest.raises(ValueError, match=r"Detections: .*typo.tsv, line 4: unknown event label 'Speach' \(did you mean 'Speech'\?\)"):
        ev.collar_f1(typo, path, dur, classes=three)
    negative = gt.assign(onset=[-0.5, 2.0, 1.0])
    with pytest.raises(ValueError, match="Ground truth: .*onset -0.500 s is negative"):
        ev.intersection_f1(gt, negative, dur, classes=three)
    with pytest.raises(ValueError, match=r"Durations: .*'a.wav' appears twice"):
        ev.collar_f1(gt, gt, pd.DataFrame({"filename": ["a.wav", "a.wav", "b.wav"], "duration": [10.0, 10.0, 10.0]}), classes=three)
