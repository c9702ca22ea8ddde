"""Text to normalised vectors. One small interface; sentence-transformers (torch) or ONNX Runtime behind it."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import KW_ONLY, dataclass, field
from typing import Protocol

import numpy as np

from embeddings.models import DEFAULT_MODEL, EncoderError, resolve_model
from embeddings.spans import TokenVectors, cut_after, span_vectors, token_vectors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderConfig:
    """Which model embeds, and how; bot.settings.Settings holds one (ROUNDUP_MODEL,
    ROUNDUP_ENCODER_THREADS, ROUNDUP_ENCODER_BACKEND)."""

    model: str = DEFAULT_MODEL  # any sentence-transformers name or path; the default is the bundled copy
    threads: int = 1  # threads for single queries; 0 = the runtime's default (all cores)
    # torch | onnx | onnx-int8 (README, "Encoder backends"). onnx-int8: the fastest whose eval figures stay
    # within 0.01 of torch (MRR, answered, answer in bold; README, "Performance").
    backend: str = "onnx-int8"
    # Prefixes some models are trained with (e5: "query: " / "passage: "; bge: a query instruction).
    # Part of the index identity (the service's embed format): changing one rebuilds the index.
    query_prompt: str = ""
    passage_prompt: str = ""

    @property
    def identity(self) -> str:
        """What the stored vectors depend on: a change rebuilds the indexes. fp32 ONNX gives the
        same vectors as torch (cosine 1.0000), int8 does not."""
        return f"{self.model}#int8" if self.backend == "onnx-int8" else self.model


class Encoder(Protocol):
    name: str
    dim: int
    encoded: int  # passages encoded so far: lets tests prove ingest is incremental

    def encode(self, texts: list[str]) -> np.ndarray:
        """Passages for the index (counted in `encoded`)."""

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Questions and sentences at query time (not counted)."""

    def encode_query(self, text: str) -> np.ndarray: ...

    def encode_tokens(self, texts: list[str], *, side: str = "query", max_tokens: int | None = None
                      ) -> list[TokenVectors]:
        """Contextual token vectors of each text (its first `max_tokens` tokens, when given), for
        late interaction (embeddings/support.py)."""

    def encode_query_tokens(self, text: str) -> tuple[np.ndarray, TokenVectors]:
        """`encode_query` and the question's token vectors from one forward pass."""

    def encode_with_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]
                          ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """Passages (counted) and, from the same forward pass, one vector per character span."""


def prompts_id(query_prompt: str = "", passage_prompt: str = "") -> str:
    """A short tag for the prompts vectors were made with ("" for none): part of the index identity,
    so changing a prompt rebuilds the index instead of mixing two kinds of vectors."""
    if not query_prompt and not passage_prompt:
        return ""
    import hashlib

    digest = hashlib.blake2b(f"{query_prompt}\x1f{passage_prompt}".encode("utf-8"), digest_size=6).hexdigest()
    return f"prompts:{digest}"


