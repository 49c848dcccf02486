"""Tests of dualkd_lib/models/blocks.py: output frames, embedding alignment, parameter counts, SE blocks."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from dualkd_lib import models as M

from small_models import SMALL_EMB, SMALL_STUDENT, feats


@pytest.mark.parametrize(("frames", "expected"), [(626, 156), (313, 78), (630, 157), (64, 16), (7, 1)])
def test_output_frames_exact(frames: int, expected: int) -> None:
    assert M.output_frames(frames) == expected
    model = M.SECRNN(SMALL_STUDENT, seed=0).eval()
    emb_model = M.EmbeddingModel(SMALL_EMB, seed=0).eval()
    with torch.no_grad():
        out = model(feats(1, 16, frames))
        emb = emb_model(feats(1, 16, frames))
    assert out.strong.shape[-1] == expected and out.embedding_pred.shape[-1] == expected
    assert emb.frame.shape[-1] == expected


def test_output_frames_too_short_raises() -> None:
    with pytest.raises(ValueError, match="n_frames=3"):
        M.output_frames(3)
    with pytest.raises(ValueError, match="at least 4 frames"):
        M.SECRNN(SMALL_STUDENT, seed=0)(feats(1, 16, 3))


def test_align_embeddings() -> None:
    e = torch.arange(12.0).reshape(1, 1, 12)
    torch.testing.assert_close(M.align_embeddings(e, 4), torch.tensor([[[1.0, 4.0, 7.0, 10.0]]]))
    assert M.align_embeddings(e, 12) is e
    assert M.align_embeddings(e, 30).shape == (1, 1, 30)
    with pytest.raises(ValueError, match="transpose"):
        M.align_embeddings(torch.zeros(12, 3), 4)


def test_count_parameters_trainable_only() -> None:
    model = M.EmbeddingModel(SMALL_EMB, seed=0)
    n = M.count_parameters(model)
    assert M.count_parameters(model, trainable_only=True) == n
    model.freeze()
    assert not model.training
    assert M.count_parameters(model, trainable_only=True) == 0 and M.count_parameters(model) == n


def test_se_bottleneck_without_bias_dies_into_one_half_and_with_bias_does_not() -> None:
    """A bias-free SE whose ReLU units are all negative outputs sigmoid(0) = 0.5 everywhere."""
    x = torch.rand(2, 8, 5, 4) + 0.1  # post-ReLU activations are positive
    for block in (M.SEBlock(8, 4), M.TFWSE(4, 4)):
        with torch.no_grad():
            block.squeeze.weight.copy_(-block.squeeze.weight.abs())  # every hidden unit negative: dead
        s = x.mean(dim=(2, 3)) if isinstance(block, M.SEBlock) else x.mean(dim=1)
        w = torch.sigmoid(block.excite(torch.relu(block.squeeze(s))))
        assert torch.all(w == 0.5)
    biased = M.SEBlock(8, 4, bias=True)
    assert biased.squeeze.bias is not None and biased.excite.bias is not None
    cfg = dataclasses.replace(M.TINY_STUDENT, se_bias=True)
    net = M.SECRNN(cfg, seed=0)
    assert all(m.squeeze.bias is not None for m in net.modules() if isinstance(m, (M.SEBlock, M.TFWSE)))
    assert all(m.squeeze.bias is None for m in M.SECRNN(M.TINY_STUDENT, seed=0).modules()
               if isinstance(m, (M.SEBlock, M.TFWSE)))


def test_a_silu_bottleneck_unit_negative_for_every_clip_still_learns_and_a_relu_one_does_not() -> None:
    """The SE units die because a ReLU negative for every clip passes no gradient; SiLU does."""
    x = torch.rand(4, 8, 5, 4) + 0.1  # positive, as after the conv block's ReLU
    grads = {}
    for act in M.SE_ACTIVATIONS:
        block = M.SEBlock(8, 4, activation=act)
        with torch.no_grad():
            block.squeeze.weight.copy_(-block.squeeze.weight.abs())  # every unit negative on every clip
        block(x).sum().backward()
        grads[act] = block.squeeze.weight.grad.abs().sum().item()
    assert grads["relu"] == 0.0
    assert grads["silu"] > 0.0
    with pytest.raises(ValueError, match="se_activation"):
        dataclasses.replace(M.TINY_STUDENT, se_activation="tanh")
