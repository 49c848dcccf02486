"""Intersection-based counts, PSDS and the PSD-ROC: threshold-independent (sed_scores_eval) and from operating points (psds_eval 0.5.3).

Taught in notebook 04.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():  # dcase_util (imported by sed_scores_eval) imports pkg_resources: not ours to fix
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from sed_scores_eval import intersection_based
    from sed_scores_eval.base_modules.scores import validate_score_dataframe
from tqdm.auto import tqdm

from dualkd_lib.constants import CLASSES
from dualkd_lib.evaluate.scenarios import DurationsLike, EventsLike, PathLike, ScoresLike  # input types
from dualkd_lib.evaluate.scenarios import PSDS1, PSDS2, SECONDS_PER_HOUR, PSDSScenario, _check_scenario
from dualkd_lib.evaluate.decoding import audio_id, read_scores_dir
from dualkd_lib.evaluate.tables import (
    _check_events,
    _check_every_class_has_ground_truth,
    _prepare_events,
    _read_durations,
    _read_events,
)


# =========================================================================== intersection-based counting
@dataclass(frozen=True)
class IntersectionCounts:
    """Intersection-based counts of one detection table (one operating point).

    Attributes:
        classes: class order of the arrays.
        tp: ``[classes]`` ground-truth events detected (DTC and GTC met).
        fp: ``[classes]`` detections that fail the DTC.
        ct: ``[classes, classes]`` ``ct[c, k]``: false positives of ``c`` that
            meet the CTTC on ground truth of ``k`` (zeros when ``cttc`` is None).
        n_ref: ``[classes]`` number of ground-truth events.
        ref_seconds: ``[classes]`` total ground-truth duration (s).
        total_seconds: total audio duration of the evaluation set (s).

    Taught in notebook 04.
    """

    classes: tuple[str, ...]
    tp: np.ndarray
    fp: np.ndarray
    ct: np.ndarray
    n_ref: np.ndarray
    ref_seconds: np.ndarray
    total_seconds: float

    def rates(self, alpha_ct: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(TPR [classes], effective FPR per hour [classes])``."""
        tpr = self.tp / self.n_ref
        fpr = self.fp * SECONDS_PER_HOUR / self.total_seconds
        if alpha_ct == 0:
            return tpr, fpr
        n = len(self.classes)
        ct_rate = self.ct * SECONDS_PER_HOUR / self.ref_seconds[None, :]  # per hour of class k
        others = ~np.eye(n, dtype=bool)
        mean_ct_rate = np.array([ct_rate[c, others[c]].mean() for c in range(n)])
        return tpr, fpr + alpha_ct * mean_ct_rate


