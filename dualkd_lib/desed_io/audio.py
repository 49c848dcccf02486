"""Audio: WAV loading with soundfile (mono, resampled with torchaudio), padding, clip durations.

Taught in notebook 01.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
import torchaudio.functional as AF
from tqdm.auto import tqdm

from dualkd_lib.constants import SAMPLE_RATE

logger = logging.getLogger(__name__)

# Sample rates / channel counts we already logged a note about (log once, not per file).
_NOTED_RATES: set[tuple[int, int]] = set()
_NOTED_CHANNELS: set[int] = set()


# --------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------
def load_wav(
    path: str | Path, *, target_sr: int = SAMPLE_RATE, mono: bool = True
) -> torch.Tensor:
    """Load a WAV file as float32 in [-1, 1] at ``target_sr`` Hz.

    Returns ``[samples]`` when ``mono`` (channels averaged), else
    ``[channels, samples]``. Another sample rate is resampled with
    ``torchaudio.functional.resample`` (real DESED is 44.1 kHz); a note is logged
    once per rate and once per channel count, not per file.

    Raises ``FileNotFoundError`` for a missing file (naming it and its folder) and
    ``ValueError`` for a file soundfile cannot read or one with 0 samples.

    Taught in notebook 01.
    """
    if not isinstance(target_sr, int) or target_sr <= 0:
        raise ValueError(f"target_sr must be a positive integer (Hz), got {target_sr!r}.")
    path = Path(path)
    if not path.is_file():
        folder = path.parent
        state = "exists" if folder.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"WAV file not found: {path}. Its split folder {folder} {state}. Run "
            f"dualkd_lib.desed_io.check_split(root, split) to list missing clips, or "
            f"load_split(...) to skip them."
        )
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [samples, channels]
    except (sf.SoundFileError, RuntimeError) as err:
        raise ValueError(
            f"Cannot read {path} as audio: {err}. The file is corrupt or not a WAV; "
            f"re-create or re-download it, or delete it (load_split skips missing clips)."
        ) from err
    if data.shape[0] == 0:
        raise ValueError(
            f"{path} is empty (0 samples). Re-create or re-download it, or delete it "
            f"(load_split skips missing clips)."
        )
    wave = torch.from_numpy(np.ascontiguousarray(data.T))  # [channels, samples]
    channels = wave.shape[0]
    if mono and channels > 1:
        if channels not in _NOTED_CHANNELS:
            logger.info("Averaging %d channels to mono (first seen in %s).", channels, path.name)
            _NOTED_CHANNELS.add(channels)
        wave = wave.mean(dim=0, keepdim=True)
    if sr != target_sr:
        if (sr, target_sr) not in _NOTED_RATES:
            logger.info("Resampling audio from %d Hz to %d Hz (first seen in %s).", sr, target_sr, path.name)
            _NOTED_RATES.add((sr, target_sr))
        wave = AF.resample(wave, orig_freq=int(sr), new_freq=target_sr)
    wave = wave.to(torch.float32).contiguous()
    return wave[0] if mono else wave


def pad_or_trim(wave: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Zero-pad at the end or cut the last axis of ``wave`` to exactly ``n_samples``.

    ``wave``: ``[..., samples]``. Returns ``[..., n_samples]`` (the input itself if
    it already has that length). Taught in notebook 01.
    """
    if not isinstance(n_samples, int) or n_samples <= 0:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    length = wave.shape[-1]
    if length == n_samples:
        return wave
    if length > n_samples:
        return wave[..., :n_samples]
    return torch.nn.functional.pad(wave, (0, n_samples - length))


def durations_from_wavs(audio_dir: str | Path, filenames: Sequence[str]) -> pd.DataFrame:
    """Durations (seconds) of WAV files read from their headers, as a durations table.

    Useful for an evaluation split that ships without a durations TSV. Returns
    columns ``filename, duration``. Taught in notebook 04.
    """
    audio_dir = Path(audio_dir)
    seconds = []
    for name in tqdm(filenames, desc="reading durations", disable=len(filenames) < 500):
        path = audio_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"WAV file not found: {path}.")
        seconds.append(float(sf.info(str(path)).duration))
    return pd.DataFrame({"filename": list(filenames), "duration": seconds})
