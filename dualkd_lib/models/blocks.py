"""The building blocks of the CRNNs: GLU, context gating, squeeze-and-excitation, tfwSE, the conv block.

Taught in notebooks 03 (the teacher's blocks) and 05 (SE and tfwSE).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from dualkd_lib.models.configs import Pooling, SE_ACTIVATIONS, _freq_bins_after


# ----------------------------------------------------------------------------------------
# Helpers shared by the models
# ----------------------------------------------------------------------------------------
def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (BatchNorm running statistics, which are buffers, not included).

    Taught in notebook 05.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def output_frames(n_frames: int, time_pool: int = 4) -> int:
    """Output frames of a model for ``n_frames`` input frames: ``n_frames // time_pool``.

    626 input frames (10 s at hop 256) -> 156; 313 (hop 512) -> 78, the DCASE convention
    ``int(int(10 * sr / hop) / 4)``. Taught in notebook 02.
    """
    if n_frames < time_pool:
        raise ValueError(f"n_frames={n_frames} is shorter than the time pooling {time_pool}: give longer clips.")
    return n_frames // time_pool


def align_embeddings(embeddings: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Resample frame embeddings ``[batch, dim, T_emb]`` to ``[batch, dim, n_frames]``.

    More embedding frames than ``n_frames``: adaptive average pooling (what the DCASE 2023
    BEATs baseline does, e.g. BEATs' 496 frames -> 156). Fewer: linear interpolation.
    Equal: returned unchanged. Used by the teacher's fusion and by the EEFD loss.
    Taught in notebook 07.
    """
    if embeddings.dim() != 3:
        raise ValueError(
            f"embeddings must be [batch, dim, frames], got shape {tuple(embeddings.shape)}; "
            "transpose [batch, frames, dim] embeddings with .transpose(1, 2)."
        )
    t_emb = embeddings.shape[-1]
    if t_emb == n_frames:
        return embeddings
    if t_emb > n_frames:
        return F.adaptive_avg_pool1d(embeddings, n_frames)
    return F.interpolate(embeddings, size=n_frames, mode="linear", align_corners=False)


def _crop_frames(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Keep the first ``n_frames`` frames of ``x [batch, channels, time, freq]``.

    With floor pooling the CNN already gives exactly ``n_frames``, so this is a no-op guard
    (written without an ``if`` so that ONNX export traces it cleanly).
    """
    return x[:, :, :n_frames]


def _check_features(features: torch.Tensor, n_mels: int, time_pool: int, model: str) -> None:
    if not isinstance(features, torch.Tensor) or features.dim() != 3:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(
            f"{model} expects features [batch, n_mels, frames], got {shape}; "
            "add a batch axis with features.unsqueeze(0) for a single clip."
        )
    if features.shape[1] != n_mels:
        raise ValueError(
            f"{model} was built for n_mels={n_mels} but got features with {features.shape[1]} mel bands "
            f"(shape {tuple(features.shape)}); use the FeatureConfig of the same preset."
        )
    if features.shape[2] < time_pool:
        raise ValueError(f"{model} needs at least {time_pool} frames, got {features.shape[2]}.")


class _SeededInit:
    """Context manager: build a module's weights from ``seed`` without touching the global RNG."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._fork: object | None = None

    def __enter__(self) -> None:
        if self.seed is not None:
            self._fork = torch.random.fork_rng(devices=[])
            self._fork.__enter__()  # type: ignore[attr-defined]
            torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        if self._fork is not None:
            self._fork.__exit__(*exc)  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------
class GLU(nn.Module):
    """The DCASE baseline's gated linear unit: ``linear(x) * sigmoid(x)``.

    ``linear`` mixes the channels of every time-frequency bin (a 1x1 convolution = one
    ``Linear(channels, channels)`` applied to each bin's channel vector).
    Input and output ``[batch, channels, time, freq]``. Taught in notebook 03.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * torch.sigmoid(x)


class ContextGating(nn.Module):
    """Context gating: ``x * sigmoid(linear(x))``, the gate of lightSED's SE-CRNN.

    Input and output ``[batch, channels, time, freq]``. Taught in notebook 05.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.linear(x))


def _se_activation(name: str) -> nn.Module:
    if name not in SE_ACTIVATIONS:
        raise ValueError(f"SE activation {name!r}: use one of {list(SE_ACTIVATIONS)}.")
    return nn.ReLU() if name == "relu" else nn.SiLU()


class SEBlock(nn.Module):
    """Channel squeeze-and-excitation (Hu et al., 2018).

    Squeeze: average each channel over time and frequency -> ``[batch, channels]``.
    Excite: ``Linear(C, C/r) -> ReLU -> Linear(C/r, C) -> sigmoid`` gives one weight in
    (0, 1) per channel; the input is rescaled by it. Hidden size ``max(C // r, 4)``.
    ``bias``: linear layers with biases (Hu et al.). Without them, a bottleneck whose
    ReLU units all go negative outputs exactly sigmoid(0) = 0.5 on every channel, a dead
    attention (seen in the course student's block 0). Why units die: the squeeze of
    post-ReLU features is positive and much the same for every clip, so whether a ReLU
    unit is negative depends on its weights, not on the clip; at initialisation about
    half the units are negative for every clip, get no gradient and never come back.
    ``activation="silu"`` (EfficientNet's SE) keeps a gradient below zero. Input and
    output ``[batch, channels, time, freq]``. Taught in notebook 05.
    """

    def __init__(self, channels: int, reduction: int = 4, *, bias: bool = False, activation: str = "relu") -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.squeeze = nn.Linear(channels, hidden, bias=bias)
        self.excite = nn.Linear(hidden, channels, bias=bias)
        self.act = _se_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))  # [batch, channels]
        w = torch.sigmoid(self.excite(self.act(self.squeeze(s))))
        return x * w[:, :, None, None]