def _count(
    det: pd.DataFrame,
    gt: pd.DataFrame,
    dur: Mapping[str, float],
    classes: Sequence[str],
    dtc: float,
    gtc: float,
    cttc: float | None,
) -> IntersectionCounts:
    """The counting behind :func:`count_intersections`, on validated tables."""
    index = {c: i for i, c in enumerate(classes)}
    n = len(classes)
    det = det.reset_index(drop=True)
    gt = gt.reset_index(drop=True)
    det_len = (det["offset"] - det["onset"]).to_numpy()
    gt_len = (gt["offset"] - gt["onset"]).to_numpy()

    # Every (detection, ground-truth event) pair of the same clip, with their overlap in seconds.
    pairs = det.reset_index(names="det").merge(gt.reset_index(names="gt"), on="audio_id", suffixes=("_det", "_gt"))
    overlap = np.minimum(pairs["offset_det"], pairs["offset_gt"]) - np.maximum(pairs["onset_det"], pairs["onset_gt"])
    pairs["overlap"] = overlap.to_numpy()
    pairs = pairs[pairs["overlap"] > 0]
    same_class = pairs["event_label_det"] == pairs["event_label_gt"]

    # DTC: which fraction of each detection lies on ground truth of its own class?
    on_own_class = pairs[same_class].groupby("det")["overlap"].sum()
    det_precision = np.zeros(len(det))
    det_precision[on_own_class.index.to_numpy()] = on_own_class.to_numpy() / det_len[on_own_class.index.to_numpy()]
    passes_dtc = det_precision >= dtc

    # GTC: which fraction of each ground-truth event do the DTC-passing detections cover?
    good = pairs[same_class & passes_dtc[pairs["det"].to_numpy()]]
    covered = good.groupby("gt")["overlap"].sum()
    gt_coverage = np.zeros(len(gt))
    gt_coverage[covered.index.to_numpy()] = covered.to_numpy() / gt_len[covered.index.to_numpy()]
    detected = gt_coverage >= gtc

    det_class = det["event_label"].map(index).to_numpy(dtype=np.int64)
    gt_class = gt["event_label"].map(index).to_numpy(dtype=np.int64)
    tp = np.bincount(gt_class[detected], minlength=n)
    # A detection entirely outside its clip (real systems emit a few past the end
    # of short clips) is not counted at all, as in psds_eval.
    clip_end = det["audio_id"].map(dur).to_numpy()
    inside = (det["onset"].to_numpy() < clip_end) & (det["offset"].to_numpy() > 0)
    fp = np.bincount(det_class[~passes_dtc & inside], minlength=n)

    # CTTC: false positives lying (at least cttc of their length) on another class's ground truth.
    ct = np.zeros((n, n), dtype=np.int64)
    if cttc is not None:
        wrong = pairs[~same_class & ~passes_dtc[pairs["det"].to_numpy()]]
        on_other = wrong.groupby(["det", "event_label_gt"])["overlap"].sum().reset_index()
        fraction = on_other["overlap"].to_numpy() / det_len[on_other["det"].to_numpy()]
        hits = on_other[fraction >= cttc]
        np.add.at(
            ct,
            (det_class[hits["det"].to_numpy()], hits["event_label_gt"].map(index).to_numpy(dtype=np.int64)),
            1,
        )

    n_ref = np.bincount(gt_class, minlength=n)
    ref_seconds = np.bincount(gt_class, weights=gt_len, minlength=n)
    return IntersectionCounts(
        classes=tuple(classes),
        tp=tp,
        fp=fp,
        ct=ct,
        n_ref=n_ref,
        ref_seconds=ref_seconds,
        total_seconds=float(sum(dur.values())),
    )


def count_intersections(
    detections: EventsLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None = None,
    classes: Sequence[str] = CLASSES,
) -> IntersectionCounts:
    """Count TP, FP and cross-triggers of one detection table (psds_eval's rules).

    Args:
        detections: DESED detection table (``filename onset offset event_label``,
            any column order) or its TSV path.
        ground_truth: strong labels (table, TSV path or ``sed_scores_eval`` dict);
            rows with an empty label are clips without events.
        durations: ``filename duration`` table, TSV path or ``{filename: seconds}``;
            it defines the evaluation set (its total length is the FP-rate denominator).
        dtc, gtc, cttc: the criteria (see the module docstring); ``cttc=None``
            skips cross-trigger counting.
        classes: the classes evaluated; every one must have ground truth.

    Taught in notebook 04.
    """
    _check_scenario(dtc, gtc, cttc, 0.0, 0.0, 1.0)
    det, gt, dur = _prepare_events(detections, ground_truth, durations, classes)
    return _count(det, gt, dur, classes, dtc, gtc, cttc)


