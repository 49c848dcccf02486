"""Tests of dualkd_lib/features/cache.py: FeatureCache hits, invalidation, atomic writes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dualkd_lib.features import FeatureCache, FeatureConfig, LogMel, n_frames


SR = 16000


SMALL = FeatureConfig(n_fft=512, win_length=512, hop_length=256, n_mels=32, clip_seconds=1.0)


def _write_clips(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        x = 0.05 * rng.standard_normal(SR) + 0.3 * np.sin(2 * np.pi * (300 + 200 * i) *
                                                          np.arange(SR) / SR)
        p = folder / f"{i:03d}.wav"
        sf.write(p, x.astype(np.float32), SR, subtype="FLOAT")
        paths.append(p)
    return paths


class CountingLoader:
    def __init__(self, fail_at: int | None = None):
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, path):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("simulated crash")
        data, _ = sf.read(str(path), dtype="float32")
        return torch.from_numpy(data)


def test_cache_hit_does_not_recompute(tmp_path):
    paths = _write_clips(tmp_path / "audio", 5)
    cache = FeatureCache(tmp_path / "cache")
    loader = CountingLoader()
    first = cache.features_for(paths, SMALL, loader=loader, progress=False, batch_size=2)
    assert loader.calls == 5
    assert first.shape == (5, 32, n_frames(SMALL)) and first.dtype == torch.float16
    second = cache.features_for(paths, SMALL, loader=loader, progress=False)
    assert loader.calls == 5
    assert torch.equal(first, second)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    assert not list((tmp_path / "cache").glob("*.tmp"))
    # the features are LogMel's, in the caller's order
    direct = LogMel(SMALL)(torch.stack([CountingLoader()(p) for p in paths]))
    torch.testing.assert_close(second.float(), direct, atol=0.05, rtol=0)
    reordered = cache.features_for(paths[::-1], SMALL, loader=loader, progress=False)
    assert loader.calls == 5
    assert torch.equal(reordered, second.flip(0))
    # another config is another cache entry
    cache.features_for(paths, FeatureConfig(n_fft=512, win_length=512, n_mels=16,
                                            clip_seconds=1.0), loader=loader, progress=False)
    assert loader.calls == 10


def test_cache_invalidated_when_a_file_changes(tmp_path):
    paths = _write_clips(tmp_path / "audio", 3)
    cache = FeatureCache(tmp_path / "cache")
    loader = CountingLoader()
    before = cache.features_for(paths, SMALL, loader=loader, progress=False).clone()
    sf.write(paths[1], np.zeros(SR, dtype=np.float32), SR, subtype="FLOAT")
    st = paths[1].stat()
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not cache.is_valid(paths, SMALL)
    after = cache.features_for(paths, SMALL, loader=loader, progress=False)
    assert loader.calls == 6
    assert torch.all(after[1] == -50.0)  # silence after the change
    assert torch.equal(after[0], before[0])
    assert cache.is_valid(paths, SMALL)


def test_cache_interrupted_write_leaves_no_valid_cache(tmp_path):
    paths = _write_clips(tmp_path / "audio", 4)
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(RuntimeError, match="simulated crash"):
        cache.features_for(paths, SMALL, loader=CountingLoader(fail_at=3), progress=False,
                           batch_size=1)
    assert not cache.is_valid(paths, SMALL)
    assert not list((tmp_path / "cache").iterdir())  # no partial .npy, .json or .tmp
    loader = CountingLoader()
    cache.features_for(paths, SMALL, loader=loader, progress=False)
    assert loader.calls == 4


def test_cache_pads_short_clips_and_rejects_missing_files(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "short.wav", np.full(SR // 2, 0.1, dtype=np.float32), SR)
    feats = FeatureCache(tmp_path / "cache").features_for([folder / "short.wav"], SMALL,
                                                          progress=False)
    assert feats.shape == (1, 32, n_frames(SMALL))
    assert torch.all(feats[0, :, -3:] == -50.0)  # zero padding at the end
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        FeatureCache(tmp_path / "cache").features_for([folder / "missing.wav"], SMALL)


def test_cache_default_loader_rejects_wrong_sample_rate(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "a.wav", np.zeros(22050, dtype=np.float32), 22050)
    with pytest.raises(ValueError, match="22050"):
        FeatureCache(tmp_path / "cache").features_for([folder / "a.wav"], SMALL, progress=False)
