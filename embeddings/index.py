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
DELTA_FILE = "index-delta.npz"  # the delta index's ids and vectors, and the main index's tombstones
DELTA_MAX = 5_000  # vectors in the delta before it is merged into a flat main index
# Over an HNSW main index the delta costs more than its size says: every question scans all of it,
# where the graph visits a few thousand rows, and the scan pushes the question model out of the
# CPU cache. At 100k passages (benchmarks/bench_scale.py's child, 400 questions, 2 cores) `ask`
# p50 was 4.0-4.4 ms with an empty delta, 4.45 with 500 rows, 4.7 with 1,500 and 5.2 with 3,753,
# while a merge of 1,000 rows into a copy of that graph takes 0.3 s. So a graph's delta stays
# small, and a bulk job (BULK_SETTLE rows or more) leaves none behind (`settle`).
DELTA_MAX_GRAPH = 1_000
BULK_SETTLE = 500
TOMBSTONE_SHARE = 0.05  # tombstones past this share of the main index (and DELTA_MAX) are merged out
OVERFETCH_MAX = 64  # up to this many tombstones are skipped by fetching k + their number, no bitmap
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
    """Dense passage vectors by id; cosine scores since vectors are normalised.

    Two FAISS indexes: the main one, never changed once a snapshot shares it, and a small flat
    delta that takes new vectors; removed main rows are tombstones (ids), hidden at search time.
    A writer's clone shares the main index and copies only the delta, so one new article into
    100k passages copies kilobytes, not the whole index. The delta and tombstones are merged into
    a main index past a size (`_maybe_merge`): in place when this part owns its main index, else
    into a copy of it (readers keep the old one).
    """

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
        self.built_at: str | None = None
        self._reset_parts(_new_faiss_index(dim, index_type))

    def _reset_parts(self, main: faiss.Index, *, dead: np.ndarray | None = None) -> None:
        self.index = main  # the main index: changed in place only while `_owns_main`
        self._owns_main = True  # False once a clone shares it
        self._main_dirty = True  # not yet written to index.faiss
        self._main_ids: np.ndarray | None = None  # main row -> passage id
        self._main_by_id: np.ndarray | None = None  # the same ids sorted (the main index changes only here)
        self._delta = _new_faiss_index(self.dim, "flat")
        self._dead = np.zeros(0, dtype=np.int64) if dead is None else dead  # tombstoned main ids, sorted
        self._changed()

    # -- contents ----------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.index.ntotal) - int(self._dead.size) + int(self._delta.ntotal)

    def main_ids(self) -> np.ndarray:
        """Passage ids of the main index's rows, tombstoned ones included (shared by clones)."""
        if self._main_ids is None:
            self._main_ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        return self._main_ids

    def _main_sorted(self) -> np.ndarray:
        if self._main_by_id is None:
            self._main_by_id = np.sort(self.main_ids())
        return self._main_by_id

    def delta_ids(self) -> np.ndarray:
        if self._delta_ids is None:
            self._delta_ids = faiss.vector_to_array(self._delta.id_map).astype(np.int64)
        return self._delta_ids

    def _delta_sorted(self) -> np.ndarray:
        """The delta's ids sorted (kept until the next change: each question looks vectors up twice)."""
        if self._delta_by_id is None:
            self._delta_by_id = np.sort(self.delta_ids())
        return self._delta_by_id

    def _main_live(self) -> np.ndarray | None:
        """Which main rows are not tombstoned (None: all are)."""
        if self._dead.size == 0:
            return None
        if self._live is None:
            self._live = ~_member(self.main_ids(), self._dead)
        return self._live

    def ids(self) -> np.ndarray:
        """Live passage ids (one array object until the next change: filters cache by it)."""
        if self._ids is None:
            live = self._main_live()
            main = self.main_ids() if live is None else self.main_ids()[live]
            self._ids = np.concatenate([main, self.delta_ids()])
        return self._ids

    def has(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are in the index (a sorted copy of the ids, kept until the next change)."""
        if self._sorted is None:
            self._sorted = np.sort(self.ids())
        return _member(np.asarray(ids, dtype=np.int64), self._sorted)

    def _changed(self) -> None:
        self._ids = self._sorted = self._delta_ids = self._delta_by_id = self._live = None

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        """Into the delta (an id already held is replaced); merged into the main index past a size."""
        if not len(ids):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if vectors.shape != (ids.size, self.dim):
            raise ValueError(f"expected {(ids.size, self.dim)} vectors, got {vectors.shape}")
        self.remove(ids, merge=False)
        self._delta.add_with_ids(vectors, ids)
        self._changed()
        self._maybe_merge()

    def remove(self, ids: Iterable[int], *, merge: bool = True) -> int:
        """Delta rows are dropped (the delta is small); main rows become tombstones."""
        ids = np.unique(np.fromiter((int(i) for i in ids), dtype=np.int64))
        if ids.size == 0 or not self.has(ids).any():
            return 0
        in_delta = ids[_member(ids, self._delta_sorted())]
        removed = int(self._delta.remove_ids(in_delta)) if in_delta.size else 0
        in_main = ids[_member(ids, self._main_sorted())]
        fresh = np.setdiff1d(in_main, self._dead)
        if fresh.size:
            self._dead = np.union1d(self._dead, fresh)
            removed += int(fresh.size)
        self._changed()
        if merge:
            self._maybe_merge()
        return removed

    # -- merging the delta and tombstones into the main index ---------------------------------

    def _wants_hnsw(self) -> bool:
        return self.index_type.startswith("hnsw") or (self.index_type == "auto" and len(self) > self.hnsw_threshold)

    def _maybe_merge(self) -> None:
        dead_limit = max(DELTA_MAX, int(TOMBSTONE_SHARE * self.index.ntotal))
        delta_limit = DELTA_MAX_GRAPH if is_hnsw(self.index) else DELTA_MAX
        if (self._delta.ntotal > delta_limit or self._dead.size > dead_limit
                or (self._wants_hnsw() and not is_hnsw(self.index))):
            self.merge()

    def settle(self) -> None:
        """After a bulk job: fold a graph's delta in (see DELTA_MAX_GRAPH). A flat main index
        gains nothing from it, both parts being scanned whole."""
        if self._delta.ntotal and is_hnsw(self.index):
            self.merge()

    def merge(self) -> None:
        """Fold the delta (and tombstones, where cheap) into a main index this part owns. Flat:
        rows removed and added in place. HNSW cannot delete: its tombstones stay until they pass
        TOMBSTONE_SHARE of it, then the graph is rebuilt from the live vectors (as when a flat
        index crosses `hnsw_threshold`)."""
        hnsw = is_hnsw(self.index)
        rebuild = (self._wants_hnsw() and not hnsw) or \
            (hnsw and self._dead.size > TOMBSTONE_SHARE * max(self.index.ntotal, 1))
        if rebuild:
            self._rebuild_main(f"hnsw{HNSW_M}" if self._wants_hnsw() else self.index_type)
            return
        if not self._delta.ntotal and (hnsw or not self._dead.size):
            return
        main = self.index if self._owns_main else faiss.clone_index(self.index)
        dead = self._dead
        if not hnsw and dead.size:
            main.remove_ids(dead)
            dead = np.zeros(0, dtype=np.int64)
        if self._delta.ntotal:
            main.add_with_ids(self._delta_vectors(), self.delta_ids())
        log.info("merged %d new vectors into the main index (%d held)", self._delta.ntotal, main.ntotal)
        self._reset_parts(main, dead=dead)

    def _rebuild_main(self, index_type: str) -> None:
        """Every live vector into a new main index of `index_type` (crossing the size threshold)."""
        ids = self.ids()
        vectors = self.vectors(ids.tolist())
        log.info("moving %d vectors into a %s index", ids.size, index_type)
        index = _new_faiss_index(self.dim, index_type)
        if ids.size:
            index.add_with_ids(np.ascontiguousarray(vectors), ids)
        self._reset_parts(index)

    def _delta_vectors(self) -> np.ndarray:
        n = int(self._delta.ntotal)
        return self._delta.index.reconstruct_n(0, n) if n else np.zeros((0, self.dim), dtype=np.float32)

    def vectors(self, ids: list[int]) -> np.ndarray:
        """Stored vectors for these ids (the digest clusters them without re-encoding)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((ids.size, self.dim), dtype=np.float32)
        if not ids.size:
            return out
        in_delta = _member(ids, self._delta_sorted())
        if in_delta.any():
            out[in_delta] = self._delta.reconstruct_batch(ids[in_delta])
        if not in_delta.all():
            out[~in_delta] = self.index.reconstruct_batch(ids[~in_delta])
        return out

    # -- search --------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, *, allowed: Iterable[int] | DayFilter | None = None
               ) -> list[tuple[int, float]]:
        """Top-k (id, cosine) pairs over the main index and the delta, merged by score; `allowed`
        (ids, or a DayFilter) restricts the search before the cut, not after. A filter becomes a
        bitmap over each part's rows: no per-question id sets."""
        if len(self) == 0 or k <= 0:
            return []
        if allowed is not None and not isinstance(allowed, (DayFilter, np.ndarray)):
            allowed = np.fromiter(allowed, dtype=np.int64)
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        hits = _search_part(self.index, self.main_ids(), "dense", query, k, allowed, self._dead, self._main_live())
        if self._delta.ntotal:
            hits += _search_part(self._delta, self.delta_ids(), "dense-delta", query, k, allowed, None, None)
            hits.sort(key=lambda h: -h[1])
        return hits[:k]

    def clone(self) -> "VectorIndex":
        """A copy that later changes leave this one untouched (a writer's working copy): the main
        index is shared (neither side changes it in place from now on), the small delta copied."""
        new = copy.copy(self)
        self._owns_main = new._owns_main = False
        new._delta = faiss.clone_index(self._delta)
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

    @property
    def delta_path(self) -> Path:
        return self.directory / DELTA_FILE

    def build_params(self) -> dict:
        return {"model": self.model, "dim": self.dim, "index_type": self.index_type, "embed_format": self.embed_format}

    def stored_ids(self) -> list[int]:
        return self.ids().tolist()

    def data_paths(self) -> list[Path]:
        return [self.index_path]

    def write_data(self) -> list[Path]:
        """index.faiss only when the main index changed (a merge), then the delta file: the
        delta's ids and vectors and the tombstones. One new article into 100k passages then
        writes kilobytes, not 150 MB (and holds no copy of it)."""
        if self._main_dirty or not self.index_path.exists():
            _write_index(self.index, self.index_path)
            self._main_dirty = False
        buf = io.BytesIO()
        np.savez(buf, ids=self.delta_ids(), vectors=self._delta_vectors(), removed=self._dead)
        atomic_write_bytes(self.delta_path, buf.getvalue())
        return [self.index_path, self.delta_path]

    def read_data(self, manifest: StoredManifest) -> str | None:
        index = faiss.read_index(str(self.index_path))
        with np.load(self.delta_path, allow_pickle=False) as data:
            ids, vectors = data["ids"].astype(np.int64), data["vectors"].astype(np.float32)
            dead = np.unique(data["removed"].astype(np.int64)) if "removed" in data.files else np.zeros(0, np.int64)
        if index.d != self.dim or not isinstance(index, faiss.IndexIDMap2) \
                or index.ntotal - dead.size + ids.size != manifest.count or vectors.shape != (ids.size, self.dim):
            return "the index file's contents do not match its manifest"
        self._reset_parts(index, dead=dead)
        self._main_dirty = False
        if ids.size:
            self._delta.add_with_ids(np.ascontiguousarray(vectors), ids)
        self._changed()
        return None

    def reset(self) -> None:
        self._reset_parts(_new_faiss_index(self.dim, self.index_type))


