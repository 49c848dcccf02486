"""Measurements too long for a notebook to rerun, recorded with the commands that made them.

Each file in ``dualkd_lib/resources/measured/`` holds rows of one comparison: what was measured,
on which machine, the seeds, PSDS1/PSDS2 per seed, and the command that reruns each row.
Notebooks print them from here instead of typing numbers into their prose, so the prose cannot
drift from the record. Taught in notebook 06 (the TAKD readings).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from dualkd_lib import layout

MEASURED_ROOT = layout.resources_dir() / "measured"


def read(name: str) -> dict[str, Any]:
    """The record ``name`` (e.g. ``"takd_readings"``) as a dict; a clear error for an unknown name."""
    path = MEASURED_ROOT / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in MEASURED_ROOT.glob("*.json"))
        raise FileNotFoundError(f"no measured record {name!r} in {MEASURED_ROOT}; known: {known}")
    return json.loads(path.read_text())


def table(name: str) -> pd.DataFrame:
    """The record's rows as a DataFrame: mean (and sample std with 2+ seeds) of PSDS1 and PSDS2."""
    rows = []
    for row in read(name)["rows"]:
        entry: dict[str, Any] = {"reading": row["reading"], "seeds": len(row["seeds"])}
        for metric in ("psds1", "psds2"):
            values = np.asarray(row[metric], dtype=float)
            entry[metric] = float(values.mean())
            entry[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        entry["command"] = row["command"]
        rows.append(entry)
    return pd.DataFrame(rows).set_index("reading")
