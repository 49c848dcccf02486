"""What a prediction run reports (:class:`PredictResult`) and which input files it reads.

Taught in notebook 09.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


from dualkd_lib import evaluate

log = logging.getLogger(__name__)


#: File name endings collected from a folder (a file named on the command line is always tried).
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac")
#: Exit code of ``dualkd predict`` when some files were skipped (0: all processed, 2: an error).
SKIPPED_EXIT_CODE: int = 3
#: Key of a teacher checkpoint that holds the path of its embedding model (absolute, or
#: relative to the checkpoint's folder); read at the top level or in ``checkpoint["extra"]``.
EMBEDDING_MODEL_KEY: str = "embedding_model_path"

# First bytes of the containers libsndfile reads, to tell "not audio at all" from "corrupt audio".
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"fLaC", b"OggS", b"FORM", b"caff", b".snd", b"ID3")
# Above this many kernel elements torchaudio's sinc resampler needs too much memory
# (e.g. 22254 Hz -> 16 kHz: 8000 x 11141 floats); scipy's polyphase filter is used instead.
_TORCH_KERNEL_LIMIT = 4_000_000
_NOTED_RATES: set[tuple[int, int]] = set()


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------
class AudioReadError(ValueError):
    """A recording that cannot be predicted: ``path`` and a short ``reason`` (no fix)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class SkippedFile:
    """A file ``predict_files`` left out, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


@dataclass
class PredictResult:
    """What :func:`predict_files` did.

    ``processed``: files whose detections were written, in input order;
    ``skipped``: files left out with their reason; ``n_detections``: rows
    written to ``detections_path``; ``scores_dir``: where score files went (or
    None); ``model_kind``: ``"student"`` or ``"teacher"``. Taught in notebook 09.
    """

    detections_path: Path
    scores_dir: Path | None
    model_kind: str
    processed: list[Path] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    n_detections: int = 0

    @property
    def ok(self) -> bool:
        """True when no file was skipped."""
        return not self.skipped

    @property
    def exit_code(self) -> int:
        """0 when every file was processed, :data:`SKIPPED_EXIT_CODE` (3) when some were skipped."""
        return 0 if self.ok else SKIPPED_EXIT_CODE

    def summary(self, max_listed: int = 20) -> str:
        """One line: ``processed 997 files, skipped 3: a.wav (reason), ...; wrote N detections to X``."""
        text = f"processed {len(self.processed)} file{'s' if len(self.processed) != 1 else ''}"
        if self.skipped:
            listed = ", ".join(str(s) for s in self.skipped[:max_listed])
            more = len(self.skipped) - max_listed
            text += f", skipped {len(self.skipped)}: {listed}"
            if more > 0:
                text += f", and {more} more (see the warnings above)"
        text += f"; wrote {self.n_detections} detections to {self.detections_path}"
        if self.scores_dir is not None:
            text += f" and {len(self.processed)} score files to {self.scores_dir}"
        return text


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------
def collect_audio_files(inputs: Sequence[str | Path]) -> list[Path]:
    """The recordings named by ``inputs``: files as given, folders searched recursively.

    Folders contribute their ``.wav`` and ``.flac`` files (any case), sorted,
    without hidden files (``._x.wav`` copies that macOS leaves on USB drives are
    not audio). A file named directly is always tried, whatever its ending.
    Raises ``FileNotFoundError`` for an input that does not exist or a folder
    with no audio file. Taught in notebook 09.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not inputs:
        raise ValueError("No inputs given; name WAV files or folders that hold them.")
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = [p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
            hidden = [p for p in found if any(part.startswith(".") for part in p.relative_to(item).parts)]
            found = sorted(p for p in found if p not in set(hidden))
            if hidden:
                log.info("Ignoring %d hidden file(s) in %s (first: %s).", len(hidden), item, hidden[0].name)
            if not found:
                raise FileNotFoundError(
                    f"{item} holds no {' or '.join(AUDIO_SUFFIXES)} files (searched its sub-folders too); "
                    "give the folder that holds your recordings, or name the files."
                )
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            parent = item.parent
            raise FileNotFoundError(
                f"{item} does not exist (folder {parent} {'exists' if parent.is_dir() else 'does not exist either'}); "
                "give WAV files or folders that hold them."
            )
    # A file named twice (or also inside a folder given) is predicted once.
    seen: set[Path] = set()
    unique = []
    for path in files:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    if len(unique) < len(files):
        log.info("%d file(s) were named more than once; each is predicted once.", len(files) - len(unique))
    return unique


def _same_names(files: Sequence[Path]) -> dict[Path, Path]:
    """Files whose name (what detections and score files are keyed by) an earlier file already has."""
    first: dict[str, Path] = {}
    clashes: dict[Path, Path] = {}
    for path in files:
        key = evaluate.audio_id(path.name)
        if key in first:
            if first[key].resolve() != path.resolve():
                clashes[path] = first[key]
        else:
            first[key] = path
    return clashes
