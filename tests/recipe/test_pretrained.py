"""Shipped pre-trained models: dualkd pretrain writes a bundle; a fitting bundle is installed, never trained."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from contexts import tiny_context
from dualkd_lib import recipe
from dualkd_lib.recipe import pretrained

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[recipe.Context, Path]:
    ctx = tiny_context(tmp_path_factory, "pretrain")
    root = ctx.data_root.parent
    manifest = recipe.pretrain(ctx, root / "bundles" / "tiny", command="dualkd pretrain --preset tiny")
    return ctx, manifest.parent.parent


def test_bundle_has_checksummed_files_configs_and_scores(bundle) -> None:
    ctx, root = bundle
    manifest = json.loads((root / "tiny" / pretrained.MANIFEST).read_text())
    assert set(manifest["files"]) == set(pretrained.FILES)
    for name, digest in manifest["files"].items():
        assert pretrained.sha256(root / "tiny" / name) == digest
    assert manifest["preset"] == "tiny" and manifest["command"] == "dualkd pretrain --preset tiny"
    assert {"teacher", "linear_probe"} <= set(manifest["scores"]) and "library_version" in manifest
    machine = manifest["machine"]  # where it was trained: a retrain elsewhere lands near, not on, its scores
    assert machine["cpu"] and machine["torch"] == torch.__version__ and machine["torch_threads"] >= 1
    assert pretrained.check_bundle(ctx.preset, root) == []
    with pytest.raises(FileExistsError, match="--overwrite"):
        recipe.pretrain(ctx, root / "tiny")


def test_a_fitting_bundle_is_installed_instead_of_training(bundle, tmp_path: Path, monkeypatch) -> None:
    ctx, root = bundle
    monkeypatch.setenv(pretrained.ENV_VAR, str(root))
    fresh = recipe.Context.create("tiny", data_root=ctx.data_root, work_dir=tmp_path / "w", progress=False)
    fresh.teacher(0)
    assert pretrained.is_shipped(fresh.teacher_path(0).parent)
    assert pretrained.sha256(fresh.teacher_path(0)) == pretrained.sha256(root / "tiny" / "teacher.pt")
    assert not (fresh.teacher_path(0).parent / "last.pt").exists()  # nothing was trained
    # shipped models serve any data of the preset: another data fingerprint does not refuse them
    fresh._data_fingerprint = "0" * 16
    fresh._teachers.clear()
    fresh.teacher(0)


def test_a_corrupt_or_stale_bundle_is_refused_with_the_reason(bundle, tmp_path: Path, caplog) -> None:
    ctx, root = bundle
    copy = tmp_path / "b" / "tiny"
    copy.mkdir(parents=True)
    for f in (root / "tiny").iterdir():
        copy.joinpath(f.name).write_bytes(f.read_bytes())
    data = bytearray((copy / "teacher.pt").read_bytes())
    data[-10] ^= 0xFF
    (copy / "teacher.pt").write_bytes(bytes(data))
    problems = pretrained.check_bundle(ctx.preset, copy.parent)
    assert any("teacher.pt does not match its sha256" in p for p in problems)
    other = recipe.Context(ctx.preset, ctx.data_root, tmp_path / "w", progress=False)
    assert not pretrained.install(other, copy.parent)
    assert "is not used" in caplog.text and not (tmp_path / "w" / "runs").exists()
    stale = dataclasses.replace(ctx.preset, teacher=dataclasses.replace(ctx.preset.teacher, rnn_hidden=40))
    problems = pretrained.check_bundle(stale, root)
    assert any("stale for today's teacher config (differs in: rnn_hidden: 32 -> 40)" in p and "dualkd pretrain" in p
               for p in problems), problems
    # a config field added after the bundle was made, at its default, keeps the bundle valid
    manifest = json.loads((root / "tiny" / pretrained.MANIFEST).read_text())
    del manifest["configs"]["teacher"]["strong_head_bias"]
    older = tmp_path / "older" / "tiny"
    shutil.copytree(root / "tiny", older)
    (older / pretrained.MANIFEST).write_text(json.dumps(manifest))
    assert pretrained.check_bundle(ctx.preset, older.parent) == []
    changed = dataclasses.replace(ctx.preset, teacher=dataclasses.replace(ctx.preset.teacher, strong_head_bias=-2.0))
    assert any("strong_head_bias: None -> -2.0" in p for p in pretrained.check_bundle(changed, older.parent))
    with pytest.raises(FileNotFoundError, match="No pre-trained bundle"):
        pretrained.check_bundle(ctx.preset, tmp_path / "nothing")


@pytest.mark.parametrize("name", ["tiny", "course"])
def test_every_bundle_shipped_in_the_package_fits_its_preset(name: str) -> None:
    """A shipped bundle's files match the manifest's sha256, and its configs today's preset (not stale)."""
    from dualkd_lib import config

    folder = pretrained.bundle_dir(name)
    if not (folder / pretrained.MANIFEST).is_file():
        pytest.skip(f"no bundle shipped for preset {name!r} in {folder}")
    assert pretrained.check_bundle(config.get_preset(name)) == []
    manifest = json.loads((folder / pretrained.MANIFEST).read_text())
    for key in ("configs", "files", "scores", "command", "library_version", "data_seed"):
        assert key in manifest, f"the manifest of {name!r} has no {key!r}"
    runs = manifest.get("seed_spread", {}).get("runs", [])
    if runs:  # the shipped bundle is seed 0 of its own spread, with the scores the manifest states
        seeds = [r["bundle_seed"] for r in runs]
        assert len(set(seeds)) == len(seeds) >= 2 and 0 in seeds
        shipped = runs[seeds.index(0)]
        assert shipped["pretrain_seed"] == manifest["configs"]["pretrain"]["seed"]
        for model in pretrained.SPREAD_MODELS:
            assert shipped[model] == manifest["scores"][model]["evaluation"]
        assert {r["pretrain_seed"] - r["bundle_seed"] for r in runs} == {shipped["pretrain_seed"]}


