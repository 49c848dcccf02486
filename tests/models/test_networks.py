"""Tests of dualkd_lib/models/networks.py: CRNN, SECRNN, EmbeddingModel: shapes, fusion, head, seeds, gradients."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from dualkd_lib import models as M

from small_models import FRAMES, OUT, SED_PRESETS, SMALL, SMALL_EMB, SMALL_STUDENT, SMALL_TEACHER, feats


EMB_PRESETS = {"COURSE": M.COURSE_EMBEDDING, "TINY": M.TINY_EMBEDDING}


def check_probs(t: torch.Tensor) -> None:
    assert torch.isfinite(t).all()
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


@pytest.mark.parametrize("preset", list(SED_PRESETS))
def test_preset_sed_models_shapes_and_ranges(preset: str) -> None:
    t_cfg, s_cfg = SED_PRESETS[preset]
    teacher = M.CRNN(t_cfg, seed=0).eval()
    student = M.SECRNN(s_cfg, seed=0).eval()
    x = feats(2, t_cfg.n_mels, FRAMES)
    with torch.no_grad():
        t_out = teacher(x, torch.randn(2, t_cfg.embedding_dim, OUT))
        s_out = student(x)
    for out in (t_out, s_out):
        assert isinstance(out, M.SEDOutput)
        assert out.strong.shape == (2, 10, OUT) and out.weak.shape == (2, 10)
        assert out.strong_logits.shape == (2, 10, OUT) and out.weak_logits.shape == (2, 10)
        check_probs(out.strong)
        check_probs(out.weak)
        torch.testing.assert_close(torch.sigmoid(out.strong_logits), out.strong)
        torch.testing.assert_close(torch.sigmoid(out.weak_logits), out.weak, atol=1e-5, rtol=1e-4)
    assert t_out.embedding_pred is None
    assert s_out.embedding_pred.shape == (2, s_cfg.embedding_distill_dim, OUT)


@pytest.mark.parametrize("preset", list(EMB_PRESETS))
def test_embedding_model_shapes(preset: str) -> None:
    cfg = EMB_PRESETS[preset]
    model = M.EmbeddingModel(cfg, seed=0).eval()
    x = feats(2, cfg.n_mels, FRAMES)
    with torch.no_grad():
        out = model(x)
        logits = model.pretrain_logits(x)
    assert out.frame.shape == (2, cfg.emb_dim, OUT) and out.clip.shape == (2, cfg.emb_dim)
    assert logits.frame.shape == (2, 10, OUT) and logits.clip.shape == (2, 10)
    # LayerNorm per frame: zero mean over the embedding dimension.
    assert out.frame.mean(dim=1).abs().max() < 1e-4


def test_weak_is_a_weighted_average_of_strong() -> None:
    """Attention pooling (either softmax axis) and mean pooling stay within strong's range over time."""
    x = feats(3, 16, 64)
    for cfg in (
        SMALL,
        dataclasses.replace(SMALL, attention_softmax="time"),
        dataclasses.replace(SMALL, attention=False),
    ):
        out = M.CRNN(cfg, seed=1).eval()(x)
        assert (out.weak >= out.strong.amin(-1) - 1e-6).all()
        assert (out.weak <= out.strong.amax(-1) + 1e-6).all()
    mean_out = M.CRNN(dataclasses.replace(SMALL, attention=False), seed=1).eval()(x)
    torch.testing.assert_close(mean_out.weak, mean_out.strong.mean(-1))


def test_teacher_needs_embeddings() -> None:
    teacher = M.CRNN(SMALL_TEACHER, seed=0).eval()
    x = feats()
    with pytest.raises(ValueError, match="needs the embedding model's output"):
        teacher(x)
    with pytest.raises(ValueError, match="dim=7"):
        teacher(x, torch.randn(2, 6, 16))
    with pytest.raises(ValueError, match="batch=2"):
        teacher(x, torch.randn(3, 7, 16))


def test_teacher_fusion_uses_embeddings_and_aligns_any_length() -> None:
    teacher = M.CRNN(SMALL_TEACHER, seed=0).eval()
    x = feats()
    emb = torch.randn(2, 7, 16)
    with torch.no_grad():
        a = teacher(x, emb)
        b = teacher(x, emb + 1.0)
        # More embedding frames are average-pooled, fewer are interpolated: both work.
        pooled = teacher(x, emb.repeat_interleave(3, dim=-1))
        interp = teacher(x, torch.randn(2, 7, 5))
    assert not torch.allclose(a.strong, b.strong)
    torch.testing.assert_close(pooled.strong, a.strong)  # 3x repeated frames pool back exactly
    assert interp.strong.shape == (2, 10, 16)


def test_student_ignores_embeddings_and_refuses_fusion() -> None:
    student = M.SECRNN(SMALL_STUDENT, seed=0).eval()
    x = feats()
    with torch.no_grad():
        torch.testing.assert_close(student(x).strong, student(x, torch.randn(2, 9, 3)).strong)
    with pytest.raises(ValueError, match="must not need the embedding model"):
        M.SECRNN(dataclasses.replace(SMALL_STUDENT, embedding_dim=7))