# =========================================================================== PSDS results
@dataclass(frozen=True, eq=False)
class PSDSResult:
    """A PSDS value with the curves behind it.

    Attributes:
        value: the PSDS, in [0, 1].
        per_class: ``{class: area under that class's TPR-vs-eFPR curve / max_efpr}``.
        efpr: summary PSD-ROC x values, effective FPR per hour, ascending, ending at ``max_efpr``.
        etpr: summary PSD-ROC y values (effective TPR: mean - alpha_st x std), a
            right-continuous staircase (plot with ``where="post"``).
        class_curves: ``{class: (efpr, tpr)}`` per-class staircases up to ``max_efpr``.
        scenario: the scenario evaluated.

    Taught in notebook 04.
    """

    value: float
    per_class: dict[str, float]
    efpr: np.ndarray
    etpr: np.ndarray
    class_curves: dict[str, tuple[np.ndarray, np.ndarray]]
    scenario: PSDSScenario

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: value, per-class values and the scenario."""
        return {
            "psds": float(self.value),
            "per_class": {c: float(v) for c, v in self.per_class.items()},
            "scenario": self.scenario.as_kwargs(),
        }


def _staircase_area(x: np.ndarray, y: np.ndarray, max_x: float) -> float:
    """Area under the right-continuous step curve through ``(x, y)`` from ``x[0]`` to ``max_x``.

    ``x`` ascending; ``y[i]`` holds on ``[x[i], x[i+1])``; the last value holds up to ``max_x``.
    """
    keep = x < max_x
    x_edges = np.append(x[keep], max_x)
    return float(np.sum(np.diff(x_edges) * y[keep]))


def psds(
    scores: ScoresLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None,
    alpha_ct: float,
    alpha_st: float,
    max_efpr: float,
) -> PSDSResult:
    """Threshold-independent PSDS of frame scores (exact PSD-ROC, ``sed_scores_eval``).

    Args:
        scores: ``{audio_id: score DataFrame}`` (see :func:`scores_to_dataframes`)
            or a folder of score TSVs (see :func:`write_scores_dir`). The score
            columns define the classes.
        ground_truth: strong labels (table, TSV path or ``sed_scores_eval`` dict);
            empty-label rows are clips without events; scored clips absent from
            it have no events.
        durations: ``filename duration`` table, TSV path or dict; must list
            exactly the scored clips.
        dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr: the scenario (keyword-only;
            see :class:`PSDSScenario`). ``cttc`` is ignored when ``alpha_ct == 0``.

    Returns:
        :class:`PSDSResult`.

    Taught in notebook 04.
    """
    scenario = PSDSScenario(dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr)
    if isinstance(scores, (str, Path)):
        scores = read_scores_dir(scores)
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty {audio_id: DataFrame} dict or a folder of score TSVs.")
    scores = {audio_id(k): v for k, v in scores.items()}
    first = next(iter(scores))
    _, classes = validate_score_dataframe(scores[first])
    for key, df in scores.items():
        validate_score_dataframe(df, event_classes=classes)  # same classes in every table

    dur = _read_durations(durations)
    not_listed = sorted(set(scores) - set(dur))
    if not_listed:
        raise ValueError(
            f"{len(not_listed)} scored file(s) are missing from the durations table, e.g. {not_listed[0]!r}; "
            "add them to the durations TSV (filename, duration)."
        )
    unscored = sorted(set(dur) - set(scores))
    if unscored:
        raise ValueError(
            f"{len(unscored)} file(s) of the durations table have no scores (no score file or table), "
            f"e.g. {unscored[0]!r}; "
            "score every clip, pass durations of the scored clips only, or, if their audio is missing (common "
            "with DESED), evaluate only the clips on disk (dualkd evaluate --audio-dir AUDIO_DIR)."
        )
    gt = _read_events(ground_truth, "Ground truth", classes)
    _check_events(gt, "Ground truth", dur, allow_touching=False)
    _check_every_class_has_ground_truth(gt, classes)
    gt_dict: dict[str, list[tuple[float, float, str]]] = {key: [] for key in scores}
    for row in gt.itertuples(index=False):
        gt_dict[row.audio_id].append((float(row.onset), float(row.offset), row.event_label))

    value, per_class, (etpr, efpr), curves = intersection_based.psds(
        scores=scores,
        ground_truth=gt_dict,
        audio_durations={key: dur[key] for key in scores},
        dtc_threshold=dtc,
        gtc_threshold=gtc,
        cttc_threshold=cttc if alpha_ct > 0 else None,
        alpha_ct=alpha_ct,
        alpha_st=alpha_st,
        unit_of_time="hour",
        max_efpr=max_efpr,
    )
    class_curves = {c: (np.asarray(curves[c][1]), np.asarray(curves[c][0])) for c in classes}
    return PSDSResult(
        value=float(value),
        per_class={c: float(per_class[c]) for c in classes},
        efpr=np.asarray(efpr),
        etpr=np.asarray(etpr),
        class_curves=class_curves,
        scenario=scenario,
    )


def psds_scenario(
    scores: ScoresLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    scenario: PSDSScenario,
) -> PSDSResult:
    """:func:`psds` with the parameters of ``scenario`` (e.g. :data:`PSDS1`). Taught in notebook 04."""
    if not isinstance(scenario, PSDSScenario):
        raise ValueError(f"scenario must be a PSDSScenario such as PSDS1 or PSDS2, got {scenario!r}.")
    return psds(scores, ground_truth, durations, **scenario.as_kwargs())


def psds1(scores: ScoresLike, ground_truth: EventsLike, durations: DurationsLike) -> PSDSResult:
    """PSDS in DCASE scenario 1 (:data:`PSDS1`). Taught in notebook 04."""
    return psds_scenario(scores, ground_truth, durations, PSDS1)


def psds2(scores: ScoresLike, ground_truth: EventsLike, durations: DurationsLike) -> PSDSResult:
    """PSDS in DCASE scenario 2 (:data:`PSDS2`). Taught in notebook 04."""
    return psds_scenario(scores, ground_truth, durations, PSDS2)


# =========================================================================== PSDS from operating points
def _read_operating_points(
    detections: Mapping[float, pd.DataFrame | PathLike] | PathLike,
) -> dict[float, pd.DataFrame | PathLike]:
    """``{threshold: table or path}`` from a dict or a folder of ``<threshold>.tsv`` files."""
    if isinstance(detections, Mapping):
        ops = dict(detections)
    elif isinstance(detections, (str, Path)):
        folder = Path(detections)
        if not folder.is_dir():
            raise FileNotFoundError(f"Operating-points folder {folder} does not exist.")
        ops = {}
        for path in sorted(folder.glob("*.tsv")):
            try:
                threshold = float(path.stem)
            except ValueError:
                raise ValueError(
                    f"Detection file {path.name!r} in {folder} is not named by its threshold; "
                    "name each file like '0.500.tsv'."
                ) from None
            ops[threshold] = path
    else:
        raise ValueError(
            "detections must be {threshold: DataFrame or TSV path} or a folder of threshold-named TSVs, "
            f"got {type(detections).__name__}."
        )
    if not ops:
        raise ValueError("No operating points given; a PSD-ROC needs at least one detection table.")
    return dict(sorted(ops.items()))


def _psd_roc_from_points(
    tpr: np.ndarray, efpr: np.ndarray, classes: Sequence[str], alpha_st: float, max_efpr: float
) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """PSD-ROC from per-class operating points ``tpr, efpr [n_points, classes]``.

    Each class's ROC at eFPR ``x`` is the best TPR of its points with eFPR <= x
    (a staircase), evaluated on the union of all eFPR values; the point (0, 0),
    "detect nothing", is always included. Returns ``(grid, etpr, class_curves)``.
    """
    tpr = np.vstack([np.zeros(len(classes)), tpr])
    efpr = np.vstack([np.zeros(len(classes)), efpr])
    grid = np.unique(efpr)  # sorted union of all eFPR values
    class_tpr = np.empty((len(classes), len(grid)))
    for c in range(len(classes)):
        order = np.argsort(efpr[:, c], kind="stable")
        x = efpr[order, c]
        best = np.maximum.accumulate(tpr[order, c])  # best TPR reachable at eFPR <= x
        class_tpr[c] = best[np.searchsorted(x, grid, side="right") - 1]
    etpr = np.maximum(class_tpr.mean(axis=0) - alpha_st * class_tpr.std(axis=0), 0.0)
    curves = {c: (grid, class_tpr[i]) for i, c in enumerate(classes)}
    return grid, etpr, curves


def _cut_curve(x: np.ndarray, y: np.ndarray, max_x: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep the points with x < max_x and end the staircase at ``(max_x, last y)``."""
    keep = x < max_x
    return np.append(x[keep], max_x), np.append(y[keep], y[keep][-1] if keep.any() else 0.0)


