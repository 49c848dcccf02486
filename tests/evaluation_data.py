"""Shared test helper: the real DESED validation files shipped with the library, the psds_eval / sed_eval
reference figures computed on them, and the frame grid of the synthetic set (the ``synthetic`` fixture of
evaluate/conftest.py), for the tests of dualkd_lib/evaluate/. Imported by name (tests/ is on the path).

The reference figures in tests/data/psds_reference.json were computed with psds_eval 0.5.3 and
sed_eval 0.2.1 by tests/data/make_psds_reference.py on the real DESED validation detections.
"""
from __future__ import annotations

import json
from pathlib import Path

from dualkd_lib import layout

RES = layout.desed_validation_dir()
GT_TSV = RES / "validation_groundtruth.tsv"
DUR_TSV = RES / "validation_metadata.tsv"
OPS_DIR = RES / "baseline_2020_detections"
DET_05 = RES / "baseline_2020_detections_at_0.5.tsv"
REFERENCE = json.loads((Path(__file__).parent / "data" / "psds_reference.json").read_text())

FRAME = 0.1  # seconds per frame of the synthetic scores
N_FRAMES = 100  # 10-s clips
