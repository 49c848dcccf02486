"""Frame and clip probabilities of a trained model.

Taught in notebook 03.
"""
from __future__ import annotations


import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


# --------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------
def predict_scores(
    model: nn.Module,
    features: torch.Tensor | np.ndarray,
    *,
    embeddings: torch.Tensor | np.ndarray | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Frame and clip probabilities of ``model`` (eval mode, no gradient).

    ``features`` [N, n_mels, frames] (standardised log-mel); ``embeddings``
    [N, D, T] for a teacher that fuses them. Returns numpy float32
    ``strong`` [N, C, T_out] and ``weak`` [N, C]. The model's train/eval mode
    is restored afterwards. Taught in notebook 03.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    x = torch.as_tensor(features, dtype=torch.float32)
    if x.ndim != 3:
        raise ValueError(f"features must be [N, n_mels, frames], got shape {tuple(x.shape)}.")
    emb = None if embeddings is None else torch.as_tensor(embeddings, dtype=torch.float32)
    if emb is not None and len(emb) != len(x):
        raise ValueError(f"embeddings has {len(emb)} clips but features has {len(x)}; they must match.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    strong, weak = [], []
    with torch.no_grad():
        for i in tqdm(range(0, len(x), batch_size), disable=not progress, desc="predict", unit="batch"):
            xb = x[i : i + batch_size].to(device)
            out = model(xb) if emb is None else model(xb, emb[i : i + batch_size].to(device))
            strong.append(out.strong.float().cpu().numpy())
            weak.append(out.weak.float().cpu().numpy())
    model.train(was_training)
    if not strong:
        raise ValueError("features is empty (N = 0); nothing to predict.")
    return np.concatenate(strong), np.concatenate(weak)
