"""Detections for a list of recordings: :func:`predict_files` (``dualkd predict``).

Taught in notebook 09.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from dualkd_lib import evaluate
from dualkd_lib.desed_io import write_detections_tsv
from dualkd_lib.predict.inputs import (
    AudioReadError,
    PredictResult,
    SkippedFile,
    _same_names,
    collect_audio_files,
)
from dualkd_lib.predict.model import load_predictor, score_file

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------
def _check_outputs(out: Path, scores_dir: Path | None) -> None:
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another --out (detections are never overwritten).")
    if scores_dir is not None:
        if scores_dir.exists() and not scores_dir.is_dir():
            raise FileExistsError(f"--scores {scores_dir} is a file; give a folder for the score files.")
        if scores_dir.is_dir() and any(scores_dir.iterdir()):
            raise FileExistsError(
                f"--scores folder {scores_dir} is not empty; choose a new or empty folder (score files are never "
                "overwritten)."
            )


def predict_files(checkpoint: str | Path, inputs: Sequence[str | Path], out: str | Path, *,
                  scores: str | Path | None = None, threshold: float | Sequence[float] | None = None,
                  embedding_model: str | Path | None = None, strict: bool = False, progress: bool = True,
                  batch_windows: int = 8, scores_out: str | Path | None = None) -> PredictResult:
    """Detect events in any recordings (``dualkd predict``); returns a :class:`PredictResult`.

    ``inputs``: WAV (or FLAC) files and folders (searched recursively). Each
    file is read once, in blocks: any sample rate (resampled to the model's),
    any number of channels (averaged), any length (10-s windows, bounded
    memory). Writes the DESED detections (``event_label onset offset
    filename``, after the checkpoint's median filter and ``threshold``, by
    default the saved one) to ``out``, and with ``scores`` one sed_scores_eval
    score file per recording into that folder. No time passes a file's duration.

    A file that cannot be read is skipped with a warning and listed in
    ``result.skipped`` (``strict=True``: raise ``ValueError`` at the first one);
    a file with the same name as an earlier one is skipped too (detections and
    score files are keyed by name). ``checkpoint``: a student, or a teacher
    whose embedding model is recorded in it or given as ``embedding_model``.
    ``scores_out`` is the old name of ``scores``. ``out`` and a non-empty
    ``scores`` folder are never overwritten (``FileExistsError``).
    Taught in notebook 09.
    """
    if scores_out is not None:
        if scores is not None and Path(scores) != Path(scores_out):
            raise ValueError(f"scores={scores} and scores_out={scores_out} disagree; give one (scores_out is its "
                             "old name).")
        scores = scores_out
    out = Path(out)
    scores_dir = Path(scores) if scores is not None else None
    _check_outputs(out, scores_dir)
    files = collect_audio_files(inputs)
    clashes = _same_names(files)
    if strict and clashes:
        later, earlier = next(iter(clashes.items()))
        raise ValueError(
            f"{later} has the same name as {earlier}; detections and score files are keyed by file name. Rename "
            "one, predict them in separate runs, or run without --strict to skip the later one."
        )
    predictor = load_predictor(checkpoint, embedding_model=embedding_model, threshold=threshold)
    result = PredictResult(detections_path=out, scores_dir=scores_dir, model_kind=predictor.kind)
    rows: list[pd.DataFrame] = []
    for path in tqdm(files, desc=f"predict ({predictor.kind})", disable=not progress, unit="file"):
        if path in clashes:
            reason = f"same file name as {clashes[path]}; rename one or predict them in separate runs"
            log.warning("Skipping %s: %s.", path, reason)
            result.skipped.append(SkippedFile(path, reason))
            continue
        try:
            file_scores, duration = score_file(predictor, path, batch_windows=batch_windows)
        except AudioReadError as err:
            if strict:
                raise ValueError(f"{err.path}: {err.reason}. Re-export or re-copy the file, or leave it out of the "
                                 "inputs; or run without --strict (strict=False) to skip unreadable files and "
                                 "predict the others.") from err
            log.warning("Skipping %s: %s. The other files are predicted; to include this one, re-export or re-copy "
                        "it.", err.path, err.reason)
            result.skipped.append(SkippedFile(err.path, err.reason))
            continue
        name = path.name
        det = evaluate.decode_detections(file_scores[None], [name], predictor.frame_seconds,
                                         threshold=predictor.threshold, classes=predictor.classes,
                                         clip_seconds=duration)
        rows.append(det)
        if scores_dir is not None:
            dfs = evaluate.scores_to_dataframes(file_scores[None], [name], frame_seconds=predictor.frame_seconds,
                                                classes=predictor.classes, clip_seconds=duration)
            evaluate.write_scores_dir(dfs, scores_dir)
        result.processed.append(path)
    columns = ["event_label", "onset", "offset", "filename"]
    detections = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
    write_detections_tsv(detections, out)
    if scores_dir is not None:
        scores_dir.mkdir(parents=True, exist_ok=True)
    result.n_detections = len(detections)
    return result
