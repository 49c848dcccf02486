"""The classroom cache: the data and trained models packed once, unpacked and checked elsewhere."""
from __future__ import annotations

import dataclasses
import json
import tarfile
from pathlib import Path

import pytest
import torch

from contexts import tiny_context
from dualkd_lib import cli, config
from dualkd_lib.course import classroom_cache
from dualkd_lib import recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[recipe.Context, Path]:
    ctx = tiny_context(tmp_path_factory, "classroom")
    root = ctx.data_root.parent
    recipe.run_metrics(ctx, "student", "supervised", 0)  # the teacher is not needed for this run
    archive = classroom_cache.pack("tiny", root / "tiny-cache.tar", data_root=ctx.data_root, work_dir=ctx.work_dir,
                                   progress=False)
    return ctx, archive


def test_an_unpacked_cache_is_used_as_it_is_without_training_or_recomputing_features(
        packed: tuple[recipe.Context, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, archive = packed
    manifest = classroom_cache.read_manifest(archive)
    assert manifest["preset"] == "tiny" and manifest["data_fingerprint"] == ctx.data_fingerprint()
    assert any(name.startswith("cache/runs/student-supervised-seed0/") for name in manifest["files"])
    info = classroom_cache.unpack(archive, data_root=tmp_path / "data", work_dir=tmp_path / "work", progress=False)
    assert info["files"] == len(manifest["files"]) and info["feature_caches"] >= 5

    def no_training(*args, **kwargs):
        raise AssertionError("an unpacked cache must not train")

    monkeypatch.setattr(recipe.ablation, "train_student", no_training)
    monkeypatch.setattr("dualkd_lib.features.FeatureCache._compute", no_training)
    other = recipe.Context.create("tiny", data_root=tmp_path / "data", work_dir=tmp_path / "work", progress=False)
    torch.testing.assert_close(other.split("validation").features, ctx.split("validation").features)
    metrics = recipe.run_metrics(other, "student", "supervised", 0)
    assert metrics["psds1"] == pytest.approx(recipe.run_metrics(ctx, "student", "supervised", 0)["psds1"])


def test_a_corrupt_truncated_or_mismatched_archive_is_refused_with_the_reason(
        packed: tuple[recipe.Context, Path], tmp_path: Path) -> None:
    _, archive = packed
    blob = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:  # flip one byte inside the last member's data
        last = tar.getmembers()[-1]
    blob[last.offset_data + min(10, last.size - 1)] ^= 0xFF
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256"):
        classroom_cache.unpack(corrupt, data_root=tmp_path / "d1", work_dir=tmp_path / "w1", progress=False)
    assert not (tmp_path / "d1").exists() and not (tmp_path / "w1").exists()  # nothing left behind
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated|corrupt|could not be read"):
        classroom_cache.unpack(truncated, data_root=tmp_path / "d2", work_dir=tmp_path / "w2", progress=False)
    stale = dataclasses.replace(config.TINY, student_train=dataclasses.replace(config.TINY.student_train, lr=0.5))
    problems = classroom_cache.check_manifest(classroom_cache.read_manifest(archive), stale)
    assert problems and "student_train" in problems[0] and "lr" in problems[0]
    with pytest.raises(ValueError, match="packed for preset 'tiny', not 'course'"):
        classroom_cache.unpack(archive, preset="course", data_root=tmp_path / "d3", work_dir=tmp_path / "w3")
    not_a_cache = tmp_path / "other.tar"
    with tarfile.open(not_a_cache, "w") as tar:
        tar.add(Path(__file__), arcname="tests.py")
    with pytest.raises(ValueError, match="not a classroom cache"):
        classroom_cache.read_manifest(not_a_cache)


def test_unpack_never_overwrites_and_the_cli_reports_errors(packed: tuple[recipe.Context, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, archive = packed
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "my-run.pt").write_text("precious")
    with pytest.raises(FileExistsError, match="not empty"):
        classroom_cache.unpack(archive, data_root=tmp_path / "data", work_dir=tmp_path / "work", progress=False)
    assert (tmp_path / "work" / "my-run.pt").read_text() == "precious"
    assert cli.main(["cache", "unpack", str(archive), "--data", str(tmp_path / "data"),
                     "--work-dir", str(tmp_path / "work")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli.main(["cache", "pack", "--preset", "tiny", "--out", str(archive)]) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err
    manifest = json.loads(tarfile.open(archive).extractfile(classroom_cache.MANIFEST).read())
    assert manifest["format"] == classroom_cache.FORMAT