@dataclass(eq=False)
class SentenceTransformerEncoder:
    """Loads the model lazily, once, on first use; safe to call from several threads."""

    name: str = DEFAULT_MODEL
    _: KW_ONLY
    batch_size: int = 64
    device: str = "cpu"
    threads: int | None = None
    # Models such as e5 and bge are trained with a prefix on questions ("query: ") and/or
    # passages ("passage: "). Given here, they are passed as sentence-transformers' `prompt`;
    # otherwise a prompt the model ships (its `prompts` config) is used by `prompt_name`.
    query_prompt: str = ""
    passage_prompt: str = ""
    encoded: int = field(default=0, init=False)
    _model: object = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI and in logs

        if self.threads:
            import torch

            # Intra-op threads spin: on a busy 2-core box two of them made a query 10x slower than one.
            torch.set_num_threads(self.threads)
        path = resolve_model(self.name)
        log.info("loading embedding model %s", self.name)
        try:
            return SentenceTransformer(path, device=self.device)
        except Exception as exc:  # the library raises many kinds for a bad name or path
            raise EncoderError(f"cannot load embedding model {self.name!r}: {exc}".splitlines()[0]) from exc

    @property
    def dim(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def prompts_id(self) -> str:
        return prompts_id(self.query_prompt, self.passage_prompt)

    def encode(self, texts: list[str]) -> np.ndarray:
        vecs = self.encode_passages(texts)
        self.encoded += len(texts)
        return vecs

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Passage-side text (passages, their sentences), with the passage prompt; not counted."""
        return self._encode(texts, "passage")

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def _prompt(self, side: str) -> tuple[dict, str]:
        """How sentence-transformers is told the side's prompt, and the text it puts before each input."""
        prompt = self.query_prompt if side == "query" else self.passage_prompt
        if prompt:
            return {"prompt": prompt}, prompt
        shipped = (getattr(self.model, "prompts", None) or {}).get(side)
        if shipped:
            return {"prompt_name": side}, shipped  # a prompt the model itself ships under that name
        return {}, ""

    def _encode(self, texts: list[str], side: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        how, _ = self._prompt(side)
        vecs = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False, **how,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])

    def encode_tokens(self, texts: list[str], *, side: str = "query", max_tokens: int | None = None
                      ) -> list[TokenVectors]:
        """Each text's contextual token vectors (normalised, special tokens left out) with the
        characters each covers (embeddings/support.py); only its first `max_tokens` tokens if given."""
        if not texts:
            return []
        prompt = self.query_prompt if side == "query" else self.passage_prompt
        texts = [str(t) for t in texts]
        if max_tokens:
            offs = self.model.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            texts = [cut_after(t, o, max_tokens) for t, o in zip(texts, offs)]
        full = [prompt + t for t in texts]
        feats = self.model.encode(full, batch_size=self.batch_size, output_value=None,
                                  convert_to_numpy=False, show_progress_bar=False)
        offsets = self.model.tokenizer(full, return_offsets_mapping=True, truncation=True,
                                       max_length=self.max_tokens)["offset_mapping"]
        return [token_vectors(f["token_embeddings"].float().cpu().numpy(), offs, start=len(prompt), shift=-len(prompt))
                for f, offs in zip(feats, offsets)]

    def encode_query_tokens(self, text: str) -> tuple[np.ndarray, TokenVectors]:
        """`encode_query`'s vector and the question's token vectors from one forward pass (two
        passes doubled the question's encode on this backend): the same input, prompt included,
        and the vector normalised as `encode(normalize_embeddings=True)` does."""
        import torch

        how, prompt = self._prompt("query")
        (feat,) = self.model.encode([text], batch_size=1, output_value=None, convert_to_numpy=False,
                                    show_progress_bar=False, **how)
        vec = torch.nn.functional.normalize(feat["sentence_embedding"].unsqueeze(0), p=2, dim=1)
        vec = np.ascontiguousarray(vec.float().cpu().numpy(), dtype=np.float32)
        (offsets,) = self.model.tokenizer([prompt + text], return_offsets_mapping=True, truncation=True,
                                          max_length=self.max_tokens)["offset_mapping"]
        tokens = token_vectors(feat["token_embeddings"].float().cpu().numpy(), offsets, start=len(prompt),
                               shift=-len(prompt))
        return vec, tokens

    def encode_with_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]
                          ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """Passage vectors and span (sentence) vectors from one forward pass: a span's vector is
        the mean of the passage's token embeddings inside it, normalised. A span past the
        model's truncation gets None (the caller encodes it on its own)."""
        vecs, per, _ = self.encode_with_tokens(texts, spans)
        return vecs, per

    def encode_with_tokens(self, texts: list[str], spans: list[list[tuple[int, int]]],
                           token_from: list[int] | None = None, max_tokens: int | None = None
                           ) -> tuple[np.ndarray, list[list[np.ndarray | None]], list[TokenVectors]]:
        """`encode_with_spans`, and from the same pass each text's token vectors (normalised, with
        their characters) from character `token_from[i]` on, its first `max_tokens` (embeddings/token_index.py)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), [], []
        feats = self.model.encode(list(texts), batch_size=self.batch_size, output_value=None,
                                  convert_to_numpy=False, show_progress_bar=False)
        offsets = self.model.tokenizer(list(texts), return_offsets_mapping=True, truncation=True,
                                       max_length=self.max_tokens)["offset_mapping"]
        vecs = np.stack([f["sentence_embedding"].float().cpu().numpy() for f in feats]).astype(np.float32)
        tokens = [f["token_embeddings"].float().cpu().numpy() for f in feats]
        per_text = [span_vectors(t, offs, sp) for t, offs, sp in zip(tokens, offsets, spans)]
        kept: list[TokenVectors] = []
        if token_from is not None:
            kept = [token_vectors(t, offs, start=start, limit=max_tokens)
                    for t, offs, start in zip(tokens, offsets, token_from)]
        self.encoded += len(texts)
        return np.ascontiguousarray(vecs), per_text, kept


BACKENDS = ("torch", "onnx", "onnx-int8")

_shared: dict[tuple, Encoder] = {}
_shared_lock = threading.Lock()


def encoder_for(config: EncoderConfig, *, cache_dir=None) -> Encoder:
    """The shared encoder for these settings; `cache_dir` keeps ONNX exports (the data dir's models/)."""
    return create_encoder(config.model, threads=config.threads or None, backend=config.backend, cache_dir=cache_dir,
                          query_prompt=config.query_prompt, passage_prompt=config.passage_prompt)


def create_encoder(name: str = DEFAULT_MODEL, *, backend: str = "torch", cache_dir=None, **kwargs) -> Encoder:
    """Factory: picks the implementation for the model and backend settings, one shared instance
    per (model, backend, cache) per process. `cache_dir` is where ONNX exports live (onnx backends)."""
    if backend not in BACKENDS:
        raise EncoderError(f"unknown encoder backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    key = (name, backend, str(cache_dir) if backend != "torch" else None, kwargs.get("query_prompt", ""),
           kwargs.get("passage_prompt", ""))
    with _shared_lock:
        if key not in _shared:
            if backend == "torch":
                _shared[key] = SentenceTransformerEncoder(name, **kwargs)
            else:
                from embeddings.onnx_encoder import OnnxEncoder  # onnxruntime only when asked for

                variant = "int8" if backend == "onnx-int8" else "fp32"
                _shared[key] = OnnxEncoder(name, variant=variant, cache_dir=cache_dir, **kwargs)
        return _shared[key]
