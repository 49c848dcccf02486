"""The set-up check: is this environment the one the course was locked with?

``dualkd doctor`` and notebook 00's set-up check call :func:`report`. It prints
versions, threads, data and cache status, and it catches the two failures that
break a fresh install before anything else runs:

- a torch/torchaudio pair that does not load together (torchaudio's compiled
  extension is built for one exact torch release; pip can resolve a newer
  torchaudio beside an older torch), and
- installed versions that differ from ``requirements.lock``.

Nothing here imports torchaudio at module level, so the check itself can run in a
broken environment and say what is wrong. Taught in notebook 00.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from dualkd_lib import layout

LOCK_NAME = "requirements.lock"
#: Installed distributions that the lock does not list on purpose: the installer
#: itself and this project (installed with ``--no-deps -e .``).
NOT_LOCKED = frozenset({"pip", "dualkd-sed"})
FIX_COMMAND = "make clean-venv && make venv"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class TorchPair:
    """Whether torch and torchaudio load together.

    ``ok`` is True when both import and torchaudio's compiled extension loads.
    ``message`` names both versions and, when broken, the one-line fix.
    """

    torch: str | None
    torchaudio: str | None
    ok: bool
    message: str


def pinned_pair() -> tuple[str | None, str | None]:
    """The torch and torchaudio versions that ``requirements.lock`` pins (None: no lock found)."""
    if find_lock() is None:
        return None, None
    pins = read_lock()
    return tuple(pins[name][0][0] if name in pins else None for name in ("torch", "torchaudio"))  # type: ignore[return-value]


def check_torch_pair() -> TorchPair:
    """Import torch and torchaudio and load torchaudio's compiled extension.

    A mismatched pair fails inside torchaudio with an ``OSError`` such as
    ``undefined symbol: torch_exception_get_what_without_backtrace``; this returns
    that as a message naming both versions and the fix instead of a traceback.
    """
    tv, tav = _version("torch"), _version("torchaudio")
    want_t, want_ta = pinned_pair()
    fix = (f"run `{FIX_COMMAND}` in the repository (or `pip install torch=={want_t} torchaudio=={want_ta}`)"
           if want_t and want_ta else f"run `{FIX_COMMAND}` in the repository")
    if tv is None or tav is None:
        missing = " and ".join(n for n, v in (("torch", tv), ("torchaudio", tav)) if v is None)
        return TorchPair(tv, tav, False, f"{missing} not installed: {fix}.")
    try:
        importlib.import_module("torch")
        importlib.import_module("torchaudio")  # loads libtorchaudio: a mismatched pair fails here
        ext = importlib.import_module("torchaudio._extension")
        if getattr(ext, "_IS_TORCHAUDIO_EXT_AVAILABLE", None) is False:
            raise OSError("torchaudio's compiled extension did not load")
    except (OSError, ImportError, RuntimeError) as err:
        root = err.__cause__ or err  # torch wraps the loader's "undefined symbol" error
        first = str(root).strip().splitlines()[0] if str(root).strip() else type(root).__name__
        return TorchPair(tv, tav, False,
                         f"torch {tv} and torchaudio {tav} do not load together ({first[-160:]}); "
                         f"they must be an exact pair{f' ({want_t} + {want_ta})' if want_t else ''}: {fix}.")
    if want_t and (tv.split("+")[0] != want_t or tav.split("+")[0] != want_ta):
        return TorchPair(tv, tav, False, f"torch {tv} + torchaudio {tav} load, but the lock pins "
                                         f"{want_t} + {want_ta}: {fix}.")
    return TorchPair(tv, tav, True, f"torch {tv} + torchaudio {tav}: an exact pair, extension loaded.")


def find_lock(start: Path | None = None) -> Path | None:
    """``requirements.lock`` of the repository this package was installed from, if any."""
    here = Path(start) if start else Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        candidate = folder / LOCK_NAME
        if candidate.is_file() and (folder / "pyproject.toml").is_file():
            return candidate
    return None


def read_lock(lock: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """``{name: [(version, marker), ...]}`` from a lock written by ``make lock``.

    A universal lock may list one package several times with exclusive markers
    (``numpy==2.2.6 ; python_full_version < '3.11'``). Raises ``FileNotFoundError``
    when there is no lock and ``ValueError`` for a line that is not ``name==version``.
    """
    path = Path(lock) if lock else find_lock()
    if path is None or not path.is_file():
        raise FileNotFoundError(f"No {LOCK_NAME} found (looked beside pyproject.toml above {Path(__file__).parent}).")
    pins: dict[str, list[tuple[str, str]]] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, _, marker = line.partition(";")
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s]+)", spec.strip())
        if not m:
            raise ValueError(f"{path}:{n}: {raw!r} is not an exact pin 'name==version'; refresh the lock with `make lock`.")
        pins.setdefault(_norm(m.group(1)), []).append((m.group(2), marker.strip()))
    return pins


def installed_distributions() -> list[md.Distribution]:
    """The distributions installed in this environment's site-packages.

    Not every ``sys.path`` entry: importing ``pkg_resources`` (dcase_util does, through
    sed_scores_eval) puts setuptools' private ``_vendor`` folder on ``sys.path``, whose
    bundled copies (packaging, platformdirs, wheel, ...) are not installed packages.
    """
    import sysconfig

    folders = list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    return list(md.distributions(path=folders))


def lock_drift(lock: Path | None = None) -> list[str]:
    """Differences between this environment and the lock, one line each (empty: none).

    A locked package (whose marker applies here) that is missing or at another version,
    and an installed distribution the lock does not list (besides :data:`NOT_LOCKED`).
    """
    from packaging.markers import Marker

    installed = {_norm(d.metadata["Name"]): d.version for d in installed_distributions() if d.metadata["Name"]}
    problems = []
    wanted = set()
    for name, entries in sorted(read_lock(lock).items()):
        applicable = [v for v, marker in entries if not marker or Marker(marker).evaluate()]
        if not applicable:
            continue
        wanted.add(name)
        have = installed.get(name)
        if have is None:
            problems.append(f"{name}: locked at {applicable[0]}, not installed")
        elif have.split("+")[0] not in {v.split("+")[0] for v in applicable}:
            problems.append(f"{name}: installed {have}, locked {applicable[0]}")
    for name, have in sorted(installed.items()):
        if name not in wanted and name not in NOT_LOCKED:
            problems.append(f"{name}: installed {have}, not in the lock")
    return problems


def cache_status(preset: str, cache_dir: Path) -> str:
    """What the preset's cache folder holds: trained runs, features, or nothing yet."""
    if not cache_dir.is_dir():
        return "empty (the first notebook that needs a model trains or loads it)"
    runs_dir = layout.runs_dir(cache_dir)
    runs = sorted(p.name for p in runs_dir.glob("*") if layout.final_checkpoint(p).is_file()) if runs_dir.is_dir() else []
    parts = [f"{len(runs)} trained run(s)" + (f": {', '.join(runs[:6])}{' ...' if len(runs) > 6 else ''}" if runs else "")]
    for sub in ("features", "embeddings"):
        if (cache_dir / sub).is_dir():
            parts.append(f"{sub} cached")
    return "; ".join(parts)


