"""Tests of the procedural DESED-like generator (dualkd_lib.generate)."""
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


@pytest.fixture(scope="module")
def sample_300() -> pd.DataFrame:
    """300 clips generated in memory, as one strong table."""
    frames = []
    for i in range(300):
        _, ev = gen.generate_clip(gen.clip_rng(7, "strong", i), gen.GeneratorConfig())
        frames.append(ev.assign(filename=f"c{i:03d}.wav"))
    return pd.concat(frames, ignore_index=True)


# --- determinism -------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    gen.make_dataset(tmp_path / "a", SMALL, seed=3, progress=False)
    gen.make_dataset(tmp_path / "b", SMALL, seed=3, progress=False)
    gen.make_dataset(tmp_path / "c", SMALL, seed=4, progress=False)
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    assert len(ha) == 3 + 2 + 2 + 2 + 2 + 8  # wavs + 8 tables
    assert ha == hb
    wavs = [k for k in ha if k.endswith(".wav")]
    assert all(ha[k] != hc[k] for k in wavs), "another seed must give other clips"


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


# --- layout and formats --------------------------------------------------------


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


# --- never overwrite silently --------------------------------------------------


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


# --- statistics follow real DESED ---------------------------------------------


def test_real_desed_statistics_are_read() -> None:
    real = gen.load_real_desed_validation()
    assert real["filename"].nunique() == 1168
    st = gen.event_statistics(real)
    assert list(st.index) == list(CLASSES)
    assert st.loc["Dishes", "median_s"] == pytest.approx(0.382, abs=0.01)
    assert st.loc["Vacuum_cleaner", "median_s"] == pytest.approx(10.0)
    assert st["n_events"].idxmax() == "Speech"


def test_median_durations_within_factor_two_of_desed(sample_300: pd.DataFrame) -> None:
    cmp = gen.compare_with_desed(sample_300)
    assert cmp["median_ratio"].notna().all()
    bad = cmp[(cmp["median_ratio"] < 0.5) | (cmp["median_ratio"] > 2.0)]
    assert bad.empty, f"median durations off by more than x2:\n{bad}"


def test_events_per_clip_and_class_frequencies(sample_300: pd.DataFrame) -> None:
    clip = gen.clip_statistics(sample_300)
    assert 2.5 <= clip["events_per_clip"] <= 4.5
    assert 0.0 < clip["overlap_fraction"] < 0.3
    st = gen.event_statistics(sample_300)
    assert st["n_events"].idxmax() == "Speech"
    assert st["frac_clips"].idxmax() == "Speech"
    assert (st["n_events"] > 0).all()
    # events cut at the clip edges, long classes often last the whole clip
    assert st.loc["Speech", "frac_cut_onset"] > 0.02 and st.loc["Speech", "frac_cut_offset"] > 0.02
    assert st.loc["Vacuum_cleaner", "frac_whole_clip"] > 0.3
    assert st.loc["Dog", "events_per_clip"] > 2.0 and st.loc["Vacuum_cleaner", "events_per_clip"] < 1.3


# --- clips and events ----------------------------------------------------------


def test_generate_clip_contract_and_forced_classes() -> None:
    wav, ev = gen.generate_clip(np.random.default_rng(0), gen.GeneratorConfig(), classes=["Cat", "Frying"])
    assert wav.shape == (160000,) and wav.dtype == np.float32
    assert np.isfinite(wav).all() and 0 < np.abs(wav).max() <= 1.0
    assert list(ev.columns) == ["onset", "offset", "event_label"]
    assert {"Cat", "Frying"} <= set(ev["event_label"])
    assert (ev["onset"] >= 0).all() and (ev["offset"] <= 10).all() and (ev["onset"] < ev["offset"]).all()
    assert ev["onset"].is_monotonic_increasing
    with pytest.raises(ValueError, match="Unknown event label"):
        gen.generate_clip(np.random.default_rng(0), classes=["Cow"])


def test_same_class_events_do_not_overlap_and_polyphony_is_bounded() -> None:
    cfg = dataclasses.replace(gen.GeneratorConfig(), max_polyphony=2, events_per_class_scale=2.0)
    for i in range(20):
        _, ev = gen.generate_clip(np.random.default_rng(i), cfg)
        for _, g in ev.groupby("event_label"):
            g = g.sort_values("onset")
            assert (g["onset"].to_numpy()[1:] >= g["offset"].to_numpy()[:-1]).all()
        grid = np.zeros(1000, dtype=int)
        for on, off in zip(ev["onset"], ev["offset"]):
            grid[int(round(on * 100)):int(round(off * 100))] += 1
        assert grid.max() <= 2


def test_compose_clip_parts_add_up() -> None:
    parts = gen.compose_clip(np.random.default_rng(5), gen.GeneratorConfig())
    total = parts.background.copy()
    for _, start, audio in parts.stems:
        total[start:start + len(audio)] += audio
    np.testing.assert_allclose(total, parts.mixture, atol=1e-5)
    lo, hi = gen.GeneratorConfig().snr_db_range
    assert parts.events["snr_db"].between(lo - gen.GeneratorConfig().heavy_background_db, hi).all()


@pytest.mark.parametrize("label", CLASSES)
def test_synthesize_event_every_class(label: str) -> None:
    x = gen.synthesize_event(label, 0.7, np.random.default_rng(1))
    y = gen.synthesize_event(label, 0.7, np.random.default_rng(2))
    assert x.shape == (11200,) and x.dtype == np.float32
    assert np.isfinite(x).all() and np.abs(x).max() == pytest.approx(0.5, rel=1e-5)
    assert not np.allclose(x, y), "a class is a family of sounds, not one template"


def test_bad_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="synthesize_event|duration"):
        gen.synthesize_event("Dog", 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_strong"):
        gen.GeneratorConfig(n_strong=-1)
    with pytest.raises(ValueError, match="snr_db_range"):
        gen.GeneratorConfig(snr_db_range=(10.0, 0.0))
    with pytest.raises(ValueError, match="class_weights"):
        gen.GeneratorConfig(class_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="seed"):
        gen.clip_rng(-1, "strong", 0)
    with pytest.raises(ValueError, match="split"):
        gen.clip_rng(0, "train", 0)
    with pytest.raises(ValueError, match="columns"):
        gen.event_statistics(pd.DataFrame({"onset": [0.0]}))
