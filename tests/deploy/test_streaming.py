"""Streaming detection: the chunked scores equal the offline pass within the stated tolerance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dualkd_lib import generate, models
from dualkd_lib.deploy import export
from dualkd_lib.features import COURSE_FEATURES, LogMel, Scaler
from dualkd_lib.deploy.streaming import StreamingDetector, offline_scores, stream_waveform

#: Stated tolerance of the streaming student (4 s of context, 2 s of lookahead) on a 10-s clip.
STREAM_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    wave, _ = generate.generate_clip(generate.clip_rng(0, "evaluation", 0), generate.TINY_GENERATOR)
    return wave


@pytest.fixture(scope="module")
def scaler(clip: np.ndarray) -> Scaler:
    return Scaler(COURSE_FEATURES.n_mels).fit(LogMel(COURSE_FEATURES)(torch.from_numpy(clip)))


class LocalModel(nn.Module):
    """A model whose frames see only +-1 feature frame: streaming must be *exact* for it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(COURSE_FEATURES.n_mels, 10, 3, padding=1)

    def forward(self, x: torch.Tensor) -> models.SEDOutput:
        strong = torch.sigmoid(nn.functional.avg_pool1d(self.conv(x), 4))
        return models.SEDOutput(strong, strong.mean(-1))


def test_frame_alignment_is_exact_for_a_local_model(clip: np.ndarray, scaler: Scaler) -> None:
    torch.manual_seed(0)
    model = LocalModel().eval()
    offline = offline_scores(model, COURSE_FEATURES, scaler, clip)
    assert offline.shape == (10, 78)
    det = StreamingDetector(model, COURSE_FEATURES, scaler, hop_seconds=0.5, context_seconds=0.2, lookahead_seconds=0.2)
    for chunk_seconds in (0.05, 0.33, 1.7):  # irregular chunk sizes, window edges everywhere
        streamed = stream_waveform(det, clip, chunk_seconds)
        assert streamed.shape == offline.shape
        np.testing.assert_allclose(streamed, offline, atol=1e-5)
    # without any context the window edges change the edge frames: the test above can fail
    bare = StreamingDetector(model, COURSE_FEATURES, scaler, hop_seconds=0.5, context_seconds=0.0, lookahead_seconds=0.0)
    assert np.abs(stream_waveform(bare, clip, 0.1) - offline).max() > 1e-4


def test_student_streaming_matches_offline_within_tolerance(clip: np.ndarray, scaler: Scaler) -> None:
    student = models.SECRNN(models.TINY_STUDENT, seed=0)
    offline = offline_scores(student, COURSE_FEATURES, scaler, clip)
    det = StreamingDetector(student, COURSE_FEATURES, scaler, hop_seconds=1.0, context_seconds=4.0,
                            lookahead_seconds=2.0)
    streamed = stream_waveform(det, clip, 0.25)
    assert streamed.shape == offline.shape
    diff = np.abs(streamed - offline).max()
    assert diff <= STREAM_TOLERANCE
    # less context: further from offline (the BiGRU and SE blocks see less of the clip)
    short = StreamingDetector(student, COURSE_FEATURES, scaler, hop_seconds=1.0, context_seconds=0.0,
                              lookahead_seconds=0.0)
    assert np.abs(stream_waveform(short, clip, 0.25) - offline).max() > max(diff, 1e-4)
    # latency: hop and lookahead in whole 128-ms frames; one compute time per step
    assert det.latency_seconds == pytest.approx((8 + 16) * 0.128)
    # 7 hops of 8 frames fit before the lookahead runs past the clip's 78 frames; flush scores the rest
    assert len(det.step_seconds) == 8 and all(s > 0 for s in det.step_seconds)


def test_onnx_session_streams_like_pytorch(tmp_path: Path, clip: np.ndarray, scaler: Scaler) -> None:
    student = models.SECRNN(models.TINY_STUDENT, seed=0)
    path = export.export_onnx(student, tmp_path / "s.onnx", n_frames=313)
    kw = dict(hop_seconds=1.0, context_seconds=2.0, lookahead_seconds=1.0)
    a = stream_waveform(StreamingDetector(student, COURSE_FEATURES, scaler, **kw), clip, 0.5)
    b = stream_waveform(StreamingDetector(export.onnx_session(path, threads=1), COURSE_FEATURES, scaler, **kw), clip, 0.5)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_push_returns_chunks_as_they_become_ready(clip: np.ndarray, scaler: Scaler) -> None:
    det = StreamingDetector(models.SECRNN(models.TINY_STUDENT, seed=0), COURSE_FEATURES, scaler,
                            hop_seconds=1.0, context_seconds=1.0, lookahead_seconds=0.5)
    sr = COURSE_FEATURES.sample_rate
    assert det.push(clip[: sr]) == []  # 1 s is not yet hop + lookahead
    ready = det.push(clip[sr: 2 * sr])
    assert len(ready) == 1 and ready[0].start_frame == 0 and ready[0].scores.shape == (10, det.hop_frames)
    np.testing.assert_allclose(ready[0].times[:2], [0.0, 0.128])
    rest = det.push(clip[2 * sr:]) + det.flush()
    assert sum(c.scores.shape[1] for c in [*ready, *rest]) == 78
    with pytest.raises(ValueError, match="flushed"):
        det.push(clip[:10])


def test_bad_inputs_are_refused(scaler: Scaler) -> None:
    with pytest.raises(ValueError, match="teacher"):
        StreamingDetector(models.CRNN(models.TINY_TEACHER, seed=0), COURSE_FEATURES, scaler)
    det = StreamingDetector(models.SECRNN(models.TINY_STUDENT, seed=0), COURSE_FEATURES, scaler)
    with pytest.raises(ValueError, match="mono"):
        det.push(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(ValueError, match="hop_seconds"):
        StreamingDetector(models.SECRNN(models.TINY_STUDENT, seed=0), COURSE_FEATURES, scaler, hop_seconds=0)
