"""Shared test helper: recordings for the prediction tests (noise, hand-made and unreadable WAVs) and
readers of what ``dualkd predict`` writes. Imported by name (tests/ is on the path)."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from dualkd_lib.constants import CLASSES

RATE = 16_000


def noise(seconds: float, rate: int = RATE, channels: int = 1, seed: int = 0) -> np.ndarray:
    shape = (int(round(seconds * rate)), channels) if channels > 1 else (int(round(seconds * rate)),)
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def wav_bytes(channels: int, rate: int = RATE, n_frames: int = 100) -> bytes:
    """A PCM-16 WAV built by hand, so the header can say things soundfile would refuse to write."""
    align = max(1, channels) * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, 16)
    data = b"\x00" * (n_frames * align)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_bad(folder: Path, kind: str) -> Path:
    """One unreadable file of ``kind``; returns its path."""
    path = folder / f"{kind}.wav"
    if kind == "nan":
        x = noise(2.0)
        x[RATE + 5] = np.nan
        sf.write(path, x, RATE, subtype="FLOAT")
    elif kind == "inf":
        x = noise(2.0)
        x[3] = np.inf
        sf.write(path, x, RATE, subtype="FLOAT")
    elif kind == "empty":  # a valid WAV header with no samples
        sf.write(path, np.zeros((0, 1), dtype="float32"), RATE)
    elif kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are my field notes, not audio\n")
    elif kind == "zero_channels":
        path.write_bytes(wav_bytes(channels=0))
    elif kind == "corrupt":  # a RIFF/WAVE start, then garbage
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


BAD_KINDS = {  # kind -> words the reason must contain
    "nan": "NaN samples (the first at 1.000 s)",
    "inf": "infinite samples (the first at 0.000 s)",
    "empty": "no samples",
    "zero_bytes": "empty file (0 bytes)",
    "text": "not a WAV file",
    "zero_channels": "0 channels",
    "corrupt": "corrupt or unsupported audio",
}


def read_detections(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t")
    assert list(df.columns) == ["event_label", "onset", "offset", "filename"]
    return df


def score_offsets(path: Path) -> np.ndarray:
    df = pd.read_csv(path, sep="\t")
    assert list(df.columns[:2]) == ["onset", "offset"] and list(df.columns[2:]) == list(CLASSES)
    return df["offset"].to_numpy()

