"""Tests of dualkd_lib.train: the loop in every mode, determinism, mixup, checkpoints, resume."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dualkd_lib import datasets, distill, models
from dualkd_lib.datasets import mixup_batch
from dualkd_lib.distill import MODES
from dualkd_lib.train import (
    check_cached_run,
    TrainConfig,
    learning_rate,
    load_checkpoint,
    load_model_from_checkpoint,
    predict_scores,
    save_checkpoint,
    train,
    training_step,
)

N_MELS, FRAMES, OUT_FRAMES, EMB_DIM = 16, 64, 16, 8
STUDENT_CFG = models.CRNNConfig(
    n_mels=N_MELS, channels=(8, 8, 8), pooling=((2, 2), (2, 2), (1, 2)), dropout=0.1, rnn_hidden=8,
    rnn_layers=1, activation="cg", se=True, tfwse=True, embedding_distill_dim=EMB_DIM,
)
TEACHER_CFG = dataclasses.replace(
    STUDENT_CFG, se=False, tfwse=False, activation="glu", embedding_distill_dim=0, embedding_dim=EMB_DIM
)
FAST = dict(lr=3e-3, lr_rampup_steps=5, cons_rampup_steps=10, ema_alpha=0.99, log_every=5)


def toy_part(kind: str, n: int, seed: int) -> datasets.SEDDataset:
    """A separable toy problem: class c is active where mel band c is raised by 2."""
    g = torch.Generator().manual_seed(seed)
    strong = torch.zeros(n, 10, OUT_FRAMES)
    for i in range(n):
        for c in range(10):
            if torch.rand(1, generator=g) < 0.3:
                a = int(torch.randint(0, OUT_FRAMES - 2, (1,), generator=g))
                strong[i, c, a : a + int(torch.randint(2, 8, (1,), generator=g))] = 1
    x = torch.randn(n, N_MELS, FRAMES, generator=g)
    x[:, :10] += 2.0 * strong.repeat_interleave(4, dim=2)
    proj = torch.randn(EMB_DIM, 10, generator=torch.Generator().manual_seed(99))
    extras = {
        "embeddings": torch.einsum("dc,nct->ndt", proj, strong),
        "teacher_strong": 0.05 + 0.9 * strong,
        "teacher_weak": 0.05 + 0.9 * strong.amax(2),
    }
    if kind == "strong":
        return datasets.SEDDataset(x, "strong", strong_labels=strong, extras=extras)
    if kind == "weak":
        return datasets.SEDDataset(x, "weak", weak_labels=strong.amax(2), extras=extras, out_frames=OUT_FRAMES)
    return datasets.SEDDataset(x, "unlabeled", extras=extras, out_frames=OUT_FRAMES)


@pytest.fixture(scope="module")
def parts() -> tuple[datasets.SEDDataset, ...]:
    return tuple(toy_part(kind, 16, seed) for seed, kind in enumerate(("strong", "weak", "unlabeled")))


def loader(parts, seed: int = 0):
    return datasets.build_train_loader(*parts, batch_sizes=(4, 4, 4), seed=seed)  # 4 batches per epoch


def student(seed: int = 0) -> models.SECRNN:
    return models.SECRNN(STUDENT_CFG, seed=seed)


def weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([v.flatten().float() for v in model.state_dict().values()])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is faster and keeps CI's two cores free."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

# -------------------------------------------------------------------- the loop
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_decreases_supervised_loss(mode: str, parts, tmp_path: Path) -> None:
    is_teacher = mode == "teacher"
    model = models.CRNN(TEACHER_CFG, seed=0) if is_teacher else student()
    cfg = TrainConfig(mode=mode, epochs=6, mixup_prob=0.0, **FAST)
    result = train(model, loader(parts), cfg, run_dir=tmp_path, teacher_needs_embeddings=is_teacher, progress=False)
    sup = [h["sup"] for h in result.history]
    assert len(sup) == 24 == result.steps
    assert np.mean(sup[-4:]) < 0.9 * np.mean(sup[:4])
    expected_terms = {"kd": mode in ("kd", "takd", "dual"), "emb": mode in ("eefd", "dual")}
    for term, present in expected_terms.items():
        assert (term in result.history[0]) == present
    assert {"loss", "cons", "lr", "alpha", "w_cons", "kd_student", "kd_mean"} <= set(result.history[0])
    assert (tmp_path / "final.pt").is_file() and (tmp_path / "last.pt").is_file()


def test_same_config_same_history(parts, tmp_path: Path) -> None:
    cfg = TrainConfig(mode="dual", epochs=2, mixup_prob=0.5, **FAST)
    a = train(student(), loader(parts), cfg, run_dir=tmp_path / "a", progress=False)
    b = train(student(), loader(parts), cfg, run_dir=tmp_path / "b", progress=False)
    # Same seed, same machine: the runs agree to float32 rounding (not bit for bit: thread
    # scheduling may reorder reductions on some CPUs).
    assert [h.keys() for h in a.history] == [h.keys() for h in b.history]
    for ha, hb in zip(a.history, b.history):
        assert ha == pytest.approx(hb, rel=1e-5, abs=1e-6)
    torch.testing.assert_close(weights(a.mean_model), weights(b.mean_model))


def test_takd_gradient_variants_train(parts, tmp_path: Path) -> None:
    for gradient in ("straight_through", "interpolated", "compensated"):
        cfg = TrainConfig(mode="takd", takd_gradient=gradient, max_steps=3, **FAST)
        result = train(student(), loader(parts), cfg, run_dir=tmp_path / gradient, progress=False)
        assert all(np.isfinite(h["loss"]) for h in result.history)


def test_takd_blended_target_is_one_term(parts) -> None:
    """takd_blend=λ: the consistency target is λ·mean + (1-λ)·teacher, and the KD term is that same term."""
    model = student().eval()  # no dropout: the two forward passes below see the same student
    mean = copy.deepcopy(model)
    with torch.no_grad():
        for p in mean.parameters():
            p.add_(0.05)
    batch = next(iter(loader(parts)))
    cfg = TrainConfig(mode="takd", takd_blend=0.3, max_steps=3, **FAST)
    loss, terms = training_step(model, mean, batch, cfg, step=2)
    assert terms["kd"] is terms["cons"]
    with torch.no_grad():
        m = mean(batch["features"])
    out = model(batch["features"])
    blend = distill.blended_target(m, batch["teacher_strong"], batch["teacher_weak"], 0.3)
    torch.testing.assert_close(terms["cons"], distill.consistency_loss(out, blend))
    w_cons = cfg.cons_max * distill.sigmoid_rampup(2, cfg.cons_rampup_steps)
    torch.testing.assert_close(loss, terms["sup"] + (w_cons + cfg.w_kd) * terms["cons"])
    with pytest.raises(ValueError, match="takd_blend"):
        TrainConfig(mode="takd", takd_blend=2.0)


def test_a_config_field_added_later_takes_its_default_in_old_checkpoints(tmp_path: Path) -> None:
    """A checkpoint saved before a field existed is not stale for that field's default."""
    from dualkd_lib.train.checkpoint import config_diffs, field_defaults

    cfg = TrainConfig(mode="takd")
    old = {k: v for k, v in cfg.to_dict().items() if k != "takd_blend"}
    assert config_diffs(old, cfg.to_dict(), defaults=field_defaults(cfg)) == []
    changed = TrainConfig(mode="takd", takd_blend=0.5)
    assert config_diffs(old, changed.to_dict(), defaults=field_defaults(changed)) == ["takd_blend: None -> 0.5"]


