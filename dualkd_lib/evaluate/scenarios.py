"""The PSDS scenarios (:data:`PSDS1`, :data:`PSDS2`, :data:`DCASE2020`), defined once.

Taught in notebook 04.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd
import torch


PathLike = Union[str, Path]
Array = Union[np.ndarray, torch.Tensor]
#: Score tables ``{audio_id: DataFrame}`` or a folder of score TSVs.
ScoresLike = Union[Mapping[str, pd.DataFrame], str, Path]
#: Event table (DataFrame or TSV path, columns filename onset offset event_label),
#: or a sed_scores_eval dict ``{audio_id: [(onset, offset, label), ...]}``.
EventsLike = Union[pd.DataFrame, str, Path, Mapping[str, Sequence]]
#: Durations table (DataFrame or TSV path, columns filename duration) or ``{filename: seconds}``.
DurationsLike = Union[pd.DataFrame, str, Path, Mapping[str, float]]

#: Seconds in the unit of time of false-positive rates (PSDS counts FPs per hour).
SECONDS_PER_HOUR: float = 3600.0

_EVENT_COLUMNS = ("filename", "onset", "offset", "event_label")


# =========================================================================== scenarios
@dataclass(frozen=True)
class PSDSScenario:
    """The parameters of one PSDS evaluation scenario.

    Attributes:
        dtc: detection tolerance criterion, fraction of a detection that must
            overlap ground truth of its class, in (0, 1].
        gtc: ground-truth intersection criterion, fraction of a ground-truth
            event that detections must cover, in (0, 1].
        cttc: cross-trigger tolerance criterion in (0, 1], or ``None`` when
            cross-triggers are not penalised (``alpha_ct == 0``).
        alpha_ct: weight of the cross-trigger rate in the effective FPR, in [0, 1].
        alpha_st: weight of the across-class standard deviation of the TPR, >= 0.
        max_efpr: largest effective FPR (per hour) the area is computed to, > 0.

    Taught in notebook 04.
    """

    dtc: float
    gtc: float
    cttc: float | None
    alpha_ct: float
    alpha_st: float
    max_efpr: float

    def __post_init__(self) -> None:
        _check_scenario(self.dtc, self.gtc, self.cttc, self.alpha_ct, self.alpha_st, self.max_efpr)

    def as_kwargs(self) -> dict[str, float | None]:
        """The fields as keyword arguments of :func:`psds` and friends."""
        return dataclasses.asdict(self)


def _check_scenario(
    dtc: float, gtc: float, cttc: float | None, alpha_ct: float, alpha_st: float, max_efpr: float
) -> None:
    """Raise ValueError naming the first bad scenario parameter."""
    for name, value in (("dtc", dtc), ("gtc", gtc)):
        if not (isinstance(value, (int, float)) and 0.0 < value <= 1.0):
            raise ValueError(f"{name}={value!r} must be a number in (0, 1], e.g. 0.7 (PSDS1) or 0.1 (PSDS2).")
    if cttc is not None and not (isinstance(cttc, (int, float)) and 0.0 < cttc <= 1.0):
        raise ValueError(f"cttc={cttc!r} must be None or a number in (0, 1], e.g. 0.3.")
    if not (isinstance(alpha_ct, (int, float)) and 0.0 <= alpha_ct <= 1.0):
        raise ValueError(f"alpha_ct={alpha_ct!r} must be a number in [0, 1].")
    if alpha_ct > 0 and cttc is None:
        raise ValueError(f"alpha_ct={alpha_ct} > 0 penalises cross-triggers, so cttc must be given (e.g. cttc=0.3).")
    if not (isinstance(alpha_st, (int, float)) and alpha_st >= 0.0):
        raise ValueError(f"alpha_st={alpha_st!r} must be a number >= 0.")
    if not (isinstance(max_efpr, (int, float)) and max_efpr > 0.0 and math.isfinite(max_efpr)):
        raise ValueError(f"max_efpr={max_efpr!r} must be a positive number of false positives per hour, e.g. 100.")


#: DCASE scenario 1: tight localisation, cross-triggers not penalised.
PSDS1 = PSDSScenario(dtc=0.7, gtc=0.7, cttc=None, alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0)
#: DCASE scenario 2: loose localisation, cross-triggers penalised.
PSDS2 = PSDSScenario(dtc=0.1, gtc=0.1, cttc=0.3, alpha_ct=0.5, alpha_st=1.0, max_efpr=100.0)
#: The single PSDS setting of DCASE 2020 Task 4 (cttc is unused because alpha_ct is 0).
DCASE2020 = PSDSScenario(dtc=0.5, gtc=0.5, cttc=0.3, alpha_ct=0.0, alpha_st=0.0, max_efpr=100.0)
