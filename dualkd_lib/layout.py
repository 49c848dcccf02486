"""Where each split of a DESED-style dataset lives on disk.

One layout serves the generated data and the real DESED dataset as prepared by
the DCASE 2023 Task 4 recipe. Taught in notebook 01.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SplitPaths:
    """Paths of one split, relative to the dataset root.

    ``labels`` is ``None`` for the unlabeled split; ``durations`` is ``None`` for
    training splits (all their clips are 10 s).
    """

    name: str
    audio_dir: str
    labels: str | None
    durations: str | None
    kind: str  # "strong", "weak" or "unlabeled"


#: The five splits of the course, in the DCASE 2023 recipe's folder layout.
SPLITS: dict[str, SplitPaths] = {
    "strong": SplitPaths(
        "strong",
        "audio/train/synthetic21_train/soundscapes_16k",
        "metadata/train/synthetic21_train/soundscapes.tsv",
        None,
        "strong",
    ),
    "weak": SplitPaths("weak", "audio/train/weak_16k", "metadata/train/weak.tsv", None, "weak"),
    "unlabeled": SplitPaths(
        "unlabeled", "audio/train/unlabel_in_domain_16k", None, None, "unlabeled"
    ),
    "validation": SplitPaths(
        "validation",
        "audio/validation/validation_16k",
        "metadata/validation/validation.tsv",
        "metadata/validation/validation_durations.tsv",
        "strong",
    ),
    "evaluation": SplitPaths(
        "evaluation",
        "audio/eval/public_16k",
        "metadata/eval/public.tsv",
        "metadata/eval/public_durations.tsv",
        "strong",
    ),
}


def split_paths(root: str | Path, split: str) -> tuple[Path, Path | None, Path | None]:
    """Absolute ``(audio_dir, labels_tsv, durations_tsv)`` of ``split`` under ``root``.

    Raises ``ValueError`` naming the valid splits when ``split`` is unknown.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits are {sorted(SPLITS)}.")
    s = SPLITS[split]
    root = Path(root)
    return (
        root / s.audio_dir,
        root / s.labels if s.labels else None,
        root / s.durations if s.durations else None,
    )


# --------------------------------------------------------------------------
# Where the course keeps its data and its work folders
# --------------------------------------------------------------------------
def package_parent() -> Path:
    """The folder that holds the ``dualkd_lib`` package (the repository, in a clone)."""
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """``dualkd_lib/resources``: the data that ships with the package (real DESED validation
    annotations, the pre-trained bundles, the measured records). Taught in notebook 04."""
    return Path(__file__).parent / "resources"


def desed_validation_dir() -> Path:
    """``resources/desed_validation``: real DESED's validation labels and durations, and the DCASE 2020
    baseline's detections on them (the metrics' reference figures). Taught in notebook 04."""
    return resources_dir() / "desed_validation"


def repo_root() -> Path:
    """The repository folder (holds ``pyproject.toml``); the current folder outside a clone.

    Taught in notebook 00.
    """
    here = package_parent()
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_data_root(preset: str) -> Path:
    """``<repo>/data/generated/<preset>``: where ``dualkd make-data`` puts a preset's data.

    Outside a clone of the repository, ``data/generated/<preset>`` under the current folder.
    Taught in notebook 00.
    """
    return repo_root() / "data" / "generated" / preset


def default_work_dir(preset: str) -> Path:
    """``<repo>/data/cache/<preset>``: features, frozen models' outputs, runs (``--work-dir``).

    Taught in notebook 00.
    """
    return repo_root() / "data" / "cache" / preset


# --------------------------------------------------------------------------
# Inside a work folder
# --------------------------------------------------------------------------
def runs_dir(work_dir: str | Path) -> Path:
    """``<work>/runs``: one folder per training run (``last.pt``, ``final.pt``, ``metrics.json``)."""
    return Path(work_dir) / "runs"


def teacher_run_dir(work_dir: str | Path, seed: int = 0) -> Path:
    """``<work>/runs/teacher-seed<N>``: the CRNN teacher (with embedding fusion) of ``seed``."""
    return runs_dir(work_dir) / f"teacher-seed{seed}"


def plain_teacher_run_dir(work_dir: str | Path, seed: int = 0) -> Path:
    """``<work>/runs/teacher-noemb-seed<N>``: the teacher CRNN trained without embeddings."""
    return runs_dir(work_dir) / f"teacher-noemb-seed{seed}"


def student_run_dir(work_dir: str | Path, mode: str, seed: int = 0) -> Path:
    """``<work>/runs/student-<mode>-seed<N>``: one SE-CRNN student run (taught in notebook 05)."""
    return runs_dir(work_dir) / f"student-{mode}-seed{seed}"


def final_checkpoint(run_dir: str | Path) -> Path:
    """``<run>/final.pt``: a finished run's checkpoint (``last.pt`` beside it while it trains)."""
    return Path(run_dir) / "final.pt"


def last_checkpoint(run_dir: str | Path) -> Path:
    """``<run>/last.pt``: the checkpoint an unfinished run resumes from."""
    return Path(run_dir) / "last.pt"


def teacher_checkpoint(work_dir: str | Path, seed: int = 0) -> Path:
    """``<work>/runs/teacher-seed<N>/final.pt``: the finished teacher of ``seed``."""
    return final_checkpoint(teacher_run_dir(work_dir, seed))


def student_checkpoint(work_dir: str | Path, mode: str, seed: int = 0) -> Path:
    """``<work>/runs/student-<mode>-seed<N>/final.pt``: the finished student of ``mode`` and ``seed``."""
    return final_checkpoint(student_run_dir(work_dir, mode, seed))


def learner_runs_dir(work_dir: str | Path) -> Path:
    """``<work>/runs/learner``: the notebooks' short runs (one folder per setting)."""
    return runs_dir(work_dir) / "learner"


def embedding_checkpoint(work_dir: str | Path) -> Path:
    """``<work>/embedding/final.pt``: the pre-trained embedding model (the stand-in for BEATs)."""
    return final_checkpoint(Path(work_dir) / "embedding")


def probe_record(work_dir: str | Path, seed: int = 0) -> Path:
    """``<work>/embedding/probe-seed<N>.json``: the linear probe of the frozen embeddings."""
    return Path(work_dir) / "embedding" / f"probe-seed{seed}.json"


def features_dir(work_dir: str | Path) -> Path:
    """``<work>/features``: the log-mel features of every split, computed once."""
    return Path(work_dir) / "features"


def scaler_path(work_dir: str | Path) -> Path:
    """``<work>/scaler.pt``: the feature scaler fitted on the training splits."""
    return Path(work_dir) / "scaler.pt"


def embeddings_cache(work_dir: str | Path, split: str, *, beats: bool = False) -> Path:
    """``<work>/embeddings/<split>.pt`` (``<split>-beats.pt`` for real DESED's BEATs frames)."""
    return Path(work_dir) / "embeddings" / (f"{split}-beats.pt" if beats else f"{split}.pt")


def teacher_outputs_cache(work_dir: str | Path, split: str) -> Path:
    """``<work>/teacher_outputs/<split>.pt``: the frozen teacher's soft outputs on a split."""
    return Path(work_dir) / "teacher_outputs" / f"{split}.pt"


def ablation_dir(work_dir: str | Path) -> Path:
    """``<work>/ablation``: the ablation table of notebook 08 and ``dualkd course``."""
    return Path(work_dir) / "ablation"


def deploy_dir(work_dir: str | Path) -> Path:
    """``<work>/deploy``: the ONNX files of notebook 09."""
    return Path(work_dir) / "deploy"
