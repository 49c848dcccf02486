"""A classroom cache: a preset's data and trained models moved as one checked archive.

An instructor who has run the course once packs the data folder and the work folder
(features, embeddings, teacher outputs, every run) into one ``.tar`` with a manifest:
the preset's configs, the library version, the data fingerprint and the sha256 of every
file. A learner unpacks it in seconds instead of generating the data and training. The
unpacked cache is then checked like a local one: every file against its sha256, the
configs against today's preset, the data fingerprint against the unpacked data; and the
runs keep their own checks (configs, data) when a notebook loads them. A corrupt,
truncated or mismatched archive is refused with the reason, and nothing that exists is
ever overwritten. Command line: ``dualkd cache pack`` / ``dualkd cache unpack``.
Taught in notebook 00.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import tarfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm.auto import tqdm

from dualkd_lib import layout

#: The manifest's name inside the archive (its first member).
MANIFEST = "manifest.json"
#: Format of the archive; unpack refuses another.
FORMAT = 1
#: Top-level folders inside the archive: the data folder and the work folder.
PARTS = ("data", "cache")


def _preset_configs(preset: Any) -> dict[str, Any]:
    """Every config of ``preset`` as plain JSON (what a cache made elsewhere must equal)."""
    return json.loads(json.dumps(dataclasses.asdict(preset), default=str))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def pack(preset: str | Any, out: str | Path, *, data_root: str | Path | None = None,
         work_dir: str | Path | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """Write the data folder and the work folder of ``preset`` to the archive ``out``.

    ``data_root`` / ``work_dir`` default to ``data/generated/<preset>`` and
    ``data/cache/<preset>``. Refuses (``FileNotFoundError``) when the data are incomplete
    or nothing is trained yet, and (``FileExistsError``) an existing ``out`` unless
    ``overwrite``. Returns ``out``. Taught in notebook 00.
    """
    from dualkd_lib import recipe

    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; choose another --out or pass --overwrite to replace it.")
    ctx = recipe.Context.create(preset, data_root=data_root, work_dir=work_dir, make_data_if_missing=False,
                                progress=False)
    runs = layout.runs_dir(ctx.work_dir)
    if not runs.is_dir() or not any(runs.glob("*/final.pt")):
        raise FileNotFoundError(
            f"{ctx.work_dir} holds no finished run yet; run the course first (`make course`, or "
            f"`dualkd ablation --preset {ctx.preset.name} --seeds 0`), then pack.")
    members = [(f"data/{p.relative_to(ctx.data_root).as_posix()}", p) for p in _files(ctx.data_root)]
    members += [(f"cache/{p.relative_to(ctx.work_dir).as_posix()}", p) for p in _files(ctx.work_dir)]
    from dualkd_lib import __version__
    from dualkd_lib.recipe.pretrained import sha256

    files = {}
    for arcname, path in tqdm(members, desc="cache pack: checksums", unit="file", disable=not progress):
        files[arcname] = {"size": path.stat().st_size, "sha256": sha256(path)}
    manifest = {
        "format": FORMAT, "preset": ctx.preset.name, "configs": _preset_configs(ctx.preset),
        "library_version": __version__, "data_fingerprint": ctx.data_fingerprint(), "data_root": str(ctx.data_root),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"), "files": files,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        blob = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(blob), int(time.time())
        tar.addfile(info, io.BytesIO(blob))
        for arcname, path in tqdm(members, desc="cache pack: archive", unit="file", disable=not progress):
            tar.add(path, arcname=arcname, recursive=False)
    partial.replace(out)
    return out


def read_manifest(archive: str | Path) -> dict[str, Any]:
    """The manifest of ``archive``; ``ValueError`` when it is not a classroom cache."""
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"No cache archive at {archive}.")
    try:
        with tarfile.open(archive, "r") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise ValueError(f"{archive} is not a classroom cache: its first member is not {MANIFEST}.")
            manifest = json.loads(tar.extractfile(first).read())
    except (tarfile.TarError, json.JSONDecodeError, EOFError) as err:
        raise ValueError(f"{archive} is not a readable classroom cache ({err}); pack it again.") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{archive} has cache format {manifest.get('format')!r}; this library reads format {FORMAT}.")
    return manifest


def check_manifest(manifest: dict[str, Any], preset: Any) -> list[str]:
    """Why a cache with ``manifest`` does not fit today's ``preset`` (empty: it fits)."""
    problems = []
    if manifest.get("preset") != preset.name:
        problems.append(f"it was packed for preset {manifest.get('preset')!r}, not {preset.name!r}")
        return problems
    want, have = _preset_configs(preset), manifest.get("configs", {})
    for key, value in want.items():
        if have.get(key) != value:
            old = have.get(key) if isinstance(have.get(key), dict) else {}
            fields = sorted(k for k in set(old) | set(value or {}) if old.get(k) != (value or {}).get(k)) \
                if isinstance(value, dict) else []
            problems.append(f"its {key} settings differ from today's" + (f" ({', '.join(fields)})" if fields else "")
                            + "; pack it again with this version of the course")
    return problems


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] not in PARTS:
        raise ValueError(f"unsafe or unexpected member {name!r} in the archive; it is refused.")
    return path


