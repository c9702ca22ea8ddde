"""A sentence-transformers model as cached ONNX files: exported once with torch, checked on every load.

Only `_export_fp32` imports torch/transformers; finding, verifying and using a cached file does not,
so a process that asks questions with an ONNX backend never pays torch's import time or memory.
The cache holds `model.onnx` (fp32 token embeddings), optionally `model-int8.onnx` (onnxruntime
dynamic quantisation of the fp32 file) and `manifest.json` naming the source model (path and a
checksum of its weights file) and each ONNX file's sha256.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from embeddings.models import EncoderError, resolve_model

log = logging.getLogger(__name__)

VARIANTS = {"fp32": "model.onnx", "int8": "model-int8.onnx"}
MANIFEST = "manifest.json"
FORMAT = 1  # bump when the exported graph's inputs/outputs change
OPSET = 17
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class ModelFiles:
    """Where a sentence-transformers model keeps what inference needs."""
    root: Path  # the sentence-transformers directory (modules.json)
    transformer: Path  # the Transformer module's directory (config, weights, tokenizer.json)
    weights: Path


def locate_model(name: str) -> ModelFiles:
    """A model setting to its local directory; a clear EncoderError when it is not on this machine."""
    path = Path(resolve_model(name)).expanduser()
    if not path.is_dir():
        path = _hub_snapshot(name)
    modules = _read_json(path / "modules.json", default=[{"path": "", "type": "Transformer"}])
    first = next((m for m in modules if m.get("type", "").endswith("Transformer")), None)
    if first is None:
        raise EncoderError(f"model {name!r} has no Transformer module in modules.json")
    transformer = path / first.get("path", "")
    weights = next((transformer / f for f in _WEIGHT_FILES if (transformer / f).is_file()), None)
    if weights is None or not (transformer / "tokenizer.json").is_file():
        raise EncoderError(f"model {name!r} at {path} lacks weights or tokenizer.json for the ONNX backend")
    return ModelFiles(path.resolve(), transformer.resolve(), weights.resolve())


def _hub_snapshot(name: str) -> Path:
    repo = name if "/" in name else f"sentence-transformers/{name}"
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception as exc:  # not cached, bad name, no hub library: all one answer
        raise EncoderError(f"embedding model {name!r} is not a local directory or cached model") from exc


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "roundup-bot" / "onnx"


def model_cache_dir(cache_dir: Path, name: str, files: ModelFiles) -> Path:
    """One subdirectory per source model directory, named so a person can tell them apart."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name).strip("-") or "model"
    digest = hashlib.sha256(str(files.root).encode()).hexdigest()[:10]
    return Path(cache_dir) / f"{slug}-{digest}"


def ensure_onnx(name: str, cache_dir: Path, variant: str = "fp32") -> tuple[ModelFiles, Path]:
    """The verified ONNX file for a model, exporting (under a file lock) only when missing or bad."""
    if variant not in VARIANTS:
        raise EncoderError(f"unknown ONNX variant {variant!r}")
    files = locate_model(name)
    target = model_cache_dir(cache_dir, name, files)
    problem = check_cache(target, files, variant)
    if problem is None:
        return files, target / VARIANTS[variant]
    target.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(target / ".export.lock")):
        problem = check_cache(target, files, variant)  # another process may have just built it
        if problem is None:
            return files, target / VARIANTS[variant]
        if problem == "missing":
            log.info("exporting %s to ONNX (%s) in %s; done once", name, variant, target)
        else:
            log.warning("ONNX cache for %s in %s is %s: exporting it again", name, target, problem)
        _build(files, target, variant)
    return files, target / VARIANTS[variant]


def check_cache(target: Path, files: ModelFiles, variant: str) -> str | None:
    """None when the cached variant matches its manifest and the source model; else why not."""
    manifest = _read_json(target / MANIFEST, default=None)
    if manifest is None:
        return "missing"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return "damaged (unreadable manifest)"
    entry = manifest["files"].get(variant)
    if entry is None:
        return "missing"
    if manifest.get("format") != FORMAT:
        return "from an older format"
    if manifest.get("source", {}).get("path") != str(files.root):
        return "stale (exported from another model)"
    if not _source_matches(manifest["source"], files.weights):
        return "stale (the model's weights changed)"
    onnx_path = target / VARIANTS[variant]
    if not onnx_path.is_file():
        return "damaged (file missing)"
    if sha256(onnx_path) != entry.get("sha256"):
        return "damaged (checksum mismatch)"
    return None


def _source_matches(source: dict, weights: Path) -> bool:
    """The weights' checksum is recomputed only when their size or mtime moved (it is 90 MB)."""
    st = weights.stat()
    if source.get("weights") != weights.name:
        return False
    if source.get("size") == st.st_size and source.get("mtime_ns") == st.st_mtime_ns:
        return True
    return sha256(weights) == source.get("sha256")


def _build(files: ModelFiles, target: Path, variant: str) -> None:
    """Export fp32 when it is not valid, quantise int8 from it when asked; manifest written last."""
    manifest = _read_json(target / MANIFEST, default=None)
    if check_cache(target, files, "fp32") is not None:
        manifest = None  # a new fp32 export invalidates anything derived from the old one
        try:
            _atomic_write(target / VARIANTS["fp32"], lambda tmp: _export_fp32(files, tmp))
        except Exception as exc:  # no torch, an architecture the exporter cannot trace, a full disk...
            raise EncoderError(f"cannot export {files.root} to ONNX: {exc}".splitlines()[0]) from exc
    st = files.weights.stat()
    manifest = manifest or {
        "format": FORMAT,
        "source": {"path": str(files.root), "weights": files.weights.name, "size": st.st_size,
                   "mtime_ns": st.st_mtime_ns, "sha256": sha256(files.weights)},
        "files": {},
    }
    manifest["files"]["fp32"] = {"file": VARIANTS["fp32"], "sha256": sha256(target / VARIANTS["fp32"])}
    if variant == "int8":
        _atomic_write(target / VARIANTS["int8"], lambda tmp: _quantize_int8(target / VARIANTS["fp32"], tmp))
        manifest["files"]["int8"] = {"file": VARIANTS["int8"], "sha256": sha256(target / VARIANTS["int8"])}
    _atomic_write(target / MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2), "utf-8"))


def _export_fp32(files: ModelFiles, out: Path) -> None:
    """Token embeddings (last_hidden_state) with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(files.transformer), attn_implementation="eager").eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes the dynamic axes cover
        torch.onnx.export(
            TokenEmbeddings(model), (sample, sample, torch.zeros_like(sample)), str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["token_embeddings"], opset_version=OPSET, dynamo=False,
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "token_embeddings": axes},
        )


def _quantize_int8(fp32: Path, out: Path) -> None:
    """Per-channel int8 weights: per-tensor ones put MiniLM's vectors at cosine ~0.94 from fp32,
    per-channel at ~0.99 (measured on corpus passages; see README, "Encoder backends")."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    quiet = _ErrorsOnly()
    root.addFilter(quiet)  # the quantiser logs a line per tensor and a pre-processing hint on root
    try:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(quiet)


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same directory, then rename: readers see old or new."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from the bot's other users
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path, default):
    """Missing -> default; present but unreadable -> "" (callers treat it as damaged)."""
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError):
        return ""
