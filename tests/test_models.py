"""Tests of dualkd_lib.models: shapes, embedding fusion and distillation layer, cost counters."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from dualkd_lib import models as M

FRAMES = 626  # 10 s at hop 256
OUT = 156  # DCASE: int(int(10 * 16000 / 256) / 4)

SED_PRESETS = {
    "DESED": (M.DESED_TEACHER, M.DESED_STUDENT),
    "COURSE": (M.COURSE_TEACHER, M.COURSE_STUDENT),
    "TINY": (M.TINY_TEACHER, M.TINY_STUDENT),
}
EMB_PRESETS = {"COURSE": M.COURSE_EMBEDDING, "TINY": M.TINY_EMBEDDING}

# A small model for the slower checks: 16 mels, 3 blocks (16 -> 8 -> 4 -> 2 bins), few frames.
SMALL = M.CRNNConfig(
    n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), dropout=0.2, rnn_hidden=6, rnn_layers=2,
)
SMALL_STUDENT = dataclasses.replace(SMALL, activation="cg", se=True, tfwse=True, embedding_distill_dim=5)
SMALL_TEACHER = dataclasses.replace(SMALL, embedding_dim=7)
SMALL_EMB = M.EmbeddingModelConfig(n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), emb_dim=7)


def feats(batch: int = 2, n_mels: int = 16, frames: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, n_mels, frames, generator=torch.Generator().manual_seed(seed))


def check_probs(t: torch.Tensor) -> None:
    assert torch.isfinite(t).all()
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


# ------------------------------------------------------------------ shapes and ranges
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


# ------------------------------------------------------------------ embedding fusion (teacher)
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


def test_align_embeddings() -> None:
    e = torch.arange(12.0).reshape(1, 1, 12)
    torch.testing.assert_close(M.align_embeddings(e, 4), torch.tensor([[[1.0, 4.0, 7.0, 10.0]]]))
    assert M.align_embeddings(e, 12) is e
    assert M.align_embeddings(e, 30).shape == (1, 1, 30)
    with pytest.raises(ValueError, match="transpose"):
        M.align_embeddings(torch.zeros(12, 3), 4)


# ------------------------------------------------------------------ student and its head
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


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize("preset", list(SED_PRESETS))
def test_student_at_most_a_third_of_teacher(preset: str) -> None:
    t_cfg, s_cfg = SED_PRESETS[preset]
    teacher = M.count_parameters(M.CRNN(t_cfg, seed=0))  # embedding model not counted
    student = M.SECRNN(s_cfg, seed=0)
    assert M.count_parameters(student.without_embedding_head()) * 3 <= teacher
    assert M.count_parameters(student) * 3 <= teacher  # even with the training-only head


def test_dcase_teacher_parameter_count() -> None:
    """DCASE 2023 CRNN: 1,112,420 parameters + Linear(896, 128) fusion = 1,227,236."""
    teacher = M.CRNN(M.DESED_TEACHER, seed=0)
    assert M.count_parameters(teacher.fusion) == 896 * 128 + 128
    assert M.count_parameters(teacher) == 1_227_236


def test_count_parameters_trainable_only() -> None:
    model = M.EmbeddingModel(SMALL_EMB, seed=0)
    n = M.count_parameters(model)
    assert M.count_parameters(model, trainable_only=True) == n
    model.freeze()
    assert not model.training
    assert M.count_parameters(model, trainable_only=True) == 0 and M.count_parameters(model) == n


# ------------------------------------------------------------------ MACs
class ConvLinear(nn.Module):
    """[batch, n_mels, frames] -> Conv2d(1, 3, (3, 5)) -> Linear over the flattened last axis."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, kernel_size=(3, 5), padding=(1, 2))
        self.linear = nn.Linear(20, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(x.unsqueeze(1)))  # [batch, 3, n_mels, 20] -> [batch, 3, n_mels, 7]


