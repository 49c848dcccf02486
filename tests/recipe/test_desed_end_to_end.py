"""Issue 6 end to end: a fake real-DESED tree goes through the whole ``desed`` code path on the CPU.

The tree is what a user with real DESED has: the DCASE 2023 recipe's 44.1 kHz
folders, TSVs that list clips the download missed, a corrupt WAV, and BEATs
embeddings in the recipe's HDF5 files. From there, as the user would:
``prepare_desed`` (16 kHz copies, missing and corrupt clips counted) ->
``recipe.Context`` for the ``desed`` preset (BEATs read through
``$DUALKD_BEATS_DIR``) -> teacher -> ``dual`` student (teacher outputs + EEFD on
the BEATs embeddings) -> PSDS1 / PSDS2 / F1; once through the Python API and
once through the ``dualkd`` command line.

The ``desed`` preset trains for 200 epochs; here its two TrainConfigs are
shortened to 2 steps of 2+2+2 clips with ``dataclasses.replace``. Everything
else (128-mel features, DCASE-size teacher with 768-d BEATs fusion, SE-CRNN
student, post-processing) is the preset's own. The generated stand-in
embedding model must never be pre-trained on this path: a sentinel fails the
test if it is.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest
import soundfile as sf
import torch

from dualkd_lib import cli, config, desed_io, desed_real
from dualkd_lib import recipe
from dualkd_lib.distill import STUDENT_MODES
from dualkd_lib.constants import CLASSES
from dualkd_lib.layout import SPLITS, split_paths
from dualkd_lib.models import align_embeddings
from dualkd_lib.train import TrainConfig, load_checkpoint, load_model_from_checkpoint

# the fake tree's builder, shared with test_desed_real.py (pytest puts tests/ on sys.path)
from fake_desed import CORRUPT, LISTED_MISSING, make_clips, make_fake_desed

pytestmark = pytest.mark.slow

#: Clips on disk per split (``w_bad.wav`` is corrupt); the TSVs also list ``s_gone.wav`` and ``v_gone.wav``.
ON_DISK: dict[str, list[str]] = {
    "strong": ["s0.wav", "s1.wav", "s2.wav", "s3.wav"],
    "weak": ["w0.wav", "w1.wav", "w2.wav", CORRUPT],
    "unlabeled": ["u0.wav", "u1.wav", "u2.wav"],
    "validation": ["v0.wav", "v1.wav", "v2.wav", "v3.wav"],
    "evaluation": ["e0.wav", "e1.wav", "e2.wav", "e3.wav"],
}
#: PSDS needs every class in an evaluation split: clip i of validation/evaluation holds group i.
_GROUPS = (CLASSES[0:3], CLASSES[3:6], CLASSES[6:8], CLASSES[8:10])
FORCED = {f"{p}{i}.wav": list(g) for p in ("v", "e") for i, g in enumerate(_GROUPS)}
METRICS = ("psds1", "psds2", "f1_collar", "f1_intersection")


def _few_steps(cfg: TrainConfig) -> TrainConfig:
    return dataclasses.replace(cfg, max_steps=2, batch_sizes=(2, 2, 2), lr_rampup_steps=1, cons_rampup_steps=1,
                               log_every=1, checkpoint_every=2)


#: The real ``desed`` preset with 2 training steps instead of 200 epochs (same name: the desed code path).
FEW_STEPS_DESED = dataclasses.replace(config.DESED, teacher_train=_few_steps(config.DESED.teacher_train),
                                      student_train=_few_steps(config.DESED.student_train))


def _no_stand_in(*args, **kwargs):
    raise AssertionError("The desed path pre-trained the generated stand-in embedding model; it must read "
                         "BEATs embeddings from the HDF5 files instead.")


def _write_beats(root: Path, beats_dir: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """BEATs-format HDF5 files for every split's readable clips, as the DCASE recipe writes them.

    Rows are stored in reverse order and the strong file also holds a clip the
    user's download misses (the file's rows follow no particular order or list).
    The evaluation split goes to ``public_eval.hdf5`` (docs/REAL_DESED.md).
    Returns ``{split: [N, 768, 496]}`` in the order of ``load_split`` filenames.
    """
    g = torch.Generator().manual_seed(seed)
    frames = {}
    for split in SPLITS:
        names = desed_io.load_split(root, split).filenames
        frames[split] = torch.randn(len(names), desed_real.BEATS_DIM, desed_real.BEATS_FRAMES, generator=g)
        stored_names, stored = names[::-1], frames[split].flip(0)
        if split == "strong":
            stored_names = [*stored_names, *LISTED_MISSING["strong"]]
            stored = torch.cat([stored, torch.randn(1, *stored.shape[1:], generator=g)])
        desed_real.write_beats_like_h5(desed_real.context_beats_h5_path(beats_dir, split), stored_names, stored)
    return frames


def _in_unit_interval(metrics: dict, keys=METRICS) -> bool:
    return all(math.isfinite(metrics[k]) and 0.0 <= metrics[k] <= 1.0 for k in keys)


@pytest.fixture(scope="module")
def desed_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe's 44.1 kHz tree (no 16 kHz folders yet)."""
    torch.set_num_threads(1)
    clips = make_clips(ON_DISK, forced=FORCED)
    return make_fake_desed(tmp_path_factory.mktemp("desed_source"), clips, on_disk=ON_DISK)


