"""FAISS inner-product index keyed by passage id, saved atomically beside a manifest.

The index is a cache of the store: `sync` makes it hold exactly the store's passages, embedding
only what is missing. That one mechanism serves first build, incremental ingest, deletions and
recovery after a crash mid-ingest.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from embeddings.stored import StoredManifest, StoredPart, atomic_write_bytes, ids_digest  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

# Two cores: FAISS's OpenMP threads fight the model's threads; one thread is 2-3x faster per query.
faiss.omp_set_num_threads(1)

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "index.json"


@dataclass(frozen=True)
class SyncReport:
    added: int
    removed: int
    rebuilt: bool
    reason: str | None = None


def _new_faiss_index(dim: int, index_type: str) -> faiss.Index:
    if index_type == "flat":
        base = faiss.IndexFlatIP(dim)
    elif index_type.startswith("hnsw"):
        m = int(index_type[4:] or 32)
        base = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown index type {index_type!r} (use flat or hnsw32)")
    return faiss.IndexIDMap2(base)


class VectorIndex(StoredPart):
    """Dense passage vectors by id; cosine scores since vectors are normalised."""

    LABEL = "the index"
    FORMAT = "faiss-idmap2/v1"
    MANIFEST = MANIFEST_FILE

    def __init__(self, directory: Path, *, model: str, dim: int, index_type: str = "flat", embed_format: str = "v1"):
        self.directory = Path(directory)
        self.model = model
        self.dim = dim
        self.index_type = index_type
        self.embed_format = embed_format
        self.index = _new_faiss_index(dim, index_type)
        self.built_at: str | None = None

    # -- contents ----------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if not ids:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {(len(ids), self.dim)} vectors, got {vectors.shape}")
        self.index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> int:
        ids = np.asarray(list(ids), dtype=np.int64)
        if ids.size == 0:
            return 0
        return int(self.index.remove_ids(ids))

    def vectors(self, ids: list[int]) -> np.ndarray:
        """Stored vectors for these ids (the digest clusters them without re-encoding)."""
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for row, i in enumerate(ids):
            out[row] = self.index.reconstruct(int(i))
        return out

    def search(self, query: np.ndarray, k: int, *, allowed: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (id, cosine) pairs; `allowed` restricts the search before the cut, not after."""
        n = len(self)
        if n == 0 or k <= 0:
            return []
        params = None
        if allowed is not None:
            allowed = np.asarray(list(allowed), dtype=np.int64)
            if allowed.size == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self.index.search(query, min(k, n), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    # -- keeping in step with the store ------------------------------------------------

    def sync(self, store_ids: set[int], fetch_texts: Callable[[list[int]], list[str]],
             encode: Callable[[list[str]], np.ndarray], *, batch: int = 256,
             on_progress: Callable[[int, int], None] | None = None,
             save_every: int | None = 2048) -> SyncReport:
        """Make the index hold exactly `store_ids`, embedding only the missing passages.

        Saves every `save_every` added vectors, so a killed long ingest resumes where it stopped.
        """
        have = set(self.ids().tolist())
        stale = have - store_ids
        missing = sorted(store_ids - have)
        removed = self.remove(stale)
        added = 0
        since_save = 0
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            self.add(chunk, encode(fetch_texts(chunk)))
            added += len(chunk)
            since_save += len(chunk)
            if on_progress:
                on_progress(added, len(missing))
            if save_every and since_save >= save_every and added < len(missing):
                self.save()
                since_save = 0
        if added or removed:
            self.save()
        return SyncReport(added=added, removed=removed, rebuilt=False)

    # -- persistence (embeddings/stored.py: manifest, checksums, load never raises) ---------

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX_FILE

    def build_params(self) -> dict:
        return {"model": self.model, "dim": self.dim, "index_type": self.index_type, "embed_format": self.embed_format}

    def stored_ids(self) -> list[int]:
        return self.ids().tolist()

    def data_paths(self) -> list[Path]:
        return [self.index_path]

    def write_data(self) -> list[Path]:
        atomic_write_bytes(self.index_path, faiss.serialize_index(self.index).tobytes())
        return [self.index_path]

    def read_data(self, manifest: StoredManifest) -> str | None:
        index = faiss.read_index(str(self.index_path))
        if index.d != self.dim or not isinstance(index, faiss.IndexIDMap2) or index.ntotal != manifest.count:
            return "the index file's contents do not match its manifest"
        self.index = index
        return None

    def reset(self) -> None:
        self.index = _new_faiss_index(self.dim, self.index_type)

