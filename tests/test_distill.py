"""Tests of dualkd_lib/distill.py: EMA, ramp-up, losses, TAKD and EEFD gradients, the total loss."""
from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dualkd_lib import distill, models, train
from dualkd_lib.deploy.benchmark.measure import torch_threads
from dualkd_lib.distill import total_loss
from dualkd_lib.models import SEDOutput

# A small student: 16 mels, 3 conv blocks (16 -> 8 -> 4 -> 2 frequency bins), 8-d embedding head.
STUDENT_CFG = models.CRNNConfig(
    n_mels=16, channels=(8, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), dropout=0.0, rnn_hidden=8,
    rnn_layers=1, activation="cg", se=True, tfwse=True, embedding_distill_dim=8,
)
TEACHER_CFG = dataclasses.replace(STUDENT_CFG, se=False, tfwse=False, activation="glu", embedding_distill_dim=0)
EMB_CFG = models.EmbeddingModelConfig(
    n_mels=16, channels=(4, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), emb_dim=8, temporal_layers=1,
)


class TinyBN(nn.Module):
    """Linear + BatchNorm: parameters, float buffers and an integer buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)


def _randomise(m: nn.Module, g: torch.Generator) -> None:
    with torch.no_grad():
        for t in [*m.parameters(), m.bn.running_mean, m.bn.running_var]:
            t.copy_(torch.rand(t.shape, generator=g) + 0.1)
        m.bn.num_batches_tracked.fill_(int(torch.randint(0, 100, (1,), generator=g)))


def _features(batch: int = 3, frames: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 16, frames, generator=torch.Generator().manual_seed(seed))


def _out(strong: torch.Tensor, weak: torch.Tensor, emb: torch.Tensor | None = None) -> SEDOutput:
    return SEDOutput(strong, weak, emb)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is faster and keeps CI's two cores free."""
    with torch_threads(1):
        yield

# -------------------------------------------------------------------- EMA
def test_ema_alpha_warm_start() -> None:
    assert [distill.ema_alpha(t, 0.999) for t in range(4)] == pytest.approx([0.0, 0.5, 2 / 3, 0.75])
    assert distill.ema_alpha(10_000, 0.999) == 0.999
    assert distill.ema_alpha(5, 0.5) == 0.5
    with pytest.raises(ValueError, match="alpha"):
        distill.ema_alpha(0, 1.0)
    with pytest.raises(ValueError, match="step"):
        distill.ema_alpha(-1, 0.9)


def test_update_ema_is_running_average_during_warm_start() -> None:
    g = torch.Generator().manual_seed(0)
    model = TinyBN()
    mean = copy.deepcopy(model)
    states = []
    for step in range(5):
        _randomise(model, g)
        states.append(copy.deepcopy(model.state_dict()))
        a = distill.update_ema(mean, model, 0.999, step)
        assert a == pytest.approx(1 - 1 / (step + 1))
        for name, value in mean.state_dict().items():
            if name.endswith("num_batches_tracked"):  # integer buffers are copied
                assert value == states[-1][name]
            else:  # parameters and float buffers: plain average of every state so far
                expected = torch.stack([s[name] for s in states]).mean(0)
                torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)


def test_update_ema_formula_after_warm_start() -> None:
    g = torch.Generator().manual_seed(1)
    model, mean = TinyBN(), TinyBN()
    _randomise(model, g)
    _randomise(mean, g)
    before = copy.deepcopy(mean.state_dict())
    a = distill.update_ema(mean, model, 0.9, step=100)
    assert a == 0.9
    for name, p in model.named_parameters():
        torch.testing.assert_close(dict(mean.named_parameters())[name], 0.9 * before[name] + 0.1 * p.detach())
    torch.testing.assert_close(mean.bn.running_var, 0.9 * before["bn.running_var"] + 0.1 * model.bn.running_var)


def test_update_ema_of_identical_models_is_a_no_op() -> None:
    model = models.SECRNN(STUDENT_CFG, seed=0)
    mean = copy.deepcopy(model)
    before = copy.deepcopy(mean.state_dict())
    distill.update_ema(mean, model, 0.999, step=3)
    for name, value in mean.state_dict().items():
        torch.testing.assert_close(value, before[name])  # a*x + (1-a)*x == x up to float32 rounding