# --------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_run(desed_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """prepare in place -> BEATs files -> Context (desed) -> teacher -> dual student, 2 steps each."""
    work = tmp_path_factory.mktemp("desed_work")
    beats = tmp_path_factory.mktemp("beats")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(recipe.runs, "pretrain_embedding_model", _no_stand_in)
        mp.setenv("DUALKD_BEATS_DIR", str(beats))
        report = desed_real.prepare_desed(desed_source, progress=False)
        frames = _write_beats(desed_source, beats)
        ctx = recipe.Context.create(FEW_STEPS_DESED, data_root=desed_source, work_dir=work, progress=False)
        teacher_path = recipe.train_teacher(ctx)
        student_path = recipe.train_student(ctx, "dual")
        yield SimpleNamespace(root=desed_source, report=report, frames=frames, ctx=ctx, beats=beats,
                              teacher_path=teacher_path, student_path=student_path)


def test_prepare_makes_16k_copies_and_counts_what_is_missing(api_run) -> None:
    report = api_run.report
    assert report.splits["strong"].listed_missing == ("s_gone.wav",)
    assert report.splits["validation"].listed_missing == ("v_gone.wav",)
    assert report.splits["weak"].unreadable == (CORRUPT,)
    assert {s: r.found for s, r in report.splits.items()} == {
        s: len([n for n in names if n != CORRUPT]) for s, names in ON_DISK.items()}
    assert not report.complete
    for split in SPLITS:
        data = desed_io.load_split(api_run.root, split)
        assert data.filenames == sorted(n for n in ON_DISK[split] if n != CORRUPT)
        info = sf.info(str(data.audio_dir / data.filenames[0]))
        assert (info.samplerate, info.frames) == (16000, 160000)


def test_context_reads_beats_embeddings_not_the_stand_in(api_run) -> None:
    ctx = api_run.ctx
    assert ctx.preset.features == config.DESED.features and ctx.preset.teacher == config.DESED.teacher
    for split in ("strong", "weak", "unlabeled", "validation"):
        emb = ctx.embeddings(split)
        assert emb.shape == (len(ctx.split(split)), 768, 156)
        # rows follow the split's clips, whatever the order of the HDF5 rows; 496 frames pooled to 156
        torch.testing.assert_close(emb, align_embeddings(api_run.frames[split], 156))
    assert (ctx.work_dir / "embeddings" / "strong-beats.pt").is_file()
    assert not (ctx.work_dir / "embedding").exists()  # no stand-in embedding model
    # the public evaluation set: the 2023 script extracts none; the user copies one to public_eval.hdf5
    assert desed_real.context_beats_h5_path(api_run.beats, "evaluation") == api_run.beats / "public_eval.hdf5"
    assert desed_real.context_beats_h5_path("emb", "weak") == desed_real.beats_h5_path("emb", "weak")
    with pytest.raises(FileNotFoundError, match=r"does not extract the public evaluation set.*public_eval\.hdf5"):
        desed_real.cached_beats_embeddings("evaluation", api_run.beats / "elsewhere" / "public_eval.hdf5",
                                           filenames=ctx.split("evaluation").filenames, n_frames=156,
                                           work_dir=ctx.work_dir, progress=False)


def test_teacher_and_dual_student_train_a_few_steps(api_run) -> None:
    ctx = api_run.ctx
    teacher = load_checkpoint(api_run.teacher_path)
    assert teacher["model_kind"] == "teacher" and len(teacher["history"]) == 2
    student = load_checkpoint(api_run.student_path)
    assert student["model_kind"] == "student" and len(student["history"]) == 2
    terms = student["history"][-1]
    assert "kd" in terms and "emb" in terms  # teacher outputs (TAKD) and EEFD on the BEATs embeddings
    assert all(math.isfinite(v) for v in terms.values() if isinstance(v, float))
    strong, weak = ctx.teacher_outputs("strong")
    assert strong.shape == (len(ctx.split("strong")), len(CLASSES), 156) and weak.shape[1] == len(CLASSES)
    assert torch.all((strong >= 0) & (strong <= 1))


