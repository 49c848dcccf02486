"""Exercises of notebook 05 (the SE-CRNN student): registered when ``exercises.check("5.x", fn)`` first asks.

Taught in notebook 05.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dualkd_lib import models
from dualkd_lib.teaching.exercises.common import close as _close, register as _register, tensor as _t


# ----------------------------------------------------------------------------------------
# Notebook 05: the SE-CRNN student
# ----------------------------------------------------------------------------------------
def se_block(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Squeeze-and-excitation with given weights: ``x [batch, C, time, freq]`` -> same shape.

    ``w1 [H, C]``, ``b1 [H]``, ``w2 [C, H]``, ``b2 [C]``: squeeze = mean over time and
    frequency; excite = ``sigmoid(w2 @ relu(w1 @ s + b1) + b2)``; output = ``x`` scaled per
    channel. Computed by the library's :class:`dualkd_lib.models.SEBlock` with these
    weights copied in (the library's block has no biases, ``bias=False`` as in lightSED;
    here its two layers get the given ones). Taught in notebook 05 (Exercise 5.1).
    """
    channels, hidden = x.shape[1], w1.shape[0]
    if w1.shape != (hidden, channels) or w2.shape != (channels, hidden) or b1.shape != (hidden,) or b2.shape != (channels,):
        raise ValueError(
            f"weights do not fit x with {channels} channels: w1 {tuple(w1.shape)} must be [H, C], b1 {tuple(b1.shape)} "
            f"[H], w2 {tuple(w2.shape)} [C, H], b2 {tuple(b2.shape)} [C]."
        )
    block = models.SEBlock(channels, reduction=max(1, channels // hidden))
    block.squeeze = nn.Linear(channels, hidden)
    block.excite = nn.Linear(hidden, channels)
    with torch.no_grad():
        block.squeeze.weight.copy_(w1)
        block.squeeze.bias.copy_(b1)
        block.excite.weight.copy_(w2)
        block.excite.bias.copy_(b2)
        return block(x)


def _inputs_5_1(rng: np.random.Generator) -> tuple:
    c = int(rng.choice([8, 16, 32]))
    h = max(c // 4, 4)
    x = _t(rng, int(rng.integers(1, 3)), c, int(rng.integers(4, 12)), int(rng.integers(2, 8)))
    return (x, _t(rng, h, c, scale=0.5), _t(rng, h, scale=0.5), _t(rng, c, h, scale=0.5), _t(rng, c, scale=0.5))


def _se_variant(inputs: tuple, *, squeeze_dims: tuple[int, ...] = (2, 3), biases: bool = True, act=torch.relu,
                gate=torch.sigmoid) -> torch.Tensor:
    x, w1, b1, w2, b2 = inputs
    s = x.mean(dim=squeeze_dims)
    h = act(s @ w1.T + (b1 if biases else 0))
    w = gate(h @ w2.T + (b2 if biases else 0))
    return x * w[:, :, None, None]


_register(
    "5.1",
    se_block,
    _inputs_5_1,
    hints=[
        (lambda u, r, i: _close(u, _se_variant(i, biases=False), 1e-4),
         "Add the biases: relu(s @ w1.T + b1) and sigmoid(... @ w2.T + b2)."),
        (lambda u, r, i: _close(u, _se_variant(i, gate=lambda z: z), 1e-4),
         "The channel weights go through a sigmoid so each lies in (0, 1)."),
        (lambda u, r, i: _close(u, _se_variant(i, act=lambda z: z), 1e-4),
         "Put a ReLU between the two layers."),
        (lambda u, r, i: isinstance(u, torch.Tensor) and u.shape == i[0].shape and _close(u, i[0]),
         "Your output equals the input: multiply x by the channel weights."),
        ("shape", "Squeeze with x.mean(dim=(2, 3)) -> [batch, C]; scale with weights[:, :, None, None]."),
        ("error", "Linear layers as matrices: s @ w1.T (w1 is [H, C], PyTorch's Linear weight layout)."),
    ],
    task="write the squeeze-and-excitation block",
)


class _ConvProbe(nn.Module):
    """One Conv2d reading a one-channel image repeated over ``in_channels`` (for count_macs)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [1, time, freq]
        return self.conv(x.unsqueeze(1).expand(-1, self.conv.in_channels, -1, -1))


def conv_cost(in_channels: int, out_channels: int, kernel_size: int, n_time: int, n_freq: int) -> dict[str, int]:
    """Parameters and multiply-accumulates of one ``k x k`` Conv2d (with bias, "same" padding).

    The layer maps ``[in_channels, n_time, n_freq]`` to ``[out_channels, n_time, n_freq]``.
    ``params = out * in * k * k + out`` (weights + biases); ``macs = out * n_time * n_freq *
    in * k * k`` (every output value is a dot product over ``in * k * k`` inputs; biases not
    counted). Counted by the library (:func:`dualkd_lib.models.count_parameters`,
    :func:`dualkd_lib.models.count_macs`) on a real ``nn.Conv2d``. Returns
    ``{"params": int, "macs": int}``. Taught in notebook 05 (Exercise 5.2).
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    macs = models.count_macs(_ConvProbe(conv), input_shape=(1, n_time, n_freq))
    return {"params": int(models.count_parameters(conv)), "macs": int(macs)}


def _inputs_5_2(rng: np.random.Generator) -> tuple:
    return (int(rng.choice([1, 8, 16, 32])), int(rng.choice([8, 16, 64])), int(rng.choice([1, 3, 5])),
            int(rng.integers(4, 80)), int(rng.choice([4, 8, 16, 32])))


def _params_without_bias(u: Any, r: Any, i: tuple) -> bool:
    return isinstance(u, dict) and u.get("params") == r["params"] - i[1]


def _macs_without_in(u: Any, r: Any, i: tuple) -> bool:
    return isinstance(u, dict) and i[0] > 1 and u.get("macs") == r["macs"] // i[0]


def _macs_without_kernel(u: Any, r: Any, i: tuple) -> bool:
    return isinstance(u, dict) and i[2] > 1 and u.get("macs") == r["macs"] // (i[2] * i[2])


_register(
    "5.2",
    conv_cost,
    _inputs_5_2,
    hints=[
        (_params_without_bias, "Each output channel also has one bias: params = out·in·k·k + out."),
        (_macs_without_in, "Each output value sums over all input channels: macs = out·T·F · in·k·k."),
        (_macs_without_kernel, "Each output value reads a k×k patch of every input channel: include k·k."),
        ("keys", "Return a dict with exactly the keys 'params' and 'macs'."),
        ("type", "Return a dict {'params': int, 'macs': int}."),
    ],
    task="count the parameters and MACs of a conv layer",
)
