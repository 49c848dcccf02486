"""The two-domain regime, one seed: recorded domain for the non-strong splits, taxonomy-pretrained
embedding model, 1350-step teacher and students (docs/results/faithful-experiment-progress.md).

Run from the repository root: `.venv/bin/python benchmarks/two_domain_regime.py base`, then
`plain` and `students` (these two after base), `teacher` (a teacher variant), `embedding` (a
stand-in variant and its probe: PRETRAIN_CLIPS, PRETRAIN_EPOCHS), or `student MODE SEED` for one student
(`supervised` needs no teacher, so it can run beside `base`). `STUDENT=old` selects the
student of before (bias-free ReLU SE/tfwSE in every block), `STUDENT=silu` SiLU bottlenecks
with biases in every block, the default `new` the same without attention in block 0; each
but `new` has its own work folder, whose features (and teacher) must be copied from the
default one. Data and caches: data/experiments/.
"""
import sys, json, time, dataclasses, os, logging
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import torch
from dualkd_lib import config, models, generate
from dualkd_lib import recipe
from dualkd_lib.recording import ROOM_MICROPHONE
from dualkd_lib.corpus import TAXONOMY
stage = sys.argv[1]
C = config.COURSE
P = dataclasses.replace(
    C, generator=dataclasses.replace(C.generator, recorded_domain=ROOM_MICROPHONE),
    embedding=dataclasses.replace(C.embedding, n_classes=len(TAXONOMY)),
    pretrain=dataclasses.replace(C.pretrain, n_clips=3000, epochs=6, objective="clip_taxonomy"),
    teacher_train=dataclasses.replace(C.teacher_train, epochs=9),
    student={"old": C.student,  # bias-free ReLU bottlenecks in every block (the course student today)
             "silu": dataclasses.replace(C.student, se_bias=True, se_activation="silu"),
             "new": dataclasses.replace(C.student, se_bias=True, se_activation="silu", se_first_block=1),
             }[os.environ.get("STUDENT", "new")],
    student_train=dataclasses.replace(C.student_train, epochs=9),
)
# TAKD=compensated | straight_through | blend<lambda>: a TAKD reading (own work folder, whose
# features, embedding model and teacher are copied from the default one).
# LR=cosine: the students' learning rate falls to 0 over the run; STEPS=N: N student steps.
TAKD, LR, STEPS = os.environ.get("TAKD", ""), os.environ.get("LR", ""), os.environ.get("STEPS", "")
TEACHER_LR = os.environ.get("TEACHER_LR", "")  # e.g. 3e-3: the teacher's learning rate
if TEACHER_LR:
    P = dataclasses.replace(P, teacher_train=dataclasses.replace(P.teacher_train, lr=float(TEACHER_LR)))
TEACHER_EPOCHS = os.environ.get("TEACHER_EPOCHS", "")  # e.g. 36: a long teacher budget (150 steps per epoch)
if TEACHER_EPOCHS:
    P = dataclasses.replace(P, teacher_train=dataclasses.replace(P.teacher_train, epochs=int(TEACHER_EPOCHS)))
TEACHER_DROPOUT = os.environ.get("TEACHER_DROPOUT", "")  # e.g. 0.2: the teacher's dropout (DCASE: 0.5)
if TEACHER_DROPOUT:
    P = dataclasses.replace(P, teacher=dataclasses.replace(P.teacher, dropout=float(TEACHER_DROPOUT)))
TEACHER_SE = os.environ.get("TEACHER_SE", "")  # 1: the teacher CRNN with the student's SE and tfwSE attention
if TEACHER_SE:
    P = dataclasses.replace(P, teacher=dataclasses.replace(P.teacher, se=True, tfwse=True))
PRETRAIN_CLIPS, PRETRAIN_EPOCHS = os.environ.get("PRETRAIN_CLIPS", ""), os.environ.get("PRETRAIN_EPOCHS", "")
if PRETRAIN_CLIPS or PRETRAIN_EPOCHS:  # e.g. 12000 / 10: a stronger stand-in (its corpus and budget)
    P = dataclasses.replace(P, pretrain=dataclasses.replace(
        P.pretrain, **({"n_clips": int(PRETRAIN_CLIPS)} if PRETRAIN_CLIPS else {}),
        **({"epochs": int(PRETRAIN_EPOCHS)} if PRETRAIN_EPOCHS else {})))
BATCH = os.environ.get("BATCH", "")  # e.g. 4,4,8: the students' (strong, weak, unlabeled) clips per step
if BATCH:
    P = dataclasses.replace(P, student_train=dataclasses.replace(
        P.student_train, batch_sizes=tuple(int(b) for b in BATCH.split(","))))
if TAKD:
    st = (dict(takd_blend=float(TAKD[len("blend"):])) if TAKD.startswith("blend") else dict(takd_gradient=TAKD))
    P = dataclasses.replace(P, student_train=dataclasses.replace(P.student_train, **st))
if LR:
    P = dataclasses.replace(P, student_train=dataclasses.replace(P.student_train, lr_decay=LR))
if STEPS:
    P = dataclasses.replace(P, student_train=dataclasses.replace(P.student_train, max_steps=int(STEPS)))
