"""Compute the reference figures in ``psds_reference.json`` with psds_eval 0.5.3.

This script documents how the reference figures were made; it is NOT run in CI
(psds_eval 0.5.3 needs numpy < 2 and pandas < 2.1, which the course environment
does not have). To re-create the figures, use a throwaway environment outside
the repository::

    python3.11 -m venv /tmp/psdsref
    /tmp/psdsref/bin/pip install "psds_eval==0.5.3" "numpy<2" "pandas<2.1" "sed_eval==0.2.1"
    /tmp/psdsref/bin/python tests/data/make_psds_reference.py > tests/data/psds_reference.json

Inputs (shipped with the library, real DESED validation data, 1168 clips):
``dualkd_lib/resources/desed_validation/``: ``validation_groundtruth.tsv``,
``validation_metadata.tsv``, ``baseline_2020_detections/`` (the DCASE 2020
baseline's detections at 50 thresholds 0.01 ... 0.99) and
``baseline_2020_detections_at_0.5.tsv``.

What is computed, following the DCASE 2020/2021 baseline's use of psds_eval:

* PSDS for three scenarios from the 50 operating points:
  scenario 1 (dtc 0.7, gtc 0.7, alpha_ct 0, alpha_st 1, max_efpr 100),
  scenario 2 (dtc 0.1, gtc 0.1, cttc 0.3, alpha_ct 0.5, alpha_st 1, max_efpr 100),
  the DCASE 2020 setting (dtc 0.5, gtc 0.5, cttc 0.3, alpha_ct 0, alpha_st 0, max_efpr 100).
  psds_eval needs a cttc even when alpha_ct is 0; it is then unused (we pass 0.3).
  Per-class values are the area under each class's TPR-vs-eFPR staircase (on
  psds_eval's common eFPR grid) up to max_efpr, divided by max_efpr.
* The intersection-based macro F1 of the 0.5 detections with
  ``PSDSEval(0.5, 0.5, 0.3).compute_macro_f_score`` (as DCASE 2020 reported it).
* The collar-based event F1 of the 0.5 detections with sed_eval 0.2.1
  (t_collar 0.2, percentage_of_length 0.2, evaluated file by file over every
  clip of the metadata, as the DCASE baseline does): micro (overall) and macro
  (class-wise average) F-measure.
"""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psds_eval
from psds_eval import PSDSEval

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "dualkd_lib" / "resources" / "desed_validation"

SCENARIOS = {
    # name: (dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr)
    "psds1": (0.7, 0.7, None, 0.0, 1.0, 100.0),
    "psds2": (0.1, 0.1, 0.3, 0.5, 1.0, 100.0),
    "dcase2020": (0.5, 0.5, 0.3, 0.0, 0.0, 100.0),
}


def staircase_area(x: np.ndarray, y: np.ndarray, max_x: float) -> float:
    """Area under the right-continuous step curve (x, y) from x[0] to max_x."""
    x = np.append(x[x < max_x], max_x)
    y = y[: len(x) - 1]
    return float(np.sum(np.diff(x) * y))


def psds_reference(gt: pd.DataFrame, meta: pd.DataFrame, det_dir: Path) -> dict:
    tables = sorted(det_dir.glob("*.tsv"), key=lambda p: float(p.stem))
    detections = [pd.read_csv(p, sep="\t") for p in tables]
    out = {}
    for name, (dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr) in SCENARIOS.items():
        start = time.perf_counter()
        ev = PSDSEval(
            dtc_threshold=dtc,
            gtc_threshold=gtc,
            cttc_threshold=0.3 if cttc is None else cttc,
            ground_truth=gt,
            metadata=meta,
        )
        for path, det in zip(tables, detections):
            ev.add_operating_point(det, info={"threshold": float(path.stem)})
        result = ev.psds(alpha_ct=alpha_ct, alpha_st=alpha_st, max_efpr=max_efpr)
        _, _, tpr_vs_efpr = ev.psd_roc_curves(alpha_ct=alpha_ct)
        classes = sorted(set(ev.class_names) - {"injected_psds_world_label"})
        per_class = {
            c: staircase_area(tpr_vs_efpr.xp, tpr_vs_efpr.yp[i], max_efpr) / max_efpr
            for i, c in enumerate(classes)
        }
        out[name] = {
            "scenario": {
                "dtc": dtc, "gtc": gtc, "cttc": cttc,
                "alpha_ct": alpha_ct, "alpha_st": alpha_st, "max_efpr": max_efpr,
            },
            "value": float(result.value),
            "per_class": per_class,
            "n_operating_points": int(ev.num_operating_points()),
            "seconds": round(time.perf_counter() - start, 1),
        }
    return out


