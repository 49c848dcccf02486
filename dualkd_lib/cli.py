"""The ``dualkd`` console script: one subcommand per step of the course.

Each subcommand is a thin wrapper around a library function, so what the CLI
does is exactly what the notebooks do. Run ``dualkd --help`` for the list.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from dualkd_lib.config import PRESETS
from dualkd_lib.constants import PRESET_ENV_VAR
from dualkd_lib.distill import STUDENT_MODES


def _add_preset(p: argparse.ArgumentParser, *, default: str | None = None) -> None:
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=default,
        help=f"size of the run (default: ${PRESET_ENV_VAR} or 'course')",
    )


def _add_run_args(p: argparse.ArgumentParser) -> None:
    _add_preset(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--data", type=Path, default=None, help="dataset root (default: data/generated/<preset>)")
    p.add_argument("--work-dir", type=Path, default=None, help="where caches and runs live (default: data/cache/<preset>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualkd",
        description="DualKD-SED: dual knowledge distillation for efficient sound event detection (course tools).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("doctor", help="check the set-up: torch/torchaudio pair, lock, threads, data and cache")
    _add_preset(p)
    p.add_argument("--data", type=Path, default=None, help="dataset root (default: data/generated/<preset>)")
    p.add_argument("--lock-only", action="store_true",
                   help="only compare the installed versions with requirements.lock (what `make venv` runs)")

    p = sub.add_parser("make-data", help="generate the DESED-like dataset (seeded)")
    _add_preset(p, default=None)
    p.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a dataset this command generated before")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes rendering clips (default: 2 with 2+ CPU cores; any value gives the same files)")

    p = sub.add_parser("evaluate", help="PSDS1/PSDS2 and F1 of detections or scores against ground truth")
    p.add_argument("--ground-truth", type=Path, required=True, help="strong labels TSV (filename onset offset event_label)")
    p.add_argument("--durations", type=Path, required=True, help="durations TSV (filename duration)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--detections", type=Path, help="a detection TSV, or a folder of them named by threshold (0.500.tsv)")
    src.add_argument("--scores", type=Path, help="a folder of sed_scores_eval score TSVs (one per clip)")
    p.add_argument("--audio-dir", type=Path, default=None,
                   help="evaluate only the files whose audio is in this folder (DESED copies often miss clips)")
    p.add_argument("--json", action="store_true", help="print JSON only")
    for name in ("dtc", "gtc", "cttc", "alpha-ct", "alpha-st", "max-efpr"):
        p.add_argument(f"--{name}", type=float, default=None, help="override the scenario (custom PSDS)")

    p = sub.add_parser("pretrain", help="pre-train the embedding model and the teacher once and write a shipped bundle")
    _add_preset(p)
    p.add_argument("--out", type=Path, default=None,
                   help="bundle folder (default: the package's dualkd_lib/resources/pretrained/<preset>)")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--work-dir", type=Path, default=None, help="where it trains (default: data/cache/<preset>-pretrain)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")

    p = sub.add_parser("train-teacher", help="pre-train the embedding model (if needed) and train the CRNN teacher")
    _add_run_args(p)

    p = sub.add_parser("train-student", help="train the SE-CRNN student in one distillation mode")
    _add_run_args(p)
    p.add_argument("--mode", choices=STUDENT_MODES, required=True)

    p = sub.add_parser("ablation", help="teacher + five student modes over seeds -> table (Markdown and JSON)")
    _add_preset(p)
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0..N-1)")
    p.add_argument("--out", type=Path, required=True, help="folder for ablation.md / ablation.json")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--work-dir", type=Path, default=None)
    p.add_argument("--jobs", type=int, default=None,
                   help="students trained at a time, in worker processes, and the workers that generate missing "
                        "data (default: 2 with 2+ CPU cores, else 1)")

    p = sub.add_parser("predict", help="detect sound events in your own recordings",
                       description="Detect sound events in WAV/FLAC files or folders. Files that cannot be read "
                                   "are skipped with a warning and listed at the end; the exit code is then 3 "
                                   "(0: every file processed, 2: an error stopped the command).")
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="a student's final.pt (or a teacher's, with its embedding model); its inference.pt next to it")
    p.add_argument("inputs", type=Path, nargs="+",
                   help="WAV/FLAC files or folders (searched recursively; any sample rate, channels and length)")
    p.add_argument("--out", type=Path, required=True,
                   help="detections TSV (event_label onset offset filename); never overwritten")
    p.add_argument("--scores", type=Path, default=None,
                   help="also write one sed_scores_eval score TSV per file into this new (or empty) folder")
    p.add_argument("--scores-out", type=Path, default=None, help=argparse.SUPPRESS)  # old name of --scores
    p.add_argument("--threshold", type=float, default=None,
                   help="decision threshold (default: the one saved with the checkpoint, 0.5 in every preset)")
    p.add_argument("--embedding-model", type=Path, default=None,
                   help="a teacher's embedding model (embedding/final.pt of its work folder), if the teacher "
                        "checkpoint does not record it")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first file that cannot be read (default: skip it, report it, exit 3)")

    p = sub.add_parser("export", help="export a checkpoint to ONNX (checked against PyTorch), optionally int8")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="model.onnx")
    p.add_argument("--quantize", action="store_true", help="also write a dynamic int8 model next to it")
    p.add_argument("--data", type=Path, default=None, help="dataset root for the parity check on real clips")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("benchmark", help="latency, real-time factor, throughput, memory of teacher and student")
    _add_preset(p)
    p.add_argument("--out", type=Path, required=True, help="folder for benchmark.md / benchmark.json")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--work-dir", type=Path, default=None, help="use trained checkpoints from this work folder")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("prepare-desed", help="resample a real DESED folder to 16 kHz once and report what is missing")
    p.add_argument("root", type=Path, help="DESED root in the DCASE 2023 recipe layout")
    p.add_argument("--out", type=Path, default=None, help="write the 16 kHz copy here (default: inside root)")

    p = sub.add_parser("cache", help="pack or unpack a classroom cache: the data and trained models as one archive")
    cache = p.add_subparsers(dest="cache_command", required=True, metavar="pack|unpack")
    q = cache.add_parser("pack", help="write the preset's data folder and work folder to one checked archive")
    q.add_argument("--preset", default=None, help="tiny | course (default: $DUALKD_PRESET or course)")
    q.add_argument("--out", type=Path, required=True, help="the archive to write, e.g. course-cache.tar")
    q.add_argument("--data", type=Path, default=None, help="data folder (default: data/generated/<preset>)")
    q.add_argument("--work-dir", type=Path, default=None, help="work folder (default: data/cache/<preset>)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing archive")
    q = cache.add_parser("unpack", help="check an archive and unpack it into empty data and work folders")
    q.add_argument("archive", type=Path)
    q.add_argument("--preset", default=None, help="the preset it must fit (default: the archive's)")
    q.add_argument("--data", type=Path, default=None, help="data folder (default: data/generated/<preset>)")
    q.add_argument("--work-dir", type=Path, default=None, help="work folder (default: data/cache/<preset>)")

    p = sub.add_parser("notebooks", help="build the notebooks from notebooks/src, check them, or run some headless")
    p.add_argument("--root", type=Path, default=None, help="repository root (default: the one this package lives in)")
    nb = p.add_subparsers(dest="notebooks_command", required=True, metavar="ACTION")
    nb.add_parser("build", help="generate notebooks/*.ipynb and notebooks/solutions/*.ipynb from notebooks/src/*.py")
    nb.add_parser("check", help="exit 1 when a generated notebook is stale or a notebook has outputs")
    q = nb.add_parser("run", help="execute notebooks headless and print a timing table")
    q.add_argument("--variant", choices=("student", "solutions"), default="solutions")
    q.add_argument("--preset", choices=tuple(PRESETS), default="tiny")
    q.add_argument("--out", type=Path, default=None, help="save executed copies here")
    q.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    q.add_argument("names", nargs="*", help="notebooks by stem or number (default: all)")

    p = sub.add_parser("ddp", help="train the teacher or a student on several processes (start with torchrun)")
    p.add_argument("ddp_command", choices=("train-teacher", "train-student"))
    _add_preset(p)
    p.add_argument("--data", type=Path, default=None, help="dataset root (DESED folder for --preset desed)")
    p.add_argument("--work-dir", type=Path, default=None, help="caches and runs (default data/cache/<preset>)")
    p.add_argument("--mode", default="dual", choices=STUDENT_MODES, help="student mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-process-batch", action="store_true",
                   help="the preset's batch sizes are per process (default: global, split over processes)")
    p.add_argument("--backend", default=None, help="nccl or gloo (default: nccl with CUDA, else gloo)")

    p = sub.add_parser("course", help="run every notebook headless and save the executed copies")
    _add_preset(p)
    p.add_argument("--out", type=Path, default=Path("build/notebooks"))
    p.add_argument("--jobs", type=int, default=None,
                   help="students trained at a time before the notebooks run (default: 2 on 2+ cores)")
    return parser


def _resolve_preset(name: str | None) -> str:
    from dualkd_lib.config import get_preset

    return get_preset(name).name


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"dualkd {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a torch/torchaudio pair that does not load together fails inside torchaudio
        if "torchaudio" not in str(err):
            raise
        from dualkd_lib.teaching import doctor

        print(f"dualkd {args.command}: error: {doctor.check_torch_pair().message}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "doctor":
        from dualkd_lib.teaching import doctor

        if args.lock_only:
            drift = doctor.lock_drift()
            for line in drift:
                print(f"lock drift: {line}", file=sys.stderr)
            if drift:
                print(f"dualkd doctor: {len(drift)} installed version(s) differ from {doctor.LOCK_NAME}: "
                      f"run `{doctor.FIX_COMMAND}`", file=sys.stderr)
                return 1
            print(f"dualkd doctor: every installed version equals {doctor.find_lock()}")
            return 0
        # no dualkd_lib.config here: it imports torchaudio, which is what may be broken
        import os

        name = args.preset or os.environ.get(PRESET_ENV_VAR, "").strip() or "course"
        rows = doctor.report(name, args.data)
        print(doctor.format_rows(rows))
        bad = doctor.problems(rows)
        print(f"\n{len(bad)} problem(s)" + (": " + "; ".join(r["item"] for r in bad) if bad else ": ready"))
        return 1 if bad else 0
    if args.command == "make-data":
        from dualkd_lib import recipe

        jobs = args.jobs if args.jobs is not None else recipe.default_jobs()
        info = recipe.make_data(args.preset, args.out, seed=args.seed, overwrite=args.overwrite, jobs=jobs)
        print(json.dumps({k: info[k] for k in ("clips", "seconds", "clips_per_second") if k in info}, indent=2))
        return 0
    if args.command == "evaluate":
        from dualkd_lib import evaluate

        overrides = {
            k: getattr(args, k)
            for k in ("dtc", "gtc", "cttc", "alpha_ct", "alpha_st", "max_efpr")
            if getattr(args, k) is not None
        }
        if args.detections is not None:
            result = evaluate.evaluate_detections_path(args.ground_truth, args.durations, args.detections,
                                                       audio_dir=args.audio_dir, **overrides)
        else:
            result = evaluate.evaluate_scores_path(args.ground_truth, args.durations, args.scores,
                                                   audio_dir=args.audio_dir, **overrides)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            for key, value in result.items():
                print(f"{key:>20}: {value}")
        return 0
    if args.command == "pretrain":
        from dualkd_lib import layout
        from dualkd_lib import recipe
        from dualkd_lib.recipe import pretrained

        name = _resolve_preset(args.preset)
        work = args.work_dir or layout.default_work_dir(name).with_name(f"{name}-pretrain")
        ctx = recipe.Context.create(name, data_root=args.data, work_dir=work)
        out = args.out or pretrained.bundle_dir(name)
        manifest = recipe.pretrain(ctx, out, overwrite=args.overwrite,
                                   command=" ".join(["dualkd", *sys.argv[1:]]) if sys.argv[0].endswith("dualkd")
                                   else f"dualkd pretrain --preset {name}")
        print(f"pre-trained bundle: {manifest.parent}")
        scores = json.loads(manifest.read_text())["scores"]
        print(json.dumps(scores, indent=2))
        shipped = pretrained.bundle_dir(name)
        if manifest.parent.resolve() != shipped.resolve() and (shipped / pretrained.MANIFEST).is_file():
            rows = pretrained.compare_with_shipped(scores, pretrained.read_manifest(name))
            for r in rows:
                print(f"{r['model']:>12} {r['metric']}: {r['score']:.3f}; shipped seeds {r['mean']:.3f} ± {r['std']:.3f} "
                      f"({r['seeds']} seeds), band {r['low']:.3f}-{r['high']:.3f}: "
                      f"{'within' if r['within'] else 'OUTSIDE'}")
        return 0
    if args.command in ("train-teacher", "train-student"):
        from dualkd_lib import recipe

        ctx = recipe.Context.create(args.preset, data_root=args.data, work_dir=args.work_dir)
        if args.command == "train-teacher":
            path = recipe.train_teacher(ctx, seed=args.seed)
        else:
            path = recipe.train_student(ctx, args.mode, seed=args.seed)
        print(f"checkpoint: {path}")
        return 0
    if args.command == "ablation":
        from dualkd_lib import recipe

        jobs = args.jobs if args.jobs is not None else recipe.default_jobs()
        ctx = recipe.Context.create(args.preset, data_root=args.data, work_dir=args.work_dir, data_jobs=jobs)
        table = recipe.run_ablation(ctx, seeds=range(args.seeds), out_dir=args.out, jobs=jobs, baselines=True)
        print(table)
        return 0
    if args.command == "predict":
        from dualkd_lib import predict

        scores = args.scores
        if args.scores_out is not None:
            print("dualkd predict: --scores-out is deprecated; use --scores", file=sys.stderr)
            if scores is not None and scores != args.scores_out:
                raise ValueError(f"--scores {scores} and --scores-out {args.scores_out} disagree; give --scores only.")
            scores = args.scores_out
        result = predict.predict_files(args.checkpoint, args.inputs, args.out, scores=scores,
                                       threshold=args.threshold, embedding_model=args.embedding_model,
                                       strict=args.strict)
        print(f"dualkd predict: {result.summary()}")
        return result.exit_code  # 0, or predict.SKIPPED_EXIT_CODE (3) when files were skipped
    if args.command == "export":
        from dualkd_lib.deploy import export

        info = export.export_main(args.checkpoint, args.out, overwrite=args.overwrite, quantize=args.quantize,
                                  data_root=args.data)
        print(json.dumps(info, indent=2, default=str))
        return 0
    if args.command == "benchmark":
        from dualkd_lib.deploy import benchmark

        info = benchmark.benchmark_main(args.out, preset=_resolve_preset(args.preset), repeats=args.repeats,
                                        work_dir=args.work_dir, overwrite=args.overwrite)
        print((Path(args.out) / "benchmark.md").read_text())
        return 0 if info else 1
    if args.command == "prepare-desed":
        from dualkd_lib import desed_real

        print(desed_real.prepare_desed(args.root, args.out).summary())
        return 0
    if args.command == "cache":
        from dualkd_lib.course import classroom_cache

        if args.cache_command == "pack":
            out = classroom_cache.pack(_resolve_preset(args.preset), args.out, data_root=args.data,
                                       work_dir=args.work_dir, overwrite=args.overwrite)
            print(f"classroom cache written: {out} ({out.stat().st_size / 1e6:.0f} MB)")
            return 0
        info = classroom_cache.unpack(args.archive, preset=args.preset, data_root=args.data, work_dir=args.work_dir)
        print(f"classroom cache unpacked in {info['seconds']:.1f} s: {info['files']} files "
              f"({info['bytes'] / 1e6:.0f} MB, preset {info['preset']}) into {info['data_root']} and {info['work_dir']}")
        return 0
    if args.command == "notebooks":
        return _notebooks(args)
    if args.command == "ddp":
        from dualkd_lib import recipe

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
        recipe.train_distributed(args.ddp_command, preset=args.preset, data_root=args.data, work_dir=args.work_dir,
                                 mode=args.mode, seed=args.seed, split_batch=not args.per_process_batch,
                                 backend=args.backend)
        return 0
    if args.command == "course":
        from dualkd_lib.course import run

        return run.main_run_course(preset=_resolve_preset(args.preset), out_dir=args.out, jobs=args.jobs)
    raise AssertionError(args.command)  # pragma: no cover


def _notebooks(args: argparse.Namespace) -> int:
    """``dualkd notebooks build|check|run``: the course's notebooks from their sources."""
    from dualkd_lib.course import build, run

    try:
        if args.notebooks_command == "build":
            changed = build.build(args.root)
            print(f"{len(changed)} notebook file(s) written" if changed else "all notebooks up to date")
            return 0
        if args.notebooks_command == "check":
            problems = build.check(args.root)
            for problem in problems:
                print(f"notebooks check: {problem}", file=sys.stderr)
            if not problems:
                print("notebooks check: all notebooks match their sources and carry no outputs")
            return 1 if problems else 0
        timings = run.run_notebooks(args.variant, args.preset, out_dir=args.out, names=args.names or None,
                                    timeout=args.timeout, root=args.root)
        print(run.timing_table(timings))
        return 0
    except run.NotebookExecutionError as err:
        print(f"notebooks run: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"notebooks {args.notebooks_command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