def test_kd_mode_without_teacher_outputs_raises(tmp_path: Path) -> None:
    plain = tuple(
        datasets.SEDDataset(p.features, p.kind, strong_labels=p.strong_labels,
                            weak_labels=None if p.kind != "weak" else p.weak_labels, out_frames=OUT_FRAMES)
        for p in (toy_part(k, 4, s) for s, k in enumerate(("strong", "weak", "unlabeled")))
    )
    with pytest.raises(ValueError, match="teacher_strong"):
        train(student(), loader(plain), TrainConfig(mode="kd", max_steps=1), run_dir=tmp_path, progress=False)


def test_validation_each_epoch(parts, tmp_path: Path) -> None:
    seen = []

    def val_fn(model):
        seen.append(model.training)
        return {"score": 1.0}

    result = train(student(), loader(parts), TrainConfig(epochs=2, **FAST), run_dir=tmp_path, val_fn=val_fn, progress=False)
    assert [v["epoch"] for v in result.val_history] == [0, 1] and seen == [False, False]
    assert result.model.training  # the student goes back to train mode after validation


def test_mixup_mixes_within_groups() -> None:
    g = torch.Generator().manual_seed(0)
    batch = {
        "features": torch.randn(6, 2, 4, generator=g),
        "strong": torch.cat([torch.ones(2, 10, 3), torch.zeros(4, 10, 3)]),
        "weak": torch.cat([torch.ones(4, 10), torch.zeros(2, 10)]),
        "has_strong": torch.tensor([1, 1, 0, 0, 0, 0]).bool(),
        "has_weak": torch.tensor([1, 1, 1, 1, 0, 0]).bool(),
        "teacher_weak": torch.arange(6.0)[:, None].expand(6, 10),
        "index": torch.arange(6),
    }
    rng = np.random.default_rng(3)
    mixed = mixup_batch(batch, rng, prob=1.0, beta=0.2)
    torch.testing.assert_close(mixed["strong"], batch["strong"])  # strong rows only mix with strong rows
    torch.testing.assert_close(mixed["weak"], batch["weak"])
    tw = mixed["teacher_weak"][:, 0]
    assert (tw[:2] <= 1).all() and ((tw[2:4] >= 2) & (tw[2:4] <= 3)).all() and (tw[4:] >= 4).all()
    assert mixed["index"] is batch["index"]
    same = mixup_batch(batch, np.random.default_rng(3), prob=0.0, beta=0.2)
    assert same["features"] is batch["features"]


