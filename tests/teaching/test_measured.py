"""The recorded measurements that notebooks print (dualkd_lib.teaching.measured)."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest

from dualkd_lib.teaching import measured

ROOT = Path(__file__).resolve().parents[2]
RECORDS = sorted(p.stem for p in measured.MEASURED_ROOT.glob("*.json"))


def test_an_unknown_record_names_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match="takd_readings"):
        measured.read("no_such_record")


@pytest.mark.parametrize("name", RECORDS)
def test_every_row_has_one_score_per_seed_and_a_command_that_exists(name: str) -> None:
    record = measured.read(name)
    assert record["what"] and record["machine"] and record["rows"]
    for row in record["rows"]:
        assert len(row["psds1"]) == len(row["psds2"]) == len(row["seeds"]) >= 1, row["reading"]
        assert all(0.0 <= v <= 1.0 for v in row["psds1"] + row["psds2"]), row["reading"]
        script = next(word for word in shlex.split(row["command"]) if word.endswith(".py"))
        assert (ROOT / script).is_file(), f"{row['reading']}: {script} is not in the repository"


def test_table_gives_the_mean_and_the_sample_spread(tmp_path: Path, monkeypatch) -> None:
    rows = [{"reading": "a", "seeds": [0, 1, 2], "psds1": [0.1, 0.2, 0.3], "psds2": [0.5, 0.5, 0.8], "command": "x"},
            {"reading": "b", "seeds": [0], "psds1": [0.4], "psds2": [0.6], "command": "y"}]
    (tmp_path / "demo.json").write_text(json.dumps({"what": "w", "machine": "m", "rows": rows}))
    monkeypatch.setattr(measured, "MEASURED_ROOT", tmp_path)
    frame = measured.table("demo")
    assert frame.loc["a", "psds1"] == pytest.approx(0.2)
    assert frame.loc["a", "psds1_std"] == pytest.approx(0.1)
    assert frame.loc["a", "psds2"] == pytest.approx(0.6)
    assert frame.loc["a", "seeds"] == 3
    assert math.isnan(frame.loc["b", "psds1_std"])


def test_record_ablation_fill_missing_adds_only_the_missing_runs() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("record_ablation", ROOT / "benchmarks" / "record_ablation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def row(reading, seeds, psds1):
        return {"reading": reading, "seeds": seeds, "psds1": list(psds1), "psds2": list(psds1), "weights": ["mean"] * len(seeds),
                "validation": [{"psds1": 0, "psds2": 0}] * len(seeds), "train_seconds": [1] * len(seeds), "command": "c"}

    old = {"missing": ["plain seed 0"], "rows": [row("teacher", [0], [0.5]), row("plain", [1, 2], [0.2, 0.3])],
           "curves": {"validation": {}, "kd_distance": {}}}
    new = {"rows": [row("teacher", [0], [0.9]), row("plain", [0, 1, 2], [0.1, 0.8, 0.8])],
           "curves": {"validation": {}, "kd_distance": {}}}
    out = mod.filled_in(old, new, Path("/tmp/w"), "a machine")
    assert [r["reading"] for r in out["rows"]] == ["teacher", "plain"]
    assert out["rows"][0]["psds1"] == [0.5], "a run the record has is kept, not replaced"
    assert out["rows"][1]["seeds"] == [0, 1, 2] and out["rows"][1]["psds1"] == [0.1, 0.2, 0.3]
    assert out["missing"] == [] and out["filled_in"][0]["runs"] == ["plain seed 0"]
    whole = mod.filled_in({**old, "rows": old["rows"][:1], "missing": ["plain"]}, new, Path("/tmp/w"), "a machine")
    assert whole["rows"][1]["seeds"] == [0, 1, 2], "a reading missing as a whole gets every seed the folder has"
    with pytest.raises(SystemExit, match="none of the record's missing runs"):
        mod.filled_in({**out, "missing": ["other seed 4"]}, new, Path("/tmp/w"), "a machine")