DATA = "data/experiments/course-rec"
WORK = "data/experiments/cache-rec" + "".join(f"-{v}" for v in (os.environ.get("STUDENT", "new") != "new" and os.environ["STUDENT"], TAKD, LR, STEPS,
                                                     BATCH.replace(",", "x"), TEACHER_LR and "tlr" + TEACHER_LR,
                                                     TEACHER_EPOCHS and "tep" + TEACHER_EPOCHS,
                                                     TEACHER_DROPOUT and "tdo" + TEACHER_DROPOUT,
                                                     TEACHER_SE and "tse",
                                                     PRETRAIN_CLIPS and "pc" + PRETRAIN_CLIPS,
                                                     PRETRAIN_EPOCHS and "pe" + PRETRAIN_EPOCHS) if v)
def log(**kw):
    print(json.dumps(kw), flush=True)
if stage == "base":
    torch.set_num_threads(1)
    t = time.time(); ctx = recipe.Context.create(P, data_root=DATA, work_dir=WORK, progress=False)
    for s in ("strong", "weak", "unlabeled", "validation", "evaluation"): ctx.split(s)
    log(stage="data+features", s=time.time() - t)
    open("data/experiments/rec_features_ready", "w").write("1")
    t = time.time(); ctx.embedding_model(); log(stage="embedding", s=time.time() - t)
    t = time.time(); log(stage="probe", s=0, probe=recipe.probe_metrics(ctx))
    t = time.time(); m = recipe.run_metrics(ctx, "teacher", "teacher", 0); log(stage="teacher", s=time.time() - t, m=m)
    for s in ("strong", "weak", "unlabeled"): ctx.teacher_outputs(s)
    open("data/experiments/rec_teacher_ready", "w").write("1")
elif stage == "teacher":  # the teacher alone (TEACHER_LR / _EPOCHS / _DROPOUT variants), then its ablation row
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the per-epoch validation lines
    ctx = recipe.Context.create(P, data_root=DATA, work_dir=WORK, progress=False)
    t = time.time(); recipe.train_teacher(ctx, seed=0, validate=True)  # a validation learning curve
    m = recipe.run_metrics(ctx, "teacher", "teacher", 0); log(stage="teacher", work=WORK, s=time.time() - t, m=m)
elif stage == "embedding":  # the stand-in alone (PRETRAIN_CLIPS / _EPOCHS variants) and its linear probe
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    ctx = recipe.Context.create(P, data_root=DATA, work_dir=WORK, progress=False)
    t = time.time(); ctx.embedding_model(); log(stage="embedding", work=WORK, s=time.time() - t)
    log(stage="probe", work=WORK, probe=recipe.probe_metrics(ctx))
elif stage == "experiments":  # the learner's Experiments 6.A, 7.A and 8.A (notebooks 06-08), timed
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    from dualkd_lib.teaching import learner_runs
    ctx = recipe.Context.create(P, data_root=DATA, work_dir=WORK, progress=False)
    ctx.teacher(), ctx.embedding_model()
    for exp, mode, changes in (("6.A", "kd", {"w_kd": 0.25}), ("6.A", "kd", {"w_kd": 4.0}),
                               ("7.A", "eefd", {"eefd_kind": "mse"}), ("7.A", "eefd", {"eefd_kind": "cosine"}),
                               ("8.A", "supervised", {}), ("8.A", "dual", {})):
        t = time.time(); r = learner_runs.short_run(ctx, mode, **changes)
        extra = {"val_cosine": learner_runs.embedding_cosine(ctx, r)} if mode == "eefd" else {}
        if mode == "kd":
            extra = {"final_kd_student": r.final("kd_student")}
        log(stage=f"experiment {exp}", run=r.name, mode=mode, steps=r.steps, train_s=r.seconds,
            total_s=time.time() - t, weights=r.weights, val=r.validation, **extra)
elif stage == "plain":
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the per-epoch validation lines
    ctx = recipe.Context.create(P, data_root=DATA, work_dir=WORK, progress=False)
    t = time.time(); recipe.train_plain_teacher(ctx, seed=0, validate=True)
    m = recipe.run_metrics(ctx, "teacher", "no_embeddings", 0); log(stage="plain teacher", s=time.time() - t, m=m)
elif stage == "student":
    torch.set_num_threads(1)
    mode, seed = sys.argv[2], int(sys.argv[3])
    ctx = recipe.Context.create(P, data_root=DATA, work_dir=WORK, progress=False)
    t = time.time(); m = recipe.run_metrics(ctx, "student", mode, seed)
    log(stage=f"student {mode} seed {seed}", work=WORK, s=time.time() - t, m=m)
elif stage == "students":
    if os.environ.get("JOBS") == "1":
        torch.set_num_threads(1)
    ctx = recipe.Context.create(P, data_root=DATA, work_dir=WORK, progress=False)
    t = time.time()
    table = recipe.run_ablation(ctx, seeds=[0], out_dir=WORK + "/ablation", jobs=int(os.environ.get("JOBS", "2")), baselines=False)
    log(stage="ablation", s=time.time() - t); print(table)