def test_student_and_teacher_evaluate(api_run) -> None:
    ctx = api_run.ctx
    student = recipe.run_metrics(ctx, "student", "dual", 0)
    assert student["split"] == "evaluation" and _in_unit_interval(student)
    assert student["params"] * 3 <= sum(p.numel() for p in ctx.teacher().parameters())
    # the teacher on the DCASE 2023 dev-test set (our validation split, devtest.hdf5)
    teacher = recipe.evaluate_model(ctx, ctx.teacher(), "validation", needs_embeddings=True)
    assert _in_unit_interval(teacher)


def test_teacher_metrics_on_the_public_evaluation_set(api_run) -> None:
    teacher = recipe.run_metrics(api_run.ctx, "teacher", "teacher", 0)
    assert teacher["split"] == "evaluation" and _in_unit_interval(teacher)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def _dualkd(*argv: object) -> tuple[int, str]:
    """Run ``dualkd ARGV`` in this process; return (exit code, stdout + stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue()


def _json_of(output: str) -> dict:
    """The JSON object ``dualkd evaluate --json`` printed (after any log lines)."""
    return json.loads(output[output.index("{"):])


@pytest.fixture(scope="module")
def cli_run(desed_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """``dualkd prepare-desed --out`` -> train-teacher -> train-student --mode dual -> predict -> evaluate.

    ``config.PRESETS["desed"]`` is the 2-step preset while the module runs (the
    CLI has no option to shorten a run).
    """
    base = tmp_path_factory.mktemp("desed_cli")
    data, work, beats = base / "desed16k", base / "work", base / "beats"
    runs: dict[str, tuple[int, str]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(config.PRESETS, "desed", FEW_STEPS_DESED)
        mp.setattr(recipe.runs, "pretrain_embedding_model", _no_stand_in)
        mp.setenv("DUALKD_BEATS_DIR", str(beats))
        runs["prepare"] = _dualkd("prepare-desed", desed_source, "--out", data)
        _write_beats(data, beats)
        run_args = ("--preset", "desed", "--data", data, "--work-dir", work)
        runs["teacher"] = _dualkd("train-teacher", *run_args)
        runs["student"] = _dualkd("train-student", *run_args, "--mode", "dual")
        ckpt = work / "runs" / "student-dual-seed0" / "final.pt"
        eval_audio, gt, durations = split_paths(data, "evaluation")
        runs["predict"] = _dualkd("predict", "--checkpoint", ckpt, eval_audio, "--out", base / "det.tsv",
                                  "--scores-out", base / "scores")
        gt_args = ("--ground-truth", gt, "--durations", durations, "--json")
        runs["eval_scores"] = _dualkd("evaluate", *gt_args, "--scores", base / "scores")
        runs["eval_detections"] = _dualkd("evaluate", *gt_args, "--detections", base / "det.tsv")
        yield SimpleNamespace(data=data, work=work, beats=beats, base=base, runs=runs)


def test_cli_prepares_trains_and_evaluates(cli_run) -> None:
    for step, (rc, output) in cli_run.runs.items():
        assert rc == 0, f"dualkd {step} failed:\n{output}"
    prepare = cli_run.runs["prepare"][1]
    assert "unreadable source files (skipped): 1" in prepare and "s_gone.wav" in prepare
    assert (cli_run.data / SPLITS["weak"].labels).is_file()  # metadata copied next to the 16 kHz audio
    assert not (cli_run.work / "embedding").exists()
    student = load_checkpoint(cli_run.work / "runs" / "student-dual-seed0" / "final.pt")
    assert student["preset"] == "desed" and {"kd", "emb"} <= set(student["history"][-1])
    _, mean, _ = load_model_from_checkpoint(cli_run.work / "runs" / "teacher-seed0" / "final.pt",
                                            expected_kind="teacher")
    assert mean.cfg.embedding_dim == 768
    scores, detections = (_json_of(cli_run.runs[k][1]) for k in ("eval_scores", "eval_detections"))
    assert scores["n_files"] == len(ON_DISK["evaluation"]) and _in_unit_interval(scores, ("psds1", "psds2"))
    assert _in_unit_interval(detections, ("psds1", "psds2", "f1_collar", "f1_intersection"))


def test_cli_ablation_on_desed(cli_run) -> None:
    rc, output = _dualkd("ablation", "--preset", "desed", "--data", cli_run.data, "--work-dir", cli_run.work,
                         "--out", cli_run.base / "ablation")
    assert rc == 0, output
    table = json.loads((cli_run.base / "ablation" / "ablation.json").read_text())
    assert [r["name"] for r in table["runs"]][:2] == ["teacher (CRNN + embeddings)", "teacher CRNN without embeddings"]
    assert len(table["runs"]) == 2 + len(STUDENT_MODES)  # real DESED: no stand-in, so no linear probe
    assert all(_in_unit_interval(r) for r in table["runs"])
