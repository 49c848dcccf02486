"""Tests of dualkd_lib/recipe/distributed.py: `dualkd ddp` outside torchrun trains in one process."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dualkd_lib import cli
from dualkd_lib import recipe
from dualkd_lib.train import load_checkpoint


pytestmark = pytest.mark.slow


def test_dualkd_ddp_outside_torchrun_trains_in_one_process(ctx: recipe.Context, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    """`dualkd ddp train-student` (the torchrun entry) runs as one process without torchrun's environment,
    refuses a student that needs a teacher the work folder lacks, and writes the same run folder as Context."""
    from dualkd_lib import layout

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx.teacher(0)
    empty = tmp_path / "empty-work"
    assert cli.main(["ddp", "train-student", "--preset", "tiny", "--mode", "kd", "--data", str(ctx.data_root),
                     "--work-dir", str(empty)]) == 2
    assert "No trained teacher" in capsys.readouterr().err and not empty.exists()
    work = tmp_path / "work"
    shutil.copytree(ctx.work_dir, work, ignore=shutil.ignore_patterns("student-*"))
    assert cli.main(["ddp", "train-student", "--preset", "tiny", "--mode", "kd", "--data", str(ctx.data_root),
                     "--work-dir", str(work)]) == 0
    final = layout.student_checkpoint(work, "kd", 0)
    ckpt = load_checkpoint(final, expected_kind="student")
    assert ckpt["train_config"]["mode"] == "kd" and ckpt["step"] > 0
    assert (final.parent / "inference.pt").is_file()

