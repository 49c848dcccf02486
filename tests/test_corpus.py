"""Tests of dualkd_lib/corpus.py: the embedding model's corpus: a broader taxonomy, clip labels only, both
recording domains."""
from __future__ import annotations

import numpy as np
import pytest

from dualkd_lib import corpus
from dualkd_lib.constants import CLASSES


def test_taxonomy_is_broader_than_the_course_classes() -> None:
    assert corpus.TAXONOMY[: len(CLASSES)] == tuple(CLASSES)
    assert len(corpus.TAXONOMY) > len(CLASSES) and len(set(corpus.TAXONOMY)) == len(corpus.TAXONOMY)


def test_corpus_has_clip_labels_only_and_is_reproducible() -> None:
    waves, labels = corpus.make_taxonomy_corpus(14, seed=3, progress=False)
    assert waves.shape == (14, 160000) and labels.shape == (14, len(corpus.TAXONOMY))
    assert set(np.unique(labels)) <= {0.0, 1.0}
    for i in range(len(CLASSES)):  # the first clips hold every course class
        assert labels[i, i] == 1.0
    assert labels[:, len(CLASSES):].sum() > 0  # other sounds are labelled
    again, labels2 = corpus.make_taxonomy_corpus(14, seed=3, progress=False)
    np.testing.assert_array_equal(waves, again)
    np.testing.assert_array_equal(labels, labels2)
    with pytest.raises(ValueError, match="recorded_share"):
        corpus.make_taxonomy_corpus(2, recorded_share=1.5, progress=False)


def test_clips_one_at_a_time_are_the_corpus() -> None:
    waves, labels = corpus.make_taxonomy_corpus(12, seed=5, progress=False)
    clips = list(corpus.taxonomy_clips(12, seed=5, progress=False))
    assert len(clips) == 12
    for i, (wave, label) in enumerate(clips):
        assert wave.dtype == np.float32
        np.testing.assert_array_equal(wave, waves[i])
        np.testing.assert_array_equal(label, labels[i])
    with pytest.raises(ValueError, match="n_clips"):  # refused at the call, not at the first clip
        corpus.taxonomy_clips(0, progress=False)
