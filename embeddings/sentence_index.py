"""Sentence vectors for every passage, computed at ingest, so the best sentence costs no encoding.

The bot bolds the sentence of a passage that best answers the question. Encoding a dozen
sentences per question takes longer than the whole search, so each passage's sentences are
embedded once, when the passage is, and kept beside the index (float16: half the disk, and
the best sentence only needs a ranking). Kept in step with the store like the other indexes,
and saved and loaded through embeddings/stored.py like them.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from embeddings.index import SyncReport
from embeddings.stored import StoredManifest, StoredPart, atomic_write_bytes

log = logging.getLogger(__name__)

SENTENCES_FILE = "sentences.npz"
MANIFEST_FILE = "sentences.json"


class SentenceIndex(StoredPart):
    """passage id -> (sentences, dim) matrix of normalised vectors."""

    LABEL = "the sentence vectors"
    FORMAT = "sentences-npz/v1"
    MANIFEST = MANIFEST_FILE

    def __init__(self, path: Path, *, model: str, embed_format: str):
        self.path = Path(path)
        self.directory = self.path.parent
        self.model = model
        self.embed_format = embed_format
        self.built_at: str | None = None
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

    # -- persistence (embeddings/stored.py: manifest, checksums, load never raises) ---------

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".json")

    def build_params(self) -> dict:
        return {"model": self.model, "embed_format": self.embed_format}

    def stored_ids(self) -> list[int]:
        return sorted(self._vectors)

    def data_paths(self) -> list[Path]:
        return [self.path]

    def write_data(self) -> list[Path]:
        ids = np.asarray(sorted(self._vectors), dtype=np.int64)
        counts = np.asarray([self._vectors[int(i)].shape[0] for i in ids], dtype=np.int32)
        mats = [self._vectors[int(i)] for i in ids if self._vectors[int(i)].size]
        vectors = np.concatenate(mats) if mats else np.zeros((0, 0), dtype=np.float16)
        buf = io.BytesIO()
        np.savez(buf, ids=ids, counts=counts, vectors=vectors)
        atomic_write_bytes(self.path, buf.getvalue())
        return [self.path]

    def read_data(self, manifest: StoredManifest) -> str | None:
        with np.load(self.path, allow_pickle=False) as data:
            ids, counts, vectors = data["ids"], data["counts"], data["vectors"]
        if int(counts.sum()) != vectors.shape[0] or ids.size != counts.size:
            return "the sentence vector file is inconsistent"
        pos = 0
        for pid, n in zip(ids.tolist(), counts.tolist()):
            self._vectors[int(pid)] = vectors[pos:pos + n]
            pos += n
        return None