def _spread_manifest(probe_psds1: list[float]) -> dict:
    """A manifest whose seed spread has one run per value of ``probe_psds1`` (the other scores fixed)."""
    runs = [{"bundle_seed": seed, "teacher": {"psds1": 0.5 + 0.01 * seed, "psds2": 0.8},
             "linear_probe": {"psds1": value, "psds2": 0.6}} for seed, value in enumerate(probe_psds1)]
    return {"seed_spread": {"runs": runs}}


def test_seed_spread_is_mean_and_sample_std_over_the_bundle_seeds() -> None:
    spread = pretrained.seed_spread(_spread_manifest([0.30, 0.20, 0.25]))
    mean, std, n = spread["linear_probe"]["psds1"]
    assert (mean, n) == (pytest.approx(0.25), 3) and std == pytest.approx(0.05)
    assert spread["teacher"]["psds2"][1] == pytest.approx(0.0)
    assert pretrained.seed_spread(_spread_manifest([0.3])) == {}  # one seed has no spread
    assert pretrained.seed_spread({}) == {}


def test_a_retrain_is_held_against_the_shipped_seeds_band() -> None:
    manifest = _spread_manifest([0.30, 0.20, 0.25])  # probe PSDS1 0.25 ± 0.05: band 0.15-0.35 at 2 std
    retrain = {"teacher": {"evaluation": {"psds1": 0.51, "psds2": 0.8}},
               "linear_probe": {"evaluation": {"psds1": 0.14, "psds2": 0.6}}}
    rows = {(r["model"], r["metric"]): r for r in pretrained.compare_with_shipped(retrain, manifest)}
    assert set(rows) == {(m, k) for m in pretrained.SPREAD_MODELS for k in pretrained.SPREAD_METRICS}
    assert not rows["linear_probe", "psds1"]["within"]  # 0.14 < 0.15
    assert rows["linear_probe", "psds1"]["low"] == pytest.approx(0.15)
    assert rows["teacher", "psds1"]["within"] and rows["linear_probe", "psds2"]["within"]
    wider = {(r["model"], r["metric"]): r for r in pretrained.compare_with_shipped(retrain, manifest, n_std=3)}
    assert wider["linear_probe", "psds1"]["within"]  # band 0.10-0.40
    assert pretrained.compare_with_shipped(retrain, {}) == []


def test_dualkd_pretrain_says_where_a_retrain_lies_in_the_shipped_spread(bundle, tmp_path: Path, monkeypatch,
                                                                         capsys) -> None:
    from dualkd_lib import cli

    ctx, root = bundle
    shipped = tmp_path / "shipped" / "tiny"
    shutil.copytree(root / "tiny", shipped)
    manifest = json.loads((shipped / pretrained.MANIFEST).read_text())
    seed0 = {m: manifest["scores"][m]["evaluation"] for m in pretrained.SPREAD_MODELS}
    far = {m: {k: v + 0.5 for k, v in s.items()} for m, s in seed0.items()}  # a second seed far away: a wide band
    manifest["seed_spread"] = {"runs": [{"bundle_seed": 0, **seed0}, {"bundle_seed": 1, **far}]}
    (shipped / pretrained.MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.setenv(pretrained.ENV_VAR, str(shipped.parent))
    retrain = root / "tiny" / pretrained.MANIFEST  # the retrain: the fixture's bundle, not trained again
    monkeypatch.setattr(recipe, "pretrain", lambda *args, **kwargs: retrain)
    assert cli.main(["pretrain", "--preset", "tiny", "--out", str(root / "tiny"), "--data", str(ctx.data_root),
                     "--work-dir", str(tmp_path / "w")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "shipped seeds" in line]
    assert len(lines) == len(pretrained.SPREAD_MODELS) * len(pretrained.SPREAD_METRICS)
    assert all(line.endswith("within") for line in lines), lines
