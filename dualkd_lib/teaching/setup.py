"""Inside the notebooks: the set-up cell (:func:`notebook_setup`) and the set-up check of notebook 00.

Taught in notebook 00.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from dualkd_lib.config import PRESETS
from dualkd_lib.constants import PRESET_ENV_VAR
from dualkd_lib.layout import SPLITS, default_data_root, default_work_dir, repo_root, split_paths
from dualkd_lib.seeding import seed_everything


# ---------------------------------------------------------------------------
# Inside the notebooks: set-up and set-up check
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NotebookSetup:
    """What :func:`notebook_setup` settled: preset name, seed, data folder, cache folder.

    ``cache_dir`` is ``<repository>/data/cache/<preset>`` (features, frozen models' outputs,
    checkpoints), the same default as the ``dualkd`` command line's ``--work-dir``.
    """

    preset: str
    seed: int
    data_root: Path
    cache_dir: Path

    def config(self) -> Any:
        """The preset's typed configuration, ``dualkd_lib.config.get_preset(self.preset)``."""
        from dualkd_lib.config import get_preset

        return get_preset(self.preset)


def _in_ipython_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def notebook_setup(
    preset: str | None = None, *, seed: int = 0, data_root: str | Path | None = None
) -> NotebookSetup:
    """The one call after the ``parameters`` cell of every notebook.

    Checks the preset (``None``: ``$DUALKD_PRESET`` or ``"course"``), seeds Python,
    NumPy and PyTorch with ``seed``, sets matplotlib's default figure size and resolves
    ``data_root`` (``None`` or ``""``: :func:`default_data_root`). Inside a Jupyter
    kernel it also sends library logging (INFO) to the notebook and shows figures
    inline, even when ``MPLBACKEND=Agg`` is set for headless runs, so executed copies
    keep their figures. Taught in notebook 00.
    """
    name = preset if preset is not None else os.environ.get(PRESET_ENV_VAR, "course")
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset {name!r}; use one of {tuple(PRESETS)} (set PRESET in the parameters cell "
            f"or the {PRESET_ENV_VAR} environment variable)."
        )
    seed_everything(seed)
    import matplotlib

    if _in_ipython_kernel():  # outside a notebook, leave logging and backends to the caller
        from IPython import get_ipython

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout, force=True)
        for noisy in ("matplotlib", "PIL", "numba", "h5py", "traitlets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        get_ipython().run_line_magic("matplotlib", "inline")
    matplotlib.rcParams.update({"figure.figsize": (8.0, 4.0), "figure.dpi": 100, "savefig.dpi": 100})
    root = Path(data_root) if data_root not in (None, "") else default_data_root(name)
    cache = default_work_dir(name)
    return NotebookSetup(name, seed, root.resolve(), cache.resolve())


@dataclass(frozen=True)
class DataStatus:
    """Whether a preset's dataset is on disk, and the command that creates it."""

    root: Path
    ready: bool
    missing: tuple[str, ...] = field(default_factory=tuple)
    command: str = ""


def data_status(data_root: str | Path, preset: str) -> DataStatus:
    """Check that every split of the DESED layout exists under ``data_root``.

    A split counts as present when its audio folder holds at least one ``.wav`` and its
    label/duration TSVs exist. ``command`` is what creates the data, e.g.
    ``dualkd make-data --preset tiny --out data/generated/tiny`` (run in the repository).
    Taught in notebook 00.
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; use one of {tuple(PRESETS)}.")
    root = Path(data_root).resolve()
    missing = []
    for split in SPLITS:
        audio, labels, durations = split_paths(root, split)
        if not audio.is_dir() or next(audio.glob("*.wav"), None) is None:
            missing.append(str(audio.relative_to(root)))
        for tsv in (labels, durations):
            if tsv is not None and not tsv.is_file():
                missing.append(str(tsv.relative_to(root)))
    try:
        shown = root.relative_to(repo_root())
    except (FileNotFoundError, ValueError):
        shown = root
    command = f"dualkd make-data --preset {preset} --out {shown.as_posix()}"
    return DataStatus(root, not missing, tuple(missing), command)