def test_without_embedding_head() -> None:
    student = M.SECRNN(SMALL_STUDENT, seed=0).eval()
    deployed = student.without_embedding_head()
    assert isinstance(deployed, M.SECRNN)
    assert deployed.embedding_head is None and deployed.cfg.embedding_distill_dim == 0
    assert not any("embedding_head" in name for name, _ in deployed.named_parameters())
    head_params = M.count_parameters(student.embedding_head)
    assert head_params == 8 * 2 * 5 + 5  # Linear(cnn_out = 8 channels x 2 bins, 5)
    assert M.count_parameters(deployed) == M.count_parameters(student) - head_params
    assert student.embedding_head is not None  # the original keeps its head
    x = feats()
    with torch.no_grad():
        a, b = student(x), deployed(x)
    torch.testing.assert_close(a.strong, b.strong)
    torch.testing.assert_close(a.weak, b.weak)
    assert b.embedding_pred is None
    # The deployed copy is a separate model: training one does not change the other.
    with torch.no_grad():
        next(deployed.parameters()).add_(1.0)
    assert not torch.equal(next(deployed.parameters()), next(student.parameters()))


def test_seed_makes_weights_and_outputs_reproducible() -> None:
    state = torch.random.get_rng_state()
    a = M.SECRNN(SMALL_STUDENT, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    b = M.SECRNN(SMALL_STUDENT, seed=3)
    c = M.SECRNN(SMALL_STUDENT, seed=4)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.strong_head.weight, c.strong_head.weight)
    x = feats()
    torch.manual_seed(0)
    out_a = a.train()(x)
    torch.manual_seed(0)
    out_b = b.train()(x)
    torch.testing.assert_close(out_a.strong, out_b.strong)  # same seed, same dropout masks


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout() -> None:
    model = M.CRNN(SMALL_TEACHER, seed=0)
    x, emb = feats(), torch.randn(2, 7, 16)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x, emb).strong, model(x, emb).strong)  # float32 tolerances
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x, emb).strong, model(x, emb).strong)


@pytest.mark.parametrize("kind", ["teacher", "student", "embedding"])
def test_gradients_reach_every_trainable_parameter(kind: str) -> None:
    x = feats(3, 16, 32)
    if kind == "embedding":
        model: nn.Module = M.EmbeddingModel(SMALL_EMB, seed=0).train()
        logits = model.pretrain_logits(x)
        loss = logits.frame.pow(2).mean() + logits.clip.pow(2).mean()
    else:
        model = M.CRNN(SMALL_TEACHER, seed=0) if kind == "teacher" else M.SECRNN(SMALL_STUDENT, seed=0)
        out = model.train()(x, torch.randn(3, 7, 8))
        loss = out.strong.mean() + out.weak.mean()
        if out.embedding_pred is not None:
            loss = loss + out.embedding_pred.pow(2).mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"zero gradient for {name}"


def test_models_reject_bad_features() -> None:
    model = M.SECRNN(SMALL_STUDENT, seed=0)
    with pytest.raises(ValueError, match="n_mels=16.*64 mel bands"):
        model(feats(2, 64, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(16, 32))
    with pytest.raises(ValueError, match="mel bands"):
        M.EmbeddingModel(SMALL_EMB)(feats(2, 8, 32))


def test_se_first_block_leaves_the_earlier_blocks_without_attention() -> None:
    cfg = dataclasses.replace(M.TINY_STUDENT, se_first_block=1, se_activation="silu")
    net = M.SECRNN(cfg, seed=0)
    assert net.cnn[0].se is None and net.cnn[0].tfwse is None
    assert all(b.se is not None and b.tfwse is not None for b in list(net.cnn)[1:])
    assert all(isinstance(m.act, torch.nn.SiLU) for m in net.modules() if isinstance(m, (M.SEBlock, M.TFWSE)))
    out = net(feats(2, cfg.n_mels, 32))
    assert out.strong.shape[-1] == 8
    with pytest.raises(ValueError, match="se_first_block"):
        dataclasses.replace(M.TINY_STUDENT, se_first_block=len(M.TINY_STUDENT.channels))


def test_strong_head_bias_starts_the_frames_at_the_prior_and_changes_nothing_else() -> None:
    default = M.SECRNN(SMALL_STUDENT, seed=3)
    prior = M.SECRNN(dataclasses.replace(SMALL_STUDENT, strong_head_bias=-2.5), seed=3)
    assert torch.equal(prior.strong_head.bias, torch.full_like(prior.strong_head.bias, -2.5))
    for (name, a), (_, b) in zip(default.state_dict().items(), prior.state_dict().items()):
        if name != "strong_head.bias":
            assert torch.equal(a, b), name  # the same draws: only the bias is set
    assert not torch.equal(default.strong_head.bias, prior.strong_head.bias)
    with torch.no_grad():
        start = prior.eval()(feats()).strong
        usual = default.eval()(feats()).strong
    assert float(start.mean()) < 0.2 < float(usual.mean())  # "mostly silent" at step 0
    # an old checkpoint's config dict (no such field) rebuilds the model of PyTorch's initialisation
    from dualkd_lib.train import build_model

    old = {k: v for k, v in dataclasses.asdict(SMALL_STUDENT).items() if k != "strong_head_bias"}
    assert build_model("student", old).cfg.strong_head_bias is None
    with pytest.raises(ValueError, match="strong_head_bias=nan must be a finite logit"):
        dataclasses.replace(SMALL_STUDENT, strong_head_bias=float("nan"))
