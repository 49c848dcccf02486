"""Shared test helper: the DESED validation folder shipped with the library, and writers of TSV text and WAV
files, for the tests of dualkd_lib/desed_io/. Imported by name (tests/ is on the path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from dualkd_lib import layout

RESOURCES = layout.desed_validation_dir()


def write_text(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_wav(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = 0.1 * rng.standard_normal((int(round(seconds * sr)), channels)).astype(np.float32)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path
