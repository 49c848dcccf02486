"""Edge deployment, part 1: ONNX export, parity check and int8 quantization.

- :func:`export_onnx` writes a SED model to an ONNX file that any ONNX Runtime (phone,
  Raspberry Pi, browser) can run without PyTorch. The **student** is exported without its
  embedding distillation layer (a training-only branch): one input ``features``
  ``[batch, n_mels, frames]`` (standardised log-mel), outputs ``strong``
  ``[batch, classes, frames // 4]`` and ``weak`` ``[batch, classes]``. The **teacher** needs a
  second input, ``embeddings`` ``[batch, emb_dim, frames // 4]`` from the embedding model.
  The batch and frame axes are dynamic, so one file serves 1 clip or 16, 10 s or 3 s.
- :func:`check_onnx_parity` runs the same inputs through PyTorch and ONNX Runtime and
  returns the largest absolute difference of the outputs (float rounding only: <= 1e-4).
- :func:`quantize_dynamic_int8` stores the weights of the convolutions and matrix products
  as int8 (ONNX Runtime's *dynamic* quantization: activations are quantized on the fly).
  ONNX Runtime cannot quantize a GRU dynamically (only LSTMs), so the GRU stays float32.
- :func:`evaluate_onnx` scores an ONNX file on a split (PSDS1/PSDS2/F1), to measure what
  quantization costs; :func:`export_main` is the ``dualkd export`` command.

A trap worth knowing: the legacy (TorchScript) exporter traces the module in whatever
mode it is in. Exported in training mode, dropout is frozen into the graph and BatchNorm
updates its running statistics while tracing; we always export an ``eval()`` copy.

Taught in notebook 09.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from dualkd_lib.constants import CLASSES

log = logging.getLogger(__name__)

__all__ = [
    "OnnxSED",
    "export_onnx",
    "onnx_session",
    "run_onnx",
    "check_onnx_parity",
    "quantize_dynamic_int8",
    "onnx_op_counts",
    "evaluate_onnx",
    "export_main",
    "PARITY_TOLERANCE",
]

#: Largest absolute difference between PyTorch and ONNX Runtime outputs we accept.
PARITY_TOLERANCE: float = 1e-4


class OnnxSED(nn.Module):
    """What we export: a SED model reduced to ``features[, embeddings] -> (strong, weak)``.

    ONNX graphs return plain tensors, not named tuples, and the student's
    ``embedding_pred`` and the logits are dropped. ``model`` must be in eval mode
    (:func:`export_onnx` takes care of it). Taught in notebook 09.
    """

    def __init__(self, model: nn.Module, needs_embeddings: bool) -> None:
        super().__init__()
        self.model = model
        self.needs_embeddings = needs_embeddings

    def forward(self, features: torch.Tensor, embeddings: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(features, embeddings) if self.needs_embeddings else self.model(features)
        return out.strong, out.weak


def _needs_embeddings(model: nn.Module) -> bool:
    return getattr(model, "fusion", None) is not None


def _deployable_copy(model: nn.Module) -> nn.Module:
    """An eval-mode CPU copy without the embedding distillation layer (the caller's model is untouched)."""
    if getattr(model, "embedding_head", None) is not None and hasattr(model, "without_embedding_head"):
        log.info("Dropping the embedding distillation layer (training only) before export.")
        model = model.without_embedding_head()
    else:
        model = copy.deepcopy(model)
    return model.cpu().eval()


def export_onnx(
    model: nn.Module,
    out_path: str | Path,
    *,
    n_mels: int | None = None,
    n_frames: int = 626,
    embeddings_dim: int | None = None,
    opset: int = 17,
    overwrite: bool = False,
    dynamic_frames: bool = True,
) -> Path:
    """Export a CRNN teacher or SE-CRNN student to ONNX; returns the file's path.

    ``n_mels`` (default ``model.cfg.n_mels``) and ``n_frames`` (626 = one 10-s clip at hop 256;
    313 at hop 512) shape the example input used for tracing. The input ``features`` is ``[batch, n_mels, frames]``;
    a model that fuses embeddings (the teacher) gets a second input ``embeddings``
    ``[batch, embeddings_dim, frames // 4]`` (``embeddings_dim`` defaults to
    ``model.cfg.embedding_dim``; 0 or a wrong value raise ``ValueError``). Outputs: ``strong``
    ``[batch, classes, frames // 4]`` and ``weak`` ``[batch, classes]``. The batch axis is
    dynamic, and so is the frame axis unless ``dynamic_frames=False``. An existing file is
    replaced only with ``overwrite=True`` (else ``FileExistsError``). Taught in notebook 09.
    """
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"{out_path} exists; pass overwrite=True (--overwrite) to replace it, or choose another path.")
    if out_path.suffix != ".onnx":
        raise ValueError(f"out_path={str(out_path)!r} should end in .onnx so ONNX tools recognise it.")
    cfg = getattr(model, "cfg", None)
    n_mels = n_mels if n_mels is not None else getattr(cfg, "n_mels", None)
    if n_mels is None or n_mels < 1:
        raise ValueError(f"n_mels={n_mels!r}: give the number of mel bands of the model's input features.")
    if n_frames < 4:
        raise ValueError(f"n_frames={n_frames} is too short: the models pool time by 4; use 626 (one 10-s clip).")
    needs_emb = _needs_embeddings(model)
    if needs_emb:
        expected = cfg.embedding_dim
        embeddings_dim = expected if embeddings_dim is None else embeddings_dim
        if embeddings_dim != expected:
            raise ValueError(
                f"embeddings_dim={embeddings_dim} but the model fuses {expected}-d embeddings; "
                f"pass embeddings_dim={expected} (or leave it out)."
            )
    elif embeddings_dim:
        raise ValueError(
            f"embeddings_dim={embeddings_dim} but this {type(model).__name__} fuses no embeddings; leave it at 0."
        )

    wrapper = OnnxSED(_deployable_copy(model), needs_emb).eval()
    features = torch.randn(1, n_mels, n_frames)
    args: tuple[torch.Tensor, ...] = (features,)
    input_names = ["features"]
    dynamic: dict[str, dict[int, str]] = {"features": {0: "batch"}, "strong": {0: "batch"}, "weak": {0: "batch"}}
    if dynamic_frames:
        dynamic["features"][2] = "frames"
        dynamic["strong"][2] = "out_frames"
    if needs_emb:
        args = (features, torch.randn(1, embeddings_dim, n_frames // 4))
        input_names.append("embeddings")
        dynamic["embeddings"] = {0: "batch", 2: "out_frames"} if dynamic_frames else {0: "batch"}

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.stem}.", suffix=".onnx")
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The tracer warns about Python-side shape checks (they become constants) and about
            # the legacy exporter; both are expected here, and the parity check below is the proof.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, args, tmp, input_names=input_names, output_names=["strong", "weak"],
                dynamic_axes=dynamic, opset_version=opset, dynamo=False,
            )
        _add_metadata(tmp, {
            "classes": ",".join(CLASSES),
            "model": type(model).__name__,
            "inputs": "features [batch, n_mels, frames] standardised log-mel"
                      + (", embeddings [batch, dim, frames//4]" if needs_emb else ""),
            "n_mels": str(n_mels),
        })
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("Exported %s to %s (%.1f kB).", type(model).__name__, out_path, out_path.stat().st_size / 1e3)
    return out_path