class TFWSE(nn.Module):
    """Time-frequency-wise squeeze-and-excitation: a frequency attention for every frame.

    Squeeze: average over channels -> ``[batch, time, freq]``. Excite, per frame:
    ``Linear(F, F/r) -> ReLU -> Linear(F/r, F) -> sigmoid`` gives one weight per
    frequency bin *and frame*, so the block can stress different bands at different
    moments (the "tfwSE" of the lightSED SE-CRNN of Nam et al., reduction 4).
    Hidden size ``max(F // r, 4)``. ``bias`` and ``activation`` as in :class:`SEBlock`.
    Input and output ``[batch, channels, time, freq]`` with ``freq == n_freq``.
    Taught in notebook 05.
    """

    def __init__(self, n_freq: int, reduction: int = 4, *, bias: bool = False, activation: str = "relu") -> None:
        super().__init__()
        hidden = max(n_freq // reduction, 4)
        self.n_freq = n_freq
        self.squeeze = nn.Linear(n_freq, hidden, bias=bias)
        self.excite = nn.Linear(hidden, n_freq, bias=bias)
        self.act = _se_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=1)  # [batch, time, freq]
        w = torch.sigmoid(self.excite(self.act(self.squeeze(s))))
        return x * w[:, None, :, :]


class ConvBlock(nn.Module):
    """One conv block: conv 3x3 -> BatchNorm -> activation -> [SE] -> [tfwSE] -> AvgPool -> dropout.

    Input ``[batch, in_ch, time, freq]``, output
    ``[batch, out_ch, time // pool_t, freq // pool_f]``. Dropout comes *after* the
    pooling (DCASE drops before it): in expectation the two are the same, but after the
    pool there are up to 4x fewer values to draw random numbers for, and on a CPU
    drawing dropout masks for the full-resolution first blocks costs more than their
    convolutions (measured in ``benchmarks/profile_models.py``). BatchNorm uses ``eps=1e-3`` as
    DCASE, but PyTorch's default momentum 0.1 (DCASE's ``momentum=0.99`` is a Keras-style
    value that, in PyTorch's convention, makes the running statistics follow the last
    batch almost entirely). Taught in notebook 03 (plain) and 05 (with SE).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        *,
        n_freq: int,
        pooling: tuple[int, int],
        kernel_size: int = 3,
        activation: str = "glu",
        dropout: float = 0.0,
        se: bool = False,
        tfwse: bool = False,
        se_reduction: int = 4,
        se_bias: bool = False,
        se_activation: str = "relu",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        self.bn = nn.BatchNorm2d(out_ch, eps=1e-3)
        if activation == "glu":
            self.act: nn.Module = GLU(out_ch)
        elif activation == "cg":
            self.act = ContextGating(out_ch)
        elif activation == "relu":
            self.act = nn.ReLU()
        else:
            raise ValueError(f"activation={activation!r}: use 'glu', 'cg' or 'relu'.")
        self.se = SEBlock(out_ch, se_reduction, bias=se_bias, activation=se_activation) if se else None
        self.tfwse = TFWSE(n_freq, se_reduction, bias=se_bias, activation=se_activation) if tfwse else None
        self.dropout = nn.Dropout(dropout)
        self.pool = nn.AvgPool2d(pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x)))
        if self.se is not None:
            x = self.se(x)
        if self.tfwse is not None:
            x = self.tfwse(x)
        return self.dropout(self.pool(x))


def _conv_stack(
    n_mels: int,
    channels: tuple[int, ...],
    pooling: Pooling,
    *,
    kernel_size: int,
    activation: str,
    dropout: float,
    se: bool = False,
    tfwse: bool = False,
    se_reduction: int = 4,
    se_bias: bool = False,
    se_activation: str = "relu",
    se_first_block: int = 0,
) -> nn.Sequential:
    freq_in = _freq_bins_after(n_mels, pooling)
    blocks = []
    for i, (out_ch, pool) in enumerate(zip(channels, pooling)):
        blocks.append(
            ConvBlock(
                1 if i == 0 else channels[i - 1],
                out_ch,
                n_freq=freq_in[i],
                pooling=pool,
                kernel_size=kernel_size,
                activation=activation,
                dropout=dropout,
                se=se and i >= se_first_block,
                tfwse=tfwse and i >= se_first_block,
                se_reduction=se_reduction,
                se_bias=se_bias,
                se_activation=se_activation,
            )
        )
    # Channels-last memory layout: the same numbers, stored so that the channels of each
    # time-frequency bin sit side by side. oneDNN's CPU convolutions (and the 1x1 gate
    # convolutions, which become plain matrix products) run about 1.3x faster this way,
    # and the layout propagates from the weights to the activations.
    return nn.Sequential(*blocks).to(memory_format=torch.channels_last)
