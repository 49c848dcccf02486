"""Event F1 at one operating point: collar F1 (as sed_eval) and intersection F1 (as psds_eval).

Taught in notebook 04.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from dualkd_lib.constants import CLASSES
from dualkd_lib.evaluate.scenarios import DurationsLike, EventsLike
from dualkd_lib.evaluate.tables import _prepare_events
from dualkd_lib.evaluate.psds import count_intersections


# =========================================================================== F1 scores
@dataclass(frozen=True)
class F1Result:
    """Event F1 at one operating point.

    Attributes:
        micro: F1 of the counts summed over classes.
        macro: mean of the per-class F1 (what DCASE reports as "event-based F1").
        per_class: ``{class: F1}`` (0 for a class without true positives).
        precision, recall: micro-averaged.
        tp, fp, fn: ``{class: count}``.

    Taught in notebook 04.
    """

    micro: float
    macro: float
    per_class: dict[str, float]
    precision: float
    recall: float
    tp: dict[str, int]
    fp: dict[str, int]
    fn: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "micro": float(self.micro),
            "macro": float(self.macro),
            "per_class": {c: float(v) for c, v in self.per_class.items()},
            "precision": float(self.precision),
            "recall": float(self.recall),
            "tp": {c: int(v) for c, v in self.tp.items()},
            "fp": {c: int(v) for c, v in self.fp.items()},
            "fn": {c: int(v) for c, v in self.fn.items()},
        }


def _f1_result(classes: Sequence[str], tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> F1Result:
    def f1(t: float, p: float, n: float) -> float:
        return 2 * t / (2 * t + p + n) if t > 0 else 0.0

    per_class = {c: f1(tp[i], fp[i], fn[i]) for i, c in enumerate(classes)}
    tp_all, fp_all, fn_all = int(tp.sum()), int(fp.sum()), int(fn.sum())
    return F1Result(
        micro=f1(tp_all, fp_all, fn_all),
        macro=float(np.mean(list(per_class.values()))),
        per_class=per_class,
        precision=tp_all / max(tp_all + fp_all, 1),
        recall=tp_all / max(tp_all + fn_all, 1),
        tp={c: int(tp[i]) for i, c in enumerate(classes)},
        fp={c: int(fp[i]) for i, c in enumerate(classes)},
        fn={c: int(fn[i]) for i, c in enumerate(classes)},
    )


def intersection_f1(
    detections: EventsLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float = 0.5,
    gtc: float = 0.5,
    cttc: float = 0.3,
    classes: Sequence[str] = CLASSES,
) -> F1Result:
    """Intersection-based event F1 (``psds_eval``'s ``compute_macro_f_score``).

    TP, FP as in :func:`count_intersections`; FN = ground-truth events not
    detected. A cross-trigger is just a false positive here, so ``cttc`` does
    not change the F1 (it is kept for parity with ``psds_eval``). Note:
    ``psds_eval`` 0.5.3 leaves a class with no true positive out of the macro
    average (its F1 is NaN there); we count it as 0, so the two differ only
    when some class has no true positive.

    Taught in notebook 04.
    """
    counts = count_intersections(detections, ground_truth, durations, dtc=dtc, gtc=gtc, cttc=cttc, classes=classes)
    return _f1_result(classes, counts.tp, counts.fp, counts.n_ref - counts.tp)


def collar_f1(
    detections: EventsLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    onset_collar: float = 0.2,
    offset_collar: float = 0.2,
    offset_collar_rate: float = 0.2,
    classes: Sequence[str] = CLASSES,
) -> F1Result:
    """Collar-based event F1 (as ``sed_eval``'s event-based metrics, DCASE setting).

    A detection matches a ground-truth event of its class when its onset is
    within ``onset_collar`` seconds of the event's onset and its offset within
    ``max(offset_collar, offset_collar_rate x event length)`` of the event's
    offset. Each event and each detection is matched at most once, and the
    matching with the most pairs is used (maximum bipartite matching). TP =
    matched pairs, FP = unmatched detections, FN = unmatched events.

    Taught in notebook 04.
    """
    for name, value in (("onset_collar", onset_collar), ("offset_collar", offset_collar),
                        ("offset_collar_rate", offset_collar_rate)):
        if not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"{name}={value!r} must be a number >= 0 (seconds, or a fraction for the rate).")
    det, gt, _ = _prepare_events(detections, ground_truth, durations, classes)
    n = len(classes)
    tp = np.zeros(n, dtype=np.int64)
    det_groups = dict(tuple(det.groupby(["audio_id", "event_label"])))
    for (audio_id, label), ref in gt.groupby(["audio_id", "event_label"]):
        est = det_groups.get((audio_id, label))
        if est is None:
            continue
        onset_ok = np.abs(est["onset"].to_numpy()[:, None] - ref["onset"].to_numpy()[None, :]) <= onset_collar
        ref_len = (ref["offset"] - ref["onset"]).to_numpy()
        tolerance = np.maximum(offset_collar, offset_collar_rate * ref_len)
        offset_ok = np.abs(est["offset"].to_numpy()[:, None] - ref["offset"].to_numpy()[None, :]) <= tolerance
        hits = csr_matrix((onset_ok & offset_ok).astype(np.int8))  # [detections, events]
        matched = maximum_bipartite_matching(hits, perm_type="column")  # event matched to each detection, or -1
        tp[classes.index(label)] += int(np.sum(matched >= 0))
    n_det = det["event_label"].value_counts().reindex(classes, fill_value=0).to_numpy()
    n_ref = gt["event_label"].value_counts().reindex(classes, fill_value=0).to_numpy()
    return _f1_result(classes, tp, n_det - tp, n_ref - tp)