def _add_metadata(path: str | Path, meta: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def onnx_session(path: str | Path, *, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU; ``threads=None`` lets ONNX Runtime use all cores.

    Taught in notebook 09.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No ONNX file at {path}; export one with dualkd_lib.deploy.export.export_onnx.")
    opts = ort.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads={threads} must be >= 1 (or None for all cores).")
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def run_onnx(
    session: Any,
    features: torch.Tensor | np.ndarray,
    embeddings: torch.Tensor | np.ndarray | None = None,
    *,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Run an ONNX SED model: ``(strong [N, C, T], weak [N, C])`` as float32 numpy arrays.

    ``session``: an ``InferenceSession`` or a path to an ``.onnx`` file. ``features``
    ``[N, n_mels, frames]``; ``embeddings`` ``[N, D, frames // 4]`` for a teacher.
    Taught in notebook 09.
    """
    if not hasattr(session, "run"):
        session = onnx_session(session)
    names = [i.name for i in session.get_inputs()]
    x = _as_numpy(features)
    if x.ndim != 3:
        raise ValueError(f"features must be [N, n_mels, frames], got shape {x.shape}.")
    if "embeddings" in names and embeddings is None:
        raise ValueError("This ONNX model (a teacher) needs embeddings [N, dim, frames // 4]; pass embeddings=...")
    e = _as_numpy(embeddings) if embeddings is not None and "embeddings" in names else None
    strong, weak = [], []
    for i in range(0, len(x), batch_size):
        feeds = {"features": x[i:i + batch_size]}
        if e is not None:
            feeds["embeddings"] = e[i:i + batch_size]
        s, w = session.run(["strong", "weak"], feeds)
        strong.append(s)
        weak.append(w)
    return np.concatenate(strong), np.concatenate(weak)


def check_onnx_parity(
    model: nn.Module,
    onnx_path: str | Path,
    inputs: torch.Tensor | Sequence[torch.Tensor],
) -> float:
    """Largest absolute difference of ``strong`` and ``weak`` between PyTorch and ONNX Runtime.

    ``inputs``: features ``[N, n_mels, frames]``, or a pair ``(features, embeddings)`` for a
    teacher. The PyTorch side runs an eval-mode copy of ``model`` (its mode is untouched).
    Expect float rounding only, well below :data:`PARITY_TOLERANCE` (1e-4). Taught in notebook 09.
    """
    if isinstance(inputs, torch.Tensor):
        features, embeddings = inputs, None
    else:
        features, embeddings = (list(inputs) + [None])[:2]
    ref = OnnxSED(_deployable_copy(model), _needs_embeddings(model)).eval()
    with torch.no_grad():
        if _needs_embeddings(model):
            if embeddings is None:
                raise ValueError("The model fuses embeddings: pass inputs=(features, embeddings).")
            t_strong, t_weak = ref(torch.as_tensor(features), torch.as_tensor(embeddings))
        else:
            t_strong, t_weak = ref(torch.as_tensor(features))
    o_strong, o_weak = run_onnx(onnx_path, features, embeddings)
    return float(max(np.abs(o_strong - t_strong.numpy()).max(), np.abs(o_weak - t_weak.numpy()).max()))


def onnx_op_counts(path: str | Path) -> dict[str, int]:
    """How many nodes of each operator type an ONNX graph has (e.g. ``{"Conv": 14, "GRU": 2}``).

    Taught in notebook 09.
    """
    import onnx

    proto = onnx.load(str(path))
    return dict(collections.Counter(n.op_type for n in proto.graph.node))


#: Operators ONNX Runtime replaces with an int8 version in dynamic quantization, and the op it becomes.
_INT8_OPS = {"Conv": "ConvInteger", "MatMul": "MatMulInteger", "Gemm": "MatMulInteger"}


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Silence records below ERROR while the block runs (restores the previous setting)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def quantize_dynamic_int8(
    onnx_in: str | Path,
    onnx_out: str | Path,
    *,
    op_types: Sequence[str] = ("Conv", "MatMul", "Gemm"),
    per_channel: bool = False,
    overwrite: bool = False,
) -> dict:
    """Dynamic int8 quantization of an ONNX model with ``onnxruntime.quantization``.

    Weights of ``op_types`` are stored as int8 with one scale per tensor (``per_channel``:
    per output channel); activations are quantized at run time. ONNX Runtime has no dynamic
    int8 GRU, so the GRU stays float32 (reported in ``float_ops_left``). If quantizing
    ``Conv`` fails, or the result does not load, it retries with ``MatMul``/``Gemm`` only and
    says so in ``note``. Returns ``{"path", "size_bytes", "size_fp32_bytes", "quantized_ops",
    "float_ops_left", "op_types", "note"}``. Taught in notebook 09.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    if not onnx_in.is_file():
        raise FileNotFoundError(f"No ONNX file at {onnx_in}; export the model first (export_onnx).")
    if onnx_out.exists() and not overwrite:
        raise FileExistsError(f"{onnx_out} exists; pass overwrite=True to replace it, or choose another path.")
    unknown = sorted(set(op_types) - set(_INT8_OPS))
    if unknown:
        raise ValueError(f"op_types={list(op_types)}: {unknown} cannot be quantized dynamically; use {sorted(_INT8_OPS)}.")
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    note = ""
    attempts = [list(op_types)]
    if "Conv" in op_types:
        attempts.append([op for op in op_types if op != "Conv"])
    for ops in attempts:
        try:
            with _quiet_root_logger():  # the quantizer logs one line per tensor on the root logger
                quantize_dynamic(str(onnx_in), str(onnx_out), weight_type=QuantType.QInt8,
                                 op_types_to_quantize=ops, per_channel=per_channel)
            onnx_session(onnx_out, threads=1)  # proves the result loads
            break
        except Exception as err:  # noqa: BLE001 - report and fall back to the ops that work
            note = f"quantizing {ops} failed ({type(err).__name__}: {err}); "
            log.warning("int8 quantization of %s failed: %s", ops, err)
    else:
        raise RuntimeError(f"Dynamic int8 quantization of {onnx_in} failed: {note}")
    before, after = onnx_op_counts(onnx_in), onnx_op_counts(onnx_out)
    quantized = {op: after.get(q, 0) for op, q in _INT8_OPS.items() if op in ops and before.get(op)}
    if "MatMul" in quantized or "Gemm" in quantized:  # both become MatMulInteger
        quantized = {k: v for k, v in quantized.items() if k not in ("MatMul", "Gemm")}
        quantized["MatMul/Gemm"] = after.get("MatMulInteger", 0)
    left = {op: after[op] for op in ("Conv", "MatMul", "Gemm", "GRU", "LSTM") if after.get(op)}
    if left.get("GRU"):
        note += "GRU kept in float32 (ONNX Runtime quantizes only LSTMs dynamically)."
    result = {
        "path": str(onnx_out),
        "size_bytes": onnx_out.stat().st_size,
        "size_fp32_bytes": onnx_in.stat().st_size,
        "quantized_ops": quantized,
        "float_ops_left": left,
        "op_types": list(ops),
        "note": note.strip(),
    }
    log.info("int8 model %s: %.1f kB (fp32 %.1f kB); %s", onnx_out, result["size_bytes"] / 1e3,
             result["size_fp32_bytes"] / 1e3, result["note"])
    return result


def evaluate_onnx(ctx: Any, onnx_path: str | Path, split: str = "evaluation", *, threads: int | None = None) -> dict:
    """PSDS1, PSDS2 and F1 of an ONNX model on ``split`` of a :class:`~dualkd_lib.recipe.context.Context`.

    A teacher ONNX model gets the split's cached frame embeddings. Same post-processing
    and metrics as :func:`dualkd_lib.recipe.scoring.evaluate_scores`. Taught in notebook 09.
    """
    from dualkd_lib import recipe

    session = onnx_session(onnx_path, threads=threads)
    s = ctx.split(split)
    emb = ctx.embeddings(split) if "embeddings" in [i.name for i in session.get_inputs()] else None
    strong, _ = run_onnx(session, s.features, emb)
    return recipe.evaluate_scores(ctx, strong, split)


# --------------------------------------------------------------------------
# dualkd export
# --------------------------------------------------------------------------
def _real_inputs(checkpoint: Path, kind: str, ckpt: dict, n_clips: int, data_root: Path | None,
                 embedding_checkpoint: Path | None) -> tuple[torch.Tensor, torch.Tensor | None, str] | None:
    """Standardised features (and embeddings for a teacher) of the first clips of the evaluation split."""
    from dualkd_lib import desed_io, layout
    from dualkd_lib import recipe
    from dualkd_lib.features import FeatureConfig, LogMel, Scaler
    from dualkd_lib.train import load_model_from_checkpoint

    bundle_path = checkpoint.parent / "inference.pt"
    preset = ckpt.get("preset")
    root = Path(data_root) if data_root is not None else (layout.default_data_root(preset) if preset else None)
    if not bundle_path.is_file() or root is None or not recipe.data_present(root):
        return None
    bundle = torch.load(bundle_path, map_location="cpu", weights_only=True)
    fcfg = FeatureConfig(**bundle["features"])
    scaler = Scaler(fcfg.n_mels)
    scaler.load_state_dict(bundle["scaler_state"])
    data = desed_io.load_split(root, "evaluation")
    files = [data.audio_dir / f for f in data.filenames[:n_clips]]
    n = fcfg.clip_samples
    waves = torch.stack([
        torch.nn.functional.pad(w, (0, max(0, n - len(w))))[:n]
        for w in (desed_io.load_wav(f, target_sr=fcfg.sample_rate) for f in files)
    ])
    with torch.no_grad():
        features = scaler.eval()(LogMel(fcfg)(waves))
    embeddings = None
    if kind == "teacher":
        emb_path = embedding_checkpoint or layout.embedding_checkpoint(checkpoint.parent.parent.parent)
        if not Path(emb_path).is_file():
            return None
        emb_model, _, _ = load_model_from_checkpoint(emb_path, expected_kind="embedding")
        with torch.no_grad():
            embeddings = emb_model.eval()(features).frame
    return features, embeddings, f"{len(files)} clips of the evaluation split in {root}"


def _preset_frames(preset: str | None) -> int:
    """Feature frames of one clip in ``preset`` (626 at hop 256 when the preset is unknown)."""
    from dualkd_lib.config import PRESETS
    from dualkd_lib.features import DESED_FEATURES, n_frames

    return n_frames(PRESETS[preset].features if preset in PRESETS else DESED_FEATURES)


def export_main(
    checkpoint: str | Path,
    out: str | Path,
    *,
    overwrite: bool = False,
    quantize: bool = False,
    data_root: str | Path | None = None,
    embedding_checkpoint: str | Path | None = None,
    n_parity_clips: int = 8,
    opset: int = 17,
    seed: int = 0,
) -> dict:
    """``dualkd export``: checkpoint (the weights the ablation kept) -> ONNX file, with a parity check.

    Exports the weights of ``checkpoint`` that the ablation kept on validation
    (:func:`~dualkd_lib.train.kept_weights`: its own or its mean model's, the mean model
    when nothing is recorded; a student without its embedding distillation layer) to ``out`` and compares PyTorch and ONNX
    Runtime on ``n_parity_clips`` real clips of the evaluation split when the data and the
    ``inference.pt`` bundle next to the checkpoint are found (a teacher also needs the
    embedding model, ``<work>/embedding/final.pt`` by default), else on random standardised
    inputs (``parity_inputs`` says which). ``quantize=True`` also writes ``<out>.int8.onnx``.
    Returns ``{"path", "kind", "size_bytes", "max_abs_diff", "parity_ok", "parity_inputs",
    "opset"}`` (+ ``"int8"``). Taught in notebook 09.
    """
    from dualkd_lib.train import kept_model, load_model_from_checkpoint

    checkpoint, out = Path(checkpoint), Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it, or choose another --out.")
    model, mean, ckpt = load_model_from_checkpoint(checkpoint)
    kind = ckpt["model_kind"]
    if kind not in ("teacher", "student"):
        raise ValueError(f"{checkpoint} holds a {kind} model; export a teacher or student checkpoint.")
    net = kept_model(checkpoint, model, mean)  # chosen on validation by the ablation; the mean when not recorded
    if mean is None:
        log.warning("%s has no mean model; exporting the trained model itself.", checkpoint)
    log.info("Exporting the %s of %s.", "mean model" if net is mean else "model's own weights", checkpoint)
    export_onnx(net, out, n_frames=_preset_frames(ckpt.get("preset")), opset=opset, overwrite=overwrite)
    real = _real_inputs(checkpoint, kind, ckpt, n_parity_clips, Path(data_root) if data_root else None,
                        Path(embedding_checkpoint) if embedding_checkpoint else None)
    if real is not None:
        features, embeddings, where = real
    else:
        frames = _preset_frames(ckpt.get("preset"))
        gen = torch.Generator().manual_seed(seed)
        features = torch.randn(n_parity_clips, net.cfg.n_mels, frames, generator=gen)
        embeddings = (torch.randn(n_parity_clips, net.cfg.embedding_dim, frames // 4, generator=gen)
                      if _needs_embeddings(net) else None)
        where = "random standardised inputs (no data or inference bundle found; pass data_root=...)"
        log.warning("Parity checked on %s.", where)
    inputs = features if embeddings is None else (features, embeddings)
    diff = check_onnx_parity(net, out, inputs)
    result: dict[str, Any] = {
        "path": str(out), "kind": kind, "size_bytes": out.stat().st_size, "max_abs_diff": diff,
        "parity_ok": diff <= PARITY_TOLERANCE, "parity_inputs": where, "opset": opset,
    }
    if not result["parity_ok"]:
        log.warning("ONNX parity %.2e exceeds %.0e: check the export.", diff, PARITY_TOLERANCE)
    if quantize:
        q_path = out.with_suffix(".int8.onnx")
        q = quantize_dynamic_int8(out, q_path, overwrite=overwrite)
        q_strong, _ = run_onnx(q_path, features, embeddings)
        f_strong, _ = run_onnx(out, features, embeddings)
        q["max_abs_diff_vs_fp32"] = float(np.abs(q_strong - f_strong).max())
        result["int8"] = q
    return result
