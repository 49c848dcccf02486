"""Statistics of a generated dataset against the real DESED validation set.

Taught in notebook 01.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from dualkd_lib.constants import CLASSES, CLIP_SECONDS
from dualkd_lib.desed_io import read_tsv_frame
from dualkd_lib.generate.config import _REAL_DESED_TSV


# ---------------------------------------------------------------------------
# Statistics: generated versus real DESED
# ---------------------------------------------------------------------------


def load_real_desed_validation() -> pd.DataFrame:
    """The real DESED validation ground truth shipped with the library.

    Columns ``filename, onset, offset, event_label``; clips without events have
    one row with NaN onset/offset/label. 1168 clips, 4245 events. Taught in notebook 01.
    """
    if not _REAL_DESED_TSV.is_file():
        raise FileNotFoundError(f"{_REAL_DESED_TSV} is missing; reinstall the package (pip install -e .).")
    return read_tsv_frame(_REAL_DESED_TSV)


def _with_filenames(strong_df: pd.DataFrame) -> pd.DataFrame:
    missing = {"onset", "offset", "event_label"} - set(strong_df.columns)
    if missing:
        raise ValueError(
            f"strong_df lacks columns {sorted(missing)}; expected filename, onset, offset, event_label "
            "(a DESED strong TSV read with pandas.read_csv(path, sep='\\t'))."
        )
    df = strong_df.copy()
    if "filename" not in df.columns:
        df["filename"] = "clip"
    return df


def event_statistics(strong_df: pd.DataFrame) -> pd.DataFrame:
    """Per-class statistics of a strong label table.

    ``strong_df``: columns ``filename, onset, offset, event_label`` (rows with
    empty label = clips without events). Returns one row per class (order of
    ``CLASSES``) with ``n_events``, ``frac_events`` (share of all events),
    ``n_clips`` and ``frac_clips`` (clips containing the class), ``events_per_clip``
    (when present), ``median_s``, ``mean_s``, ``q25_s``, ``q75_s`` (durations),
    ``frac_cut_onset`` (onset 0), ``frac_cut_offset`` (offset 10) and
    ``frac_whole_clip``. Taught in notebook 01.
    """
    df = _with_filenames(strong_df)
    n_clips_total = df["filename"].nunique()
    ev = df.dropna(subset=["event_label"]).copy()
    ev["dur"] = ev["offset"].astype(float) - ev["onset"].astype(float)
    rows = []
    for c in CLASSES:
        e = ev[ev["event_label"] == c]
        nc = e["filename"].nunique()
        d = e["dur"]
        rows.append({
            "event_label": c,
            "n_events": len(e),
            "frac_events": len(e) / max(len(ev), 1),
            "n_clips": nc,
            "frac_clips": nc / max(n_clips_total, 1),
            "events_per_clip": len(e) / nc if nc else float("nan"),
            "median_s": d.median(),
            "mean_s": d.mean(),
            "q25_s": d.quantile(0.25),
            "q75_s": d.quantile(0.75),
            "frac_cut_onset": (e["onset"] <= 0.0005).mean() if len(e) else float("nan"),
            "frac_cut_offset": (e["offset"] >= CLIP_SECONDS - 0.0005).mean() if len(e) else float("nan"),
            "frac_whole_clip": (d >= CLIP_SECONDS - 0.1).mean() if len(e) else float("nan"),
        })
    return pd.DataFrame(rows).set_index("event_label")


def clip_statistics(strong_df: pd.DataFrame) -> dict[str, float]:
    """Clip-level statistics: clips, events per clip, classes per clip, polyphony.

    ``overlap_fraction``: mean share of a clip's time with >= 2 events;
    ``active_fraction``: with >= 1 event (10-ms grid). Taught in notebook 01.
    """
    df = _with_filenames(strong_df)
    ev = df.dropna(subset=["event_label"])
    n = df["filename"].nunique()
    over, act = [], []
    for _, g in df.groupby("filename"):
        grid = np.zeros(int(CLIP_SECONDS * 100), dtype=np.int16)
        for on, off in zip(g["onset"].dropna(), g["offset"].dropna()):
            grid[int(round(on * 100)):int(round(off * 100))] += 1
        over.append((grid >= 2).mean())
        act.append((grid >= 1).mean())
    return {
        "n_clips": n,
        "n_events": len(ev),
        "events_per_clip": len(ev) / max(n, 1),
        "classes_per_clip": float(ev.groupby("filename")["event_label"].nunique().sum()) / max(n, 1),
        "overlap_fraction": float(np.mean(over)) if over else 0.0,
        "active_fraction": float(np.mean(act)) if act else 0.0,
    }


def compare_with_desed(strong_df: pd.DataFrame) -> pd.DataFrame:
    """Generated versus real DESED validation statistics, per class.

    Columns: ``generated_median_s``, ``desed_median_s``, ``median_ratio``
    (generated / real), ``generated_frac_events``, ``desed_frac_events``,
    ``generated_frac_clips``, ``desed_frac_clips``. Taught in notebook 01.
    """
    gen = event_statistics(strong_df)
    real = event_statistics(load_real_desed_validation())
    out = pd.DataFrame({
        "generated_median_s": gen["median_s"],
        "desed_median_s": real["median_s"],
        "median_ratio": gen["median_s"] / real["median_s"],
        "generated_frac_events": gen["frac_events"],
        "desed_frac_events": real["frac_events"],
        "generated_frac_clips": gen["frac_clips"],
        "desed_frac_clips": real["frac_clips"],
    })
    return out
