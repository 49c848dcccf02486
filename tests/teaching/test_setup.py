"""Tests of dualkd_lib/teaching/setup.py: the notebooks' set-up cell and the data status."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dualkd_lib.teaching import setup


ROOT = Path(__file__).resolve().parents[2]


def test_notebook_setup_seeds_and_resolves_paths(tmp_path: Path) -> None:
    settled = setup.notebook_setup("tiny", seed=3)
    a = torch.rand(3), np.random.rand(2)
    setup.notebook_setup("tiny", seed=3)
    b = torch.rand(3), np.random.rand(2)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert settled.preset == "tiny" and settled.data_root == ROOT / "data" / "generated" / "tiny"
    assert settled.cache_dir == ROOT / "data" / "cache" / "tiny"
    assert setup.notebook_setup("course", data_root=str(tmp_path)).data_root == tmp_path.resolve()
    with pytest.raises(ValueError, match="Unknown preset 'large'"):
        setup.notebook_setup("large")


def test_data_status_reports_missing_splits_and_the_command(tmp_path: Path) -> None:
    status = setup.data_status(tmp_path / "nothing", "tiny")
    assert not status.ready and len(status.missing) >= 5
    assert status.command.startswith("dualkd make-data --preset tiny --out ")
    inside = setup.data_status(ROOT / "data" / "generated" / "tiny", "tiny")
    assert inside.command == "dualkd make-data --preset tiny --out data/generated/tiny"
    from dualkd_lib.layout import SPLITS, split_paths

    for split in SPLITS:
        audio, labels, durations = split_paths(tmp_path, split)
        audio.mkdir(parents=True)
        (audio / "000000.wav").write_bytes(b"")
        for tsv in (labels, durations):
            if tsv is not None:
                tsv.parent.mkdir(parents=True, exist_ok=True)
                tsv.write_text("filename\n")
    assert setup.data_status(tmp_path, "tiny").ready

