"""The models of the course: the CRNN teacher, the SE-CRNN student, the embedding model.

Every model reads *already standardised* log-mel features ``[batch, n_mels, frames]``
(626 frames for a 10-s clip at hop 256) and works internally on images
``[batch, channels, time, freq]`` (time first, as in the DCASE baseline; every
pooling tuple below is ``(time, freq)``).

- :class:`CRNN`, the **teacher** (notebook 03): the DCASE 2023 baseline CRNN. Seven conv
  blocks (3x3 conv, BatchNorm, GLU, average pooling, dropout), an optional fusion of
  frame embeddings from a large pre-trained model (BEATs in DCASE 2023; our
  :class:`EmbeddingModel` in the course) before a 2-layer bidirectional GRU, a frame-level
  "strong" head and an attention-pooled clip-level "weak" head.
- :class:`SECRNN`, the **student** (notebook 05): narrow conv blocks with channel
  squeeze-and-excitation (:class:`SEBlock`) and per-frame frequency attention
  (:class:`TFWSE`), the same GRU and heads, plus the *embedding distillation layer*
  (``embedding_head``, notebook 07) that is used in training only and removed by
  :meth:`SECRNN.without_embedding_head` before deployment.
- :class:`EmbeddingModel` (notebook 03): a wider CNN encoder that stands in for BEATs. It
  is pre-trained once on a larger generated corpus, then frozen; its frame embeddings feed
  the teacher and are the targets of the student's embedding distillation layer.

Time resolution. The conv blocks pool time by 4 in total with ``AvgPool2d``, which
floors: ``frames -> frames // 2 -> frames // 4``. A 10-s clip at hop 256 has 626 frames,
so the models output ``626 // 4 = 156`` frames; the last ``626 - 4 * 156 = 2`` input
frames (32 ms) are dropped. This is the DCASE convention
``int(int(10 * 16000 / hop) / 4)`` (156 at hop 256, 78 at hop 512); see
:func:`output_frames`. The configs insist that the time factors multiply to exactly 4, and
the floors of ``AvgPool2d`` then give ``frames // 4`` output frames for any input
length; the models also crop the CNN output to that length as a guard.

Cost (notebook 09): :func:`count_parameters`, :func:`count_macs` (multiply-accumulates
per 10-s clip, counted with forward hooks) and :func:`model_summary`.

The package's modules:

- :mod:`.configs`: the outputs (``SEDOutput``, ...) and the frozen configs (``CRNNConfig``, ``EmbeddingModelConfig``);
- :mod:`.blocks`: the building blocks (GLU, context gating, ``SEBlock``, ``TFWSE``, ``ConvBlock``);
- :mod:`.networks`: ``CRNN`` (teacher), ``SECRNN`` (student), ``EmbeddingModel`` (stands in for BEATs),
  and :data:`MODEL_CLASSES`, the registry checkpoints rebuild models from;
- :mod:`.cost`: parameters and multiply-accumulates;
- :mod:`.presets`: the model configs of the tiny, course and desed presets.
"""
from dualkd_lib.models.configs import (
    CRNNConfig,
    EmbeddingModelConfig,
    EmbeddingOutput,
    Pooling,
    PretrainLogits,
    SEDOutput,
    SE_ACTIVATIONS,
)
from dualkd_lib.models.blocks import (
    ContextGating,
    ConvBlock,
    GLU,
    SEBlock,
    TFWSE,
    align_embeddings,
    count_parameters,
    output_frames,
)
from dualkd_lib.models.networks import (
    MODEL_CLASSES,
    CRNN,
    EmbeddingModel,
    SECRNN,
)
from dualkd_lib.models.cost import (
    count_macs,
    gru_macs,
    model_summary,
)
from dualkd_lib.models.presets import (
    COURSE_EMBEDDING,
    COURSE_STUDENT,
    COURSE_TEACHER,
    DESED_EMBEDDING,
    DESED_STUDENT,
    DESED_TEACHER,
    TINY_EMBEDDING,
    TINY_STUDENT,
    TINY_TEACHER,
)

__all__ = [
    "MODEL_CLASSES",
    "COURSE_EMBEDDING",
    "COURSE_STUDENT",
    "COURSE_TEACHER",
    "CRNN",
    "CRNNConfig",
    "ContextGating",
    "ConvBlock",
    "DESED_EMBEDDING",
    "DESED_STUDENT",
    "DESED_TEACHER",
    "EmbeddingModel",
    "EmbeddingModelConfig",
    "EmbeddingOutput",
    "GLU",
    "Pooling",
    "PretrainLogits",
    "SEBlock",
    "SECRNN",
    "SEDOutput",
    "SE_ACTIVATIONS",
    "TFWSE",
    "TINY_EMBEDDING",
    "TINY_STUDENT",
    "TINY_TEACHER",
    "align_embeddings",
    "count_macs",
    "count_parameters",
    "gru_macs",
    "model_summary",
    "output_frames",
]