# -------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_and_refusals(tmp_path: Path) -> None:
    model = student(1)
    mean = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters())
    path = tmp_path / "s.pt"
    kw = dict(model=model, mean_model=mean, optimizer=opt, step=7, epoch=1, history=[{"step": 0, "loss": 1.0}],
              model_kind="student", model_config=model.cfg, train_config=TrainConfig(), preset="tiny")
    save_checkpoint(path, **kw)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_checkpoint(path, **kw)
    save_checkpoint(path, **kw, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt"]  # no temporary files left behind
    ckpt = load_checkpoint(path, expected_kind="student")
    assert ckpt["step"] == 7 and ckpt["preset"] == "tiny" and ckpt["train_config"]["mode"] == "supervised"
    rebuilt, rebuilt_mean, _ = load_model_from_checkpoint(path, expected_kind="student")
    x = torch.randn(2, N_MELS, FRAMES)
    model.eval()
    torch.testing.assert_close(rebuilt(x).strong, model(x).strong)
    torch.testing.assert_close(weights(rebuilt_mean), weights(mean))
    with pytest.raises(ValueError, match=r"holds a student model.*preset 'tiny'.*teacher model was expected"):
        load_model_from_checkpoint(path, expected_kind="teacher")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_whose_weights_do_not_fit(tmp_path: Path) -> None:
    model = student()
    wrong_cfg = dataclasses.replace(STUDENT_CFG, rnn_hidden=12)
    save_checkpoint(tmp_path / "w.pt", model=model, mean_model=None, optimizer=None, step=0, epoch=0, history=[],
                    model_kind="student", model_config=wrong_cfg, train_config=None, preset="course")
    with pytest.raises(ValueError, match=r"a student model, SECRNN, preset 'course'\) do not fit the SECRNN"):
        load_model_from_checkpoint(tmp_path / "w.pt")


def test_a_cached_run_made_with_other_settings_is_refused_and_kept(tmp_path: Path) -> None:
    model = student()
    cfg = TrainConfig(mode="dual", lr=3e-3)
    path = tmp_path / "final.pt"
    save_checkpoint(path, model=model, mean_model=None, optimizer=None, step=5, epoch=1, history=[],
                    model_kind="student", model_config=model.cfg, train_config=cfg, preset="tiny")
    check_cached_run(path, kind="student", model_config=model.cfg, train_config=cfg)  # same settings: fine
    check_cached_run(path, kind="student", model_config=model.cfg,
                     train_config=dataclasses.replace(cfg, log_every=1, device="cpu"))  # cosmetic: fine
    with pytest.raises(ValueError, match=r"training lr: 0.003 -> 0.001.*move its folder away"):
        check_cached_run(path, kind="student", model_config=model.cfg, train_config=dataclasses.replace(cfg, lr=1e-3))
    with pytest.raises(ValueError, match=r"model dropout: .* -> 0.42"):
        check_cached_run(path, kind="student", model_config=dataclasses.replace(model.cfg, dropout=0.42),
                         train_config=cfg)
    with pytest.raises(ValueError, match="teacher model was expected"):
        check_cached_run(path, kind="teacher", model_config=model.cfg, train_config=cfg)
    assert path.is_file()  # never deleted


def test_a_run_on_other_data_is_neither_reused_nor_resumed(parts, tmp_path: Path) -> None:
    cfg = TrainConfig(mode="supervised", max_steps=2, **FAST)
    first = train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="aaaa")
    assert load_checkpoint(first.final_path)["extra"]["data_fingerprint"] == "aaaa"
    again = train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="aaaa")
    assert again.resumed_from == 2  # the same data: the finished run is loaded
    with pytest.raises(ValueError, match=r"trained on other data \(data fingerprint aaaa -> bbbb"):
        train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="bbbb")
    (tmp_path / "final.pt").rename(tmp_path / "elsewhere.pt")
    with pytest.raises(ValueError, match="trained on other data"):  # an interrupted run (last.pt) neither
        train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False, data_fingerprint="bbbb")


