"""Tests of dualkd_lib/constants.py: the course's classes are DESED's, in the order every matrix uses."""
from __future__ import annotations


import pandas as pd

from dualkd_lib import layout
from dualkd_lib.constants import CLASSES, CLIP_SECONDS, SAMPLE_RATE

REFERENCE = layout.desed_validation_dir()


def test_the_classes_are_the_labels_of_real_desed_in_sorted_order() -> None:
    labels = pd.read_csv(REFERENCE / "validation_groundtruth.tsv", sep="\t")["event_label"].dropna()
    assert set(labels) == set(CLASSES) and len(CLASSES) == 10
    assert list(CLASSES) == sorted(CLASSES)  # the DCASE recipe's order: alphabetical


def test_the_clip_format_is_desed_s() -> None:
    durations = pd.read_csv(REFERENCE / "validation_metadata.tsv", sep="\t")["duration"]
    assert durations.max() == CLIP_SECONDS
    assert SAMPLE_RATE == 16_000 and SAMPLE_RATE * CLIP_SECONDS == 160_000
