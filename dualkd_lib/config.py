"""Presets: every setting of a run in one typed, frozen object.

Three presets share one code path:

- ``tiny``: seconds per step, for tests and CI (every class in every split).
- ``course`` (default): a laptop CPU, the whole course in an afternoon.
- ``desed``: the real DESED dataset on a GPU with the DCASE 2023 baseline settings.

The environment variable ``DUALKD_PRESET`` picks one when no name is given.
Each module owns its config dataclass; this module only assembles them.
Taught in notebook 00.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from dualkd_lib import features as F
from dualkd_lib import generate as G
from dualkd_lib import models as M
from dualkd_lib.constants import PRESET_ENV_VAR
from dualkd_lib.corpus import TAXONOMY
from dualkd_lib.train.config import TrainConfig


@dataclass(frozen=True)
class PretrainConfig:
    """Pre-training of the frozen embedding model (our BEATs stand-in).

    It learns on a separate generated corpus of ``n_clips`` clips (its own seed
    stream), so the course data never leak in. ``objective``:

    - ``"frame_labels"``: frame- and clip-level labels of the course's 10 classes
      (strong labels; the stand-in knows the answers the students are asked for);
    - ``"clip_taxonomy"``: clip-level labels only, of a broader taxonomy
      (:data:`dualkd_lib.corpus.TAXONOMY`), on clips of both recording domains
      (``recorded_share`` of them recorded in a room), as BEATs learned from
      AudioSet; the model standardises its input with its own scaler, fitted on
      its corpus, so it serves any data of its preset.

    Taught in notebook 03.
    """

    n_clips: int = 2000
    epochs: int = 6
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 1000
    objective: str = "clip_taxonomy"
    recorded_share: float = 0.5

    def __post_init__(self) -> None:
        if self.objective not in ("frame_labels", "clip_taxonomy"):
            raise ValueError(f"PretrainConfig.objective={self.objective!r}: use 'frame_labels' or 'clip_taxonomy'.")
        if not 0.0 <= self.recorded_share <= 1.0:
            raise ValueError(f"PretrainConfig.recorded_share={self.recorded_share!r}: must be in [0, 1].")


@dataclass(frozen=True)
class EvalConfig:
    """Post-processing and evaluation settings (DCASE 2023 baseline style).

    ``median_filter_frames``: median filter length on the frame scores (model
    output frames) before PSDS and before thresholding; ``threshold``: decision
    threshold of the F1 scores; ``split``: split the ablation reports;
    ``curve_clips``: the first that many validation clips are scored after every epoch
    of a student run, for notebook 08's learning curves (0: no curve).
    Taught in notebook 04.
    """

    median_filter_frames: int = 7
    threshold: float = 0.5
    split: str = "evaluation"
    curve_clips: int = 0

    def __post_init__(self) -> None:
        if self.curve_clips < 0:
            raise ValueError(f"EvalConfig.curve_clips={self.curve_clips} must be >= 0 (0: no learning curve).")


@dataclass(frozen=True)
class Preset:
    """One complete set of settings (data, features, models, training, evaluation)."""

    name: str
    description: str
    generator: G.GeneratorConfig | None
    features: F.FeatureConfig
    embedding: M.EmbeddingModelConfig
    teacher: M.CRNNConfig
    student: M.CRNNConfig
    pretrain: PretrainConfig
    teacher_train: TrainConfig
    student_train: TrainConfig
    evaluation: EvalConfig = EvalConfig()

    def student_config(self, mode: str, seed: int) -> TrainConfig:
        """The student's TrainConfig for one distillation ``mode`` and ``seed``."""
        return dataclasses.replace(self.student_train, mode=mode, seed=seed)

    def teacher_config(self, seed: int) -> TrainConfig:
        """The teacher's TrainConfig for ``seed``."""
        return dataclasses.replace(self.teacher_train, mode="teacher", seed=seed)


#: A few steps: enough to run every code path in seconds.
_TINY_TRAIN = TrainConfig(
    mode="supervised", max_steps=6, batch_sizes=(4, 4, 8), lr_rampup_steps=2, cons_rampup_steps=4,
    log_every=2, checkpoint_every=4,
)
#: Three passes over the strong split (450 steps of 32 clips). The runs are short, so the
#: mean student averages with alpha 0.99 (DCASE: 0.999 over 200 epochs); with 0.999 the
#: warm start would still be averaging the untrained first steps at the end of the run.
_COURSE_TRAIN = TrainConfig(
    mode="supervised", epochs=3, ema_alpha=0.99, batch_sizes=(8, 8, 16), lr_rampup_steps=200,
    cons_rampup_steps=400, log_every=20, checkpoint_every=200,
)


