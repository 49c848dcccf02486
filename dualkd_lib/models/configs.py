"""What the models return and how they are configured (frozen dataclasses, checked on creation).

Taught in notebooks 03 and 05.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from dualkd_lib.constants import CLASSES


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
#: Non-linearities of the SE/tfwSE bottlenecks (:attr:`CRNNConfig.se_activation`).
SE_ACTIVATIONS: tuple[str, ...] = ("relu", "silu")


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
        strong_head_bias: the frame classifier's initial bias, a logit for every class
            (``None``: PyTorch's random initialisation). A prior of ``logit(p)``, with ``p`` the
            share of active frames in the strong labels (course: about 0.073, logit -2.5),
            starts the model at "mostly silent" instead of at p = 0.5, so the first hundreds
            of steps are not spent pushing every frame down (Lin et al., 2017, focal loss:
            "prior initialisation"). It changes the start only, not the model.

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
    strong_head_bias: float | None = None

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
        if self.strong_head_bias is not None and not math.isfinite(self.strong_head_bias):
            raise ValueError(f"CRNNConfig.strong_head_bias={self.strong_head_bias} must be a finite logit "
                             "(or None for PyTorch's initialisation).")
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
