"""The model configs the presets use (assembled into tiny / course / desed by :mod:`dualkd_lib.config`).

Taught in notebooks 03 and 05.
"""
from __future__ import annotations

import dataclasses

from dualkd_lib.models.configs import CRNNConfig, EmbeddingModelConfig, Pooling


# ----------------------------------------------------------------------------------------
# Presets (assembled into the tiny / course / desed presets by config.py)
# ----------------------------------------------------------------------------------------
_DCASE_POOLING: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2))
# 64 mels run out after six frequency halvings, so the seventh block keeps the frequency axis.
_COURSE_POOLING: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 1))
_SIX_BLOCK_POOLING: Pooling = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2))

#: DCASE 2023 Task 4 baseline CRNN + BEATs fusion (128 mels, 768-d embeddings).
#: 1.23 M parameters (114,816 of them in the fusion layer), 0.94 GMACs per 10-s clip.
DESED_TEACHER = CRNNConfig(
    n_mels=128,
    channels=(16, 32, 64, 128, 128, 128, 128),
    pooling=_DCASE_POOLING,
    dropout=0.5,
    rnn_hidden=128,
    rnn_layers=2,
    activation="glu",
    embedding_dim=768,
)

#: SE-CRNN student for real DESED: 0.34 M parameters deployed (0.39 M with the 768-d
#: embedding distillation layer), under 1/3 of DESED_TEACHER (BEATs not counted).
DESED_STUDENT = CRNNConfig(
    n_mels=128,
    channels=(16, 32, 64, 64, 64, 64, 64),
    pooling=_DCASE_POOLING,
    dropout=0.5,
    rnn_hidden=64,
    rnn_layers=2,
    activation="cg",
    se=True,
    tfwse=True,
    se_reduction=4,
    embedding_distill_dim=768,
)

#: A 128-mel, 768-d embedding model, for running the desed preset without BEATs files
#: (the real recipe reads BEATs embeddings from HDF5 instead).
DESED_EMBEDDING = EmbeddingModelConfig(
    n_mels=128,
    channels=(16, 64, 128, 128, 256, 256, 256),
    pooling=_DCASE_POOLING,
    emb_dim=768,
    temporal_layers=2,
)

#: Course teacher: the DCASE baseline CRNN at 64 mels (7 blocks, GRU 128 x 2) fused with
#: COURSE_EMBEDDING's 128-d frame embeddings. 1.15 M parameters, 0.50 GMACs per clip;
#: trains ~32 clips/s on 2 CPU threads (batch 24, benchmarks/profile_models.py).
COURSE_TEACHER = CRNNConfig(
    n_mels=64,
    channels=(16, 32, 64, 128, 128, 128, 128),
    pooling=_COURSE_POOLING,
    dropout=0.5,
    rnn_hidden=128,
    rnn_layers=2,
    activation="glu",
    embedding_dim=128,
)

#: Course student: SE-CRNN with a narrow first block (the full-resolution block costs the
#: most on a CPU), GRU 48 x 2, 0.17 M parameters (7x fewer than the teacher), 46 MMACs.
#: ReLU instead of lightSED's context gating, and dropout 0.1 instead of 0.5: in the course's
#: 450 training steps the gated, heavily dropped-out student learned nothing (PSDS1 0.000
#: supervised on validation), the ReLU one does (measured side by side, see the
#: ``activation`` note in docs/results/student-design-log.md). The desed preset keeps context gating.
COURSE_STUDENT = CRNNConfig(
    n_mels=64,
    channels=(8, 16, 32, 48, 48, 48, 48),
    pooling=_COURSE_POOLING,
    dropout=0.1,
    rnn_hidden=48,
    rnn_layers=2,
    activation="relu",
    se=True,
    tfwse=True,
    se_reduction=4,
    embedding_distill_dim=128,
    # the strong split's frame prior, logit(0.073): the student starts "mostly silent" and
    # leaves the all-zeros plateau about 300 steps earlier (measured, docs/results/
    # faithful-experiment-progress.md, session of 2026-12-04, morning)
    strong_head_bias=-2.5,
)

#: Course embedding model (the BEATs stand-in): wider late blocks (256 channels), 128-d
#: embeddings. 1.25 M parameters, 0.86 GMACs; infers ~110 clips/s on 2 CPU threads.
COURSE_EMBEDDING = EmbeddingModelConfig(
    n_mels=64,
    channels=(16, 64, 128, 128, 256, 256),
    pooling=_SIX_BLOCK_POOLING,
    emb_dim=128,
    temporal_layers=2,
)

#: Tiny presets for tests and CI: the course architectures, narrower.
TINY_TEACHER = dataclasses.replace(COURSE_TEACHER, channels=(8, 16, 16, 32, 32, 32, 32), rnn_hidden=32, embedding_dim=32)
TINY_STUDENT = dataclasses.replace(COURSE_STUDENT, channels=(4, 8, 8, 8, 8, 8, 8), rnn_hidden=12, embedding_distill_dim=32)
TINY_EMBEDDING = dataclasses.replace(
    COURSE_EMBEDDING, channels=(8, 16, 32, 32, 32, 32), emb_dim=32, temporal_layers=1
)