TINY = Preset(
    name="tiny",
    description="tests and CI: ~190 generated clips, a few training steps",
    generator=G.TINY_GENERATOR,
    features=F.TINY_FEATURES,
    embedding=dataclasses.replace(M.TINY_EMBEDDING, n_classes=len(TAXONOMY)),
    teacher=M.TINY_TEACHER,
    student=M.TINY_STUDENT,
    pretrain=PretrainConfig(n_clips=60, epochs=1, batch_size=16),
    evaluation=EvalConfig(median_filter_frames=3),
    teacher_train=dataclasses.replace(_TINY_TRAIN, mode="teacher"),
    student_train=dataclasses.replace(_TINY_TRAIN, takd_blend=0.5),  # the course's TAKD reading
)

COURSE = Preset(
    name="course",
    description="a laptop CPU: generated DESED-like data, the whole course in an afternoon",
    generator=G.COURSE_GENERATOR,
    features=F.COURSE_FEATURES,
    # BEATs' stand-in: clip labels of the 17-class taxonomy on 10,000 clips of both domains
    # (measured: on 3,000 clips its linear probe reached PSDS .170/.387, on 10,000 .299/.603,
    # and only then did the teacher built on it lead the supervised student)
    embedding=dataclasses.replace(M.COURSE_EMBEDDING, n_classes=len(TAXONOMY)),
    teacher=M.COURSE_TEACHER,
    student=M.COURSE_STUDENT,
    pretrain=PretrainConfig(n_clips=10000, epochs=6),
    # 3 output frames of 128 ms ~ the DCASE baseline's 7 frames of 64 ms; 100 validation clips
    # after every student epoch draw notebook 08's learning curves (about 2 s a point)
    evaluation=EvalConfig(median_filter_frames=3, curve_clips=100),
    # Nine passes over the strong split (1,350 steps of 8 strong clips): the teacher ships
    # pre-trained (dualkd pretrain), so its budget costs the course nothing.
    teacher_train=dataclasses.replace(_COURSE_TRAIN, mode="teacher", epochs=9),
    # The small student learns slowly from labels alone: a higher learning rate with a
    # short warm-up (measured: lr 1e-3 with 200 warm-up steps left every mode at PSDS 0;
    # 450 steps left the supervised student at PSDS 0, 1,350 made it a working SED system).
    # Half those steps see as many strong clips: 675 steps of 16 strong + 8 weak + 8 unlabelled
    # clips (nine passes over the strong split, 4.5 over the others), cosine decay, the head
    # starting at the frame prior (COURSE_STUDENT): the five students of `make course` fit its
    # 20 minutes, and the supervised student keeps 55-58 % of the teacher's PSDS over three seeds
    # (measured on two machines, 2026-12-04; docs/results/faithful-experiment-progress.md). With
    # max_steps set, `epochs` is not used (an epoch is the longest split's pass, 150 steps here).
    # TAKD is the blended reading, one consistency target 0.5 mean student + 0.5 teacher
    # (measured at 1,350 steps, seed 0: .421/.705 on evaluation, against .385/.648 for the interpolated
    # gradient, which equals the supervised student, and 0/0 for the unscaled gradients).
    student_train=dataclasses.replace(_COURSE_TRAIN, lr=3e-3, lr_rampup_steps=50, epochs=9, max_steps=675,
                                      takd_blend=0.5, batch_sizes=(16, 8, 8), lr_decay="cosine"),
)

DESED = Preset(
    name="desed",
    description="real DESED on a GPU: DCASE 2023 Task 4 baseline settings (BEATs embeddings from HDF5)",
    generator=None,
    features=F.DESED_FEATURES,
    embedding=dataclasses.replace(M.COURSE_EMBEDDING, n_mels=128, emb_dim=768,
                                  channels=(32, 64, 128, 128, 128, 128, 128),
                                  pooling=((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2))),
    teacher=M.DESED_TEACHER,
    student=M.DESED_STUDENT,
    pretrain=PretrainConfig(n_clips=20000, epochs=20),
    teacher_train=TrainConfig(mode="teacher", epochs=200, batch_sizes=(12, 12, 24), lr_rampup_steps=50 * 115),
    student_train=TrainConfig(mode="supervised", epochs=200, batch_sizes=(12, 12, 24), lr_rampup_steps=50 * 115,
                              takd_blend=0.5),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (TINY, COURSE, DESED)}


def get_preset(name: str | None = None) -> Preset:
    """The preset called ``name``; ``None`` reads ``$DUALKD_PRESET`` (default ``course``).

    Raises ``ValueError`` naming the valid presets for an unknown name.
    Taught in notebook 00.
    """
    if name is None:
        name = os.environ.get(PRESET_ENV_VAR, "").strip() or "course"
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset {name!r}; valid presets are {sorted(PRESETS)} "
            f"(pass name=..., set ${PRESET_ENV_VAR}, or --preset on the command line)."
        )
    return PRESETS[name]
