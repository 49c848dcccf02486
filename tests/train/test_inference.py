"""Tests of dualkd_lib/train/inference.py: predict_scores."""
from __future__ import annotations

import numpy as np
import pytest

from dualkd_lib import models
from dualkd_lib.train import predict_scores

from toy_training import OUT_FRAMES, TEACHER_CFG, student


pytestmark = pytest.mark.usefixtures("one_thread")


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