def psds_from_operating_points(
    detections: Mapping[float, pd.DataFrame | PathLike] | PathLike,
    ground_truth: EventsLike,
    durations: DurationsLike,
    *,
    dtc: float,
    gtc: float,
    cttc: float | None,
    alpha_ct: float,
    alpha_st: float,
    max_efpr: float,
    classes: Sequence[str] = CLASSES,
) -> PSDSResult:
    """PSDS from detection tables at several thresholds, as ``psds_eval`` 0.5.3 computes it.

    Each table (one operating point) gives, per class, a TPR and an effective
    FPR (see :class:`IntersectionCounts`). A class's ROC is the best TPR reached
    at or below each eFPR; the PSD-ROC is the mean over classes minus
    ``alpha_st`` x the standard deviation (clipped at 0); PSDS is its area up to
    ``max_efpr`` divided by ``max_efpr``. With few thresholds this
    under-estimates the threshold-independent :func:`psds`.

    Args:
        detections: ``{threshold: DataFrame or TSV path}`` or a folder of TSVs named
            by threshold (``0.510.tsv``), columns ``event_label onset offset filename``.
        ground_truth, durations: as in :func:`count_intersections`.
        dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr: the scenario (keyword-only).
            ``cttc`` is ignored when ``alpha_ct == 0``.
        classes: classes evaluated; every one must have ground truth.

    Taught in notebook 04.
    """
    scenario = PSDSScenario(dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr)
    ops = _read_operating_points(detections)
    dur = _read_durations(durations)
    gt = _read_events(ground_truth, "Ground truth", classes)
    _check_events(gt, "Ground truth", dur)
    _check_every_class_has_ground_truth(gt, classes)

    tprs, efprs = [], []
    for threshold, table in tqdm(ops.items(), desc="operating points", leave=False, disable=len(ops) < 5):
        det = _read_events(table, f"Detections at threshold {threshold}", classes)
        _check_events(det, f"Detections at threshold {threshold}", dur)
        counts = _count(det, gt, dur, classes, dtc, gtc, cttc if alpha_ct > 0 else None)
        tpr, efpr = counts.rates(alpha_ct)
        tprs.append(tpr)
        efprs.append(efpr)

    grid, etpr, curves = _psd_roc_from_points(np.array(tprs), np.array(efprs), classes, alpha_st, max_efpr)
    value = _staircase_area(grid, etpr, max_efpr) / max_efpr
    per_class = {c: _staircase_area(x, y, max_efpr) / max_efpr for c, (x, y) in curves.items()}
    efpr_out, etpr_out = _cut_curve(grid, etpr, max_efpr)
    return PSDSResult(
        value=float(value),
        per_class=per_class,
        efpr=efpr_out,
        etpr=etpr_out,
        class_curves={c: _cut_curve(x, y, max_efpr) for c, (x, y) in curves.items()},
        scenario=scenario,
    )


def psd_roc_data(result: PSDSResult) -> pd.DataFrame:
    """Long table of the PSD-ROC curves of a :class:`PSDSResult`, ready to plot.

    Columns ``curve`` (``"PSD-ROC"`` for the summary curve, else a class name),
    ``efpr`` (effective FPR per hour) and ``tpr``. Every curve starts at eFPR 0
    and ends at ``max_efpr``; draw it as a staircase, e.g.
    ``ax.step(d.efpr, d.tpr, where="post")`` per curve.

    Taught in notebook 04.
    """
    if not isinstance(result, PSDSResult):
        raise ValueError(
            "psd_roc_data needs a PSDSResult (from psds() or psds_from_operating_points()), "
            f"got {type(result).__name__}."
        )
    max_efpr = result.scenario.max_efpr
    frames = []
    for name, (x, y) in [("PSD-ROC", (result.efpr, result.etpr)), *result.class_curves.items()]:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) == 0 or x[0] > 0:  # the curve starts at (0, 0): nothing detected
            x, y = np.append(0.0, x), np.append(0.0, y)
        x, y = _cut_curve(x, y, max_efpr)
        frames.append(pd.DataFrame({"curve": name, "efpr": x, "tpr": y}))
    return pd.concat(frames, ignore_index=True)
