"""Tests of dualkd_lib/generate/dataset.py: make_dataset (determinism, layout, formats, no silent overwrite,
recording domains) and the embedding corpus."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from dualkd_lib import generate as gen
from dualkd_lib import recording as R
from dualkd_lib.constants import CLASSES, SAMPLE_RATE
from dualkd_lib.layout import SPLITS, split_paths


SMALL = dataclasses.replace(
    gen.TINY_GENERATOR, n_strong=3, n_weak=2, n_unlabeled=2, n_validation=2, n_evaluation=2
)


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root except generator_info.json (it holds timings)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != gen.INFO_FILENAME
    }


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("tiny") / "data"
    info = gen.make_dataset(root, gen.TINY_GENERATOR, seed=0, progress=False)
    return root, info


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    gen.make_dataset(tmp_path / "a", SMALL, seed=3, progress=False)
    gen.make_dataset(tmp_path / "b", SMALL, seed=3, progress=False)
    gen.make_dataset(tmp_path / "c", SMALL, seed=4, progress=False)
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    assert len(ha) == 3 + 2 + 2 + 2 + 2 + 8  # wavs + 8 tables
    assert ha == hb
    wavs = [k for k in ha if k.endswith(".wav")]
    assert all(ha[k] != hc[k] for k in wavs), "another seed must give other clips"


def test_worker_processes_write_the_same_files_in_the_same_order(tmp_path: Path) -> None:
    cfg = dataclasses.replace(SMALL, n_strong=27)  # two chunks of clips in the strong split
    one = gen.make_dataset(tmp_path / "one", cfg, seed=5, progress=False)
    two = gen.make_dataset(tmp_path / "two", cfg, seed=5, progress=False, jobs=2)
    assert _hashes(tmp_path / "one") == _hashes(tmp_path / "two")
    assert (one["jobs"], two["jobs"]) == (1, 2) and one["splits"] == two["splits"]
    assert two["cpu_seconds"] > 0.5 * one["cpu_seconds"], "the workers' CPU time is counted"
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        gen.make_dataset(tmp_path / "none", cfg, seed=5, progress=False, jobs=0)


def test_clip_does_not_depend_on_generation_order(tiny_dataset: tuple[Path, dict]) -> None:
    root, _ = tiny_dataset
    audio_dir, _, _ = split_paths(root, "validation")
    i = 13
    wav, _ = gen.generate_clip(gen.clip_rng(0, "validation", i), gen.TINY_GENERATOR,
                               domain=gen.TINY_GENERATOR.domain("validation"))
    on_disk, sr = sf.read(audio_dir / f"validation_{i:06d}.wav", dtype="int16")
    assert sr == SAMPLE_RATE
    expected = np.clip(np.round(wav * 32767.0), -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(on_disk, expected)


def test_embedding_corpus_is_deterministic_and_separate() -> None:
    w1, ev1 = gen.make_embedding_corpus(3, seed=0, progress=False)
    w2, ev2 = gen.make_embedding_corpus(3, seed=0, progress=False)
    assert w1.shape == (3, gen.CLIP_SAMPLES) and w1.dtype == np.float32
    np.testing.assert_array_equal(w1, w2)
    assert all(a.equals(b) for a, b in zip(ev1, ev2))
    for split in SPLITS:  # never the same clip as a course split
        wav, _ = gen.generate_clip(gen.clip_rng(0, split, 0), gen.GeneratorConfig(), classes=[CLASSES[0]])
        assert not np.allclose(wav, w1[0])


def test_layout_and_audio_format(tiny_dataset: tuple[Path, dict]) -> None:
    root, info = tiny_dataset
    assert info["complete"] and info["n_clips"] == 190
    assert json.loads((root / gen.INFO_FILENAME).read_text())["seed"] == 0
    for name in SPLITS:
        audio_dir, labels, durations = split_paths(root, name)
        wavs = sorted(audio_dir.glob("*.wav"))
        assert len(wavs) == gen.TINY_GENERATOR.n_clips(name)
        assert wavs[0].name == f"{name}_000000.wav"
        for w in wavs[:3] + wavs[-2:]:
            i = sf.info(w)
            assert (i.samplerate, i.channels, i.frames, i.subtype) == (SAMPLE_RATE, 1, 160000, "PCM_16")
        if labels is None:
            assert name == "unlabeled"
        if durations is not None:
            d = pd.read_csv(durations, sep="\t")
            assert list(d.columns) == ["filename", "duration"]
            assert sorted(d["filename"]) == [w.name for w in wavs]
            assert (d["duration"] == 10.0).all()
    assert (root / gen.TRUTH_DIR / "weak.tsv").is_file()
    assert (root / gen.TRUTH_DIR / "unlabeled.tsv").is_file()


@pytest.mark.parametrize("split", ["strong", "validation", "evaluation"])
def test_strong_tsv_format(tiny_dataset: tuple[Path, dict], split: str) -> None:
    root, _ = tiny_dataset
    audio_dir, labels, _ = split_paths(root, split)
    text = labels.read_text().splitlines()
    assert text[0] == "filename\tonset\toffset\tevent_label"
    for line in text[1:]:
        f, on, off, lab = line.split("\t")
        assert len(on.split(".")[1]) == 3 and len(off.split(".")[1]) == 3
        assert 0.0 <= float(on) < float(off) <= 10.0
        assert lab in CLASSES
        assert (audio_dir / f).is_file()
    df = pd.read_csv(labels, sep="\t")
    assert set(df["event_label"]) == set(CLASSES), f"every class must occur in {split}"


def test_weak_tsv_format(tiny_dataset: tuple[Path, dict]) -> None:
    root, _ = tiny_dataset
    _, labels, _ = split_paths(root, "weak")
    df = pd.read_csv(labels, sep="\t")
    assert list(df.columns) == ["filename", "event_labels"]
    assert len(df) == gen.TINY_GENERATOR.n_weak
    seen = set()
    for labs in df["event_labels"]:
        parts = labs.split(",")
        assert parts == sorted(set(parts)) and set(parts) <= set(CLASSES)
        seen |= set(parts)
    assert seen == set(CLASSES)
    truth = pd.read_csv(root / gen.TRUTH_DIR / "weak.tsv", sep="\t")  # hidden truth agrees with weak labels
    from_truth = truth.groupby("filename")["event_label"].apply(lambda s: ",".join(sorted(set(s))))
    assert from_truth.to_dict() == dict(zip(df["filename"], df["event_labels"]))


def test_refuses_non_empty_folder_without_generator_info(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="another"):
        gen.make_dataset(tmp_path, SMALL, seed=0, progress=False)
    with pytest.raises(FileExistsError, match="generator_info.json"):
        gen.make_dataset(tmp_path, SMALL, seed=0, overwrite=True, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_overwrite_keeps_unknown_user_files(tmp_path: Path) -> None:
    root = tmp_path / "data"
    gen.make_dataset(root, SMALL, seed=0, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        gen.make_dataset(root, SMALL, seed=0, progress=False)
    audio_dir, _, _ = split_paths(root, "strong")
    (root / "README_mine.txt").write_text("keep me")
    (audio_dir / "my_recording.wav").write_bytes(b"not generated")
    smaller = dataclasses.replace(SMALL, n_strong=1)
    info = gen.make_dataset(root, smaller, seed=1, overwrite=True, progress=False)
    assert info["seed"] == 1
    assert (root / "README_mine.txt").read_text() == "keep me"
    assert (audio_dir / "my_recording.wav").read_bytes() == b"not generated"
    assert sorted(p.name for p in audio_dir.glob("strong_*.wav")) == ["strong_000000.wav"]


def test_empty_existing_folder_is_fine(tmp_path: Path) -> None:
    info = gen.make_dataset(tmp_path, dataclasses.replace(SMALL, n_weak=0, n_unlabeled=0), seed=0,
                            progress=False)
    assert info["splits"]["weak"]["n_clips"] == 0


def test_generated_dataset_renders_only_the_non_strong_splits_recorded(tmp_path) -> None:
    cfg = dataclasses.replace(gen.TINY_GENERATOR, n_strong=12, n_weak=12, n_unlabeled=2, n_validation=12,
                              n_evaluation=12, recorded_domain=R.ROOM_MICROPHONE)
    assert cfg.domain("strong") is R.DRY and cfg.domain("evaluation") is R.ROOM_MICROPHONE
    gen.make_dataset(tmp_path / "rec", cfg, seed=0, progress=False)
    gen.make_dataset(tmp_path / "dry", dataclasses.replace(cfg, recorded_domain=R.DRY), seed=0, progress=False)
    import soundfile as sf

    same_strong = sf.read(tmp_path / "rec/audio/train/synthetic21_train/soundscapes_16k/strong_000001.wav")[0]
    dry_strong = sf.read(tmp_path / "dry/audio/train/synthetic21_train/soundscapes_16k/strong_000001.wav")[0]
    np.testing.assert_array_equal(same_strong, dry_strong)
    info = (tmp_path / "rec" / gen.INFO_FILENAME).read_text()
    assert "room+microphone" in info
