"""Evaluation: post-processing, PSDS and event F1 for sound event detection.

The last steps of the pipeline, from frame scores to numbers:

1. **Post-processing.** :func:`median_filter` smooths the frame scores of each
   class along time; :func:`binarize` thresholds them; :func:`decode_detections`
   turns active runs of frames into events ``(filename, onset, offset,
   event_label)``, the DESED detection format.
2. **Threshold-independent PSDS** (:func:`psds`, :func:`psds1`, :func:`psds2`).
   The scores of every clip become a ``sed_scores_eval`` score table
   (:func:`scores_to_dataframes`), and ``sed_scores_eval`` computes the exact
   PSD-ROC over *all* thresholds.
3. **PSDS from operating points** (:func:`psds_from_operating_points`), the
   classic ``psds_eval`` way used by DCASE 2020/2021: a handful of detection
   tables, one per threshold, each gives one point per class on the ROC. We
   implement the ``psds_eval`` 0.5.3 algorithm here, readably, and test that it
   gives the same figures as ``psds_eval`` on real DESED detections.
4. **Event F1** at one threshold: :func:`collar_f1` (onset/offset collars, as
   ``sed_eval``) and :func:`intersection_f1` (DTC/GTC, as ``psds_eval``).

The PSDS scenarios are defined once, here: :data:`PSDS1`, :data:`PSDS2`,
:data:`DCASE2020`.

Intersection-based counting (Bilen et al., ICASSP 2020), for one class ``c``:

- a detection passes the **DTC** when at least ``dtc`` of its length overlaps
  ground-truth events of class ``c``; otherwise it is a **false positive**;
- a ground-truth event is a **true positive** when the detections that passed
  the DTC cover at least ``gtc`` of its length (the **GTC**);
- a false positive that overlaps ground truth of another class ``k`` by at
  least ``cttc`` of its length is also a **cross-trigger** on ``k`` (CTTC).

Rates: TPR = TP / number of ground-truth events; FPR = FP per hour of audio;
cross-trigger rate on ``k`` = CT per hour of ``k``'s ground truth; effective
FPR = FPR + ``alpha_ct`` x (mean cross-trigger rate over the other classes).
The PSD-ROC averages the per-class TPR-vs-eFPR curves and subtracts
``alpha_st`` x their standard deviation; PSDS is its area up to ``max_efpr``,
divided by ``max_efpr``.

Conventions: the evaluation set is the set of files in the durations table;
files are matched by their *audio id*, the file name without its extension
(``Y00pK0GMmE9s_70.000_80.000.wav`` -> ``Y00pK0GMmE9s_70.000_80.000``), as in
``sed_scores_eval``. Event tables are read by :mod:`dualkd_lib.desed_io`, with the rules of the
data loaders: a row with onset, offset and label all empty (a clip without events, as in the
real DESED validation TSV) means "no event".

Taught in notebook 04.

The package's modules: :mod:`.scenarios` (the PSDS settings), :mod:`.decoding` (median filter,
thresholds, events, sed_scores_eval score tables), :mod:`.tables` (reading and checking events and
durations), :mod:`.psds` (intersection counts, PSDS and PSD-ROC, PSDS from operating points),
:mod:`.f1` (collar and intersection F1), :mod:`.report` (one call from files, as ``dualkd evaluate``).
"""
from dualkd_lib.evaluate.scenarios import (
    Array,
    DCASE2020,
    DurationsLike,
    EventsLike,
    PSDS1,
    PSDS2,
    PSDSScenario,
    PathLike,
    SECONDS_PER_HOUR,
    ScoresLike,
)
from dualkd_lib.evaluate.decoding import (
    audio_id,
    binarize,
    decode_detections,
    median_filter,
    read_scores_dir,
    scores_to_dataframes,
    write_scores_dir,
)
from dualkd_lib.evaluate.psds import (
    IntersectionCounts,
    PSDSResult,
    count_intersections,
    psd_roc_data,
    psds,
    psds1,
    psds2,
    psds_from_operating_points,
    psds_scenario,
)
from dualkd_lib.evaluate.f1 import (
    F1Result,
    collar_f1,
    intersection_f1,
)
from dualkd_lib.evaluate.report import (
    evaluate_detections_path,
    evaluate_scores_path,
)

__all__ = [
    "Array",
    "DCASE2020",
    "DurationsLike",
    "EventsLike",
    "F1Result",
    "IntersectionCounts",
    "PSDS1",
    "PSDS2",
    "PSDSResult",
    "PSDSScenario",
    "PathLike",
    "SECONDS_PER_HOUR",
    "ScoresLike",
    "audio_id",
    "binarize",
    "collar_f1",
    "count_intersections",
    "decode_detections",
    "evaluate_detections_path",
    "evaluate_scores_path",
    "intersection_f1",
    "median_filter",
    "psd_roc_data",
    "psds",
    "psds1",
    "psds2",
    "psds_from_operating_points",
    "psds_scenario",
    "read_scores_dir",
    "scores_to_dataframes",
    "write_scores_dir",
]
