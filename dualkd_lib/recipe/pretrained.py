"""Pre-trained teacher and embedding model, shipped with the package as BEATs is with DCASE.

In the paper the teacher and BEATs are pre-trained: the method trains only the student.
``dualkd pretrain`` trains the embedding model and the teacher once, with long budgets,
and writes a *bundle*: the two checkpoints, the teacher's inference bundle and a
``manifest.json`` (preset, configs, data seed, the command, scores, sha256 of every file,
library version). A bundle in ``dualkd_lib/resources/pretrained/<preset>/`` (or in
``$DUALKD_PRETRAINED_DIR/<preset>/``) is installed into a work folder instead of training,
when its configs equal the preset's. A shipped model is valid for any generated data of
its preset, as BEATs is valid for any audio, so the data fingerprint check does not bind
it (the students keep it). Taught in notebook 03.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dualkd_lib import layout
from dualkd_lib.config import Preset
from dualkd_lib.train.checkpoint import config_diffs, field_defaults

if TYPE_CHECKING:  # a type name only: at run time the Context imports this module, not the reverse
    from dualkd_lib.recipe.context import Context

log = logging.getLogger(__name__)

SHIPPED_ROOT = layout.resources_dir() / "pretrained"
ENV_VAR = "DUALKD_PRETRAINED_DIR"
MANIFEST = "manifest.json"
#: files of a bundle -> where they go in a work folder
FILES: dict[str, str] = {
    "embedding.pt": layout.embedding_checkpoint(".").as_posix(),
    "teacher.pt": layout.teacher_checkpoint(".", 0).as_posix(),
    "teacher_inference.pt": (layout.teacher_run_dir(".", 0) / "inference.pt").as_posix(),
}
#: marker written beside an installed teacher: its data fingerprint does not bind it
SHIPPED_MARKER = "shipped.json"


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_dir(preset_name: str, root: str | Path | None = None) -> Path:
    """Where the bundle of ``preset_name`` lives: ``root``, else ``$DUALKD_PRETRAINED_DIR``, else the package's."""
    base = Path(root) if root is not None else Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else SHIPPED_ROOT
    return base / preset_name


def _config_objects(preset: Preset) -> dict[str, Any]:
    """The configs a bundle is made with, by name: what its manifest records and must match."""
    return {"embedding": preset.embedding, "pretrain": preset.pretrain, "teacher": preset.teacher,
            "teacher_train": preset.teacher_config(0), "features": preset.features}


def _configs(preset: Preset) -> dict[str, Any]:
    import dataclasses

    return {key: config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
            for key, config in _config_objects(preset).items()}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def check_bundle(preset: Preset, root: str | Path | None = None) -> list[str]:
    """Problems of the bundle of ``preset`` (empty: it fits). Raises ``FileNotFoundError`` when there is none.

    Each file's sha256 must equal the manifest's, and the manifest's configs must equal the
    preset's (a bundle made before a config change is *stale*: it says which settings differ
    and the command that retrains it).
    """
    folder = bundle_dir(preset.name, root)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"No pre-trained bundle for preset {preset.name!r} in {folder}.")
    manifest = json.loads(manifest_path.read_text())
    problems = []
    for name in FILES:
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256(path) != manifest["files"].get(name):
            problems.append(f"{name} does not match its sha256 in the manifest (corrupt or replaced)")
    want = _jsonable(_configs(preset))
    for key, config in _config_objects(preset).items():
        # a field added since (absent from the manifest) counts as its default, which keeps the old behaviour
        diffs = config_diffs(manifest.get("configs", {}).get(key) or {}, want[key],
                             defaults=_jsonable(field_defaults(config)))
        if diffs:
            problems.append(f"stale for today's {key} config (differs in: {'; '.join(diffs)}); "
                            f"retrain with `dualkd pretrain --preset {preset.name} --overwrite`")
    return problems


def install(ctx: Context, root: str | Path | None = None) -> bool:
    """Copy the preset's bundle into ``ctx.work_dir`` when it fits and the work folder has neither model.

    Returns True when installed. A bundle that does not fit is never used: a warning names
    its problems and the models are trained as without one. Nothing in the work folder is
    ever replaced.
    """
    folder = bundle_dir(ctx.preset.name, root)
    if not (folder / MANIFEST).is_file():
        return False
    targets = {name: ctx.work_dir / rel for name, rel in FILES.items()}
    if any(t.exists() for t in targets.values()):
        return False
    problems = check_bundle(ctx.preset, root)
    if problems:
        log.warning("The pre-trained bundle in %s is not used: %s.", folder, "; ".join(problems))
        return False
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, target)
    manifest = read_manifest(ctx.preset.name, root)
    (targets["teacher.pt"].parent / SHIPPED_MARKER).write_text(json.dumps(
        {"bundle": str(folder), "manifest_sha256": sha256(folder / MANIFEST), "scores": manifest.get("scores")},
        indent=2))
    log.info("Installed the pre-trained embedding model and teacher of %s into %s.", folder, ctx.work_dir)
    return True


