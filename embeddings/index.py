"""FAISS inner-product index keyed by passage id, saved atomically beside a manifest.

The index is a cache of the store: `sync` makes it hold exactly the store's passages, embedding
only what is missing. That one mechanism serves first build, incremental ingest, deletions and
recovery after a crash mid-ingest.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

# Two cores: FAISS's OpenMP threads fight the model's threads; one thread is 2-3x faster per query.
faiss.omp_set_num_threads(1)

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "index.json"
MANIFEST_VERSION = 1


@dataclass
class Manifest:
    model: str
    dim: int
    count: int
    index_type: str
    built_at: str
    checksum: str  # blake2b of the index file: a torn or corrupt file is caught before FAISS reads it
    ids_digest: str
    embed_format: str
    version: int = MANIFEST_VERSION
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SyncReport:
    added: int
    removed: int
    rebuilt: bool
    reason: str | None = None


def ids_digest(ids: Iterable[int]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for i in sorted(ids):
        h.update(int(i).to_bytes(8, "big", signed=True))
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temporary file in the same directory, fsync, rename: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _new_faiss_index(dim: int, index_type: str) -> faiss.Index:
    if index_type == "flat":
        base = faiss.IndexFlatIP(dim)
    elif index_type.startswith("hnsw"):
        m = int(index_type[4:] or 32)
        base = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown index type {index_type!r} (use flat or hnsw32)")
    return faiss.IndexIDMap2(base)


class VectorIndex:
    """Dense passage vectors by id; cosine scores since vectors are normalised."""

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

    # -- persistence -------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX_FILE

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_FILE

    def save(self) -> Manifest:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = faiss.serialize_index(self.index).tobytes()
        atomic_write_bytes(self.index_path, data)
        self.built_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        manifest = Manifest(
            model=self.model, dim=self.dim, count=len(self), index_type=self.index_type,
            built_at=self.built_at, checksum=hashlib.blake2b(data, digest_size=16).hexdigest(),
            ids_digest=ids_digest(self.ids().tolist()), embed_format=self.embed_format,
        )
        atomic_write_bytes(self.manifest_path, json.dumps(asdict(manifest), indent=2).encode("utf-8"))
        return manifest

    @classmethod
    def load(cls, directory: Path, *, model: str, dim: int, index_type: str = "flat",
             embed_format: str = "v1") -> tuple["VectorIndex", str | None]:
        """Load the saved index, or return a fresh empty one and the reason it could not be used.

        A reason means every vector must be rebuilt from the store: wrong model, dimension,
        index type or embedding format, or a missing, torn or corrupt file. Never raises for those.
        """
        fresh = cls(directory, model=model, dim=dim, index_type=index_type, embed_format=embed_format)
        manifest_path = fresh.manifest_path
        if not manifest_path.exists() and not fresh.index_path.exists():
            return fresh, None
        try:
            manifest = Manifest(**json.loads(manifest_path.read_text("utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            return fresh, f"the index manifest is missing or unreadable ({type(exc).__name__})"
        wanted = {"model": model, "dim": dim, "index_type": index_type, "embed_format": embed_format}
        for key, value in wanted.items():
            if getattr(manifest, key) != value:
                return fresh, f"the index was built with {key}={getattr(manifest, key)!r}, the settings say {value!r}"
        try:
            if _file_digest(fresh.index_path) != manifest.checksum:
                return fresh, "the index file does not match its manifest (torn write or corruption)"
            index = faiss.read_index(str(fresh.index_path))
        except (OSError, RuntimeError) as exc:
            return fresh, f"the index file cannot be read ({str(exc).splitlines()[0][:120]})"
        if index.d != dim or not isinstance(index, faiss.IndexIDMap2) or index.ntotal != manifest.count:
            return fresh, "the index file's contents do not match its manifest"
        fresh.index = index
        fresh.built_at = manifest.built_at
        return fresh, None

    def reset(self) -> None:
        self.index = _new_faiss_index(self.dim, self.index_type)

