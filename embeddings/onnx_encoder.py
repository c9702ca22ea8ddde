"""The Encoder interface on ONNX Runtime: the model's own fast tokenizer, mean pooling, L2 norm.

Imports neither torch nor transformers: a cached export (embeddings/onnx_export.py) is all it needs,
so `ask` starts without torch's import time and memory. Vectors match sentence-transformers'
(cosine >= 0.99 for fp32, tested); the int8 variant trades some of that for speed.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

from embeddings.models import DEFAULT_MODEL, EncoderError
from embeddings.onnx_export import ModelFiles, default_cache_dir, ensure_onnx
from embeddings.spans import TokenVectors, cut_after, span_vectors, token_vectors

log = logging.getLogger(__name__)

BATCH_MIN = 16  # encode_queries with this many texts or more is batch work (digests, sentence vectors)


class OnnxEncoder:
    """Loads lazily, once. Two sessions by job: `threads` for questions (one keeps p99 low on a busy
    box), `batch_threads` for passages and other large batches (0 = every core); they share one
    session when equal."""

    def __init__(self, name: str = DEFAULT_MODEL, *, variant: str = "fp32", cache_dir: Path | None = None,
                 batch_size: int = 64, threads: int | None = 1, batch_threads: int | None = 0,
                 query_prompt: str = "", passage_prompt: str = ""):
        self.name = name
        # As sentence-transformers' `prompt`: the text is prefixed before tokenizing.
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.variant = variant
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.batch_size = batch_size
        self.threads = threads or 0
        self.batch_threads = self.threads if batch_threads is None else batch_threads
        self.encoded = 0
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._sessions: dict[int, object] = {}

    @property
    def loaded(self) -> "_Loaded":
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                    files, path = ensure_onnx(self.name, self.cache_dir, self.variant)
                    log.info("loading ONNX model %s (%s)", path, self.variant)
                    session = _open_session(path, self.threads)
                    self._loaded = _Loaded.open(files, path, session)
                    self._sessions[self.threads] = session
        return self._loaded

    def _session(self, threads: int):
        if threads not in self._sessions:
            loaded = self.loaded
            with self._lock:
                if threads not in self._sessions:
                    self._sessions[threads] = _open_session(loaded.onnx_path, threads)
        return self._sessions[threads]

    @property
    def dim(self) -> int:
        return self.loaded.dim

    @property
    def max_tokens(self) -> int:
        return self.loaded.max_seq_length

    def encode(self, texts: list[str]) -> np.ndarray:
        """Passages for the index: the batch session (counted in `encoded`)."""
        vecs = self.encode_passages(texts)
        self.encoded += len(texts)
        return vecs

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Passage-side text (passages, their sentences), with the passage prompt; not counted."""
        return self._encode(_prefixed(texts, self.passage_prompt), self.batch_threads)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(_prefixed(texts, self.query_prompt),
                            self.batch_threads if len(texts) >= BATCH_MIN else self.threads)

    def encode_query(self, text: str) -> np.ndarray:
        return self._encode(_prefixed([text], self.query_prompt), self.threads)

    def _batches(self, encodings: list, session, out: np.ndarray):
        """Run the model longest first, as sentence-transformers does (batches pad to similar
        lengths), writing each passage's pooled vector into `out`; yields (rows, token embeddings)."""
        loaded = self.loaded
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            feeds = _pad([encodings[i] for i in rows], loaded.input_names)
            tokens = session.run(None, feeds)[0]
            out[rows] = mean_pool_normalize(tokens, feeds["attention_mask"])
            yield rows, tokens

    def _encode(self, texts: list[str], threads: int) -> np.ndarray:
        loaded = self.loaded
        out = np.empty((len(texts), loaded.dim), dtype=np.float32)
        if texts:
            encodings = loaded.tokenizer.encode_batch([str(t).strip() for t in texts])
            for _ in self._batches(encodings, self._session(threads), out):
                pass
        return out

    def encode_tokens(self, texts: list[str], *, side: str = "query", max_tokens: int | None = None
                      ) -> list[TokenVectors]:
        """Each text's contextual token vectors (normalised, special tokens left out) with the
        characters each covers: the late-interaction view of a question or a passage
        (embeddings/support.py); only its first `max_tokens` tokens if given. A small batch, on the
        question session."""
        texts = [str(t) for t in texts]
        if max_tokens and texts:
            encodings = self.loaded.tokenizer.encode_batch(texts, add_special_tokens=False)
            texts = [cut_after(t, e.offsets, max_tokens) for t, e in zip(texts, encodings)]
        return self._with_tokens(texts, self.query_prompt if side == "query" else self.passage_prompt)[1]

    def encode_query_tokens(self, text: str) -> tuple[np.ndarray, TokenVectors]:
        """`encode_query`'s vector and, from the same run, the question's token vectors."""
        vecs, tokens = self._with_tokens([text], self.query_prompt)
        return vecs, tokens[0]

    def _with_tokens(self, texts: list[str], prompt: str) -> tuple[np.ndarray, list[TokenVectors]]:
        loaded = self.loaded
        texts = [str(t) for t in texts]
        pooled = np.empty((len(texts), loaded.dim), dtype=np.float32)
        if not texts:
            return pooled, []
        encodings = loaded.tokenizer.encode_batch([prompt + t.strip() for t in texts])
        out: list[TokenVectors] = [None] * len(texts)  # type: ignore[list-item]
        for rows, tokens in self._batches(encodings, self._session(self.threads), pooled):
            for j, i in enumerate(rows.tolist()):
                shift = len(texts[i]) - len(texts[i].lstrip()) - len(prompt)
                out[i] = token_vectors(tokens[j, :len(encodings[i].ids)], encodings[i].offsets, start=len(prompt),
                                       shift=shift)
        return pooled, out

    def encode_with_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]
                          ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """Passage vectors (counted) and, from the same run, one vector per character span: the
        mean of the passage's token embeddings inside it (embeddings/spans.py)."""
        vecs, per, _ = self.encode_with_tokens(texts, spans)
        return vecs, per

    def encode_with_tokens(self, texts: list[str], spans: list[list[tuple[int, int]]],
                           token_from: list[int] | None = None, max_tokens: int | None = None
                           ) -> tuple[np.ndarray, list[list[np.ndarray | None]], list[TokenVectors]]:
        """`encode_with_spans`, and from the same run each text's token vectors (normalised, with
        their characters in the text) from character `token_from[i]` on (a passage's text after its
        heading), its first `max_tokens`: kept at ingest for the support re-ranking
        (embeddings/token_index.py)."""
        loaded = self.loaded
        if not texts:
            return np.zeros((0, loaded.dim), dtype=np.float32), [], []
        # A handful of passages (one new article) runs on the question session: no second session
        # (and its memory) for it.
        session = self._session(self.batch_threads if len(texts) >= BATCH_MIN else self.threads)
        texts = [str(t) for t in texts]
        shift = [len(t) - len(t.lstrip()) for t in texts]  # _encode strips: offsets move back
        encodings = loaded.tokenizer.encode_batch([t.strip() for t in texts])
        out = np.empty((len(texts), loaded.dim), dtype=np.float32)
        per: list[list[np.ndarray | None]] = [[] for _ in texts]
        toks: list[TokenVectors] = [TokenVectors(np.zeros((0, loaded.dim), np.float32), []) for _ in texts]
        for rows, tokens in self._batches(encodings, session, out):
            for j, i in enumerate(rows.tolist()):
                e = encodings[i]
                offsets = [(a + shift[i], b + shift[i]) if b > a else (0, 0) for a, b in e.offsets]
                per[i] = span_vectors(tokens[j, :len(e.ids)], offsets, spans[i])
                if token_from is not None:
                    toks[i] = token_vectors(tokens[j, :len(e.ids)], offsets, start=token_from[i], limit=max_tokens)
        self.encoded += len(texts)
        return out, per, toks


