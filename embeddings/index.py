"""FAISS inner-product index keyed by passage id, saved atomically beside a manifest.

The index is a cache of the store: embeddings/sync.py keeps it holding exactly the store's
passages, embedding only what is missing. That one mechanism serves first build, incremental
ingest, deletions and recovery after a crash mid-ingest.
"""
from __future__ import annotations

import copy
import io
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from embeddings.days import DayFilter
from embeddings.stored import StoredManifest, StoredPart, atomic_write_bytes, ids_digest  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

# Two cores: FAISS's OpenMP threads fight the model's threads; one thread is 2-3x faster per query.
faiss.omp_set_num_threads(1)

INDEX_FILE = "index.faiss"
DELTA_FILE = "index-delta.npz"  # rows added since index.faiss was last written whole
DELTA_MAX = 5_000
MANIFEST_FILE = "index.json"


@dataclass(frozen=True)
class SyncReport:
    added: int
    removed: int
    rebuilt: bool
    reason: str | None = None


# `index_type = auto`: exact (flat) search up to this many passages, HNSW above. Measured with
# benchmarks/bench_scale.py on 2 cores: flat costs ~0.05 ms per 1k passages per query, so 50k
# passages is ~2.5 ms, where HNSW (M=32, efSearch 128) answers in ~0.3 ms at recall@10 >= 0.97.
HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def _new_faiss_index(dim: int, index_type: str) -> faiss.Index:
    if index_type in ("flat", "auto"):
        base = faiss.IndexFlatIP(dim)
    elif index_type.startswith("hnsw"):
        base = faiss.IndexHNSWFlat(dim, int(index_type[4:] or HNSW_M), faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        raise ValueError(f"unknown index type {index_type!r} (use flat, hnsw32 or auto)")
    return faiss.IndexIDMap2(base)


def is_hnsw(index: faiss.Index) -> bool:
    base = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    return isinstance(base, faiss.IndexHNSW)


def _search_params(index: faiss.Index, k: int, sel: faiss.IDSelector | None):
    if is_hnsw(index):
        return faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, 2 * k))
    return faiss.SearchParameters(sel=sel) if sel is not None else None


