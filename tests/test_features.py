"""Tests of dualkd_lib.features: log-mel, scaler, events <-> frames encoder, feature cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from torch import nn
from torchaudio.functional import melscale_fbanks

from dualkd_lib.constants import CLASSES
from dualkd_lib.features import (
    COURSE_FEATURES,
    DESED_FEATURES,
    TINY_FEATURES,
    FeatureCache,
    FeatureConfig,
    LogMel,
    ManyHotEncoder,
    Scaler,
    instance_minmax,
    mel_center_frequencies,
    n_frames,
    n_output_frames,
    output_frame_seconds,
)

RESOURCES = Path(__file__).resolve().parents[1] / "dualkd_lib" / "resources" / "desed_validation"
SR = 16000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return amp * torch.sin(2 * torch.pi * freq * t)


#: 64 mels at the DCASE hop (156 output frames of 64 ms): the numbers below are worked out for it.
HOP256_FEATURES = FeatureConfig(n_fft=1024, win_length=1024, hop_length=256, n_mels=64)


# --------------------------------------------------------------------------- config
def test_frame_counts_desed_and_course():
    assert n_frames(DESED_FEATURES) == 626
    assert n_output_frames(DESED_FEATURES) == 156
    assert output_frame_seconds(DESED_FEATURES) == pytest.approx(0.064)
    for cfg in (COURSE_FEATURES, TINY_FEATURES):
        assert n_frames(cfg) == 313
        assert n_output_frames(cfg) == 78
        assert output_frame_seconds(cfg) == pytest.approx(0.128)
    for cfg in (DESED_FEATURES, COURSE_FEATURES, TINY_FEATURES):
        assert n_frames(cfg) // cfg.net_pooling == n_output_frames(cfg)
    assert DESED_FEATURES.n_mels == 128 and DESED_FEATURES.n_fft == 2048
    assert COURSE_FEATURES.n_mels == 64 and COURSE_FEATURES.win_length == 1024


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="win_length"):
        FeatureConfig(n_fft=512, win_length=1024)
    with pytest.raises(ValueError, match="f_max"):
        FeatureConfig(f_max=9000.0)
    with pytest.raises(ValueError, match="hop_length"):
        FeatureConfig(hop_length=0)


# --------------------------------------------------------------------------- log-mel
@pytest.mark.parametrize("cfg", [DESED_FEATURES, COURSE_FEATURES])
def test_logmel_shapes_and_range(cfg):
    wave = 0.1 * torch.randn(2, cfg.clip_samples, generator=torch.Generator().manual_seed(0))
    feats = LogMel(cfg)(wave)
    assert feats.shape == (2, cfg.n_mels, n_frames(cfg))
    assert feats.dtype == torch.float32
    assert feats.min() >= -50 and feats.max() <= 80
    single = LogMel(cfg)(wave[0])
    assert single.shape == (1, cfg.n_mels, n_frames(cfg))
    torch.testing.assert_close(single[0], feats[0], rtol=0, atol=1e-4)


def test_logmel_silence_is_floor_and_deterministic():
    logmel = LogMel(COURSE_FEATURES)
    assert torch.all(logmel(torch.zeros(SR)) == -50.0)
    x = torch.randn(SR, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(logmel(x), logmel(x))  # float32 tolerances


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_logmel_tone_peaks_in_right_bin(freq):
    cfg = COURSE_FEATURES
    feats = LogMel(cfg)(tone(freq))[0]  # [n_mels, frames]
    peak_bin = int(feats[:, 5:-5].mean(dim=1).argmax())
    expected = int(np.argmin(np.abs(mel_center_frequencies(cfg) - freq)))
    assert abs(peak_bin - expected) <= 1  # neighbouring filters overlap


def test_mel_centres_match_torchaudio_filterbank():
    cfg = COURSE_FEATURES
    fb = melscale_fbanks(cfg.n_fft // 2 + 1, cfg.f_min, cfg.f_max, cfg.n_mels, cfg.sample_rate)
    bin_hz = cfg.sample_rate / cfg.n_fft
    peak_hz = fb.argmax(dim=0).numpy() * bin_hz
    centres = mel_center_frequencies(cfg)
    assert np.all(np.abs(peak_hz - centres) <= bin_hz)


def test_logmel_rejects_wrong_sample_rate_and_shape():
    logmel = LogMel(COURSE_FEATURES)
    with pytest.raises(ValueError, match="44100"):
        logmel(torch.zeros(1000), sample_rate=44100)
    with pytest.raises(ValueError, match="mono"):
        logmel(torch.zeros(2, 2, 1000))
    assert logmel(torch.zeros(1000), sample_rate=16000).shape[1] == 64


# --------------------------------------------------------------------------- scaler
def _fake_features(n=12, n_mels=8, frames=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    offsets = torch.linspace(-40, 20, n_mels)[None, :, None]
    scales = torch.linspace(1, 10, n_mels)[None, :, None]
    return offsets + scales * torch.randn(n, n_mels, frames, generator=g)


def test_scaler_zero_mean_unit_var():
    feats = _fake_features()
    scaler = Scaler(8).fit(feats)
    out = scaler(feats)
    torch.testing.assert_close(out.mean(dim=(0, 2)), torch.zeros(8), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2), unbiased=False), torch.ones(8), atol=1e-4, rtol=0)


def test_scaler_fit_on_batches_equals_fit_on_tensor():
    feats = _fake_features()
    a = Scaler(8).fit(feats)
    b = Scaler(8).fit(iter(feats.split(5)))
    torch.testing.assert_close(a.mean, b.mean)
    torch.testing.assert_close(a.std, b.std)


def test_scaler_state_dict_round_trip_and_unfitted_error():
    feats = _fake_features()
    fitted = Scaler(8).fit(feats)
    fresh = Scaler(8)
    with pytest.raises(ValueError, match="not fitted"):
        fresh(feats)
    fresh.load_state_dict(fitted.state_dict())
    torch.testing.assert_close(fresh(feats), fitted(feats))
    # also as a submodule of a model (how it travels in checkpoints)
    model = nn.Sequential(Scaler(8), nn.Identity())
    model.load_state_dict(nn.Sequential(fitted, nn.Identity()).state_dict())
    torch.testing.assert_close(model(feats), fitted(feats))


def test_scaler_errors_and_instance_minmax():
    with pytest.raises(ValueError, match="mode"):
        Scaler(8, mode="global")
    with pytest.raises(ValueError, match=r"\[n, 8, frames\]"):
        Scaler(8).fit(torch.zeros(2, 4, 10))
    feats = _fake_features()
    out = Scaler(8, mode="instance_minmax")(feats)
    torch.testing.assert_close(out, instance_minmax(feats))
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out.amax(dim=(1, 2)), torch.ones(len(feats)), atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- encoder
@pytest.fixture
def enc() -> ManyHotEncoder:
    return ManyHotEncoder.from_config(HOP256_FEATURES)


def test_encoder_from_config(enc):
    assert enc.n_frames == 156 and enc.frame_seconds == pytest.approx(0.064)
    assert enc.frame_times().shape == (156,) and enc.frame_edges().shape == (157,)
    assert enc.frame_edges()[-1] == pytest.approx(9.984)
    assert enc.classes == CLASSES


def _random_events(rng: np.random.Generator, fs: float) -> list[tuple[str, float, float]]:
    """Non-overlapping events per class, separated by more than two frames."""
    events = []
    for label in CLASSES:
        t = rng.uniform(0, 1)
        while True:
            onset = t
            offset = onset + rng.uniform(0.01, 3.0)
            if offset > 10.0:
                break
            events.append((label, round(onset, 3), round(offset, 3)))
            t = offset + 2 * fs + rng.uniform(0.01, 2.0)
    return events


def test_encoder_round_trip_random_events(enc):
    rng = np.random.default_rng(0)
    fs = enc.frame_seconds
    for _ in range(50):
        events = _random_events(rng, fs)
        decoded = enc.decode_strong(enc.encode_strong(events))
        assert len(decoded) == len(events)
        for (l1, on1, off1), (l2, on2, off2) in zip(sorted(events), sorted(decoded)):
            assert l1 == l2
            assert abs(on1 - on2) <= fs + 1e-9 and on2 <= on1 + 1e-9
            assert abs(off1 - off2) <= fs + 1e-9


def test_frames_to_events_to_frames_is_exact(enc):
    rng = np.random.default_rng(1)
    for _ in range(20):
        frames = (rng.random((10, 156)) < 0.3).astype(np.float32)
        assert np.array_equal(enc.encode_strong(enc.decode_strong(frames)), frames)


def test_encoder_edge_cases(enc):
    y = enc.encode_strong([("Dog", 0.0, 0.5)])
    assert y[4, 0] == 1 and y[4].sum() == 8  # ceil(0.5 / 0.064) = 8 frames
    y = enc.encode_strong([("Speech", 9.5, 10.0)])
    assert y[8, -1] == 1 and y[8].sum() == 156 - 148
    assert enc.decode_strong(y) == [("Speech", pytest.approx(148 * 0.064), pytest.approx(9.984))]
    y = enc.encode_strong([("Speech", 9.0, 10.115)])  # DESED has offsets past 10 s
    assert y[8, -1] == 1
    # overlapping events of one class merge into one
    y = enc.encode_strong([("Cat", 1.0, 2.0), ("Cat", 1.5, 3.0)])
    assert enc.decode_strong(y) == [("Cat", pytest.approx(0.96), pytest.approx(3.008))]
    # a very short event still gets one frame, also right on a frame edge
    assert enc.encode_strong([("Dishes", 1.0, 1.01)])[3].sum() == 1
    assert enc.encode_strong([("Dishes", 0.128, 0.128)])[3, 2] == 1
    assert enc.encode_strong([("Dishes", 9.999, 10.0)])[3, -1] == 1
    # an onset exactly on a frame edge lands in that frame despite float rounding
    assert enc.encode_strong([("Dog", 3 * 0.064, 0.5)])[4].argmax() == 3
    # empty input
    assert enc.encode_strong([]).sum() == 0


def test_encoder_errors(enc):
    with pytest.raises(ValueError, match="'Cow'.*Alarm_bell_ringing"):
        enc.encode_strong([("Cow", 0.0, 1.0)])
    with pytest.raises(ValueError, match="'Cow'"):
        enc.encode_weak(["Dog", "Cow"])
    with pytest.raises(ValueError, match="before its onset"):
        enc.encode_strong([("Dog", 2.0, 1.0)])
    df = pd.DataFrame({"filename": ["a.wav"], "onset": [0.0], "offset": [1.0],
                       "event_label": ["Cow"]})
    with pytest.raises(ValueError, match="Cow"):
        enc.encode_strong_dataframe(df, ["a.wav"])
    with pytest.raises(ValueError, match=r"\[classes, n_frames\]"):
        enc.decode_strong(np.zeros((10, 100)))


def test_encode_weak_and_decode_weak(enc):
    v = enc.encode_weak("Dog,Speech")
    assert v.shape == (10,) and v.sum() == 2
    assert enc.decode_weak(v) == ["Dog", "Speech"]
    assert enc.encode_weak("").sum() == 0
    assert enc.decode_weak(torch.tensor([0.9] + [0.1] * 9)) == ["Alarm_bell_ringing"]


def test_encode_strong_dataframe_matches_per_file_on_real_desed(enc):
    gt = pd.read_csv(RESOURCES / "validation_groundtruth.tsv", sep="\t")
    filenames = list(dict.fromkeys(gt["filename"]))[:200] + ["not_in_tsv.wav"]
    labels = enc.encode_strong_dataframe(gt, filenames)
    assert labels.shape == (201, 10, 156) and labels.dtype == np.float32
    for i, name in enumerate(filenames[:200]):
        expected = enc.encode_strong(gt[gt["filename"] == name])
        assert np.array_equal(labels[i], expected), name
    assert labels[-1].sum() == 0
    assert labels.sum() > 0


# --------------------------------------------------------------------------- cache
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


def test_float16_precision_is_negligible():
    g = torch.Generator().manual_seed(0)
    wave = torch.cat([0.3 * tone(700.0, 2.0), 0.01 * torch.randn(2 * SR, generator=g)])
    feats = LogMel(COURSE_FEATURES)(wave)
    err = (feats.half().float() - feats).abs()
    assert err.max() <= 0.04  # dB; float16 spacing is 1/16 dB at 64-80 dB
    assert err.max() / feats.std() < 5e-3
