"""Tests of dualkd_lib/features/scaler.py: Scaler fitting, state and errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dualkd_lib.features import Scaler, instance_minmax


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
