"""Reading anyone's audio block by block: decoding, mono, resampling with bounded memory, unreadable files told apart.

Taught in notebook 09.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from scipy import signal

from dualkd_lib.predict.inputs import AudioReadError, _AUDIO_MAGIC, _NOTED_RATES, _TORCH_KERNEL_LIMIT

log = logging.getLogger(__name__)


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
