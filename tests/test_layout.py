"""Tests of dualkd_lib/layout.py: the DESED folder layout of the splits and the one spelling of the work folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from dualkd_lib import layout
from dualkd_lib.distill import STUDENT_MODES


def test_every_split_has_an_audio_folder_and_the_labels_its_kind_needs(tmp_path: Path) -> None:
    for split in layout.SPLITS:
        audio, labels, durations = layout.split_paths(tmp_path, split)
        assert audio.is_relative_to(tmp_path) and audio.name
        if split == "unlabeled":
            assert labels is None
        if split in ("validation", "evaluation"):
            assert labels is not None and durations is not None
    with pytest.raises(ValueError, match="Unknown split 'test'.*valid splits"):
        layout.split_paths(tmp_path, "test")


def test_each_run_has_its_own_folder_and_final_checkpoint(tmp_path: Path) -> None:
    runs = [layout.teacher_run_dir(tmp_path, 0), layout.teacher_run_dir(tmp_path, 1),
            layout.plain_teacher_run_dir(tmp_path, 0)]
    runs += [layout.student_run_dir(tmp_path, mode, seed) for mode in STUDENT_MODES for seed in (0, 1)]
    assert len(set(runs)) == len(runs) and all(r.parent == layout.runs_dir(tmp_path) for r in runs)
    assert layout.teacher_checkpoint(tmp_path, 1) == layout.final_checkpoint(layout.teacher_run_dir(tmp_path, 1))
    assert layout.student_checkpoint(tmp_path, "dual", 2) == layout.student_run_dir(tmp_path, "dual", 2) / "final.pt"
    assert layout.last_checkpoint(runs[0]) == runs[0] / "last.pt" != layout.final_checkpoint(runs[0])
    caches = {layout.embeddings_cache(tmp_path, "strong"), layout.embeddings_cache(tmp_path, "strong", beats=True),
              layout.embeddings_cache(tmp_path, "weak"), layout.teacher_outputs_cache(tmp_path, "strong")}
    assert len(caches) == 4 and all(c.is_relative_to(tmp_path) for c in caches)


def test_the_default_folders_are_in_the_repository() -> None:
    root = layout.repo_root()
    assert (root / "pyproject.toml").is_file()
    assert layout.default_data_root("course") == root / "data" / "generated" / "course"
    assert layout.default_work_dir("tiny") == root / "data" / "cache" / "tiny"
    assert (layout.resources_dir() / "pretrained").is_dir()
    assert (layout.desed_validation_dir() / "validation_groundtruth.tsv").is_file()