def test_count_macs_conv_and_linear_by_hand() -> None:
    n_mels, frames = 8, 20
    conv = 3 * n_mels * frames * (1 * 3 * 5)  # output elements x in_channels x kernel
    linear = (3 * n_mels * 7) * 20  # output elements x in_features
    model = ConvLinear()
    assert M.count_macs(model, (1, n_mels, frames)) == conv + linear
    assert M.count_macs(model, (4, n_mels, frames)) == conv + linear  # per clip
    with pytest.raises(ValueError, match="input_shape"):
        M.count_macs(model)


def test_gru_macs_formula() -> None:
    # One direction, one layer, one step: 3 gates x (in*h + h*h).
    assert M.gru_macs(5, 3, layers=1, bidirectional=False, steps=1) == 3 * (5 * 3 + 3 * 3)
    # Two layers, bidirectional, 10 steps: the second layer reads 2*h inputs.
    expected = 2 * 10 * (3 * (5 * 3 + 9) + 3 * (6 * 3 + 9))
    assert M.gru_macs(5, 3, layers=2, bidirectional=True, steps=10) == expected

    class GRUOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(5, 3, num_layers=2, batch_first=True, bidirectional=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gru(x.transpose(1, 2))[0]  # [batch, n_mels=5, frames=10] -> sequence of 10 steps

    assert M.count_macs(GRUOnly(), (2, 5, 10)) == expected


def test_count_macs_of_a_crnn_adds_up() -> None:
    """Teacher MACs = the same model without fusion + the fusion Linear (16 frames x (16+7) x 16)."""
    teacher = M.CRNN(SMALL_TEACHER, seed=0)
    plain = M.CRNN(SMALL, seed=0)
    shape = (1, 16, 64)
    assert M.count_macs(teacher, shape) == M.count_macs(plain, shape) + 16 * (16 + 7) * 16
    # The GRU part by formula: input 16, hidden 6, 2 layers, both directions, 16 steps.
    assert M.count_macs(plain, shape) > M.gru_macs(16, 6, layers=2, steps=16)
    teacher.train()
    M.count_macs(teacher, shape)
    assert teacher.training  # mode restored
    summary = M.model_summary(plain, shape)
    assert summary["params"] == M.count_parameters(plain) and summary["macs"] == M.count_macs(plain, shape)
    assert summary["model"] == "CRNN"


def test_preset_macs_default_to_a_10s_clip() -> None:
    student = M.SECRNN(M.TINY_STUDENT, seed=0)
    assert M.count_macs(student) == M.count_macs(student, (1, M.TINY_STUDENT.n_mels, 626))
    deployed = student.without_embedding_head()
    head = OUT * student.embedding_head.in_features * student.embedding_head.out_features
    assert M.count_macs(student) - M.count_macs(deployed) == head


# ------------------------------------------------------------------ seeds, modes, gradients
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


# ------------------------------------------------------------------ validation
def test_configs_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="pools time by 2"):
        M.CRNNConfig(n_mels=16, channels=(4, 4), pooling=((2, 2), (1, 2)))
    with pytest.raises(ValueError, match="below one frequency bin"):
        M.CRNNConfig(n_mels=64)  # seven frequency halvings of 64 mels
    with pytest.raises(ValueError, match="one \\(time, freq\\) pooling per conv block"):
        M.CRNNConfig(n_mels=16, channels=(4, 4, 4), pooling=((2, 2), (2, 2)))
    with pytest.raises(ValueError, match="activation"):
        dataclasses.replace(SMALL, activation="tanh")
    with pytest.raises(ValueError, match="clip_pooling"):
        dataclasses.replace(SMALL_EMB, clip_pooling="max")
    with pytest.raises(ValueError, match="CRNNConfig"):
        M.CRNN(SMALL_EMB)  # type: ignore[arg-type]


def test_models_reject_bad_features() -> None:
    model = M.SECRNN(SMALL_STUDENT, seed=0)
    with pytest.raises(ValueError, match="n_mels=16.*64 mel bands"):
        model(feats(2, 64, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(16, 32))
    with pytest.raises(ValueError, match="mel bands"):
        M.EmbeddingModel(SMALL_EMB)(feats(2, 8, 32))


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