def test_resume_equals_uninterrupted_run(parts, tmp_path: Path) -> None:
    cfg2 = TrainConfig(mode="dual", epochs=2, mixup_prob=0.5, checkpoint_every=3, **FAST)
    straight = train(student(), loader(parts), cfg2, run_dir=tmp_path / "straight", progress=False)

    # 1 epoch, then resume for a second one (extending a finished run needs overwrite=True)
    cfg1 = dataclasses.replace(cfg2, epochs=1)
    train(student(), loader(parts), cfg1, run_dir=tmp_path / "split", progress=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        train(student(), loader(parts), cfg2, run_dir=tmp_path / "split", progress=False)
    resumed = train(student(), loader(parts), cfg2, run_dir=tmp_path / "split", overwrite=True, progress=False)
    assert resumed.resumed_from == 4
    torch.testing.assert_close(weights(resumed.model), weights(straight.model), rtol=0, atol=1e-6)
    torch.testing.assert_close(weights(resumed.mean_model), weights(straight.mean_model), rtol=0, atol=1e-6)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], abs=1e-6)

    # a run interrupted mid-epoch (last.pt at step 3) continues where it stopped
    def crash(model):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        train(student(), loader(parts), cfg2, run_dir=tmp_path / "crash", val_fn=crash, progress=False)
    assert load_checkpoint(tmp_path / "crash" / "last.pt")["step"] == 3
    again = train(student(), loader(parts), cfg2, run_dir=tmp_path / "crash", progress=False)
    assert again.resumed_from == 3
    torch.testing.assert_close(weights(again.mean_model), weights(straight.mean_model), rtol=0, atol=1e-6)

    # a finished run of the same length is loaded, not retrained
    done = train(student(5), loader(parts), cfg2, run_dir=tmp_path / "straight", progress=False)
    assert done.resumed_from == done.steps == 8
    # loaded from straight's checkpoint, a copy: bit for bit
    torch.testing.assert_close(weights(done.mean_model), weights(straight.mean_model), rtol=0, atol=0)


def test_run_dir_rules(parts, tmp_path: Path) -> None:
    cfg = TrainConfig(max_steps=2, **FAST)
    train(student(), loader(parts), cfg, run_dir=tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="resume=True"):
        train(student(), loader(parts), cfg, run_dir=tmp_path, resume=False, progress=False)
    with pytest.raises(ValueError, match="another config.*mode"):
        train(student(), loader(parts), dataclasses.replace(cfg, mode="eefd"), run_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="holds a student model"):
        train(models.CRNN(TEACHER_CFG), loader(parts), cfg, run_dir=tmp_path, teacher_needs_embeddings=True,
              progress=False)
    fresh = train(student(), loader(parts), cfg, run_dir=tmp_path, resume=False, overwrite=True, progress=False)
    assert fresh.resumed_from == 0 and fresh.steps == 2


# -------------------------------------------------------------------- inference
def test_predict_scores(parts) -> None:
    model = student()
    model.train()
    x = parts[0].features[:5]
    strong, weak = predict_scores(model, x, batch_size=2, progress=False)
    assert strong.shape == (5, 10, OUT_FRAMES) and weak.shape == (5, 10) and strong.dtype == np.float32
    again, _ = predict_scores(model, x.numpy(), batch_size=5, progress=False)
    np.testing.assert_allclose(strong, again, atol=1e-6)  # eval mode: no dropout noise
    assert model.training
    teacher = models.CRNN(TEACHER_CFG)
    s, w = predict_scores(teacher, x, embeddings=parts[0].extras["embeddings"][:5], progress=False)
    assert s.shape == (5, 10, OUT_FRAMES)
    with pytest.raises(ValueError, match="n_mels, frames"):
        predict_scores(model, x[0], progress=False)


def test_cosine_learning_rate_warms_up_then_falls_to_zero_and_none_stays_constant() -> None:
    cfg = TrainConfig(lr=1e-3, lr_rampup_steps=10, lr_decay="cosine")
    flat = dataclasses.replace(cfg, lr_decay="none")
    assert learning_rate(flat, 50, 100) == pytest.approx(1e-3)
    assert learning_rate(cfg, 0, 100) < learning_rate(cfg, 10, 100)  # warm-up
    assert learning_rate(cfg, 50, 100) == pytest.approx(0.5e-3)
    assert learning_rate(cfg, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert all(learning_rate(cfg, s + 1, 100) <= learning_rate(cfg, s, 100) for s in range(10, 100))
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay="step")
