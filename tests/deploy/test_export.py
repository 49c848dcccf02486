"""Tests of dualkd_lib/deploy/export.py: ONNX export, parity with PyTorch, overwrite protection, int8 quantization."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dualkd_lib import models
from dualkd_lib.deploy import export
from dualkd_lib.train import save_checkpoint


def test_student_parity_with_dynamic_batch_and_frames(tmp_path: Path) -> None:
    student = models.SECRNN(models.TINY_STUDENT, seed=0)
    path = export.export_onnx(student, tmp_path / "student.onnx", n_frames=313)
    session = export.onnx_session(path, threads=1)
    assert [i.name for i in session.get_inputs()] == ["features"]  # no embeddings, no distillation layer
    for batch, frames in ((1, 313), (3, 313), (2, 200)):
        x = torch.randn(batch, 64, frames, generator=torch.Generator().manual_seed(batch))
        assert export.check_onnx_parity(student, path, x) <= export.PARITY_TOLERANCE
        strong, weak = export.run_onnx(session, x)
        assert strong.shape == (batch, 10, frames // 4) and weak.shape == (batch, 10)


def test_teacher_parity_with_embeddings(tmp_path: Path) -> None:
    teacher = models.CRNN(models.TINY_TEACHER, seed=1)
    path = export.export_onnx(teacher, tmp_path / "teacher.onnx", n_frames=313)
    x = torch.randn(2, 64, 313)
    e = torch.randn(2, models.TINY_TEACHER.embedding_dim, 78)
    assert export.check_onnx_parity(teacher, path, (x, e)) <= export.PARITY_TOLERANCE
    with pytest.raises(ValueError, match="embeddings"):
        export.run_onnx(path, x)
    with pytest.raises(ValueError, match="embeddings_dim"):
        export.export_onnx(teacher, tmp_path / "bad.onnx", embeddings_dim=5)


def test_export_leaves_the_model_alone(tmp_path: Path) -> None:
    student = models.SECRNN(models.TINY_STUDENT, seed=0).train()  # training mode, with distillation layer
    before = {k: v.clone() for k, v in student.state_dict().items()}
    path = export.export_onnx(student, tmp_path / "s.onnx", n_frames=313)
    assert student.training and student.embedding_head is not None
    assert all(torch.equal(before[k], v) for k, v in student.state_dict().items())  # no BN statistics moved
    assert export.check_onnx_parity(student, path, torch.randn(2, 64, 313)) <= export.PARITY_TOLERANCE


def test_export_refuses_to_overwrite(tmp_path: Path) -> None:
    student = models.SECRNN(models.TINY_STUDENT, seed=0)
    path = export.export_onnx(student, tmp_path / "s.onnx", n_frames=313)
    size = path.stat().st_size
    with pytest.raises(FileExistsError, match="overwrite"):
        export.export_onnx(student, path, n_frames=313)
    assert path.stat().st_size == size
    export.export_onnx(models.SECRNN(models.TINY_STUDENT, seed=1), path, n_frames=313, overwrite=True)
    with pytest.raises(ValueError, match=".onnx"):
        export.export_onnx(student, tmp_path / "s.pt")


def test_int8_is_smaller_runs_and_stays_close(tmp_path: Path) -> None:
    # The course student: the tiny one is so small that quantization bookkeeping outweighs its weights.
    student = models.SECRNN(models.COURSE_STUDENT, seed=0)
    fp32 = export.export_onnx(student, tmp_path / "s.onnx", n_frames=313)
    info = export.quantize_dynamic_int8(fp32, tmp_path / "s.int8.onnx")
    assert info["size_bytes"] < 0.8 * info["size_fp32_bytes"]
    assert info["quantized_ops"]["Conv"] > 0 and info["float_ops_left"].get("GRU", 0) == 2
    assert "GRU" in info["note"]
    x = torch.randn(2, 64, 313)
    s8, w8 = export.run_onnx(info["path"], x)
    s32, _ = export.run_onnx(fp32, x)
    assert s8.shape == s32.shape and np.isfinite(s8).all()
    assert 0 < np.abs(s8 - s32).max() < 0.05  # int8 changes the numbers, a little
    with pytest.raises(FileExistsError):
        export.quantize_dynamic_int8(fp32, tmp_path / "s.int8.onnx")
    with pytest.raises(ValueError, match="LSTM|GRU|cannot"):
        export.quantize_dynamic_int8(fp32, tmp_path / "x.onnx", op_types=("GRU",))


def _tiny_checkpoint(path: Path, kind: str) -> Path:
    cfg = models.TINY_STUDENT if kind == "student" else models.TINY_TEACHER
    model = (models.SECRNN if kind == "student" else models.CRNN)(cfg, seed=0)
    mean = (models.SECRNN if kind == "student" else models.CRNN)(cfg, seed=1)
    return save_checkpoint(path, model=model, mean_model=mean, optimizer=None, step=0, epoch=0, history=[],
                           model_kind=kind, model_config=cfg, train_config=None, preset="tiny")


@pytest.mark.parametrize("kind", ["student", "teacher"])
def test_export_main_without_data_uses_random_inputs(tmp_path: Path, kind: str) -> None:
    ckpt = _tiny_checkpoint(tmp_path / "run" / "final.pt", kind)
    out = tmp_path / f"{kind}.onnx"
    result = export.export_main(ckpt, out, data_root=tmp_path / "no-data", n_parity_clips=2)
    assert result["path"] == str(out) and result["kind"] == kind
    assert result["size_bytes"] == out.stat().st_size
    assert result["parity_ok"] and result["max_abs_diff"] <= 1e-4
    assert "random" in result["parity_inputs"]
    with pytest.raises(FileExistsError):
        export.export_main(ckpt, out, data_root=tmp_path / "no-data")


def test_export_main_exports_the_weights_the_ablation_kept(tmp_path: Path) -> None:
    """metrics.json's "weights" decides: the student's own (seed 0 init) or its mean model (seed 1 init)."""
    import json

    import numpy as np

    from dualkd_lib.train import kept_weights

    ckpt = _tiny_checkpoint(tmp_path / "run" / "final.pt", "student")
    assert kept_weights(ckpt) == "mean"  # nothing recorded: the mean model
    own = models.SECRNN(models.TINY_STUDENT, seed=0).without_embedding_head().eval()
    mean = models.SECRNN(models.TINY_STUDENT, seed=1).without_embedding_head().eval()
    x = torch.randn(2, models.TINY_STUDENT.n_mels, 64)
    for weights, expected in (("student", own), ("mean", mean)):
        (ckpt.parent / "metrics.json").write_text(json.dumps({"weights": weights}))
        assert kept_weights(ckpt) == weights
        out = tmp_path / f"{weights}.onnx"
        export.export_main(ckpt, out, data_root=tmp_path / "no-data", n_parity_clips=2)
        strong, _ = export.run_onnx(export.onnx_session(out), x)
        with torch.no_grad():
            np.testing.assert_allclose(strong, expected(x).strong.numpy(), atol=1e-4)
