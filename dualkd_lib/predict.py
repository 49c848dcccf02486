"""Detecting sound events in anyone's recordings (``dualkd predict``).

A trained model meets audio it has never seen: any sample rate, mono or many
channels, a second or an hour long, and now and then a file that is not audio
at all. This module turns such a folder into a DESED detection table (and,
optionally, sed_scores_eval score files), without surprises:

- **Skip and report.** A file that cannot be read (corrupt, not audio, empty,
  zero channels, NaN or infinite samples) is skipped with a warning naming it
  and the reason, and listed in :meth:`PredictResult.summary`; the other files
  are predicted. ``strict=True`` (``--strict``) stops at the first bad file.
- **Bounded memory.** A file is read once, block by block
  (:class:`AudioStream`), mixed to mono, resampled to the model's rate block by
  block with the same result as resampling it whole (:class:`ChunkedResampler`),
  and scored in batches of 10-s windows. Only the scores of a file
  (``[classes, frames]`` float32, about 1 MB for an hour) are kept.
- **Exact times.** Window ``k`` starts at ``k * frames_per_window`` output
  frames, so the frames of consecutive windows join without drift; the padding
  of the last window is cut off, and no time in the outputs passes the file's
  duration.
- **Teacher or student.** A student runs alone. A teacher also needs the
  frozen embedding model it was trained with: its path is read from the
  teacher checkpoint (``"embedding_model_path"``) or given as
  ``embedding_model=`` (``--embedding-model``).

Taught in notebook 09.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
import torchaudio.functional as AF
from scipy import signal
from torch import nn
from tqdm.auto import tqdm

from dualkd_lib import evaluate
from dualkd_lib.features import FeatureConfig, LogMel, Scaler, n_output_frames
from dualkd_lib.train import kept_model, load_checkpoint, load_model_from_checkpoint

log = logging.getLogger(__name__)

__all__ = [
    "AUDIO_SUFFIXES",
    "SKIPPED_EXIT_CODE",
    "AudioReadError",
    "SkippedFile",
    "PredictResult",
    "Predictor",
    "ChunkedResampler",
    "AudioStream",
    "collect_audio_files",
    "embedding_model_path",
    "load_predictor",
    "score_file",
    "predict_files",
]

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


# --------------------------------------------------------------------------
# Reading audio block by block
# --------------------------------------------------------------------------
class ChunkedResampler:
    """Resample a long signal block by block; the result equals resampling it whole.

    ``feed(block)`` takes the next mono samples (any length) and returns the
    output samples that are final so far; ``flush()`` returns the rest at the
    end. Each piece is resampled with ``context`` samples of the signal on both
    sides and cut where the whole-signal output would be, so block borders leave
    no trace. torchaudio's sinc resampler is used (as :func:`dualkd_lib.desed_io.load_wav`
    does for the training data), or scipy's polyphase filter for rates whose
    ratio would make torchaudio's kernel huge (e.g. 22254 Hz). Taught in notebook 09.
    """

    def __init__(self, orig_sr: int, new_sr: int, *, min_step: int = 1) -> None:
        if orig_sr <= 0 or new_sr <= 0:
            raise ValueError(f"Sample rates must be positive, got {orig_sr} -> {new_sr} Hz.")
        g = math.gcd(int(orig_sr), int(new_sr))
        self.orig_sr, self.new_sr = int(orig_sr), int(new_sr)
        self.down, self.up = self.orig_sr // g, self.new_sr // g  # input / output samples per period
        self.identity = self.up == self.down
        width = math.ceil(6 * self.down / (min(self.up, self.down) * 0.99))  # torchaudio's kernel half-width
        self.method = "torchaudio" if self.up * (self.down + 2 * width) <= _TORCH_KERNEL_LIMIT else "scipy"
        if self.method == "scipy":
            half_len = 10 * max(self.up, self.down)  # scipy.signal.resample_poly's default filter
            self._fir = signal.firwin(2 * half_len + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0))
            reach = half_len // self.up + 2
        else:
            self._fir = None
            reach = width + self.down + 1
        # Context and steps are whole periods of the input, so every piece starts on an output sample.
        self.context = 0 if self.identity else self.down * math.ceil(reach / self.down)
        self.step = self.down * max(1, math.ceil(max(min_step, self.context) / self.down))
        self._buf = np.zeros(0, dtype=np.float32)  # input from (done - left context) on
        self._left = 0  # samples of left context at the start of _buf
        self.samples_in = 0
        self.samples_out = 0

    def _resample(self, x: np.ndarray) -> np.ndarray:
        if self.method == "scipy":
            return signal.resample_poly(x, self.up, self.down, window=self._fir).astype(np.float32)
        out = AF.resample(torch.from_numpy(np.ascontiguousarray(x)), self.orig_sr, self.new_sr)
        return out.numpy()

    def _emit(self, n_done: int, final: bool) -> np.ndarray:
        """Output of the ``n_done`` input samples after the left context (all of them if ``final``)."""
        piece = self._buf if final else self._buf[: self._left + n_done + self.context]
        y = self._resample(piece)
        start = self._left * self.up // self.down
        n_out = -(-n_done * self.up // self.down)  # ceil; exact for whole periods
        out = y[start : start + n_out]
        keep_from = self._left + n_done - self.context
        self._left = min(self.context, self._left + n_done)
        self._buf = self._buf[max(0, keep_from) :]
        self.samples_out += len(out)
        return out

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Add input samples; return the output samples that no later input can change."""
        block = np.asarray(block, dtype=np.float32)
        self.samples_in += len(block)
        if self.identity:
            self.samples_out += len(block)
            return block
        self._buf = np.concatenate([self._buf, block])
        pending = len(self._buf) - self._left - self.context  # input that has its right context
        if pending < self.step:
            return np.zeros(0, dtype=np.float32)
        return self._emit(pending // self.step * self.step, final=False)

    def flush(self) -> np.ndarray:
        """The output of the remaining input (the signal ends here; zeros beyond, as whole-signal resampling)."""
        if self.identity:
            return np.zeros(0, dtype=np.float32)
        pending = len(self._buf) - self._left
        if pending <= 0:
            return np.zeros(0, dtype=np.float32)
        return self._emit(pending, final=True)


def _soundfile_reason(err: Exception) -> str:
    """libsndfile's own words, without its "Error opening 'path':" prefix."""
    text = getattr(err, "error_string", None) or str(err)
    return str(text).strip().rstrip(".")


class AudioStream:
    """One recording, opened and checked, read once block by block as mono at ``target_sr``.

    Opening raises :class:`AudioReadError` for a missing, empty (0 bytes),
    non-audio or corrupt file, zero channels or no samples; :meth:`blocks`
    raises it for NaN or infinite samples and read errors. After reading,
    ``frames_read`` and :attr:`duration` (seconds) say how much audio there
    was. Taught in notebook 09.
    """

    def __init__(self, path: str | Path, target_sr: int, *, block_seconds: float = 80.0) -> None:
        self.path = Path(path)
        self.target_sr = int(target_sr)
        if not self.path.is_file():
            raise AudioReadError(self.path, "file not found (was it moved or deleted while predicting?)")
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as fh:
                head = fh.read(12)
        except OSError as err:
            raise AudioReadError(self.path, f"cannot be opened ({err.strerror or err})") from err
        if size == 0:
            raise AudioReadError(self.path, "empty file (0 bytes)")
        try:
            self._file = sf.SoundFile(str(self.path))
        except Exception as err:  # noqa: BLE001 - whatever soundfile raises, it is this file that cannot be read
            reason = _soundfile_reason(err)
            if not head.startswith(_AUDIO_MAGIC) and head[8:12] != b"WAVE":
                start = head[:8].decode("ascii", errors="replace")
                raise AudioReadError(
                    self.path,
                    f"not a WAV file: it starts with {start!r} instead of a RIFF header (soundfile: {reason})",
                ) from err
            if "channel" in reason.lower() and "zero" in reason.lower():
                raise AudioReadError(self.path, f"0 channels in its header (soundfile: {reason})") from err
            raise AudioReadError(self.path, f"corrupt or unsupported audio (soundfile: {reason})") from err
        self.sample_rate = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        self.header_frames = int(self._file.frames)
        if self.channels < 1:
            self.close()
            raise AudioReadError(self.path, "0 channels in its header")
        if self.sample_rate < 1:
            self.close()
            raise AudioReadError(self.path, f"sample rate {self.sample_rate} Hz in its header")
        if self.header_frames == 0:
            self.close()
            raise AudioReadError(self.path, "no samples (a valid header with 0 frames of audio)")
        self.block_frames = max(1, int(block_seconds * self.sample_rate))
        self.frames_read = 0

    @property
    def duration(self) -> float:
        """Seconds of audio read so far (the whole file once :meth:`blocks` is exhausted)."""
        return self.frames_read / self.sample_rate

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AudioStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def blocks(self) -> Iterator[np.ndarray]:
        """Mono float32 blocks at ``target_sr``, in order; every sample of the file is read once."""
        resampler = ChunkedResampler(self.sample_rate, self.target_sr, min_step=self.block_frames // 4)
        if not resampler.identity and (self.sample_rate, self.target_sr) not in _NOTED_RATES:
            log.info("Resampling %d Hz -> %d Hz (%s; first seen in %s).", self.sample_rate, self.target_sr,
                     resampler.method, self.path.name)
            _NOTED_RATES.add((self.sample_rate, self.target_sr))
        while True:
            try:
                data = self._file.read(self.block_frames, dtype="float32", always_2d=True)  # [frames, channels]
            except Exception as err:  # noqa: BLE001 - as when opening: this file's problem, not the run's
                raise AudioReadError(
                    self.path, f"reading failed after {self.duration:.3f} s ({_soundfile_reason(err)})"
                ) from err
            if len(data) == 0:
                break
            finite = np.isfinite(data)
            if not finite.all():
                frame = int(np.flatnonzero(~finite.all(axis=1))[0])
                value = data[frame][~finite[frame]][0]
                what = "NaN" if np.isnan(value) else "infinite"
                seconds = (self.frames_read + frame) / self.sample_rate
                raise AudioReadError(self.path, f"{what} samples (the first at {seconds:.3f} s)")
            self.frames_read += len(data)
            # the mean of the channels, as a matrix-vector product (numpy's mean over a short axis is slow)
            mono = data[:, 0] if self.channels == 1 else data @ np.full(self.channels, 1 / self.channels, np.float32)
            out = resampler.feed(mono)
            if len(out):
                yield out
        if self.frames_read == 0:
            raise AudioReadError(self.path, "no samples could be read (the header promises "
                                            f"{self.header_frames} frames)")
        if self.frames_read < self.header_frames:
            log.warning("%s: the header promises %.3f s but only %.3f s could be read (truncated file?); "
                        "predicting what was read.", self.path, self.header_frames / self.sample_rate,
                        self.duration)
        tail = resampler.flush()
        if len(tail):
            yield tail


def _windows(blocks: Iterator[np.ndarray], *, window: int, stride: int, min_tail: int, batch: int
             ) -> Iterator[np.ndarray]:
    """Cut a stream of samples into windows ``[n <= batch, window]`` that start every ``stride`` samples.

    The last window is zero-padded; a last window that would hold fewer than
    ``min_tail`` samples of audio is not made, unless it is the first one.
    """
    buf = np.zeros(0, dtype=np.float32)
    ready: list[np.ndarray] = []
    made = 0
    for block in blocks:
        buf = np.concatenate([buf, block]) if len(buf) else block
        while len(buf) >= window:
            ready.append(buf[:window].copy())
            buf = buf[stride:]
            made += 1
            if len(ready) == batch:
                yield np.stack(ready)
                ready = []
    while len(buf) > 0 and (made == 0 or len(buf) >= min_tail):
        ready.append(np.pad(buf[:window], (0, max(0, window - len(buf)))))
        buf = buf[stride:]
        made += 1
    if made == 0:  # no audio at all (cannot happen for a file AudioStream accepted)
        ready.append(np.zeros(window, dtype=np.float32))
    if ready:
        yield np.stack(ready)


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
@dataclass
class Predictor:
    """A checkpoint ready to score 10-s windows: model, features, scaler and post-processing.

    ``embedding_model`` is the frozen embedding model of a teacher (None for a
    student). Build it with :func:`load_predictor`. Taught in notebook 09.
    """

    kind: str
    checkpoint: Path
    model: nn.Module
    embedding_model: nn.Module | None
    features: FeatureConfig
    scaler: Scaler
    logmel: LogMel
    threshold: float | Sequence[float]
    median_filter_frames: int | Sequence[int]
    classes: tuple[str, ...]

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (0.128 s for the course features)."""
        return self.features.hop_length * self.features.net_pooling / self.features.sample_rate

    @property
    def frames_per_window(self) -> int:
        """Output frames of one 10-s window (78 for the course features)."""
        return n_output_frames(self.features)

    @property
    def stride_samples(self) -> int:
        """Samples between window starts: exactly the audio its output frames cover (9.984 s)."""
        return self.frames_per_window * self.features.hop_length * self.features.net_pooling

    @torch.no_grad()
    def score_windows(self, windows: np.ndarray | torch.Tensor) -> np.ndarray:
        """Waveform windows ``[n, clip_samples]`` at the model rate -> frame scores ``[n, classes, frames]``."""
        x = self.scaler(self.logmel(torch.as_tensor(windows, dtype=torch.float32)))
        emb = None if self.embedding_model is None else self.embedding_model(x).frame
        strong = self.model(x, emb).strong if emb is not None else self.model(x).strong
        if strong.shape[-1] != self.frames_per_window:
            raise ValueError(
                f"{self.checkpoint}: the model gives {strong.shape[-1]} frames per 10-s window but its features "
                f"promise {self.frames_per_window}; the checkpoint and its inference.pt do not belong together."
            )
        return strong.float().numpy()


def embedding_model_path(checkpoint: str | Path, ckpt: dict[str, Any] | None = None) -> Path | None:
    """Where a teacher checkpoint says its embedding model is (``"embedding_model_path"``), or None.

    The key is read at the top level of the checkpoint, in its ``extra``, or in the
    run's ``inference.pt`` (where :func:`dualkd_lib.recipe.pipeline.train_teacher` records it); a
    relative path is relative to the checkpoint's folder. Taught in notebook 09.
    """
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint) if ckpt is None else ckpt
    value = ckpt.get(EMBEDDING_MODEL_KEY) or (ckpt.get("extra") or {}).get(EMBEDDING_MODEL_KEY)
    bundle = checkpoint.parent / "inference.pt"
    if not value and bundle.is_file():  # the pipeline records it in the run's inference bundle
        value = torch.load(bundle, map_location="cpu", weights_only=True).get(EMBEDDING_MODEL_KEY)
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else checkpoint.parent / path


def _teacher_embedding_model(checkpoint: Path, ckpt: dict[str, Any], given: str | Path | None,
                             teacher: nn.Module, n_mels: int) -> nn.Module:
    """The frozen embedding model of a teacher: ``given``, else the recorded path; clear errors otherwise."""
    recorded = embedding_model_path(checkpoint, ckpt)
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise FileNotFoundError(
                f"--embedding-model {path} does not exist; give the embedding model the teacher {checkpoint} was "
                f"trained with (the work folder's embedding/final.pt)."
            )
        if recorded is not None and recorded.resolve() != path.resolve():
            log.info("Using the embedding model %s given, not %s recorded in %s.", path, recorded, checkpoint.name)
    elif recorded is not None:
        path = recorded
        if not path.is_file():
            raise FileNotFoundError(
                f"{checkpoint} is a teacher trained with the embedding model {path}, which does not exist (moved "
                f"or deleted?). Give its new place with --embedding-model PATH, or predict with a student "
                "checkpoint, which needs no embedding model."
            )
    else:
        if ckpt.get("preset") == "desed":
            raise ValueError(
                f"{checkpoint} is a teacher of the desed preset: it was trained on BEATs embeddings read from the "
                "DCASE recipe's HDF5 files, which `dualkd predict` cannot compute for new recordings. Predict with "
                "a student checkpoint instead (it needs no embedding model)."
            )
        guess = checkpoint.parent.parent.parent / "embedding" / "final.pt"
        hint = f"; next to this run that is {guess}" if guess.is_file() else ""
        raise ValueError(
            f"{checkpoint} is a teacher: it needs the frame embeddings of the embedding model it was trained with, "
            f"and the checkpoint does not record where that model is (no {EMBEDDING_MODEL_KEY!r}). Give it with "
            f"--embedding-model PATH (embedding/final.pt in the work folder the teacher was trained in{hint}), "
            "or predict with a student checkpoint, which runs alone."
        )
    model, _, _ = load_model_from_checkpoint(path, expected_kind="embedding")
    want = teacher.cfg.embedding_dim
    if model.cfg.emb_dim != want or model.cfg.n_mels != n_mels:
        raise ValueError(
            f"The embedding model {path} gives {model.cfg.emb_dim}-dim embeddings from {model.cfg.n_mels} mels, but "
            f"the teacher {checkpoint} expects {want}-dim embeddings from {n_mels} mels: it is not the model the "
            "teacher was trained with. Give the right one with --embedding-model PATH."
        )
    return model.freeze()


def load_predictor(checkpoint: str | Path, *, embedding_model: str | Path | None = None,
                   threshold: float | Sequence[float] | None = None) -> Predictor:
    """Load a student or teacher checkpoint with what predicting needs.

    ``inference.pt`` next to the checkpoint (written by training) gives the
    features, the scaler, the median filter and the threshold; ``threshold``
    overrides the saved one. A teacher also loads its embedding model (see
    :func:`embedding_model_path`; ``embedding_model`` wins over the recorded
    path). Errors say what is missing and how to give it. Taught in notebook 09.
    """
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    kind = ckpt["model_kind"]
    if kind not in ("student", "teacher"):
        raise ValueError(
            f"{checkpoint} holds {'an' if kind[0] in 'aeiou' else 'a'} {kind} model; `dualkd predict` runs a "
            "student checkpoint (or a teacher with its "
            "embedding model), e.g. data/cache/course/runs/student-dual-seed0/final.pt."
        )
    bundle_path = checkpoint.parent / "inference.pt"
    if not bundle_path.is_file():
        command = "train-student --mode MODE" if kind == "student" else "train-teacher"
        raise FileNotFoundError(
            f"{bundle_path} is missing: it holds the feature settings and scaler that go with {checkpoint.name}. "
            f"Copy inference.pt from the run folder together with the checkpoint, or train with "
            f"`dualkd {command}`, which writes both."
        )
    bundle = torch.load(bundle_path, map_location="cpu", weights_only=True)
    fcfg = FeatureConfig(**bundle["features"])
    model, mean, _ = load_model_from_checkpoint(checkpoint, expected_kind=kind)
    model = kept_model(checkpoint, model, mean).eval()  # the weights the ablation kept on validation
    emb_model = None
    if kind == "student":
        model = model.without_embedding_head().eval()
    else:
        emb_model = _teacher_embedding_model(checkpoint, ckpt, embedding_model, model, fcfg.n_mels)
    scaler = Scaler(fcfg.n_mels)
    scaler.load_state_dict(bundle["scaler_state"])
    return Predictor(
        kind=kind, checkpoint=checkpoint, model=model, embedding_model=emb_model, features=fcfg,
        scaler=scaler.eval(), logmel=LogMel(fcfg).eval(),
        threshold=bundle["threshold"] if threshold is None else threshold,
        median_filter_frames=bundle["median_filter_frames"], classes=tuple(bundle["classes"]),
    )


def score_file(predictor: Predictor, path: str | Path, *, batch_windows: int = 8) -> tuple[np.ndarray, float]:
    """Median-filtered frame scores ``[classes, frames]`` (float32) of one recording, and its duration (s).

    The file is read once in blocks, resampled and cut into 10-s windows that
    start every :attr:`Predictor.stride_samples`; ``batch_windows`` windows are
    scored at a time, so memory does not grow with the file's length. Frames
    that start at or after the duration are dropped. Raises
    :class:`AudioReadError` for a file that cannot be read. Taught in notebook 09.
    """
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be >= 1, got {batch_windows}.")
    fcfg = predictor.features
    frame_samples = fcfg.hop_length * fcfg.net_pooling
    parts: list[np.ndarray] = []
    with AudioStream(path, fcfg.sample_rate, block_seconds=batch_windows * fcfg.clip_seconds) as stream:
        windows = _windows(stream.blocks(), window=fcfg.clip_samples, stride=predictor.stride_samples,
                           min_tail=frame_samples, batch=batch_windows)
        for batch in windows:
            parts.append(predictor.score_windows(batch))  # [n, C, T]
        duration = stream.duration
    strong = np.concatenate(parts)  # [windows, C, T]
    scores = strong.transpose(1, 0, 2).reshape(strong.shape[1], -1)  # [C, windows * T], contiguous in time
    starts = np.arange(scores.shape[1]) * predictor.frame_seconds
    n_keep = max(1, int(np.sum(starts < duration - 1e-9)))
    scores = np.ascontiguousarray(scores[:, :n_keep])
    return evaluate.median_filter(scores, predictor.median_filter_frames).astype(np.float32), duration


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------
def _check_outputs(out: Path, scores_dir: Path | None) -> None:
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another --out (detections are never overwritten).")
    if scores_dir is not None:
        if scores_dir.exists() and not scores_dir.is_dir():
            raise FileExistsError(f"--scores {scores_dir} is a file; give a folder for the score files.")
        if scores_dir.is_dir() and any(scores_dir.iterdir()):
            raise FileExistsError(
                f"--scores folder {scores_dir} is not empty; choose a new or empty folder (score files are never "
                "overwritten)."
            )


def predict_files(checkpoint: str | Path, inputs: Sequence[str | Path], out: str | Path, *,
                  scores: str | Path | None = None, threshold: float | Sequence[float] | None = None,
                  embedding_model: str | Path | None = None, strict: bool = False, progress: bool = True,
                  batch_windows: int = 8, scores_out: str | Path | None = None) -> PredictResult:
    """Detect events in any recordings (``dualkd predict``); returns a :class:`PredictResult`.

    ``inputs``: WAV (or FLAC) files and folders (searched recursively). Each
    file is read once, in blocks: any sample rate (resampled to the model's),
    any number of channels (averaged), any length (10-s windows, bounded
    memory). Writes the DESED detections (``event_label onset offset
    filename``, after the checkpoint's median filter and ``threshold``, by
    default the saved one) to ``out``, and with ``scores`` one sed_scores_eval
    score file per recording into that folder. No time passes a file's duration.

    A file that cannot be read is skipped with a warning and listed in
    ``result.skipped`` (``strict=True``: raise ``ValueError`` at the first one);
    a file with the same name as an earlier one is skipped too (detections and
    score files are keyed by name). ``checkpoint``: a student, or a teacher
    whose embedding model is recorded in it or given as ``embedding_model``.
    ``scores_out`` is the old name of ``scores``. ``out`` and a non-empty
    ``scores`` folder are never overwritten (``FileExistsError``).
    Taught in notebook 09.
    """
    if scores_out is not None:
        if scores is not None and Path(scores) != Path(scores_out):
            raise ValueError(f"scores={scores} and scores_out={scores_out} disagree; give one (scores_out is its "
                             "old name).")
        scores = scores_out
    out = Path(out)
    scores_dir = Path(scores) if scores is not None else None
    _check_outputs(out, scores_dir)
    files = collect_audio_files(inputs)
    clashes = _same_names(files)
    if strict and clashes:
        later, earlier = next(iter(clashes.items()))
        raise ValueError(
            f"{later} has the same name as {earlier}; detections and score files are keyed by file name. Rename "
            "one, predict them in separate runs, or run without --strict to skip the later one."
        )
    predictor = load_predictor(checkpoint, embedding_model=embedding_model, threshold=threshold)
    result = PredictResult(detections_path=out, scores_dir=scores_dir, model_kind=predictor.kind)
    rows: list[pd.DataFrame] = []
    for path in tqdm(files, desc=f"predict ({predictor.kind})", disable=not progress, unit="file"):
        if path in clashes:
            reason = f"same file name as {clashes[path]}; rename one or predict them in separate runs"
            log.warning("Skipping %s: %s.", path, reason)
            result.skipped.append(SkippedFile(path, reason))
            continue
        try:
            file_scores, duration = score_file(predictor, path, batch_windows=batch_windows)
        except AudioReadError as err:
            if strict:
                raise ValueError(f"{err.path}: {err.reason}. Re-export or re-copy the file, or leave it out of the "
                                 "inputs; or run without --strict (strict=False) to skip unreadable files and "
                                 "predict the others.") from err
            log.warning("Skipping %s: %s. The other files are predicted; to include this one, re-export or re-copy "
                        "it.", err.path, err.reason)
            result.skipped.append(SkippedFile(err.path, err.reason))
            continue
        name = path.name
        det = evaluate.decode_detections(file_scores[None], [name], predictor.frame_seconds,
                                         threshold=predictor.threshold, classes=predictor.classes,
                                         clip_seconds=duration)
        rows.append(det)
        if scores_dir is not None:
            dfs = evaluate.scores_to_dataframes(file_scores[None], [name], frame_seconds=predictor.frame_seconds,
                                                classes=predictor.classes, clip_seconds=duration)
            evaluate.write_scores_dir(dfs, scores_dir)
        result.processed.append(path)
    columns = ["event_label", "onset", "offset", "filename"]
    detections = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    detections.to_csv(out, sep="\t", index=False, float_format="%.3f")
    if scores_dir is not None:
        scores_dir.mkdir(parents=True, exist_ok=True)
    result.n_detections = len(detections)
    return result
