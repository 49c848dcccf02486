"""Standardising features: :class:`Scaler` (per-band statistics of the training set).

Taught in notebook 02.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from dualkd_lib.features.logmel import instance_minmax

log = logging.getLogger(__name__)


class Scaler(nn.Module):
    """Per-mel-bin standardisation: ``(x - mean[mel]) / std[mel]``.

    ``mode="dataset"`` (default): mean and std of each mel bin over all
    training examples and frames, fitted with :meth:`fit` and stored as buffers
    (``mean``, ``std``: ``[n_mels]``), so they are saved in the model's
    ``state_dict`` and exported to ONNX as constants.
    ``mode="instance_minmax"``: the DCASE baseline's per-clip min-max scaling
    (:func:`instance_minmax`); nothing to fit.

    We default to dataset statistics: a clip's loudness then stays visible to
    the model, and the statistics are a small, checkable object a student can
    plot. Taught in notebook 02.
    """

    MODES = ("dataset", "instance_minmax")

    def __init__(self, n_mels: int, mode: str = "dataset", eps: float = 1e-8) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"Scaler mode={mode!r} is unknown; valid modes are {self.MODES}.")
        if n_mels <= 0:
            raise ValueError(f"Scaler n_mels={n_mels} must be > 0.")
        self.n_mels = n_mels
        self.mode = mode
        self.eps = eps
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))
        # ``fitted`` travels in the state_dict; ``_is_fitted`` is its Python copy,
        # read in forward (a plain bool keeps tracing and ONNX export clean).
        self.register_buffer("fitted", torch.tensor(mode == "instance_minmax"))
        self._is_fitted = mode == "instance_minmax"
        self.register_load_state_dict_post_hook(Scaler._sync_fitted)

    @staticmethod
    def _sync_fitted(module: nn.Module, incompatible_keys: Any) -> None:
        module._is_fitted = bool(module.fitted)

    @torch.no_grad()
    def fit(self, features: torch.Tensor | Iterable[torch.Tensor]) -> Scaler:
        """Fit mean/std per mel bin from a tensor ``[n, n_mels, frames]`` or an
        iterable of such batches (e.g. a DataLoader of features). Returns ``self``.

        Sums are accumulated in float64, so the order of batches does not matter
        beyond rounding.
        """
        if self.mode != "dataset":
            raise ValueError(f"Scaler mode={self.mode!r} needs no fit; use mode='dataset' to fit.")
        batches = [features] if isinstance(features, torch.Tensor) else features
        total = torch.zeros(self.n_mels, dtype=torch.float64)
        total_sq = torch.zeros(self.n_mels, dtype=torch.float64)
        count = 0
        for batch in batches:
            batch = torch.as_tensor(batch)
            if batch.ndim == 2:
                batch = batch.unsqueeze(0)
            if batch.ndim != 3 or batch.shape[1] != self.n_mels:
                raise ValueError(
                    f"Scaler.fit expects features [n, {self.n_mels}, frames], got shape "
                    f"{tuple(batch.shape)}; check n_mels of the Scaler and the features."
                )
            b = batch.to(torch.float64)
            total += b.sum(dim=(0, 2))
            total_sq += (b * b).sum(dim=(0, 2))
            count += b.shape[0] * b.shape[2]
        if count == 0:
            raise ValueError("Scaler.fit got no features; pass a non-empty tensor or iterable.")
        mean = total / count
        var = (total_sq / count - mean * mean).clamp(min=0.0)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(var.sqrt().clamp(min=self.eps).to(self.std.dtype))
        self.fitted.fill_(True)
        self._is_fitted = True
        log.info("Scaler fitted on %d frames: mean %.2f dB, std %.2f dB (averaged over mels)",
                 count, float(mean.mean()), float(var.sqrt().mean()))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised features, same shape as ``x`` (``[batch, n_mels, frames]``)."""
        if self.mode == "instance_minmax":
            return instance_minmax(x, self.eps)
        if not self._is_fitted:
            raise ValueError(
                "Scaler is not fitted; call scaler.fit(train_features) or load a state_dict "
                "saved from a fitted Scaler."
            )
        if not torch.jit.is_tracing() and x.shape[-2] != self.n_mels:
            raise ValueError(
                f"Scaler expects {self.n_mels} mel bins at dim -2, got shape {tuple(x.shape)}."
            )
        return (x - self.mean[:, None]) / self.std[:, None]

    def extra_repr(self) -> str:
        return f"n_mels={self.n_mels}, mode={self.mode!r}"