def intersection_f1_reference(gt: pd.DataFrame, meta: pd.DataFrame, det: pd.DataFrame) -> dict:
    ev = PSDSEval(dtc_threshold=0.5, gtc_threshold=0.5, cttc_threshold=0.3, ground_truth=gt, metadata=meta)
    macro, per_class = ev.compute_macro_f_score(det)
    return {
        "dtc": 0.5, "gtc": 0.5, "cttc": 0.3,
        "macro": float(macro),
        "per_class": {c: float(f) for c, f in per_class.items()},
    }


def collar_f1_reference(gt: pd.DataFrame, meta: pd.DataFrame, det: pd.DataFrame) -> dict:
    import sed_eval

    classes = sorted(gt.event_label.dropna().unique())
    metric = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=classes, t_collar=0.2, percentage_of_length=0.2,
        empty_system_output_handling="zero_score",
    )

    def events(df: pd.DataFrame, filename: str) -> list[dict]:
        rows = df[(df.filename == filename) & df.event_label.notna()]
        return [
            {"filename": filename, "onset": float(r.onset), "offset": float(r.offset), "event_label": r.event_label}
            for r in rows.itertuples()
        ]

    for filename in sorted(meta.filename):
        metric.evaluate(reference_event_list=events(gt, filename), estimated_event_list=events(det, filename))
    overall = metric.results_overall_metrics()["f_measure"]["f_measure"]
    classwise = metric.results_class_wise_metrics()
    return {
        "onset_collar": 0.2, "offset_collar": 0.2, "offset_collar_rate": 0.2,
        "micro": float(overall),
        "macro": float(metric.results_class_wise_average_metrics()["f_measure"]["f_measure"]),
        "per_class": {c: float(classwise[c]["f_measure"]["f_measure"]) for c in classes},
        "sed_eval_version": sed_eval.__version__ if hasattr(sed_eval, "__version__") else "0.2.1",
    }


def main() -> None:
    gt = pd.read_csv(RES / "validation_groundtruth.tsv", sep="\t")
    meta = pd.read_csv(RES / "validation_metadata.tsv", sep="\t")
    det05 = pd.read_csv(RES / "baseline_2020_detections_at_0.5.tsv", sep="\t")
    ref = {
        "description": "Reference figures on the shipped real DESED validation detections "
        "(DCASE 2020 baseline), computed by tests/data/make_psds_reference.py.",
        "versions": {
            "python": platform.python_version(),
            "psds_eval": psds_eval.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "inputs": {
            "ground_truth": "dualkd_lib/resources/desed_validation/validation_groundtruth.tsv",
            "durations": "dualkd_lib/resources/desed_validation/validation_metadata.tsv",
            "operating_points": "dualkd_lib/resources/desed_validation/baseline_2020_detections/",
            "single_detections": "dualkd_lib/resources/desed_validation/baseline_2020_detections_at_0.5.tsv",
        },
        "psds": psds_reference(gt, meta, RES / "baseline_2020_detections"),
        "intersection_f1": intersection_f1_reference(gt, meta, det05),
        "collar_f1": collar_f1_reference(gt, meta, det05),
    }
    json.dump(ref, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