def _prefixed(texts: list[str], prompt: str) -> list[str]:
    return [prompt + t for t in texts] if prompt else list(texts)


class _Loaded:
    """What the model directory and the export hold: tokenizer, limits, ONNX path."""

    def __init__(self, tokenizer, onnx_path: Path, dim: int, max_seq_length: int, input_names: tuple[str, ...]):
        self.tokenizer = tokenizer
        self.onnx_path = onnx_path
        self.dim = dim
        self.max_seq_length = max_seq_length
        self.input_names = input_names

    @classmethod
    def open(cls, files: ModelFiles, onnx_path: Path, session) -> "_Loaded":
        from tokenizers import Tokenizer

        pooling = _pooling_config(files.root)
        st_config = _json(files.transformer / "sentence_bert_config.json") or {}
        max_len = int(st_config.get("max_seq_length") or 512)
        tokenizer = Tokenizer.from_file(str(files.transformer / "tokenizer.json"))
        tokenizer.no_padding()  # tokenizer.json carries a fixed 128 padding; we pad per batch
        tokenizer.enable_truncation(max_length=max_len)
        names = tuple(i.name for i in session.get_inputs())
        dim = pooling.get("word_embedding_dimension") or session.get_outputs()[0].shape[-1]
        return cls(tokenizer, onnx_path, int(dim), max_len, names)


def _pooling_config(root: Path) -> dict:
    """Only mean pooling (what all-MiniLM-L6-v2 uses) is implemented; anything else says so."""
    modules = _json(root / "modules.json") or []
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    unsupported = [k for k in kinds if k not in {"Transformer", "Pooling", "Normalize"}]
    if unsupported:
        raise EncoderError(f"the ONNX backend cannot run modules {unsupported}: use encoder_backend=torch")
    pool = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
    config = (_json(root / pool["path"] / "config.json") if pool else None) or {"pooling_mode_mean_tokens": True}
    modes = [k for k, v in config.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise EncoderError(f"the ONNX backend does mean pooling only, the model asks for {modes}")
    return config


def _open_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # 0 = onnxruntime's default, one per physical core
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own several kinds for a bad file
        raise EncoderError(f"cannot load ONNX model {path}: {exc}".splitlines()[0]) from exc


def _pad(encodings, input_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Right-pad one batch to its longest member (pad id 0, mask 0)."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n] = e.ids
        mask[row, :n] = e.attention_mask
        types[row, :n] = e.type_ids
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: feeds[name] for name in input_names}


def mean_pool_normalize(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling (mask-weighted, count clamped at 1e-9), then L2 (eps 1e-12)."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (tokens * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _json(path: Path):
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None