def test_update_ema_refuses_a_different_model() -> None:
    with pytest.raises(ValueError, match="deepcopy"):
        distill.update_ema(nn.Linear(2, 2), TinyBN(), 0.9, 0)


def test_sigmoid_rampup() -> None:
    assert distill.sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5))
    assert distill.sigmoid_rampup(100, 100) == 1.0
    assert distill.sigmoid_rampup(500, 100) == 1.0
    assert distill.sigmoid_rampup(7, 0) == 1.0
    values = [distill.sigmoid_rampup(t, 50) for t in range(60)]
    assert all(b >= a for a, b in zip(values, values[1:]))


# -------------------------------------------------------------------- losses are zero on identical inputs
def test_losses_zero_on_identical_inputs() -> None:
    g = torch.Generator().manual_seed(0)
    strong, weak = torch.rand(2, 10, 8, generator=g), torch.rand(2, 10, generator=g)
    out = _out(strong, weak)
    assert distill.consistency_loss(out, out).item() == 0.0
    for kind in distill.KD_KINDS:
        for temperature in (1.0, 2.0):
            assert distill.kd_loss(out, strong, weak, temperature=temperature, kind=kind).item() == 0.0
    emb = torch.randn(2, 6, 8, generator=g)
    assert distill.eefd_loss(emb, emb, kind="mse").item() == 0.0
    assert distill.eefd_loss(emb, emb, kind="cosine").item() == pytest.approx(0.0, abs=1e-6)
    assert distill.eefd_loss(emb, emb, kind="mse+cosine").item() == pytest.approx(0.0, abs=1e-6)
    hard_strong, hard_weak = (strong > 0.5).float(), (weak > 0.5).float()
    batch = {"strong": hard_strong, "weak": hard_weak,
             "has_strong": torch.tensor([True, False]), "has_weak": torch.tensor([True, True])}
    assert distill.supervised_loss(_out(hard_strong, hard_weak), batch).item() == 0.0


