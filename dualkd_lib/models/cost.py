"""Cost of a model: parameters and multiply-accumulates (MACs) per clip.

Taught in notebook 05.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dualkd_lib.models.blocks import count_parameters, output_frames
from dualkd_lib.models.networks import _CRNNBase


# ----------------------------------------------------------------------------------------
# Cost: parameters and multiply-accumulates
# ----------------------------------------------------------------------------------------
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
