"""Features computed once per split and kept on disk: :class:`FeatureCache`.

Taught in notebook 02.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from tqdm.auto import tqdm

from dualkd_lib.constants import SAMPLE_RATE
from dualkd_lib.features.logmel import FeatureConfig, LogMel, n_frames
from dualkd_lib.features.encoder import Loader

log = logging.getLogger(__name__)


#: Bump when the cache file format or the feature computation changes.
CACHE_VERSION = 1


def soundfile_loader(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Minimal WAV reader: mono float32 waveform ``[samples]``.

    Averages channels; refuses a file whose rate is not ``sample_rate`` (use
    ``desed_io.load_wav`` to resample). Taught in notebook 02.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WAV file not found: {path}")
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != sample_rate:
        raise ValueError(
            f"{path} has sample rate {sr} Hz, expected {sample_rate} Hz; resample it "
            "(desed_io.load_wav does) or pass a loader that resamples."
        )
    return torch.from_numpy(data.mean(axis=1))


def _fit_length(wave: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Zero-pad or cut a ``[samples]`` waveform to ``n_samples``."""
    if wave.shape[0] >= n_samples:
        return wave[:n_samples]
    return torch.nn.functional.pad(wave, (0, n_samples - wave.shape[0]))


def _sha1(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """Log-mel features of WAV files, computed once and kept on disk.

    One ``.npy`` file (float16, memory-mappable) per (audio folder, feature
    config, set of files), named ``<folder>-<key>.npy``, where ``key`` hashes
    the config's log-mel fields, the folder and the sorted file names. A JSON
    sidecar records each file's size and modification time; if any of them
    changed, the cache is stale and is recomputed (and overwritten).
    Writes go to a temporary file that is renamed when complete, and the
    sidecar is written last, so an interrupted run never leaves a cache that
    looks valid.

    float16 on disk: half the disk and RAM of float32; log-mel values lie in
    [-50, 80] dB where float16 rounds by at most 0.03 dB, far below the ~10 dB
    spread of the features. Convert batches with ``.float()`` before the model.
    Taught in notebook 02.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _feature_fields(cfg: FeatureConfig) -> dict[str, Any]:
        fields = dataclasses.asdict(cfg)
        fields.pop("net_pooling")  # does not change the log-mel features
        fields["cache_version"] = CACHE_VERSION
        return fields

    def paths_for(self, wav_paths: Sequence[str | Path], cfg: FeatureConfig) -> tuple[Path, Path]:
        """``(npy_path, sidecar_json_path)`` used for these files and config."""
        resolved = sorted(Path(p).resolve() for p in wav_paths)
        if not resolved:
            raise ValueError("FeatureCache needs at least one WAV path.")
        folder = Path(os.path.commonpath([str(p.parent) for p in resolved]))
        names = [str(p.relative_to(folder)) for p in resolved]
        key = _sha1({"cfg": self._feature_fields(cfg), "folder": str(folder), "files": names})
        slug = folder.name or "root"
        stem = f"{slug}-{key[:16]}"
        return self.cache_dir / f"{stem}.npy", self.cache_dir / f"{stem}.json"

    @staticmethod
    def _fingerprint(paths: Sequence[Path]) -> list[list[Any]]:
        out = []
        for p in paths:
            try:
                st = p.stat()
            except FileNotFoundError:
                raise FileNotFoundError(f"WAV file not found: {p}") from None
            out.append([str(p), st.st_size, st.st_mtime_ns])
        return out

    def is_valid(self, wav_paths: Sequence[str | Path], cfg: FeatureConfig) -> bool:
        """True when a complete, up-to-date cache exists for these files and config."""
        npy_path, meta_path = self.paths_for(wav_paths, cfg)
        resolved = sorted(Path(p).resolve() for p in wav_paths)
        if not (npy_path.is_file() and meta_path.is_file()):
            return False
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return (
            meta.get("fingerprint") == self._fingerprint(resolved)
            and meta.get("shape") == [len(resolved), cfg.n_mels, n_frames(cfg)]
        )

    def relocate(self, old_root: str | Path, new_root: str | Path, cfg: FeatureConfig) -> int:
        """Re-point the entries computed from WAVs under ``old_root`` to the same files under ``new_root``.

        For a data folder that was moved or copied with its content checked (a classroom
        cache, :mod:`dualkd_lib.course.classroom_cache`): the entries' names and fingerprints hold
        absolute paths and time stamps, so without this every split would be computed
        again. An entry whose files are not all under ``old_root``, or whose new files
        differ in size, is left alone (it is then recomputed when used). Returns the number
        of entries re-pointed. Taught in notebook 00.
        """
        old_root, new_root = Path(old_root), Path(new_root).resolve()
        moved = 0
        for meta_path in sorted(self.cache_dir.glob("*.json")):
            try:
                meta = json.loads(meta_path.read_text())
                old = [Path(p) for p, _, _ in meta["fingerprint"]]
                sizes = [size for _, size, _ in meta["fingerprint"]]
            except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            try:
                new = [new_root / p.relative_to(old_root) for p in old]
            except ValueError:
                continue  # not computed from this data folder
            if not all(p.is_file() and p.stat().st_size == size for p, size in zip(new, sizes)):
                continue
            npy_new, meta_new = self.paths_for(new, cfg)
            npy_old = meta_path.with_suffix(".npy")
            if not npy_old.is_file():
                continue
            if npy_old != npy_new:
                npy_old.replace(npy_new)
            meta["fingerprint"] = self._fingerprint(sorted(new))
            _atomic_write_text(meta_new, json.dumps(meta, indent=1))
            if meta_path != meta_new:
                meta_path.unlink()
            moved += 1
        return moved

    def features_for(
        self,
        wav_paths: Sequence[str | Path],
        cfg: FeatureConfig,
        *,
        progress: bool = True,
        loader: Loader | None = None,
        batch_size: int = 16,
        description: str | None = None,
    ) -> torch.Tensor:
        """Log-mel features of ``wav_paths`` in their given order, ``[n, n_mels, frames]`` float16.

        Computed and saved on the first call (or when a file changed), read
        from disk afterwards. Waveforms are zero-padded or cut to
        ``cfg.clip_seconds``. ``loader(path) -> Tensor [samples]`` reads one
        file (default :func:`soundfile_loader`). When ``wav_paths`` is already
        sorted, the result is a copy-on-write memory map of the file.
        """
        order = [Path(p).resolve() for p in wav_paths]
        resolved = sorted(order)
        if len(set(resolved)) != len(resolved):
            raise ValueError("FeatureCache.features_for: wav_paths contains duplicates.")
        npy_path, meta_path = self.paths_for(wav_paths, cfg)
        if self.is_valid(wav_paths, cfg):
            log.info("Feature cache hit: %s", npy_path.name)
        else:
            fingerprint = self._fingerprint(resolved)
            desc = description or f"log-mel features: {npy_path.stem.rsplit('-', 1)[0]}"
            self._compute(resolved, cfg, npy_path, loader, batch_size, progress, desc)
            meta = {
                "fingerprint": fingerprint,
                "shape": [len(resolved), cfg.n_mels, n_frames(cfg)],
                "config": self._feature_fields(cfg),
                "dtype": "float16",
            }
            _atomic_write_text(meta_path, json.dumps(meta, indent=1))
        data = torch.from_numpy(np.load(npy_path, mmap_mode="c"))
        if order == resolved:
            return data
        position = {p: i for i, p in enumerate(resolved)}
        return data[torch.tensor([position[p] for p in order])]

    def _compute(
        self,
        paths: Sequence[Path],
        cfg: FeatureConfig,
        npy_path: Path,
        loader: Loader | None,
        batch_size: int,
        progress: bool,
        desc: str,
    ) -> None:
        load: Loader = loader if loader is not None else (
            lambda p: soundfile_loader(p, cfg.sample_rate))
        meta_path = npy_path.with_suffix(".json")
        meta_path.unlink(missing_ok=True)  # the old sidecar must not vouch for a new file
        logmel = LogMel(cfg).eval()
        shape = (len(paths), cfg.n_mels, n_frames(cfg))
        fd, tmp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=npy_path.stem, suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        n_fit = 0
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
            with torch.no_grad(), tqdm(total=len(paths), desc=desc, disable=not progress,
                                       unit="clip") as bar:
                for start in range(0, len(paths), batch_size):
                    waves = []
                    for p in paths[start:start + batch_size]:
                        wave = torch.as_tensor(load(p)).float()
                        if wave.ndim != 1:
                            raise ValueError(
                                f"loader returned shape {tuple(wave.shape)} for {p}; it must "
                                "return a mono waveform [samples]."
                            )
                        n_fit += wave.shape[0] != cfg.clip_samples
                        waves.append(_fit_length(wave, cfg.clip_samples))
                    feats = logmel(torch.stack(waves))
                    out[start:start + len(waves)] = feats.numpy().astype(np.float16)
                    bar.update(len(waves))
            out.flush()
            del out
            os.replace(tmp, npy_path)
        finally:
            tmp.unlink(missing_ok=True)
        if n_fit:
            log.info("%d of %d clips were padded or cut to %.1f s", n_fit, len(paths),
                     cfg.clip_seconds)
        log.info("Feature cache written: %s %s", npy_path.name, shape)


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
