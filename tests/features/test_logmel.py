"""Tests of dualkd_lib/features/logmel.py: the feature configs and LogMel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchaudio.functional import melscale_fbanks

from dualkd_lib.features import (
    COURSE_FEATURES,
    DESED_FEATURES,
    TINY_FEATURES,
    FeatureConfig,
    LogMel,
    mel_center_frequencies,
    n_frames,
    n_output_frames,
    output_frame_seconds,
)


SR = 16000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return amp * torch.sin(2 * torch.pi * freq * t)


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


def test_float16_precision_is_negligible():
    g = torch.Generator().manual_seed(0)
    wave = torch.cat([0.3 * tone(700.0, 2.0), 0.01 * torch.randn(2 * SR, generator=g)])
    feats = LogMel(COURSE_FEATURES)(wave)
    err = (feats.half().float() - feats).abs()
    assert err.max() <= 0.04  # dB; float16 spacing is 1/16 dB at 64-80 dB
    assert err.max() / feats.std() < 5e-3
