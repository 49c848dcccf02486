"""Exercises 3.x and 5.x-8.x: references match the library, checkers accept them and hint at mistakes."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from dualkd_lib import distill, models, train
from dualkd_lib.distill import total_loss
from dualkd_lib.teaching import exercises
from dualkd_lib.teaching.exercises import checker
from dualkd_lib.teaching.exercises import nb03, nb05, nb06, nb07, nb08
from dualkd_lib.teaching.exercises.nb03 import attention_pooling
from dualkd_lib.teaching.exercises.nb05 import conv_cost, se_block
from dualkd_lib.teaching.exercises.nb06 import binary_kd_loss, ema_update
from dualkd_lib.teaching.exercises.nb07 import eefd

IDS = ("3.1", "3.2", "5.1", "5.2", "6.1", "6.2", "7.1", "8.1")

SMALL = models.CRNNConfig(
    n_mels=16, channels=(4, 4, 4), pooling=((2, 2), (2, 2), (1, 2)), rnn_hidden=6, rnn_layers=1, dropout=0.0
)


def _check(exercise_id: str, fn, capsys: pytest.CaptureFixture) -> tuple[object, str]:
    used = exercises.check(exercise_id, fn)
    return used, capsys.readouterr().out


# ---------------------------------------------------------------- references vs the library's modules
def test_attention_pooling_is_what_the_crnn_weak_head_computes() -> None:
    model = models.CRNN(SMALL, seed=0).eval()
    h = torch.randn(2, 13, 2 * SMALL.rnn_hidden)
    _, strong, weak = model.heads(h)
    att_logits = model.attention_head(h).transpose(1, 2)  # [batch, classes, frames]
    assert torch.allclose(attention_pooling(strong, att_logits), weak, atol=1e-6)


def test_se_block_matches_seblock_without_biases_and_the_formula_with_them() -> None:
    torch.manual_seed(0)
    block = models.SEBlock(16, reduction=4)
    x = torch.randn(2, 16, 7, 5)
    zeros_h, zeros_c = torch.zeros(4), torch.zeros(16)
    out = se_block(x, block.squeeze.weight, zeros_h, block.excite.weight, zeros_c)
    assert torch.allclose(out, block(x), atol=1e-6)
    w1, b1, w2, b2 = torch.randn(4, 16), torch.randn(4), torch.randn(16, 4), torch.randn(16)
    manual = x * torch.sigmoid(torch.relu(x.mean((2, 3)) @ w1.T + b1) @ w2.T + b2)[:, :, None, None]
    assert torch.allclose(se_block(x, w1, b1, w2, b2), manual, atol=1e-6)
    with pytest.raises(ValueError, match="do not fit"):
        se_block(x, w1, b1, w2[:, :3], b2)


def test_conv_cost_formula() -> None:
    assert conv_cost(8, 16, 3, 10, 4) == {"params": 16 * 8 * 9 + 16, "macs": 16 * 10 * 4 * 8 * 9}
    assert conv_cost(1, 4, 1, 5, 2) == {"params": 8, "macs": 40}


def test_ema_update_warm_start_and_inputs_untouched() -> None:
    bar, th = torch.zeros(3), torch.ones(3)
    assert torch.equal(ema_update(bar, th, 0.999, 0), th)  # step 0 copies the student
    assert torch.allclose(ema_update(bar, th, 0.999, 1), torch.full((3,), 0.5))
    assert torch.allclose(ema_update(bar, th, 0.9, 5000), torch.full((3,), 0.1))
    assert torch.equal(bar, torch.zeros(3)) and torch.equal(th, torch.ones(3))


def test_binary_kd_loss_zero_on_copy_and_positive_otherwise() -> None:
    s, w = torch.rand(2, 10, 6) * 0.9 + 0.05, torch.rand(2, 10) * 0.9 + 0.05
    assert float(binary_kd_loss(s, w, s, w)) == pytest.approx(0.0, abs=1e-6)
    assert float(binary_kd_loss(s, w, 1 - s, 1 - w)) > 0.01


def test_eefd_kinds() -> None:
    p = torch.randn(2, 8, 5)
    assert float(eefd(p, p, "mse")) == 0.0
    assert float(eefd(p, 3 * p, "cosine")) == pytest.approx(0.0, abs=1e-6)
    assert float(eefd(p, -p, "cosine")) == pytest.approx(2.0, abs=1e-5)


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


# ---------------------------------------------------------------- the checkers
@pytest.mark.parametrize("exercise_id", IDS)
def test_every_exercise_is_registered_and_accepts_its_reference(exercise_id: str, capsys) -> None:
    ex = exercises.registered_exercises()[exercise_id]
    reference = checker._resolve(ex.reference)
    used, out = _check(exercise_id, reference, capsys)
    assert used is reference and out.startswith(f"✅ Exercise {exercise_id}")


@pytest.mark.parametrize("exercise_id", IDS)
def test_stub_means_not_attempted(exercise_id: str, capsys) -> None:
    def stub(*args, **kwargs):
        raise NotImplementedError(f"Exercise {exercise_id}")

    used, out = _check(exercise_id, stub, capsys)
    assert used is not stub and "not attempted yet" in out


def _softmax_time(strong, logits):
    att = torch.softmax(logits, dim=2)
    return (strong * att).sum(2) / att.sum(2)


def _always_interpolate(emb, n):
    return F.interpolate(emb, size=n, mode="linear", align_corners=False)


def _se_no_bias(x, w1, b1, w2, b2):
    return x * torch.sigmoid(torch.relu(x.mean((2, 3)) @ w1.T) @ w2.T)[:, :, None, None]


def _conv_no_bias(cin, cout, k, t, f):
    return {"params": cout * cin * k * k, "macs": cout * t * f * cin * k * k}


def _ema_no_warm_start(bar, th, alpha, step):
    return alpha * bar + (1 - alpha) * th


def _kd_as_bce(ps, pw, ts, tw):
    return F.binary_cross_entropy(ps, ts) + F.binary_cross_entropy(pw, tw)


def _eefd_time_cosine(p, t, kind="mse"):
    if kind == "mse":
        return F.mse_loss(p, t)
    return (1 - F.cosine_similarity(p, t, dim=2)).mean()


def _total_all_terms(terms, mode, wc, wk, we):
    return terms["sup"] + wc * terms["cons"] + wk * terms["kd"] + we * terms["emb"]


def _total_with_diagnostics(terms, mode, wc, wk, we):
    return total_loss(terms, mode, wc, wk, we) + terms["kd_mean"]


@pytest.mark.parametrize(
    "exercise_id, wrong, hint",
    [
        ("3.1", _softmax_time, "over the *classes*"),
        ("3.2", _always_interpolate, "adaptive average pooling"),
        ("5.1", _se_no_bias, "Add the biases"),
        ("5.2", _conv_no_bias, "one bias"),
        ("6.1", _ema_no_warm_start, "warm start"),
        ("6.2", _kd_as_bce, "binary KL"),
        ("7.1", _eefd_time_cosine, "dimension axis"),
        ("8.1", _total_all_terms, "Only the terms of the mode count"),
        ("8.1", _total_with_diagnostics, "diagnostics"),
    ],
)
def test_typical_mistakes_get_their_hint(exercise_id: str, wrong, hint: str, capsys) -> None:
    used, out = _check(exercise_id, wrong, capsys)
    assert used is not wrong
    assert out.startswith(f"❌ Exercise {exercise_id}") and hint in out, out


def test_trials_cover_both_regimes() -> None:
    """The random inputs must exercise the warm start and the plain EMA, and both resampling directions."""
    import numpy as np

    steps = [nb06._inputs_6_1(np.random.default_rng(i))[3] for i in range(5)]
    assert min(steps) < 10 and max(steps) >= 1000
    kinds = [nb03._inputs_3_2(np.random.default_rng(i)) for i in range(5)]
    assert any(e.shape[-1] > n for e, n in kinds) and any(e.shape[-1] < n for e, n in kinds)
    modes = {nb08._inputs_8_1(np.random.default_rng(i))[1] for i in range(5)}
    eefd_kinds = {nb07._inputs_7_1(np.random.default_rng(i))[2] for i in range(5)}
    assert len(modes) >= 3 and eefd_kinds == {"mse", "cosine"}


def test_reimport_does_not_fail() -> None:
    import importlib

    for module in (nb03, nb05, nb06, nb07, nb08):
        importlib.reload(module)
    assert "8.1" in exercises.registered_exercises()