def read_manifest(preset_name: str, root: str | Path | None = None) -> dict[str, Any]:
    """The manifest of the bundle of ``preset_name`` (``FileNotFoundError`` when there is none). Notebook 03."""
    path = bundle_dir(preset_name, root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"No pre-trained bundle for preset {preset_name!r} in {path.parent}; "
                                f"make one with `dualkd pretrain --preset {preset_name}`.")
    return json.loads(path.read_text())


def is_shipped(run_dir: str | Path) -> bool:
    """True when the run in ``run_dir`` was installed from a pre-trained bundle."""
    return (Path(run_dir) / SHIPPED_MARKER).is_file()


def refuse_existing(out_dir: Path, overwrite: bool) -> None:
    """``FileExistsError`` when ``out_dir`` already holds a bundle and ``overwrite`` is not set."""
    if (Path(out_dir) / MANIFEST).exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already holds a pre-trained bundle; pass --overwrite to replace it.")


def machine_facts() -> dict[str, Any]:
    """Where a bundle is trained: CPU model, torch version and threads.

    Training amplifies the last-bit differences of floats between CPUs and thread counts, so a
    retrain with the same seed lands near the shipped scores, not on them (notebook 03).
    """
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def write_bundle(ctx: Context, out_dir: str | Path, *, scores: dict, command: str, seconds: dict,
                 overwrite: bool = False) -> Path:
    """Write the bundle of ``ctx``'s trained embedding model and teacher (seed 0) to ``out_dir``.

    Refuses an existing bundle unless ``overwrite``. Returns the manifest's path.
    """
    from dualkd_lib import __version__

    out = Path(out_dir)
    refuse_existing(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rel in FILES.items():
        shutil.copy2(ctx.work_dir / rel, out / name)
        files[name] = sha256(out / name)
    manifest = {
        "preset": ctx.preset.name, "library_version": __version__, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command, "data_seed": 0, "python": sys.version.split()[0],
        "machine": machine_facts(), "configs": _jsonable(_configs(ctx.preset)), "scores": _jsonable(scores),
        "stage_seconds": seconds, "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out / MANIFEST


#: the scores a retrained bundle is held against the shipped bundle's seeds on (evaluation split)
SPREAD_MODELS: tuple[str, ...] = ("teacher", "linear_probe")
SPREAD_METRICS: tuple[str, ...] = ("psds1", "psds2")


def seed_spread(manifest: dict[str, Any]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """``model -> metric -> (mean, sample std, seeds)`` over the bundle seeds in ``manifest["seed_spread"]``.

    Each of ``manifest["seed_spread"]["runs"]`` is one bundle seed (the stand-in pre-trained from
    another seed, the teacher trained with another seed) with its evaluation scores; the shipped
    bundle is one of them. Empty when the manifest records fewer than two seeds. Notebook 03.
    """
    runs = (manifest.get("seed_spread") or {}).get("runs") or []
    if len({r["bundle_seed"] for r in runs}) < 2:
        return {}
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for model in SPREAD_MODELS:
        for metric in SPREAD_METRICS:
            values = [float(r[model][metric]) for r in runs]
            out.setdefault(model, {})[metric] = (statistics.mean(values), statistics.stdev(values), len(values))
    return out


def compare_with_shipped(scores: dict[str, Any], manifest: dict[str, Any], *, n_std: float = 2.0) -> list[dict[str, Any]]:
    """How a retrained bundle's ``scores`` (as ``dualkd pretrain`` writes them) sit in the shipped seeds' spread.

    One row per model and metric: the retrain's evaluation score, the shipped seeds' mean and
    sample std, the band ``mean ± n_std·std`` and whether the score lies in it. Empty when
    ``manifest`` records no seed spread. Notebook 03.
    """
    rows = []
    for model, metrics in seed_spread(manifest).items():
        for metric, (mean, std, n) in metrics.items():
            score = float(scores[model]["evaluation"][metric])
            low, high = mean - n_std * std, mean + n_std * std
            rows.append({"model": model, "metric": metric, "score": score, "mean": mean, "std": std, "seeds": n,
                         "low": low, "high": high, "within": low <= score <= high})
    return rows
