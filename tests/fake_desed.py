"""A fake real-DESED tree for the tests: the DCASE 2023 recipe's 44.1 kHz folders and metadata.

Built from generated clips (seeded). Real downloads are never complete, so the
tree imitates that: some clips are listed in the TSVs but absent, and one WAV is
corrupt. Used by ``test_desed_real.py`` (prepare, BEATs HDF5) and
``test_desed_end_to_end.py`` (prepare -> train -> evaluate with the ``desed`` preset).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
import torch
import torchaudio.functional as AF

from dualkd_lib import desed_real, generate
from dualkd_lib.layout import SPLITS

SR_44K = 44100
#: Clips on disk per split (one of them corrupt), in the recipe's 44.1 kHz folders.
ON_DISK: dict[str, list[str]] = {
    "strong": ["s0.wav", "s1.wav", "s2.wav"], "weak": ["w0.wav", "w1.wav", "w_bad.wav"],
    "unlabeled": ["u0.wav", "u1.wav"], "validation": ["v0.wav", "v1.wav"], "evaluation": ["e0.wav"],
}
#: Names listed in a split's TSVs but absent from its folder.
LISTED_MISSING: dict[str, list[str]] = {"strong": ["s_gone.wav"], "validation": ["v_gone.wav"]}
#: A WAV with a RIFF header and no audio.
CORRUPT = "w_bad.wav"


def make_clips(on_disk: Mapping[str, Sequence[str]] = ON_DISK, corrupt: str = CORRUPT, *,
               forced: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[np.ndarray, pd.DataFrame]]:
    """One generated 10-s clip (16 kHz waveform, events) per name on disk, seeded by its position.

    ``forced[name]``: classes that clip must contain (e.g. so that every class
    occurs in an evaluation split, which PSDS needs).
    """
    forced = forced or {}
    names = [n for names in on_disk.values() for n in names if n != corrupt]
    return {n: generate.generate_clip(np.random.default_rng(i), classes=forced.get(n)) for i, n in enumerate(names)}


def _strong_rows(names: Sequence[str], clips: Mapping[str, tuple[np.ndarray, pd.DataFrame]]) -> pd.DataFrame:
    rows = []
    for n in names:
        events = clips[n][1] if n in clips else pd.DataFrame(
            {"onset": [1.0], "offset": [2.0], "event_label": ["Dog"]})
        rows += [(n, f"{r.onset:.3f}", f"{r.offset:.3f}", r.event_label) for r in events.itertuples()]
    return pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])


def make_fake_desed(root: Path, clips: Mapping[str, tuple[np.ndarray, pd.DataFrame]], *,
                    on_disk: Mapping[str, Sequence[str]] = ON_DISK,
                    listed_missing: Mapping[str, Sequence[str]] = LISTED_MISSING,
                    corrupt: str = CORRUPT) -> Path:
    """Write the recipe's 44.1 kHz folders and metadata under ``root`` (which must not hold them yet).

    Strong splits list each clip's generated events; weak clips are labelled
    ``Dog,Speech``; durations are 10 s. Returns ``root``.
    """
    for split, names in on_disk.items():
        folder = root / desed_real.source_audio_dir(split)
        folder.mkdir(parents=True)
        for n in names:
            if n == corrupt:
                (folder / n).write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio")
                continue
            wave44 = AF.resample(torch.from_numpy(clips[n][0]), 16000, SR_44K).numpy()
            sf.write(folder / n, np.clip(wave44, -1, 0.999), SR_44K, subtype="PCM_16")
        listed = list(names) + list(listed_missing.get(split, []))
        info = SPLITS[split]
        if info.labels:
            path = root / info.labels
            path.parent.mkdir(parents=True, exist_ok=True)
            if info.kind == "strong":
                _strong_rows(listed, clips).to_csv(path, sep="\t", index=False)
            else:
                labels = ["Dog,Speech" for _ in listed]
                pd.DataFrame({"filename": listed, "event_labels": labels}).to_csv(path, sep="\t", index=False)
        if info.durations:
            pd.DataFrame({"filename": listed, "duration": ["10.000"] * len(listed)}).to_csv(
                root / info.durations, sep="\t", index=False)
    return root
