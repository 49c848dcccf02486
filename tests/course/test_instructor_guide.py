"""The instructor's guide (docs/INSTRUCTOR.md) against the course: its schedules use the notebooks' times, its fixed numbers are the library's, its score ranges are the records'."""
from __future__ import annotations

from pathlib import Path

import matplotlib

from dualkd_lib.course import build


matplotlib.use("Agg")


ROOT = Path(__file__).resolve().parents[2]


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _instructor_section(heading: str) -> str:
    """The text of ``docs/INSTRUCTOR.md`` under ``## heading``, up to the next ``## `` heading."""
    text = (ROOT / "docs" / "INSTRUCTOR.md").read_text(encoding="utf-8")
    return text.split(f"## {heading}")[1].split("\n## ")[0]


def _cells(line: str) -> list[str]:
    """The stripped cells of one markdown table row."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_the_instructors_schedules_use_the_notebooks_times_and_add_up() -> None:
    totals = {source.name[:2]: build.time_estimate(source)[0]
              for source in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))}
    day = _instructor_section("A one-day schedule")
    rows = [_cells(line) for line in day.splitlines() if line.startswith("| ") and ":" in _cells(line)[0]]
    seen = []
    for (start, what, minutes), (next_start, _, _) in zip(rows, rows[1:]):
        assert _minutes(next_start) - _minutes(start) == int(minutes), (start, what)
        if what[:2].isdigit():
            seen.append(what[:2])
            assert int(minutes) == totals[what[:2]], what
    assert seen == sorted(totals), "the day must teach every notebook, in order"
    teaching = sum(totals.values())
    assert f"{teaching} minutes of teaching" in day
    half = _instructor_section("A half day")
    half_rows = [_cells(line) for line in half.splitlines() if line.startswith("| ") and _cells(line)[0][:2].isdigit()]
    kept = [cells[0][:2] for cells in half_rows]
    for cells in half_rows:
        assert int(cells[1]) == totals[cells[0][:2]], cells
    assert f"That is {sum(totals[k] for k in kept)} minutes" in half


def test_the_instructors_fixed_numbers_are_the_librarys() -> None:
    from dualkd_lib import config, features, models

    rows = {_cells(line)[1]: _cells(line)[2] for line in
            _instructor_section("Numbers the room will see").splitlines() if line.startswith("| 0")}
    c = config.COURSE
    g = c.generator
    assert rows[next(k for k in rows if k.startswith("clips per split"))] == " / ".join(
        str(n) for n in (g.n_strong, g.n_weak, g.n_unlabeled, g.n_validation, g.n_evaluation))
    frames, out = features.n_frames(c.features), features.n_output_frames(c.features)
    ms = round(1000 * c.features.hop_length * c.features.net_pooling / c.features.sample_rate)
    assert rows[next(k for k in rows if k.startswith("log-mel"))] == f"{c.features.n_mels} x {frames}; {out} of {ms} ms"

    def size(model, **shapes) -> str:
        params, macs = models.count_parameters(model), models.count_macs(model, **shapes)
        return f"{params / 1e6:.{2 if params >= 1e6 else 3}f} M, {macs / 1e6:.0f} M"

    x = (1, c.features.n_mels, frames)
    assert rows[next(k for k in rows if k.startswith("teacher CRNN"))] == size(
        models.CRNN(c.teacher), input_shape=x, embeddings_shape=(1, c.teacher.embedding_dim, out))
    assert rows[next(k for k in rows if k.startswith("the embedding model"))] == size(
        models.EmbeddingModel(c.embedding), input_shape=x)
    assert rows[next(k for k in rows if k.startswith("deployed student"))] == size(
        models.SECRNN(c.student).without_embedding_head(), input_shape=x)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    psds1, psds2 = rows[next(k for k in rows if k.startswith("PSDS1 / PSDS2"))].split(" / ")
    assert f"PSDS1 {psds1}, PSDS2 {psds2}" in readme  # the README's measured figure, with its command


def _span(values: list[float]) -> str:
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return low if low == high else f"{low}-{high}"


def test_the_instructors_score_ranges_are_the_records() -> None:
    from dualkd_lib.teaching import measured

    rows = {_cells(line)[0]: _cells(line)[1:] for line in _instructor_section("Scores of the trained models").splitlines()
            if line.startswith("| ") and not line.startswith("| model")}
    record = measured.read("ablation_course")
    assert set(rows) == {row["reading"] for row in record["rows"]}, "one line per row of the record"
    for row in record["rows"]:
        assert rows[row["reading"]] == [str(len(row["seeds"])), _span(row["psds1"]), _span(row["psds2"])], row["reading"]

