"""The networks: the CRNN teacher, the SE-CRNN student and the embedding model (stands in for BEATs).

Taught in notebooks 03 (teacher, embedding model) and 05 (student).
"""
from __future__ import annotations

import copy
import dataclasses
import logging

import torch
import torch.nn.functional as F
from torch import nn

from dualkd_lib.models.configs import (
    CRNNConfig,
    EmbeddingModelConfig,
    EmbeddingOutput,
    PretrainLogits,
    SEDOutput,
    _PROB_EPS,
    _freq_bins_after,
)
from dualkd_lib.models.blocks import (
    _SeededInit,
    _check_features,
    _conv_stack,
    _crop_frames,
    align_embeddings,
    count_parameters,
    output_frames,
)

logger = logging.getLogger(__name__)


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
            if cfg.strong_head_bias is not None:  # start at the frame prior (CRNNConfig.strong_head_bias)
                nn.init.constant_(self.strong_head.bias, cfg.strong_head_bias)
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


#: The model classes a checkpoint can hold, by kind, each with its config class. Checkpoints
#: store the kind (and the class names, for people reading them); rebuilding uses this table.
MODEL_CLASSES: dict[str, tuple[type[nn.Module], type]] = {
    "teacher": (CRNN, CRNNConfig),
    "student": (SECRNN, CRNNConfig),
    "embedding": (EmbeddingModel, EmbeddingModelConfig),
}