def unpack(archive: str | Path, *, preset: str | Any | None = None, data_root: str | Path | None = None,
           work_dir: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Unpack ``archive`` into ``data_root`` and ``work_dir`` after checking all of it.

    ``preset`` defaults to the archive's; folders default as in :func:`pack`. Refuses
    (``FileExistsError``) a target folder that is not empty, and (``ValueError``) an
    archive that is corrupt (a file whose sha256 differs, a missing, extra or unsafe
    member) or made for other settings. Files are written to temporary folders beside the
    targets and moved into place only when every check passed. Returns a summary
    (``preset``, ``files``, ``bytes``, ``seconds``, folders). Taught in notebook 00.
    """
    from dualkd_lib import recipe
    from dualkd_lib.config import get_preset

    start = time.perf_counter()
    manifest = read_manifest(archive)
    p = get_preset(preset if preset is not None else manifest.get("preset"))
    problems = check_manifest(manifest, p)
    if problems:
        raise ValueError(f"The cache {archive} does not fit: " + "; ".join(problems) + ".")
    targets = {"data": Path(data_root) if data_root else layout.default_data_root(p.name),
               "cache": Path(work_dir) if work_dir else layout.default_work_dir(p.name)}
    for part, target in targets.items():
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise FileExistsError(
                f"{target} is not empty; the cache never overwrites data or trained models. Move it away "
                f"(or pass --{'data-root' if part == 'data' else 'work-dir'} DIR for another folder) and unpack again.")
    staging = {part: t.with_name(f".{t.name}.unpacking") for part, t in targets.items()}
    for folder in staging.values():
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    expected = dict(manifest["files"])
    written = 0
    try:
        with tarfile.open(archive, "r") as tar:
            bar = tqdm(total=len(expected), desc="cache unpack", unit="file", disable=not progress)
            for index, member in enumerate(tar):
                if index == 0:  # the manifest, read above
                    continue
                path = _safe(member.name)
                if not member.isfile():
                    raise ValueError(f"member {member.name!r} is not a regular file; the archive is refused.")
                if member.name not in expected:
                    raise ValueError(f"member {member.name!r} is not in the manifest; the archive is refused.")
                want = expected.pop(member.name)
                dest = staging[path.parts[0]].joinpath(*path.parts[1:])
                dest.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with tar.extractfile(member) as src, open(dest, "wb") as dst:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        digest.update(block)
                        dst.write(block)
                if digest.hexdigest() != want["sha256"]:
                    raise ValueError(f"{member.name} does not match its sha256 in the manifest: the archive is "
                                     "corrupt; copy it again.")
                written += member.size
                bar.update(1)
            bar.close()
        if expected:
            raise ValueError(f"the archive is truncated: {len(expected)} file(s) of the manifest are missing, "
                             f"e.g. {sorted(expected)[0]}; copy it again.")
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        for folder in staging.values():  # nothing half-unpacked is left behind
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(err, ValueError):
            raise
        raise ValueError(f"{archive} could not be read to the end ({err}): truncated or corrupt; copy it again.") from None
    for part, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rmdir()  # empty, checked above
        staging[part].replace(target)
    from dualkd_lib.features import FeatureCache

    relocated = FeatureCache(targets["cache"] / "features").relocate(manifest["data_root"], targets["data"], p.features) \
        if (targets["cache"] / "features").is_dir() else 0
    ctx = recipe.Context.create(p, data_root=targets["data"], work_dir=targets["cache"], make_data_if_missing=False,
                                progress=False)
    if ctx.data_fingerprint() != manifest["data_fingerprint"]:
        raise ValueError(f"the unpacked data in {targets['data']} have fingerprint {ctx.data_fingerprint()}, the "
                         f"manifest says {manifest['data_fingerprint']}; the archive is inconsistent.")
    return {"preset": p.name, "files": len(manifest["files"]), "bytes": written, "feature_caches": relocated,
            "seconds": time.perf_counter() - start, "data_root": str(targets["data"]),
            "work_dir": str(targets["cache"]), "library_version": manifest.get("library_version")}