def report(preset: str | None = None, data_root: str | Path | None = None) -> list[dict[str, str]]:
    """Rows ``{"item", "value", "status"}``: the set-up check of notebook 00 and ``dualkd doctor``.

    Python; the torch/torchaudio pair (extension loaded); the lock (every installed
    version equal to ``requirements.lock``); key package versions; CPU threads and
    cores; GPU; and, for ``preset``, whether its data and cache exist. A row's
    ``status`` is ``"ok"`` or says what to do.
    """
    rows = [{"item": "python", "value": platform.python_version(),
             "status": "ok" if sys.version_info >= (3, 10) else "needs >= 3.10"}]
    pair = check_torch_pair()
    rows.append({"item": "torch + torchaudio", "value": f"{pair.torch} + {pair.torchaudio}",
                 "status": "ok" if pair.ok else pair.message})
    lock = find_lock()
    if lock is None:
        rows.append({"item": "lock", "value": "not found", "status": "ok (installed outside a clone: versions not compared)"})
    else:
        drift = lock_drift(lock)
        rows.append({"item": "lock", "value": f"{LOCK_NAME}, {'matches' if not drift else f'{len(drift)} difference(s)'}",
                     "status": "ok" if not drift else f"{'; '.join(drift[:5])}{' ...' if len(drift) > 5 else ''}: run `{FIX_COMMAND}`"})
    for package in ("sed_scores_eval", "numpy", "pandas", "scipy", "matplotlib", "ipywidgets", "jupyterlab", "onnxruntime"):
        version = _version(package)
        rows.append({"item": package, "value": version or "not installed",
                     "status": "ok" if version else f"install it: `{FIX_COMMAND}`"})
    if pair.ok:
        import torch

        rows.append({"item": "CPU threads (torch)", "value": str(torch.get_num_threads()), "status": "ok"})
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no"
        rows.append({"item": "GPU (CUDA)", "value": gpu, "status": "ok (not needed for tiny/course)"})
    rows.append({"item": "CPU cores (os)", "value": str(os.cpu_count()), "status": "ok"})
    if preset is not None:
        from dualkd_lib.teaching.setup import data_status

        root = Path(data_root) if data_root not in (None, "") else layout.default_data_root(preset)
        status = data_status(root, preset)
        rows.append({"item": f"data ({preset})", "value": str(status.root),
                     "status": "ok" if status.ready else f"missing {len(status.missing)} part(s): run `{status.command}`"})
        cache = layout.default_work_dir(preset)
        rows.append({"item": f"cache ({preset})", "value": str(cache), "status": cache_status(preset, cache)})
    return rows


def problems(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows that need action (data and cache rows only inform)."""
    return [r for r in rows if r["status"] != "ok" and not r["status"].startswith("ok ")
            and not r["item"].startswith(("cache", "data"))]


def format_rows(rows: list[dict[str, str]]) -> str:
    """The rows as an aligned plain-text table for the terminal."""
    w = max(len(r["item"]) for r in rows)
    v = min(max(len(r["value"]) for r in rows), 48)
    return "\n".join(f"{r['item']:<{w}}  {r['value'][:v]:<{v}}  {r['status']}" for r in rows)
