"""One call from files: the metrics ``dualkd evaluate`` prints for detections or score tables.

Taught in notebook 04 (and README).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from dualkd_lib.evaluate.scenarios import PSDS1, PSDS2, PSDSScenario, PathLike
from dualkd_lib.evaluate.decoding import _AUDIO_EXTENSIONS, audio_id, read_scores_dir
from dualkd_lib.evaluate.tables import _read_durations, _read_table
from dualkd_lib.evaluate.psds import _read_operating_points, psds_from_operating_points, psds_scenario
from dualkd_lib.evaluate.f1 import collar_f1, intersection_f1

log = logging.getLogger(__name__)


# =========================================================================== one-call evaluation (CLI)
_SCENARIO_KEYS = ("dtc", "gtc", "cttc", "alpha_ct", "alpha_st", "max_efpr")


def _custom_scenario(overrides: Mapping[str, float | None]) -> PSDSScenario | None:
    """PSDS1 with the given fields replaced, or None when nothing is overridden."""
    unknown = sorted(set(overrides) - set(_SCENARIO_KEYS))
    if unknown:
        raise ValueError(f"Unknown scenario parameter(s) {unknown}; valid ones are {list(_SCENARIO_KEYS)}.")
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return None
    if given.get("alpha_ct", PSDS1.alpha_ct) == 0 and "cttc" in given:
        log.info("cttc=%s is unused because alpha_ct is 0.", given["cttc"])
    return dataclasses.replace(PSDS1, **given)


def _restrict_to_audio(
    ground_truth: pd.DataFrame | Mapping, durations: dict[str, float], audio_dir: PathLike
) -> tuple[pd.DataFrame | Mapping, dict[str, float], list[str]]:
    """Keep the files of ``ground_truth``/``durations`` whose audio is in ``audio_dir``.

    Real DESED copies often lack a few clips; their ground truth would count as misses.
    Returns the restricted tables and the sorted ids of the files left out.
    """
    folder = Path(audio_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"Audio folder {folder} does not exist; give the folder of the evaluated clips.")
    on_disk = {audio_id(f.name) for f in folder.iterdir() if f.suffix.lower() in _AUDIO_EXTENSIONS}
    left_out = sorted(set(durations) - on_disk)
    kept = {key: seconds for key, seconds in durations.items() if key in on_disk}
    if not kept:
        raise ValueError(
            f"None of the {len(durations)} files of the durations table is in {folder}, e.g. {left_out[0]!r}; "
            "is it the audio folder of this evaluation set?"
        )
    if left_out:
        log.warning("%d of %d files of the durations table are not in %s (e.g. %r): evaluating the other %d.",
                    len(left_out), len(durations), folder, left_out[0], len(kept))
    if isinstance(ground_truth, Mapping):
        gt = {key: events for key, events in ground_truth.items() if audio_id(key) in on_disk}
    else:
        gt = ground_truth[[audio_id(f) in on_disk for f in ground_truth["filename"]]].reset_index(drop=True)
    return gt, kept, left_out


def evaluate_detections_path(
    ground_truth: PathLike | pd.DataFrame,
    durations: PathLike | pd.DataFrame,
    detections_path: PathLike,
    *,
    audio_dir: PathLike | None = None,
    **scenario_overrides: float | None,
) -> dict[str, Any]:
    """Evaluate detections on disk: a folder of threshold-named TSVs, or one TSV.

    Returns a JSON-ready dict: ``psds1`` and ``psds2`` from the operating points
    (a single TSV is one operating point); for a single TSV also ``f1_collar``
    (macro), ``f1_collar_micro`` and ``f1_intersection`` (macro, dtc=gtc=0.5).
    When scenario overrides are given (``dtc=...``, ..., others taken from
    PSDS1), ``psds`` and ``scenario`` replace ``psds1``/``psds2``. With ``audio_dir``,
    only files whose audio is in that folder are evaluated, detections included
    (``n_files_left_out`` says how many were not). Used by ``dualkd evaluate --detections``. Taught in notebook 04.
    """
    path = Path(detections_path)
    if not path.exists():
        raise FileNotFoundError(f"Detections path {path} does not exist; give a TSV or a folder of '<threshold>.tsv'.")
    custom = _custom_scenario(scenario_overrides)
    ops = _read_operating_points(path) if path.is_dir() else {0.5: path}
    ops = {threshold: _read_table(table, "Detections") for threshold, table in ops.items()}  # read once
    gt = ground_truth if isinstance(ground_truth, Mapping) else _read_table(ground_truth, "Ground truth")
    dur = _read_durations(durations)  # tables read once, reused below
    result: dict[str, Any] = {"n_operating_points": len(ops)}
    if audio_dir is not None:
        gt, dur, left_out = _restrict_to_audio(gt, dur, audio_dir)
        result["n_files_left_out"] = len(left_out)
        ops = {threshold: table[[audio_id(f) in dur for f in table["filename"]]] for threshold, table in ops.items()}
    result["n_files"] = len(dur)
    scenarios = {"psds": custom} if custom is not None else {"psds1": PSDS1, "psds2": PSDS2}
    for key, scenario in scenarios.items():
        result[key] = psds_from_operating_points(ops, gt, dur, **scenario.as_kwargs()).value
    if custom is not None:
        result["scenario"] = custom.as_kwargs()
    if path.is_file():
        collar = collar_f1(ops[0.5], gt, dur)
        result["f1_collar"] = collar.macro
        result["f1_collar_micro"] = collar.micro
        result["f1_intersection"] = intersection_f1(ops[0.5], gt, dur).macro
    return result


def evaluate_scores_path(
    ground_truth: PathLike | pd.DataFrame,
    durations: PathLike | pd.DataFrame,
    scores_path: PathLike,
    *,
    audio_dir: PathLike | None = None,
    **scenario_overrides: float | None,
) -> dict[str, Any]:
    """Threshold-independent PSDS of a folder of ``sed_scores_eval`` score TSVs.

    Returns a JSON-ready dict with ``psds1`` and ``psds2``, or, with scenario
    overrides (others from PSDS1), ``psds`` and ``scenario``. With ``audio_dir``, only
    files whose audio is in that folder are evaluated (``n_files_left_out`` says how many
    were not). Used by ``dualkd evaluate --scores``. Taught in notebook 04.
    """
    custom = _custom_scenario(scenario_overrides)
    scores = read_scores_dir(scores_path)
    gt = ground_truth if isinstance(ground_truth, Mapping) else _read_table(ground_truth, "Ground truth")
    dur = _read_durations(durations)
    result: dict[str, Any] = {"n_files": len(scores)}
    if audio_dir is not None:
        gt, dur, left_out = _restrict_to_audio(gt, dur, audio_dir)
        result["n_files_left_out"] = len(left_out)
    scenarios = {"psds": custom} if custom is not None else {"psds1": PSDS1, "psds2": PSDS2}
    for key, scenario in scenarios.items():
        result[key] = psds_scenario(scores, gt, dur, scenario).value
    if custom is not None:
        result["scenario"] = custom.as_kwargs()
    return result