def test_losses_positive_and_as_defined_on_different_inputs() -> None:
    g = torch.Generator().manual_seed(1)
    p_s, p_w = torch.rand(2, 10, 8, generator=g) * 0.9 + 0.05, torch.rand(2, 10, generator=g) * 0.9 + 0.05
    t_s, t_w = torch.rand(2, 10, 8, generator=g) * 0.9 + 0.05, torch.rand(2, 10, generator=g) * 0.9 + 0.05
    out = _out(p_s, p_w)
    kl = distill.kd_loss(out, t_s, t_w, kind="bce")
    expected = sum(F.binary_cross_entropy(p, t) - F.binary_cross_entropy(t, t) for p, t in ((p_s, t_s), (p_w, t_w)))
    torch.testing.assert_close(kl, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(distill.kd_loss(out, t_s, t_w, kind="mse"), F.mse_loss(p_s, t_s) + F.mse_loss(p_w, t_w))
    assert distill.kd_loss(out, t_s, t_w, temperature=2.0).item() > 0
    # supervised loss: strong term only over has_strong clips, weak term only over has_weak clips
    y_s, y_w = (t_s > 0.5).float(), (t_w > 0.5).float()
    batch = {"strong": y_s, "weak": y_w, "has_strong": torch.tensor([False, True]), "has_weak": torch.tensor([True, False])}
    torch.testing.assert_close(
        distill.supervised_loss(out, batch),
        F.binary_cross_entropy(p_s[1:], y_s[1:]) + F.binary_cross_entropy(p_w[:1], y_w[:1]),
    )
    e1, e2 = torch.randn(2, 6, 8, generator=g), torch.randn(2, 6, 8, generator=g)
    assert distill.eefd_loss(e1, e2, kind="cosine").item() > 0
    torch.testing.assert_close(distill.eefd_loss(e1, 3 * e1, kind="cosine"), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_bad_arguments_raise_value_error() -> None:
    out = _out(torch.rand(1, 10, 4), torch.rand(1, 10))
    with pytest.raises(ValueError, match="kind"):
        distill.kd_loss(out, out.strong, out.weak, kind="kl")
    with pytest.raises(ValueError, match="do not match"):
        distill.kd_loss(out, torch.rand(1, 10, 5), out.weak)
    with pytest.raises(ValueError, match="differ"):
        distill.eefd_loss(torch.rand(1, 4, 3), torch.rand(1, 4, 2))
    with pytest.raises(ValueError, match="embedding distillation layer"):
        distill.eefd_loss(None, torch.rand(1, 4, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gradient"):
        distill.mean_student_forward(nn.Linear(1, 1), nn.Linear(1, 1), torch.rand(1, 1), alpha=0.5, gradient="exact")
    with pytest.raises(ValueError, match="mode"):
        distill.mode_uses("fancy", "kd")


# -------------------------------------------------------------------- gradients
def _student_and_mean() -> tuple[nn.Module, nn.Module]:
    model = models.SECRNN(STUDENT_CFG, seed=0)
    mean = copy.deepcopy(model).eval()  # requires_grad left on: the losses must not use it
    model.eval()  # no dropout noise, so the two variants are evaluated at the same point
    return model, mean


@pytest.mark.parametrize("gradient", distill.TAKD_GRADIENTS)
def test_takd_gradient_reaches_student_only(gradient: str) -> None:
    model, mean = _student_and_mean()
    x = _features()
    teacher = models.CRNN(TEACHER_CFG, seed=1).eval()
    t_out = teacher(x)
    out = distill.mean_student_forward(model, mean, x, alpha=0.999, gradient=gradient)
    loss = distill.kd_loss(out, t_out.strong, t_out.weak)
    loss.backward()
    for name, p in model.named_parameters():
        if name.startswith("embedding_head"):  # not on the path to the SED outputs
            assert p.grad is None, name
        else:
            assert p.grad is not None, name
    assert sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None) > 0
    assert all(p.grad is None for p in mean.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_takd_variants_value_and_gradient_scale() -> None:
    """With θ̄ = θ both variants give the mean student's output; the interpolated gradient is (1-α) times smaller."""
    x = _features()
    target = torch.rand(3, 10, 16, generator=torch.Generator().manual_seed(3))
    grads = {}
    for gradient in distill.TAKD_GRADIENTS:
        model, mean = _student_and_mean()
        out = distill.mean_student_forward(model, mean, x, alpha=0.99, gradient=gradient)
        with torch.no_grad():
            torch.testing.assert_close(out.strong, mean(x).strong)
        distill.kd_loss(out, target, target.mean(-1)).backward()
        grads[gradient] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    torch.testing.assert_close(grads["interpolated"], 0.01 * grads["straight_through"], rtol=1e-3, atol=1e-9)
    # compensated: the interpolated value with the unscaled gradient (= straight-through when θ̄ = θ)
    torch.testing.assert_close(grads["compensated"], grads["straight_through"], rtol=1e-3, atol=1e-8)


def test_takd_compensated_is_interpolated_divided_by_one_minus_alpha() -> None:
    """θ̄ ≠ θ: same value as "interpolated" (the mean student after this step), gradient 1/(1-α) larger."""
    x = _features()
    target = torch.rand(3, 10, 16, generator=torch.Generator().manual_seed(4))
    outs, grads = {}, {}
    for gradient in ("interpolated", "compensated"):
        model, mean = _student_and_mean()
        with torch.no_grad():
            for p in mean.parameters():
                p.add_(0.05)
        outs[gradient] = distill.mean_student_forward(model, mean, x, alpha=0.9, gradient=gradient)
        distill.kd_loss(outs[gradient], target, target.mean(-1)).backward()
        grads[gradient] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    torch.testing.assert_close(outs["compensated"].strong, outs["interpolated"].strong)
    torch.testing.assert_close(grads["compensated"] * 0.1, grads["interpolated"], rtol=1e-3, atol=1e-9)


def test_blended_target_mixes_mean_student_and_teacher() -> None:
    g = torch.Generator().manual_seed(5)
    mean = _out(torch.rand(2, 10, 6, generator=g), torch.rand(2, 10, generator=g))
    t_strong, t_weak = torch.rand(2, 10, 6, generator=g), torch.rand(2, 10, generator=g)
    blend = distill.blended_target(mean, t_strong, t_weak, 0.25)
    torch.testing.assert_close(blend.strong, 0.25 * mean.strong + 0.75 * t_strong)
    torch.testing.assert_close(blend.weak, 0.25 * mean.weak + 0.75 * t_weak)
    torch.testing.assert_close(distill.blended_target(mean, t_strong, t_weak, 1.0).strong, mean.strong)
    torch.testing.assert_close(distill.blended_target(mean, t_strong, t_weak, 0.0).weak, t_weak)
    with pytest.raises(ValueError, match="lam"):
        distill.blended_target(mean, t_strong, t_weak, 1.5)


def test_takd_straight_through_value_is_the_mean_students() -> None:
    model, mean = _student_and_mean()
    with torch.no_grad():
        for p in mean.parameters():
            p.add_(0.05)
    x = _features()
    out = distill.mean_student_forward(model, mean, x, alpha=0.999, gradient="straight_through")
    with torch.no_grad():
        # the same weights, computed as alpha*mean + (1-alpha)*student: equal to float32 rounding
        torch.testing.assert_close(out.strong, mean(x).strong)
        assert not torch.allclose(out.strong, model(x).strong)


def test_eefd_gradient_reaches_head_and_cnn_not_targets() -> None:
    model = models.SECRNN(STUDENT_CFG, seed=0)
    embedder = models.EmbeddingModel(EMB_CFG, seed=0)  # deliberately not frozen
    x = _features()
    target = embedder(x).frame
    out = model(x)
    assert out.embedding_pred.shape == target.shape
    distill.eefd_loss(out.embedding_pred, target, kind="mse+cosine").backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    for prefix in ("embedding_head", "cnn"):
        assert all(g is not None for n, g in grads.items() if n.startswith(prefix)), prefix
        assert sum(float(g.abs().sum()) for n, g in grads.items() if n.startswith(prefix)) > 0, prefix
    for name, g in grads.items():
        if name.startswith(("rnn", "strong_head", "attention_head")):
            assert g is None, name  # the embedding layer branches off before the RNN
    assert all(p.grad is None for p in embedder.parameters())


def test_consistency_gives_no_gradient_to_mean_model() -> None:
    model = models.SECRNN(STUDENT_CFG, seed=0)
    mean = copy.deepcopy(model)
    with torch.no_grad():
        for p in mean.parameters():
            p.mul_(0.9)
    x = _features()
    loss = distill.consistency_loss(model(x), mean(x))
    assert loss.item() > 0
    loss.backward()
    assert all(p.grad is None for p in mean.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())


# -------------------------------------------------------------------- the total loss
SMALL = models.CRNNConfig(
    n_mels=16, channels=(4, 4, 4), pooling=((2, 2), (2, 2), (1, 2)), rnn_hidden=6, rnn_layers=1, dropout=0.0
)


@pytest.mark.parametrize("mode", ["supervised", "kd", "takd", "eefd", "dual"])
def test_total_loss_equals_training_step(mode: str) -> None:
    cfg_model = models.CRNNConfig(**{**SMALL.__dict__, "activation": "cg", "se": True, "tfwse": True,
                                     "embedding_distill_dim": 5})
    model = models.SECRNN(cfg_model, seed=0)
    mean = copy.deepcopy(model).eval()
    b, t = 4, 12
    gen = torch.Generator().manual_seed(1)
    batch = {
        "features": torch.randn(b, 16, 4 * t, generator=gen),
        "strong": (torch.rand(b, 10, t, generator=gen) > 0.7).float(),
        "weak": (torch.rand(b, 10, generator=gen) > 0.5).float(),
        "has_strong": torch.tensor([True, True, False, False]),
        "has_weak": torch.tensor([True, True, True, False]),
        "embeddings": torch.randn(b, 5, t, generator=gen),
        "teacher_strong": torch.rand(b, 10, t, generator=gen),
        "teacher_weak": torch.rand(b, 10, generator=gen),
    }
    cfg = train.TrainConfig(mode=mode, max_steps=10, cons_rampup_steps=10, w_kd=0.7, w_emb=1.3)
    step = 3
    torch.manual_seed(0)
    loss, terms = train.training_step(model, mean, batch, cfg, step)
    w_cons = cfg.cons_max * distill.sigmoid_rampup(step, cfg.cons_rampup_steps)
    assert torch.allclose(total_loss(terms, mode, w_cons, cfg.w_kd, cfg.w_emb), loss, atol=1e-6)