def _member(values: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Which of `values` are in the sorted array `sorted_ids`."""
    if sorted_ids.size == 0:
        return np.zeros(values.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ids, values), sorted_ids.size - 1)
    return sorted_ids[pos] == values


def _allowed_rows(allowed, key: str, ids: np.ndarray) -> np.ndarray | None:
    if allowed is None:
        return None
    if isinstance(allowed, DayFilter):
        return allowed.mask(key, ids)
    return np.isin(ids, allowed)


def _search_part(index: faiss.Index, ids: np.ndarray, key: str, query: np.ndarray, k: int, allowed,
                 dead: np.ndarray | None, live: np.ndarray | None) -> list[tuple[int, float]]:
    """One FAISS index's top-k within `allowed`, tombstoned rows hidden: a few tombstones by
    over-fetching past them (the unfiltered search stays on its fast path), more by the bitmap."""
    n = int(index.ntotal)
    if n == 0:
        return []
    rows = _allowed_rows(allowed, key, ids)
    fetch = k
    if live is not None:
        if rows is None and dead.size <= OVERFETCH_MAX:
            fetch = k + int(dead.size)
        else:
            rows = live if rows is None else rows & live
    sel = None
    if rows is not None:
        if not rows.any():
            return []
        bitmap = np.packbits(rows, bitorder="little")
        sel = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
    scores, labels = index.index.search(query, min(fetch, n), params=_search_params(index, fetch, sel))
    hits = [(int(ids[r]), float(s)) for r, s in zip(labels[0], scores[0]) if r != -1]
    if fetch > k:
        gone = set(dead.tolist())
        hits = [h for h in hits if h[0] not in gone]
    return hits[:k]


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
