"""The models of the course: the CRNN teacher, the SE-CRNN student, the embedding model.

Every model reads *already standardised* log-mel features ``[batch, n_mels, frames]``
(626 frames for a 10-s clip at hop 256) and works internally on images
``[batch, channels, time, freq]`` (time first, as in the DCASE baseline; every
pooling tuple below is ``(time, freq)``).

- :class:`CRNN`, the **teacher** (notebook 03): the DCASE 2023 baseline CRNN. Seven conv
  blocks (3x3 conv, BatchNorm, GLU, average pooling, dropout), an optional fusion of
  frame embeddings from a large pre-trained model (BEATs in DCASE 2023; our
  :class:`EmbeddingModel` in the course) before a 2-layer bidirectional GRU, a frame-level
  "strong" head and an attention-pooled clip-level "weak" head.
- :class:`SECRNN`, the **student** (notebook 05): narrow conv blocks with channel
  squeeze-and-excitation (:class:`SEBlock`) and per-frame frequency attention
  (:class:`TFWSE`), the same GRU and heads, plus the *embedding distillation layer*
  (``embedding_head``, notebook 07) that is used in training only and removed by
  :meth:`SECRNN.without_embedding_head` before deployment.
- :class:`EmbeddingModel` (notebook 03): a wider CNN encoder that stands in for BEATs. It
  is pre-trained once on a larger generated corpus, then frozen; its frame embeddings feed
  the teacher and are the targets of the student's embedding distillation layer.

Time resolution. The conv blocks pool time by 4 in total with ``AvgPool2d``, which
floors: ``frames -> frames // 2 -> frames // 4``. A 10-s clip at hop 256 has 626 frames,
so the models output ``626 // 4 = 156`` frames; the last ``626 - 4 * 156 = 2`` input
frames (32 ms) are dropped. This is the DCASE convention
``int(int(10 * 16000 / hop) / 4)`` (156 at hop 256, 78 at hop 512); see
:func:`output_frames`. The configs insist that the time factors multiply to exactly 4, and
the floors of ``AvgPool2d`` then give ``frames // 4`` output frames for any input
length; the models also crop the CNN output to that length as a guard.

Cost (notebook 09): :func:`count_parameters`, :func:`count_macs` (multiply-accumulates
per 10-s clip, counted with forward hooks) and :func:`model_summary`.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dualkd_lib.constants import CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "SEDOutput",
    "EmbeddingOutput",
    "PretrainLogits",
    "CRNNConfig",
    "EmbeddingModelConfig",
    "GLU",
    "ContextGating",
    "SEBlock",
    "TFWSE",
    "ConvBlock",
    "CRNN",
    "SECRNN",
    "EmbeddingModel",
    "output_frames",
    "align_embeddings",
    "count_parameters",
    "count_macs",
    "gru_macs",
    "model_summary",
    "DESED_TEACHER",
    "DESED_STUDENT",
    "DESED_EMBEDDING",
    "COURSE_TEACHER",
    "COURSE_STUDENT",
    "COURSE_EMBEDDING",
    "TINY_TEACHER",
    "TINY_STUDENT",
    "TINY_EMBEDDING",
]

#: Smallest probability the weak head may output; keeps ``log`` and ``logit`` finite.
_PROB_EPS = 1e-7


# ----------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------
class SEDOutput(NamedTuple):
    """What a SED model (:class:`CRNN`, :class:`SECRNN`) returns.

    - ``strong``: frame-level class probabilities ``[batch, classes, out_frames]`` in [0, 1].
    - ``weak``: clip-level class probabilities ``[batch, classes]`` in [0, 1].
    - ``embedding_pred``: the embedding distillation layer's prediction
      ``[batch, emb_dim, out_frames]``, or ``None`` when the model has no such layer.
    - ``strong_logits``: the strong head before the sigmoid ``[batch, classes, out_frames]``.
    - ``weak_logits``: ``logit(weak)`` ``[batch, classes]``. The weak output is an
      attention-weighted average of probabilities, so it has no logit of its own; its
      inverse sigmoid lets KD soften it with a temperature like the strong output,
      ``sigmoid(weak_logits / T)``. The KD code uses probabilities by default.

    Taught in notebook 03.
    """

    strong: torch.Tensor
    weak: torch.Tensor
    embedding_pred: torch.Tensor | None = None
    strong_logits: torch.Tensor | None = None
    weak_logits: torch.Tensor | None = None


class EmbeddingOutput(NamedTuple):
    """What :class:`EmbeddingModel` returns.

    - ``frame``: frame embeddings ``[batch, emb_dim, out_frames]`` (layer-normalised per frame).
    - ``clip``: clip embedding ``[batch, emb_dim]`` (attention or mean pooling over frames).

    Taught in notebook 03.
    """

    frame: torch.Tensor
    clip: torch.Tensor


class PretrainLogits(NamedTuple):
    """The embedding model's pretraining heads (used only to pre-train it).

    - ``frame``: frame-level class logits ``[batch, classes, out_frames]``.
    - ``clip``: clip-level class logits ``[batch, classes]``.

    Taught in notebook 03.
    """

    frame: torch.Tensor
    clip: torch.Tensor


# ----------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------
Pooling = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class CRNNConfig:
    """Architecture of a CRNN (teacher :class:`CRNN` or student :class:`SECRNN`).

    Attributes:
        n_mels: mel bands of the input features.
        channels: output channels of each conv block (one entry per block).
        pooling: ``(time, freq)`` average-pooling factors after each block; time factors
            must multiply to 4 (the DCASE output rate) and frequency factors must not pool
            ``n_mels`` below one bin.
        kernel_size: square conv kernel (padding keeps the size).
        dropout: dropout after every conv block and after the GRU (DCASE: 0.5).
        rnn_hidden: hidden units per direction of the bidirectional GRU.
        rnn_layers: stacked GRU layers.
        n_classes: output classes (10 DESED classes).
        activation: ``"glu"`` (DCASE: ``linear(x) * sigmoid(x)``, the linear map mixing
            channels), ``"cg"`` (context gating: ``x * sigmoid(linear(x))``, as in the
            SE-CRNN of lightSED) or ``"relu"``.
        attention: ``True``: attention-pooled weak head (weak = sum over time of strong
            weighted by softmax attention); ``False``: weak = mean of strong over time.
        attention_softmax: axis of the attention softmax. ``"class"`` is what the DCASE
            baseline does (softmax over the classes of each frame, then normalised over
            time); ``"time"`` normalises each class's attention over the frames.
        embedding_dim: dimension of frame embeddings fused before the GRU (DCASE 2023
            BEATs: 768); 0 = no fusion.
        se: channel squeeze-and-excitation in every conv block (:class:`SEBlock`).
        tfwse: time-frequency-wise SE in every conv block (:class:`TFWSE`).
        se_reduction: hidden-size divisor of both SE attentions (lightSED: 4).
        se_bias: biases in the SE/tfwSE bottlenecks (``False``: the bias-free version,
            whose bottleneck can die into a constant 0.5; see :class:`SEBlock`).
        se_activation: the bottleneck's non-linearity, ``"relu"`` (Hu et al., lightSED)
            or ``"silu"`` (EfficientNet's SE blocks), which has a gradient for negative
            inputs, so its units cannot die (see :class:`SEBlock`).
        se_first_block: index of the first conv block that carries SE/tfwSE; the blocks
            before it have none (the course student's full-resolution block 0 has 8
            channels, too few for a bottleneck, and its attention cost a quarter of a
            training step).
        embedding_distill_dim: output dimension of the embedding distillation layer
            (``embedding_head``); 0 = no such layer.

    Taught in notebooks 03 and 05.
    """

    n_mels: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128, 128, 128, 128)
    pooling: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2))
    kernel_size: int = 3
    dropout: float = 0.5
    rnn_hidden: int = 128
    rnn_layers: int = 2
    n_classes: int = len(CLASSES)
    activation: Literal["glu", "cg", "relu"] = "glu"
    attention: bool = True
    attention_softmax: Literal["class", "time"] = "class"
    embedding_dim: int = 0
    se: bool = False
    tfwse: bool = False
    se_reduction: int = 4
    embedding_distill_dim: int = 0
    se_bias: bool = False
    se_activation: Literal["relu", "silu"] = "relu"
    se_first_block: int = 0

    def __post_init__(self) -> None:
        _check_conv_stack(self.n_mels, self.channels, self.pooling, "CRNNConfig")
        if self.se_activation not in SE_ACTIVATIONS:
            raise ValueError(f"CRNNConfig.se_activation={self.se_activation!r}: use one of {list(SE_ACTIVATIONS)}.")
        if not 0 <= self.se_first_block < len(self.channels):
            raise ValueError(
                f"CRNNConfig.se_first_block={self.se_first_block} must index a conv block "
                f"(0 to {len(self.channels) - 1})."
            )
        _check_positive(self, ("kernel_size", "rnn_hidden", "rnn_layers", "n_classes", "se_reduction"))
        if self.kernel_size % 2 != 1:
            raise ValueError(f"CRNNConfig.kernel_size={self.kernel_size} must be odd so padding keeps the size.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CRNNConfig.dropout={self.dropout} must be in [0, 1).")
        if self.activation not in ("glu", "cg", "relu"):
            raise ValueError(f"CRNNConfig.activation={self.activation!r}: use 'glu', 'cg' or 'relu'.")
        if self.attention_softmax not in ("class", "time"):
            raise ValueError(f"CRNNConfig.attention_softmax={self.attention_softmax!r}: use 'class' or 'time'.")
        if self.embedding_dim < 0 or self.embedding_distill_dim < 0:
            raise ValueError(
                f"CRNNConfig.embedding_dim={self.embedding_dim} and embedding_distill_dim="
                f"{self.embedding_distill_dim} must be >= 0 (0 switches the feature off)."
            )

    @property
    def time_pool(self) -> int:
        """Total time pooling of the conv blocks (4)."""
        return math.prod(p[0] for p in self.pooling)

    @property
    def cnn_out_dim(self) -> int:
        """Features per frame after the CNN: ``channels[-1] * remaining freq bins``."""
        return self.channels[-1] * _freq_bins_after(self.n_mels, self.pooling)[-1]


@dataclass(frozen=True)
class EmbeddingModelConfig:
    """Architecture of the :class:`EmbeddingModel` (our stand-in for BEATs).

    Attributes:
        n_mels: mel bands of the input features.
        channels: output channels of each conv block (3x3 conv, BatchNorm, ReLU, pooling).
        pooling: ``(time, freq)`` pooling per block; time factors multiply to 4.
        emb_dim: embedding dimension ``D`` of frame and clip embeddings.
        temporal_layers: residual dilated temporal conv layers after the CNN (dilations
            1, 2, 4, ...), the "light temporal layer" that gives each frame context.
        temporal_kernel: kernel of those temporal convs (odd).
        dropout: dropout in training (pretraining only; the model is frozen when used).
        n_classes: classes of the pretraining heads.
        clip_pooling: ``"attention"`` (learned softmax weights over frames) or ``"mean"``.

    Taught in notebook 03.
    """

    n_mels: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 128, 128, 128)
    pooling: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2))
    emb_dim: int = 128
    temporal_layers: int = 2
    temporal_kernel: int = 3
    dropout: float = 0.1
    n_classes: int = len(CLASSES)
    clip_pooling: Literal["attention", "mean"] = "attention"

    def __post_init__(self) -> None:
        _check_conv_stack(self.n_mels, self.channels, self.pooling, "EmbeddingModelConfig")
        _check_positive(self, ("emb_dim", "temporal_kernel", "n_classes"))
        if self.temporal_layers < 0:
            raise ValueError(f"EmbeddingModelConfig.temporal_layers={self.temporal_layers} must be >= 0.")
        if self.temporal_kernel % 2 != 1:
            raise ValueError(f"EmbeddingModelConfig.temporal_kernel={self.temporal_kernel} must be odd.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"EmbeddingModelConfig.dropout={self.dropout} must be in [0, 1).")
        if self.clip_pooling not in ("attention", "mean"):
            raise ValueError(f"EmbeddingModelConfig.clip_pooling={self.clip_pooling!r}: use 'attention' or 'mean'.")

    @property
    def time_pool(self) -> int:
        """Total time pooling of the conv blocks (4)."""
        return math.prod(p[0] for p in self.pooling)


def _check_positive(cfg: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value < 1:
            raise ValueError(f"{type(cfg).__name__}.{name}={value} must be >= 1.")


def _freq_bins_after(n_mels: int, pooling: Pooling) -> list[int]:
    """Frequency bins entering each block, then after the last one (floor pooling)."""
    bins = [n_mels]
    for _, pf in pooling:
        bins.append(bins[-1] // pf)
    return bins


def _check_conv_stack(n_mels: int, channels: tuple[int, ...], pooling: Pooling, where: str) -> None:
    if n_mels < 1:
        raise ValueError(f"{where}.n_mels={n_mels} must be >= 1.")
    if len(channels) == 0 or any(c < 1 for c in channels):
        raise ValueError(f"{where}.channels={channels} must be a non-empty tuple of positive ints.")
    if len(pooling) != len(channels):
        raise ValueError(
            f"{where}.pooling has {len(pooling)} entries but channels has {len(channels)}: "
            "give one (time, freq) pooling per conv block."
        )
    if any(len(p) != 2 or p[0] < 1 or p[1] < 1 for p in pooling):
        raise ValueError(f"{where}.pooling={pooling} must be (time, freq) pairs of positive ints.")
    time_pool = math.prod(p[0] for p in pooling)
    if time_pool != 4:
        raise ValueError(
            f"{where}.pooling={pooling} pools time by {time_pool}; the models must pool time by "
            "exactly 4 (DCASE output rate: 156 frames per 10 s at hop 256)."
        )
    if _freq_bins_after(n_mels, pooling)[-1] < 1:
        raise ValueError(
            f"{where}.pooling={pooling} pools n_mels={n_mels} below one frequency bin; "
            "use fewer or smaller frequency pooling factors (e.g. 6 blocks of 2 for 64 mels)."
        )


# ----------------------------------------------------------------------------------------
# Helpers shared by the models
# ----------------------------------------------------------------------------------------
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


#: Non-linearities of the SE/tfwSE bottlenecks (:attr:`CRNNConfig.se_activation`).
SE_ACTIVATIONS: tuple[str, ...] = ("relu", "silu")


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


# ----------------------------------------------------------------------------------------
# The SED models
# ----------------------------------------------------------------------------------------
class _CRNNBase(nn.Module):
    """CNN -> [embedding fusion] -> BiGRU -> strong and weak heads (+ embedding head)."""

    def __init__(self, cfg: CRNNConfig, *, seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(cfg, CRNNConfig):
            raise ValueError(f"expected a CRNNConfig, got {type(cfg).__name__}.")
        self.cfg = cfg
        with _SeededInit(seed):
            self.cnn = _conv_stack(
                cfg.n_mels,
                cfg.channels,
                cfg.pooling,
                kernel_size=cfg.kernel_size,
                activation=cfg.activation,
                dropout=cfg.dropout,
                se=cfg.se,
                tfwse=cfg.tfwse,
                se_reduction=cfg.se_reduction,
                se_bias=cfg.se_bias,
                se_activation=cfg.se_activation,
                se_first_block=cfg.se_first_block,
            )
            d = cfg.cnn_out_dim
            # DCASE 2023: concatenate [CNN features, pooled BEATs embeddings], project back.
            self.fusion = nn.Linear(d + cfg.embedding_dim, d) if cfg.embedding_dim > 0 else None
            self.rnn = nn.GRU(d, cfg.rnn_hidden, num_layers=cfg.rnn_layers, batch_first=True, bidirectional=True)
            self.dropout = nn.Dropout(cfg.dropout)
            self.strong_head = nn.Linear(2 * cfg.rnn_hidden, cfg.n_classes)
            self.attention_head = nn.Linear(2 * cfg.rnn_hidden, cfg.n_classes) if cfg.attention else None
            # The embedding distillation layer (EEFD): CNN features -> embedding space, per frame.
            self.embedding_head = (
                nn.Linear(d, cfg.embedding_distill_dim) if cfg.embedding_distill_dim > 0 else None
            )
        logger.debug("built %s: %d parameters", type(self).__name__, count_parameters(self))

    # -- pieces, so notebooks can show each step ------------------------------------------
    def cnn_features(self, features: torch.Tensor) -> torch.Tensor:
        """Standardised log-mels ``[batch, n_mels, frames]`` -> CNN features ``[batch, out_frames, cnn_out_dim]``."""
        _check_features(features, self.cfg.n_mels, self.cfg.time_pool, type(self).__name__)
        n_out = output_frames(features.shape[-1], self.cfg.time_pool)
        x = features.transpose(1, 2).unsqueeze(1)  # [batch, 1, frames, n_mels]
        x = self.cnn(x)  # [batch, C, out_frames, F]
        x = _crop_frames(x, n_out)
        b, c, t, f = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, t, c * f)

    def heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """GRU output ``[batch, T, 2*hidden]`` -> (strong logits, strong, weak), class-first."""
        h = self.dropout(h)
        strong_logits = self.strong_head(h)  # [batch, T, classes]
        strong = torch.sigmoid(strong_logits)
        if self.attention_head is not None:
            dim = -1 if self.cfg.attention_softmax == "class" else 1
            att = torch.softmax(self.attention_head(h), dim=dim).clamp(min=_PROB_EPS, max=1.0)
            weak = (strong * att).sum(dim=1) / att.sum(dim=1)
        else:
            weak = strong.mean(dim=1)
        return strong_logits.transpose(1, 2), strong.transpose(1, 2), weak

    def forward(self, features: torch.Tensor, embeddings: torch.Tensor | None = None) -> SEDOutput:
        """Standardised log-mels ``[batch, n_mels, frames]`` -> :class:`SEDOutput`.

        ``embeddings``: frame embeddings ``[batch, embedding_dim, T_emb]`` of the embedding
        model, required when ``cfg.embedding_dim > 0`` (resampled to the output frames
        with :func:`align_embeddings`), ignored otherwise.
        """
        x = self.cnn_features(features)  # [batch, T, D]
        embedding_pred = None
        if self.embedding_head is not None:
            embedding_pred = self.embedding_head(x).transpose(1, 2)  # [batch, emb, T]
        if self.fusion is not None:
            emb = self._check_embeddings(embeddings, x.shape[0])
            emb = align_embeddings(emb, x.shape[1]).transpose(1, 2)  # [batch, T, emb]
            x = self.fusion(torch.cat([x, emb], dim=-1))
        h, _ = self.rnn(x)
        strong_logits, strong, weak = self.heads(h)
        weak_logits = torch.logit(weak, eps=_PROB_EPS)
        return SEDOutput(strong, weak, embedding_pred, strong_logits, weak_logits)

    def _check_embeddings(self, embeddings: torch.Tensor | None, batch: int) -> torch.Tensor:
        name = type(self).__name__
        if embeddings is None:
            raise ValueError(
                f"{name} was built with embedding_dim={self.cfg.embedding_dim}: the teacher needs the "
                "embedding model's output. Pass embeddings=EmbeddingModel(...)(features).frame "
                "(or cached/BEATs frame embeddings [batch, dim, frames]), or build it with embedding_dim=0."
            )
        if embeddings.dim() != 3 or embeddings.shape[0] != batch or embeddings.shape[1] != self.cfg.embedding_dim:
            raise ValueError(
                f"{name} expects embeddings [batch={batch}, dim={self.cfg.embedding_dim}, frames], got "
                f"{tuple(embeddings.shape)}; embeddings must be channel-first and match the batch."
            )
        return embeddings

    def without_embedding_head(self) -> "_CRNNBase":
        """A copy without the embedding distillation layer, for inference and export.

        Strong and weak outputs are unchanged (the layer only branches off the CNN
        features); the copy keeps the original's train/eval mode. Taught in notebook 07.
        """
        clone = copy.deepcopy(self)
        clone.embedding_head = None
        clone.cfg = dataclasses.replace(self.cfg, embedding_distill_dim=0)
        return clone


class CRNN(_CRNNBase):
    """The teacher: the DCASE 2023 baseline CRNN, optionally fused with frame embeddings.

    ``CRNN(cfg, seed=None)``; ``forward(features [batch, n_mels, frames], embeddings=None)
    -> SEDOutput`` with ``strong [batch, classes, frames // 4]`` and
    ``weak [batch, classes]``. When ``cfg.embedding_dim > 0`` the frame embeddings
    ``[batch, embedding_dim, T_emb]`` are pooled to the output frames, concatenated to the
    CNN features and projected back by ``fusion`` (DCASE 2023: Linear 896 -> 128) before
    the GRU; calling it without them raises ``ValueError``. ``seed`` builds the initial
    weights from that seed (the global RNG is left untouched). Taught in notebook 03.
    """


class SECRNN(_CRNNBase):
    """The student: a narrow SE-CRNN with an embedding distillation layer for training.

    Same contract as :class:`CRNN` (``embeddings`` are accepted and ignored: the student
    never needs the embedding model). With ``cfg.embedding_distill_dim > 0`` it has
    ``embedding_head``, a per-frame ``Linear(cnn_out_dim, emb_dim)`` on the CNN features
    before the GRU, and returns its prediction as ``embedding_pred
    [batch, emb_dim, out_frames]`` (the EEFD loss compares it with the frozen
    embeddings). :meth:`without_embedding_head` gives the deployable copy.
    Taught in notebooks 05 and 07.
    """

    def __init__(self, cfg: CRNNConfig, *, seed: int | None = None) -> None:
        if isinstance(cfg, CRNNConfig) and cfg.embedding_dim > 0:
            raise ValueError(
                f"SECRNN got embedding_dim={cfg.embedding_dim}: the student must not need the embedding "
                "model. Set embedding_dim=0 (use embedding_distill_dim for the distillation layer)."
            )
        super().__init__(cfg, seed=seed)

    def forward(self, features: torch.Tensor, embeddings: torch.Tensor | None = None) -> SEDOutput:
        """Standardised log-mels ``[batch, n_mels, frames]`` -> :class:`SEDOutput` (``embeddings`` ignored)."""
        return super().forward(features, None)


# ----------------------------------------------------------------------------------------
# The embedding model (stands in for BEATs)
# ----------------------------------------------------------------------------------------
class _TemporalBlock(nn.Module):
    """Residual dilated 1-D conv over frames: ``x + dropout(relu(bn(conv(x))))``, ``[batch, D, T]``."""

    def __init__(self, dim: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.bn = nn.BatchNorm1d(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(F.relu(self.bn(self.conv(x))))


class EmbeddingModel(nn.Module):
    """A wider CNN audio encoder that stands in for BEATs.

    CNN (3x3 conv, BatchNorm, ReLU, AvgPool blocks; time pooled by 4) -> per-frame
    ``Linear(cnn_out, emb_dim)`` -> residual dilated temporal convs -> ``LayerNorm`` per
    frame = frame embeddings ``[batch, emb_dim, out_frames]``; attention (or mean) pooling
    over frames = clip embedding ``[batch, emb_dim]``. Two pretraining heads (frame and
    clip class logits, :meth:`pretrain_logits`) are used only to pre-train it. When used,
    it is frozen: :meth:`freeze` (``eval()`` + ``requires_grad_(False)``).
    Taught in notebook 03.
    """

    def __init__(self, cfg: EmbeddingModelConfig, *, seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(cfg, EmbeddingModelConfig):
            raise ValueError(f"expected an EmbeddingModelConfig, got {type(cfg).__name__}.")
        self.cfg = cfg
        with _SeededInit(seed):
            self.cnn = _conv_stack(
                cfg.n_mels, cfg.channels, cfg.pooling, kernel_size=3, activation="relu", dropout=cfg.dropout
            )
            cnn_out = cfg.channels[-1] * _freq_bins_after(cfg.n_mels, cfg.pooling)[-1]
            self.project = nn.Linear(cnn_out, cfg.emb_dim)
            self.temporal = nn.Sequential(
                *[_TemporalBlock(cfg.emb_dim, cfg.temporal_kernel, 2**i, cfg.dropout) for i in range(cfg.temporal_layers)]
            )
            self.norm = nn.LayerNorm(cfg.emb_dim)
            # no bias: a softmax over frames ignores a constant shift, so a bias would get no gradient
            self.clip_attention = nn.Linear(cfg.emb_dim, 1, bias=False) if cfg.clip_pooling == "attention" else None
            self.frame_classifier = nn.Linear(cfg.emb_dim, cfg.n_classes)
            self.clip_classifier = nn.Linear(cfg.emb_dim, cfg.n_classes)
        logger.debug("built EmbeddingModel: %d parameters", count_parameters(self))

    def forward(self, features: torch.Tensor) -> EmbeddingOutput:
        """Standardised log-mels ``[batch, n_mels, frames]`` -> :class:`EmbeddingOutput`."""
        _check_features(features, self.cfg.n_mels, self.cfg.time_pool, "EmbeddingModel")
        n_out = output_frames(features.shape[-1], self.cfg.time_pool)
        x = self.cnn(features.transpose(1, 2).unsqueeze(1))  # [batch, C, T, F]
        x = _crop_frames(x, n_out)
        b, c, t, f = x.shape
        x = self.project(x.permute(0, 2, 1, 3).reshape(b, t, c * f))  # [batch, T, D]
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)  # [batch, T, D]
        frame = self.norm(x)  # [batch, T, D]
        if self.clip_attention is not None:
            weights = torch.softmax(self.clip_attention(frame), dim=1)  # [batch, T, 1]
            clip = (weights * frame).sum(dim=1)
        else:
            clip = frame.mean(dim=1)
        return EmbeddingOutput(frame.transpose(1, 2), clip)

    def pretrain_logits(self, features: torch.Tensor) -> PretrainLogits:
        """Class logits for pretraining: frame ``[batch, classes, out_frames]``, clip ``[batch, classes]``."""
        out = self(features)
        frame = self.frame_classifier(out.frame.transpose(1, 2)).transpose(1, 2)
        return PretrainLogits(frame, self.clip_classifier(out.clip))

    def freeze(self) -> "EmbeddingModel":
        """Switch to eval mode and stop gradients (in place); returns ``self``."""
        self.eval()
        self.requires_grad_(False)
        return self


# ----------------------------------------------------------------------------------------
# Cost: parameters and multiply-accumulates
# ----------------------------------------------------------------------------------------
def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (BatchNorm running statistics, which are buffers, not included).

    Taught in notebook 05.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def gru_macs(input_size: int, hidden: int, *, layers: int = 1, bidirectional: bool = True, steps: int = 1) -> int:
    """Multiply-accumulates of a GRU over ``steps`` time steps (one sequence).

    Per step, direction and layer: the three gates (reset, update, candidate) each
    multiply the layer input by ``W_i [hidden, in]`` and the previous state by
    ``W_h [hidden, hidden]``: ``3 * (in * hidden + hidden * hidden)``. Layers after the
    first read ``2 * hidden`` (bidirectional) or ``hidden`` inputs. Biases and the
    element-wise gate products are not counted. Taught in notebook 09.
    """
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        n_in = input_size if layer == 0 else hidden * dirs
        total += 3 * (n_in * hidden + hidden * hidden)
    return total * dirs * steps


def count_macs(
    model: nn.Module,
    input_shape: tuple[int, int, int] | None = None,
    embeddings_shape: tuple[int, int, int] | None = None,
) -> int:
    """Multiply-accumulates of one forward pass, per clip of ``input_shape``.

    ``input_shape`` defaults to ``(1, model.cfg.n_mels, 626)`` (one 10-s clip at hop
    256); for a batch the total is divided by the batch size. ``embeddings_shape``
    (only for a model that fuses embeddings) defaults to
    ``(batch, cfg.embedding_dim, out_frames)``; the embedding model itself is *not*
    counted (measure it separately). Counted with forward hooks:
    ``Conv1d``/``Conv2d``: output elements x (in_channels / groups) x kernel size;
    ``Linear``: output elements x in_features; ``GRU``: :func:`gru_macs`. Not counted:
    biases, BatchNorm, activations, SE/attention element-wise products, pooling, softmax
    (all much smaller). Everything ``forward`` runs is counted, so a student's embedding
    distillation layer is included until :meth:`SECRNN.without_embedding_head` removes it.
    The model is run in eval mode on zeros, then its mode is restored. Taught in notebook 09.
    """
    cfg = getattr(model, "cfg", None)
    if input_shape is None:
        if cfg is None or not hasattr(cfg, "n_mels"):
            raise ValueError("count_macs: give input_shape=(1, n_mels, frames) for a model without .cfg.n_mels.")
        input_shape = (1, cfg.n_mels, 626)
    if len(input_shape) != 3:
        raise ValueError(f"count_macs: input_shape={input_shape} must be (batch, n_mels, frames).")
    batch = input_shape[0]
    total = 0

    def conv_hook(m: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        k = math.prod(m.kernel_size)
        total += output.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * m.in_features

    def gru_hook(m: nn.Module, inputs: tuple, output: tuple) -> None:
        nonlocal total
        x = inputs[0]
        steps = x.shape[1] if m.batch_first else x.shape[0]
        n_seq = x.shape[0] if m.batch_first else x.shape[1]
        total += n_seq * gru_macs(
            m.input_size, m.hidden_size, layers=m.num_layers, bidirectional=m.bidirectional, steps=steps
        )

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.GRU):
            handles.append(m.register_forward_hook(gru_hook))

    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(input_shape)
        with torch.no_grad():
            if isinstance(model, _CRNNBase) and model.fusion is not None:
                if embeddings_shape is None:
                    embeddings_shape = (batch, model.cfg.embedding_dim, output_frames(input_shape[2]))
                model(x, torch.zeros(embeddings_shape))
            else:
                model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total // batch


def model_summary(model: nn.Module, input_shape: tuple[int, int, int] | None = None) -> dict[str, object]:
    """Size and cost of a model: a dict with ``model``, ``params``, ``trainable_params``,
    ``size_mb`` (fp32 weights), ``macs`` (per 10-s clip, :func:`count_macs`) and ``gmacs``.

    Taught in notebook 09.
    """
    params = count_parameters(model)
    macs = count_macs(model, input_shape)
    return {
        "model": type(model).__name__,
        "params": params,
        "trainable_params": count_parameters(model, trainable_only=True),
        "size_mb": params * 4 / 1e6,
        "macs": macs,
        "gmacs": macs / 1e9,
    }


# ----------------------------------------------------------------------------------------
# Presets (assembled into the tiny / course / desed presets by config.py)
# ----------------------------------------------------------------------------------------
_DCASE_POOLING: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2))
# 64 mels run out after six frequency halvings, so the seventh block keeps the frequency axis.
_COURSE_POOLING: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 1))
_SIX_BLOCK_POOLING: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2))

#: DCASE 2023 Task 4 baseline CRNN + BEATs fusion (128 mels, 768-d embeddings).
#: 1.23 M parameters (114,816 of them in the fusion layer), 0.94 GMACs per 10-s clip.
DESED_TEACHER = CRNNConfig(
    n_mels=128,
    channels=(16, 32, 64, 128, 128, 128, 128),
    pooling=_DCASE_POOLING,
    dropout=0.5,
    rnn_hidden=128,
    rnn_layers=2,
    activation="glu",
    embedding_dim=768,
)

#: SE-CRNN student for real DESED: 0.34 M parameters deployed (0.39 M with the 768-d
#: embedding distillation layer), under 1/3 of DESED_TEACHER (BEATs not counted).
DESED_STUDENT = CRNNConfig(
    n_mels=128,
    channels=(16, 32, 64, 64, 64, 64, 64),
    pooling=_DCASE_POOLING,
    dropout=0.5,
    rnn_hidden=64,
    rnn_layers=2,
    activation="cg",
    se=True,
    tfwse=True,
    se_reduction=4,
    embedding_distill_dim=768,
)

#: A 128-mel, 768-d embedding model, for running the desed preset without BEATs files
#: (the real recipe reads BEATs embeddings from HDF5 instead).
DESED_EMBEDDING = EmbeddingModelConfig(
    n_mels=128,
    channels=(16, 64, 128, 128, 256, 256, 256),
    pooling=_DCASE_POOLING,
    emb_dim=768,
    temporal_layers=2,
)

#: Course teacher: the DCASE baseline CRNN at 64 mels (7 blocks, GRU 128 x 2) fused with
#: COURSE_EMBEDDING's 128-d frame embeddings. 1.15 M parameters, 0.50 GMACs per clip;
#: trains ~32 clips/s on 2 CPU threads (batch 24, benchmarks/profile_models.py).
COURSE_TEACHER = CRNNConfig(
    n_mels=64,
    channels=(16, 32, 64, 128, 128, 128, 128),
    pooling=_COURSE_POOLING,
    dropout=0.5,
    rnn_hidden=128,
    rnn_layers=2,
    activation="glu",
    embedding_dim=128,
)

#: Course student: SE-CRNN with a narrow first block (the full-resolution block costs the
#: most on a CPU), GRU 48 x 2, 0.17 M parameters (7x fewer than the teacher), 46 MMACs.
#: ReLU instead of lightSED's context gating, and dropout 0.1 instead of 0.5: in the course's
#: 450 training steps the gated, heavily dropped-out student learned nothing (PSDS1 0.000
#: supervised on validation), the ReLU one does (measured side by side, see the
#: ``activation`` note in docs/results/student-design-log.md). The desed preset keeps context gating.
COURSE_STUDENT = CRNNConfig(
    n_mels=64,
    channels=(8, 16, 32, 48, 48, 48, 48),
    pooling=_COURSE_POOLING,
    dropout=0.1,
    rnn_hidden=48,
    rnn_layers=2,
    activation="relu",
    se=True,
    tfwse=True,
    se_reduction=4,
    embedding_distill_dim=128,
)

#: Course embedding model (the BEATs stand-in): wider late blocks (256 channels), 128-d
#: embeddings. 1.25 M parameters, 0.86 GMACs; infers ~110 clips/s on 2 CPU threads.
COURSE_EMBEDDING = EmbeddingModelConfig(
    n_mels=64,
    channels=(16, 64, 128, 128, 256, 256),
    pooling=_SIX_BLOCK_POOLING,
    emb_dim=128,
    temporal_layers=2,
)

#: Tiny presets for tests and CI: the course architectures, narrower.
TINY_TEACHER = dataclasses.replace(COURSE_TEACHER, channels=(8, 16, 16, 32, 32, 32, 32), rnn_hidden=32, embedding_dim=32)
TINY_STUDENT = dataclasses.replace(COURSE_STUDENT, channels=(4, 8, 8, 8, 8, 8, 8), rnn_hidden=12, embedding_distill_dim=32)
TINY_EMBEDDING = dataclasses.replace(
    COURSE_EMBEDDING, channels=(8, 16, 32, 32, 32, 32), emb_dim=32, temporal_layers=1
)
