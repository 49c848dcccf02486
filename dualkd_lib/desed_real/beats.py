"""BEATs embeddings in the DCASE 2023 baseline's HDF5 layout: read, aligned to the models' frames, cached.

Taught in notebook 07 (the embeddings the teacher fuses); README "Running on real DESED".
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from dualkd_lib import layout
from dualkd_lib.desed_real.prepare import BEATS_EVAL_H5_NAME, BEATS_H5_NAMES, _SHOW

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# BEATs embeddings in the DCASE 2023 baseline's HDF5 layout
# --------------------------------------------------------------------------
def _h5py() -> Any:
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py is a dependency of the package
        raise ImportError("Reading BEATs embeddings needs h5py: pip install h5py.") from err
    return h5py


def _stem(name: str) -> str:
    return name[:-4] if name.lower().endswith(".wav") else name


def write_beats_like_h5(path: str | Path, filenames: Sequence[str],
                        frame_embeddings: torch.Tensor | np.ndarray, *,
                        global_embeddings: torch.Tensor | np.ndarray | None = None,
                        overwrite: bool = False) -> Path:
    """Write frame embeddings in the DCASE 2023 baseline's HDF5 layout (see the module docstring).

    ``filenames``: N clip names (``.wav`` is dropped, as the recipe stores stems);
    ``frame_embeddings``: ``[N, D, T]`` channel first (BEATs: D = 768, T = 496);
    ``global_embeddings``: ``[N, D]`` (default: the mean over frames). An
    existing file is replaced only with ``overwrite=True``. Used by the tests and
    notebooks to build a small fake file. Taught in notebook 07.
    """
    h5py = _h5py()
    path = Path(path)
    frames = np.asarray(frame_embeddings, dtype=np.float32)
    if frames.ndim != 3 or frames.shape[0] != len(filenames):
        raise ValueError(f"frame_embeddings must be [N={len(filenames)}, dim, frames], got {frames.shape}.")
    glob = frames.mean(axis=2) if global_embeddings is None else np.asarray(global_embeddings, dtype=np.float32)
    if glob.shape != frames.shape[:2]:
        raise ValueError(f"global_embeddings must be [N, dim] = {frames.shape[:2]}, got {glob.shape}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("global_embeddings", data=glob)
        f.create_dataset("frame_embeddings", data=frames)
        f.create_dataset("filenames", data=[_stem(str(n)) for n in filenames], dtype=h5py.string_dtype("utf-8"))
    return path


def load_beats_embeddings(
    h5_path: str | Path,
    filenames: Sequence[str],
    n_frames: int,
    *,
    missing: str = "error",
    batch_size: int = 256,
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
    return_missing: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[str]]:
    """BEATs frame embeddings of ``filenames`` from a DCASE-baseline HDF5 file, aligned to the CRNN.

    Returns ``[N, 768, n_frames]`` (``dtype``), row ``i`` for ``filenames[i]``
    (names with or without ``.wav``). The file's frames (496 per clip) are
    resampled to ``n_frames`` (156 for the ``desed`` preset) with
    :func:`dualkd_lib.models.align_embeddings` (adaptive average pooling, as the
    DCASE 2023 BEATs baseline). Clips not in the file: ``missing="error"`` raises
    ``ValueError`` listing them; ``missing="zeros"`` fills them with zeros and
    logs how many (``return_missing=True`` also returns their names). Reads
    ``batch_size`` clips at a time. Memory: the unlabeled split (14,412 clips) at
    156 frames is 6.9 GB in float32; pass ``dtype=torch.float16`` to halve it.
    Taught in notebook 07.
    """
    from dualkd_lib.models import align_embeddings

    h5py = _h5py()
    if missing not in ("error", "zeros"):
        raise ValueError(f"missing must be 'error' or 'zeros', got {missing!r}.")
    if n_frames < 1 or batch_size < 1:
        raise ValueError(f"n_frames and batch_size must be >= 1, got {n_frames} and {batch_size}.")
    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise FileNotFoundError(
            f"No BEATs embedding file at {h5_path}. Make it with the DCASE 2023 recipe's "
            "extract_embeddings.py --pretrained_model beats (see docs/REAL_DESED.md)."
        )
    with h5py.File(h5_path, "r") as f:
        for key in ("filenames", "frame_embeddings"):
            if key not in f:
                raise ValueError(
                    f"{h5_path} has no {key!r} dataset (it has {sorted(f.keys())}); expected the DCASE 2023 "
                    "baseline layout: 'filenames' [N], 'frame_embeddings' [N, 768, frames], 'global_embeddings'."
                )
        frames_ds = f["frame_embeddings"]
        stored = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in f["filenames"][()]]
        if frames_ds.ndim != 3 or frames_ds.shape[0] != len(stored):
            raise ValueError(f"{h5_path}: frame_embeddings has shape {frames_ds.shape} for {len(stored)} "
                             "filenames; expected [N, dim, frames].")
        index = {_stem(n): i for i, n in enumerate(stored)}
        wanted = [index.get(_stem(str(n))) for n in filenames]
        absent = [str(n) for n, i in zip(filenames, wanted) if i is None]
        if absent and missing == "error":
            raise ValueError(
                f"{len(absent)} of {len(filenames)} clips have no embedding in {h5_path} (first: "
                f"{', '.join(absent[:_SHOW])}). Extract embeddings for this split's folder again, or pass "
                "missing='zeros' to fill them with zeros."
            )
        if absent:
            log.warning("%d of %d clips have no embedding in %s; filled with zeros (first: %s).",
                        len(absent), len(filenames), h5_path.name, ", ".join(absent[:3]))
        dim = frames_ds.shape[1]
        out = torch.zeros(len(filenames), dim, n_frames, dtype=dtype)
        present = [(row, i) for row, i in enumerate(wanted) if i is not None]
        for start in tqdm(range(0, len(present), batch_size), desc=f"BEATs embeddings: {h5_path.name}",
                          disable=not progress, unit="batch"):
            chunk = present[start:start + batch_size]
            order = sorted(set(i for _, i in chunk))  # h5py reads increasing indices
            block = torch.from_numpy(np.asarray(frames_ds[order], dtype=np.float32))
            aligned = align_embeddings(block, n_frames)
            where = {i: k for k, i in enumerate(order)}
            rows = torch.tensor([row for row, _ in chunk])
            out[rows] = aligned[torch.tensor([where[i] for _, i in chunk])].to(dtype)
    return (out, absent) if return_missing else out


def beats_h5_path(embeddings_dir: str | Path, split: str) -> Path:
    """The DCASE 2023 recipe's BEATs file for one of our splits (see :data:`BEATS_H5_NAMES`).

    ``embeddings_dir`` is the folder the recipe wrote (``./embeddings/beats``).
    Raises ``ValueError`` for ``"evaluation"``, which the 2023 script does not
    extract (pass the file's path yourself). Taught in notebook 07.
    """
    if split not in BEATS_H5_NAMES:
        raise ValueError(
            f"No DCASE 2023 BEATs file for split {split!r} (known: {sorted(BEATS_H5_NAMES)}); extract the public "
            "evaluation set as described in docs/REAL_DESED.md and pass its .hdf5 path explicitly."
        )
    return Path(embeddings_dir) / BEATS_H5_NAMES[split]


def context_beats_h5_path(embeddings_dir: str | Path, split: str) -> Path:
    """The BEATs file the ``desed`` preset reads for ``split`` from one embeddings folder.

    :func:`beats_h5_path` for the four splits the DCASE 2023 script extracts, and
    ``embeddings_dir / BEATS_EVAL_H5_NAME`` (``public_eval.hdf5``) for
    ``"evaluation"``: the 2023 script writes no file for the public evaluation
    set, so one folder holds the recipe's files plus that one (extract it as in
    docs/REAL_DESED.md, then copy its ``devtest.hdf5`` to ``public_eval.hdf5``).
    Taught in notebook 07.
    """
    if split == "evaluation":
        return Path(embeddings_dir) / BEATS_EVAL_H5_NAME
    return beats_h5_path(embeddings_dir, split)


def cached_beats_embeddings(split: str, h5_path: str | Path, *, filenames: Sequence[str], n_frames: int,
                            work_dir: str | Path, progress: bool = True, missing: str = "error") -> torch.Tensor:
    """BEATs frames ``[N, 768, n_frames]`` of ``filenames`` from the recipe's HDF5 file, cached.

    What the recipe's ``Context.embeddings(split)`` returns on real DESED: rows follow
    ``filenames`` (the split's clips on disk and listed), ``n_frames`` is the models' output
    frames (156). Cached in ``work_dir/embeddings/<split>-beats.pt``, keyed by the HDF5
    file's size and time stamp. Taught in notebook 07.
    """
    h5_path = Path(h5_path)
    filenames = list(filenames)
    if not h5_path.is_file():
        hint = (f" The DCASE 2023 script does not extract the public evaluation set: extract it as in "
                f"docs/REAL_DESED.md and copy its devtest.hdf5 to {h5_path.parent / BEATS_EVAL_H5_NAME}."
                if split == "evaluation" else " Make it with the DCASE 2023 recipe's extract_embeddings.py.")
        raise FileNotFoundError(f"No BEATs embedding file at {h5_path} for split {split!r}.{hint} "
                                "See docs/REAL_DESED.md.")
    st = h5_path.stat()
    source = f"{h5_path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{n_frames}:{missing}"
    cache = layout.embeddings_cache(work_dir, split, beats=True)
    if cache.is_file():
        cached = torch.load(cache, weights_only=True)
        if cached.get("source") == source and cached.get("filenames") == filenames:
            return cached["frame"]
    frame = load_beats_embeddings(h5_path, filenames, n_frames, missing=missing, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"source": source, "filenames": filenames, "frame": frame}, cache)
    return frame