class VectorIndex(StoredPart):
    """Dense passage vectors by id; cosine scores since vectors are normalised."""

    LABEL = "the index"
    FORMAT = "faiss-idmap2/v1"
    MANIFEST = MANIFEST_FILE

    def __init__(self, directory: Path, *, model: str, dim: int, index_type: str = "flat", embed_format: str = "v1",
                 hnsw_threshold: int = HNSW_THRESHOLD):
        self.directory = Path(directory)
        self.model = model
        self.dim = dim
        self.index_type = index_type
        self.embed_format = embed_format
        self.hnsw_threshold = hnsw_threshold
        self.index = _new_faiss_index(dim, index_type)
        self.built_at: str | None = None
        self._written = 0  # rows in index.faiss as last written whole; later rows go to the delta file
        self._whole_needed = True  # rows were removed (or never written): the next save writes all
        self._ids: np.ndarray | None = None  # row -> passage id, cached until the next change
        self._sorted: np.ndarray | None = None
        # An HNSW index loaded with a delta keeps the delta's rows here (flat), searched exactly beside
        # the graph: inserting up to DELTA_MAX vectors into the graph took 1.7 s of every cold start
        # at 100k passages. Rows added later join them; they go into the graph when the index is
        # next written whole (past DELTA_MAX) or loses rows. Always the rows after `_written`.
        self._side: faiss.IndexIDMap2 | None = None

    # -- contents ----------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.index.ntotal) + (int(self._side.ntotal) if self._side is not None else 0)

    def ids(self) -> np.ndarray:
        """Passage ids in row order, the side's rows last (one array object until the next change:
        filters cache by it)."""
        if self._ids is None:
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            if self._side is not None:
                ids = np.concatenate([ids, faiss.vector_to_array(self._side.id_map).astype(np.int64)])
            self._ids = ids
        return self._ids

    def has(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are in the index (a sorted copy of the ids, kept until the next change)."""
        if self._sorted is None:
            self._sorted = np.sort(self.ids())
        ids = np.asarray(ids, dtype=np.int64)
        if self._sorted.size == 0:
            return np.zeros(ids.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self._sorted, ids), self._sorted.size - 1)
        return self._sorted[pos] == ids

    def _changed(self) -> None:
        self._ids = self._sorted = None

    def _fold(self) -> None:
        """The side's vectors into the graph, in the same row order (before any change)."""
        side, self._side = self._side, None
        if side is not None and side.ntotal:
            self.index.add_with_ids(side.index.reconstruct_n(0, side.ntotal),
                                    faiss.vector_to_array(side.id_map).astype(np.int64))
        self._changed()

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {(len(ids), self.dim)} vectors, got {vectors.shape}")
        self._changed()
        (self._side if self._side is not None else self.index).add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        if self.index_type == "auto" and not is_hnsw(self.index) and len(self) > self.hnsw_threshold:
            self._convert(f"hnsw{HNSW_M}")

    def remove(self, ids: Iterable[int]) -> int:
        ids = np.asarray(list(ids), dtype=np.int64)
        if ids.size == 0 or not self.has(ids).any():
            return 0
        self._fold()
        self._whole_needed = True
        if is_hnsw(self.index):  # HNSW cannot delete: rebuild the graph from the kept vectors (rare)
            keep = ~np.isin(self.ids(), ids)
            removed = int((~keep).sum())
            if removed:
                self._convert(f"hnsw{HNSW_M}", keep=keep)
            return removed
        return int(self.index.remove_ids(ids))

    def _convert(self, index_type: str, keep: np.ndarray | None = None) -> None:
        """Move every (kept) vector into a new index of `index_type` (crossing the size threshold)."""
        ids = self.ids()
        vectors = self.index.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), "float32")
        if keep is not None:
            ids, vectors = ids[keep], vectors[keep]
        log.info("moving %d vectors into a %s index", ids.size, index_type)
        index = _new_faiss_index(self.dim, index_type)
        if ids.size:
            index.add_with_ids(np.ascontiguousarray(vectors), ids)
        self.index = index
        self._whole_needed = True
        self._changed()

    def vectors(self, ids: list[int]) -> np.ndarray:
        """Stored vectors for these ids (the digest clusters them without re-encoding)."""
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if self._side is None:
            return self.index.reconstruct_batch(ids)
        side = np.sort(self.ids()[int(self.index.ntotal):])  # a few thousand at most
        pos = np.minimum(np.searchsorted(side, ids), side.size - 1)
        in_side = side[pos] == ids
        out = np.empty((ids.size, self.dim), dtype=np.float32)
        for part, rows in ((self.index, ~in_side), (self._side, in_side)):
            if rows.any():
                out[rows] = part.reconstruct_batch(np.ascontiguousarray(ids[rows]))
        return out

    def search(self, query: np.ndarray, k: int, *, allowed: Iterable[int] | DayFilter | None = None
               ) -> list[tuple[int, float]]:
        """Top-k (id, cosine) pairs; `allowed` (ids, or a DayFilter) restricts the search before
        the cut, not after. A filter becomes a bitmap over rows: no per-question id sets."""
        n = len(self)
        if n == 0 or k <= 0:
            return []
        ids = self.ids()
        if isinstance(allowed, DayFilter):
            rows = allowed.mask("dense", ids)
        elif allowed is not None:
            allowed = np.fromiter(allowed, dtype=np.int64) if not isinstance(allowed, np.ndarray) else allowed
            rows = np.isin(ids, allowed)
        else:
            rows = None
        if rows is not None and not rows.any():
            return []
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        main = int(self.index.ntotal)
        found = _search_rows(self.index, query, k, None if rows is None else rows[:main], ids[:main])
        if self._side is not None:  # the delta beside an HNSW graph: exact, merged by score
            found += _search_rows(self._side, query, k, None if rows is None else rows[main:], ids[main:])
            found = sorted(found, key=lambda pair: -pair[1])[:k]
        return found

    def clone(self) -> "VectorIndex":
        """A copy that later changes leave this one untouched (a writer's working copy)."""
        new = copy.copy(self)
        new.index = faiss.clone_index(self.index)
        new._side = faiss.clone_index(self._side) if self._side is not None else None
        new._ids = new._sorted = None
        new.__dict__.pop("_digests", None)
        new.__dict__["_digests"] = dict(self.__dict__.get("_digests", {}))
        return new

    def sync(self, store_ids: set[int], fetch_texts: Callable[[list[int]], list[str]],
             encode: Callable[[list[str]], np.ndarray], *, batch: int = 256,
             on_progress: Callable[[int, int], None] | None = None, save_every: int | None = None) -> SyncReport:
        """Hold exactly `store_ids`, embedding only the missing passages, saved once at the end (or
        every `save_every` added vectors). The service uses embeddings/sync.py, which also makes
        the sentence vectors from the same pass; this stays for callers that only need vectors."""
        have = self.ids()
        wanted = np.fromiter(store_ids, dtype=np.int64, count=len(store_ids))
        removed = self.remove(have[~np.isin(have, wanted)].tolist())
        missing = np.sort(wanted[~self.has(wanted)]).tolist()
        added = since_save = 0
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

    @property
    def delta_path(self) -> Path:
        return self.directory / DELTA_FILE

    def write_data(self) -> list[Path]:
        """The whole index when it lost rows or the rows added since its last full write pass
        DELTA_MAX; otherwise only those added rows (ids and vectors), appended on load. One new
        article into 100k passages then writes kilobytes, not 150 MB (and holds no copy of it)."""
        added = len(self) - self._written
        if self._whole_needed or added > DELTA_MAX or not self.index_path.exists():
            self._fold()
            _write_index(self.index, self.index_path)
            self._written, self._whole_needed = len(self), False
            added = 0
        ids = self.ids()[len(self) - added:]
        if not added:
            vectors = np.zeros((0, self.dim))
        elif self._side is not None:  # exactly the rows after `_written`
            vectors = self._side.index.reconstruct_n(0, added)
        else:
            vectors = self.index.index.reconstruct_n(len(self) - added, added)
        buf = io.BytesIO()
        np.savez(buf, ids=ids, vectors=np.asarray(vectors, dtype=np.float32))
        atomic_write_bytes(self.delta_path, buf.getvalue())
        return [self.index_path, self.delta_path]

    def read_data(self, manifest: StoredManifest) -> str | None:
        index = faiss.read_index(str(self.index_path))
        with np.load(self.delta_path, allow_pickle=False) as data:
            ids, vectors = data["ids"].astype(np.int64), data["vectors"].astype(np.float32)
        if index.d != self.dim or not isinstance(index, faiss.IndexIDMap2) \
                or index.ntotal + ids.size != manifest.count or vectors.shape != (ids.size, self.dim):
            return "the index file's contents do not match its manifest"
        self.index = index
        self._written, self._whole_needed = int(index.ntotal), False
        self._side = None
        if ids.size and is_hnsw(index):
            self._side = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
            self._side.add_with_ids(np.ascontiguousarray(vectors), ids)
        elif ids.size:
            index.add_with_ids(np.ascontiguousarray(vectors), ids)
        self._changed()
        return None

    def reset(self) -> None:
        self.index = _new_faiss_index(self.dim, self.index_type)
        self._written, self._whole_needed = 0, True
        self._side = None
        self._changed()


def _search_rows(index: faiss.IndexIDMap2, query: np.ndarray, k: int, rows: np.ndarray | None,
                 ids: np.ndarray) -> list[tuple[int, float]]:
    """Top-k (id, score) of one FAISS index whose rows are `ids`, kept to `rows` (a mask) if given."""
    n = int(index.ntotal)
    if n == 0 or (rows is not None and not rows.any()):
        return []
    sel = None
    if rows is not None:
        bitmap = np.packbits(rows, bitorder="little")
        sel = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
    scores, labels = index.index.search(query, min(k, n), params=_search_params(index, k, sel))
    return [(int(ids[r]), float(s)) for r, s in zip(labels[0], scores[0]) if r != -1]


def _write_index(index: faiss.Index, path: Path) -> None:
    """faiss writes the file itself (no in-memory copy of it), then fsync and rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

