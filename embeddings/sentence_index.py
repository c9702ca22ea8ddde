"""Sentence vectors for every passage, computed at ingest, so the best sentence costs no encoding.

The bot bolds the sentence of a passage that best answers the question. Encoding a dozen
sentences per question takes longer than the whole search, so each passage's sentences are
embedded once, when the passage is, and kept beside the index (float16: half the disk, and
the best sentence only needs a ranking). Kept in step with the store like the other indexes.
"""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from embeddings.index import SyncReport, atomic_write_bytes

log = logging.getLogger(__name__)

SENTENCES_FILE = "sentences.npz"
FORMAT = "sentences/v1"


class SentenceIndex:
    """passage id -> (sentences, dim) matrix of normalised vectors."""

    def __init__(self, path: Path, *, model: str, embed_format: str):
        self.path = Path(path)
        self.model = model
        self.embed_format = embed_format
        self._vectors: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, passage_id: int) -> np.ndarray | None:
        return self._vectors.get(int(passage_id))

    def sync(self, store_ids: set[int], fetch_texts: Callable[[list[int]], list[str]],
             split: Callable[[str], list[str]], encode: Callable[[list[str]], np.ndarray],
             *, batch: int = 128) -> SyncReport:
        """Embed the sentences of passages not yet here, drop those gone from the store, save."""
        have = set(self._vectors)
        stale = have - store_ids
        for i in stale:
            del self._vectors[i]
        missing = sorted(store_ids - have)
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            per_passage = [split(t) or [t] for t in fetch_texts(chunk)]
            flat = [s for sents in per_passage for s in sents]
            vecs = encode(flat) if flat else np.zeros((0, 0), dtype=np.float32)
            pos = 0
            for pid, sents in zip(chunk, per_passage):
                self._vectors[pid] = np.asarray(vecs[pos:pos + len(sents)], dtype=np.float16)
                pos += len(sents)
        if stale or missing:
            self.save()
        return SyncReport(added=len(missing), removed=len(stale), rebuilt=False)

    def save(self) -> None:
        ids = np.asarray(sorted(self._vectors), dtype=np.int64)
        counts = np.asarray([self._vectors[int(i)].shape[0] for i in ids], dtype=np.int32)
        mats = [self._vectors[int(i)] for i in ids if self._vectors[int(i)].size]
        vectors = np.concatenate(mats) if mats else np.zeros((0, 0), dtype=np.float16)
        meta = json.dumps({"format": FORMAT, "model": self.model, "embed_format": self.embed_format})
        buf = io.BytesIO()
        np.savez(buf, ids=ids, counts=counts, vectors=vectors, meta=np.asarray(meta))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, buf.getvalue())

    @classmethod
    def load(cls, path: Path, *, model: str, embed_format: str) -> tuple["SentenceIndex", str | None]:
        """The saved vectors, or an empty set and why (a different model means re-embedding)."""
        fresh = cls(path, model=model, embed_format=embed_format)
        if not fresh.path.exists():
            return fresh, None
        try:
            with np.load(fresh.path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                ids, counts, vectors = data["ids"], data["counts"], data["vectors"]
        except (OSError, ValueError, KeyError, EOFError) as exc:
            return fresh, f"the sentence vectors cannot be read ({type(exc).__name__})"
        if meta != {"format": FORMAT, "model": model, "embed_format": embed_format}:
            return fresh, "the sentence vectors were built with other settings"
        if int(counts.sum()) != vectors.shape[0] or ids.size != counts.size:
            return fresh, "the sentence vector file is inconsistent"
        pos = 0
        for pid, n in zip(ids.tolist(), counts.tolist()):
            fresh._vectors[int(pid)] = vectors[pos:pos + n]
            pos += n
        return fresh, None
