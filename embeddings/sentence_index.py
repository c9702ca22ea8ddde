"""Sentence vectors for every passage, computed at ingest, so the best sentence costs no encoding.

The bot bolds the sentence of a passage that best answers the question. Encoding a dozen
sentences per question takes longer than the whole search, so each passage's sentences are
embedded once, when the passage is (from the same forward pass: embeddings/sync.py), and kept
beside the index as int8 codes with one float32 scale per sentence (a quarter of float32's
disk, half of float16's; the best sentence only needs a ranking, and answer-in-bold, MRR and
answered on the bundled eval and the held-out dev split are the same as with float16:
benchmarks/compare_quality.py). Segments written as float16 before are still read as they are.

Stored append-only: each save writes the vectors added since the last one as a new segment
file and rewrites only the small table (id -> segment, first row, count); segments are
memory-mapped, so a process holds only the pages its answers touch, and one new article into
a big store writes kilobytes, not the whole file. Rows of removed passages stay in their
segment until dead rows pass a third of the total, when everything is compacted into one.
Saved and loaded through embeddings/stored.py like the other parts.
"""
from __future__ import annotations

import copy
import io
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from embeddings.index import SyncReport
from embeddings.stored import StoredManifest, StoredPart, atomic_write_bytes

log = logging.getLogger(__name__)

SENTENCES_FILE = "sentences"  # a directory: table.npz and seg-NNNNNN.npy
MANIFEST_FILE = "sentences.json"
TABLE_FILE = "table.npz"
LEGACY_FILE = "sentences.npz"  # the one-file format before segments
COMPACT_SHARE = 1 / 3
SCALE_BYTES = 4  # an int8 segment row: the codes, then the row's float32 scale as four bytes


def quantise(m: np.ndarray) -> np.ndarray:
    """(rows, dim) floats -> (rows, dim + 4) int8: each row's codes (value / scale, rounded) and
    its scale (max |value| / 127) in the last four bytes, so a segment stays one array file."""
    m = np.asarray(m, dtype=np.float32)
    scale = np.abs(m).max(axis=1, initial=0.0) / 127.0
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint(m / scale[:, None]), -127, 127).astype(np.int8)
    return np.concatenate([codes, scale.astype("<f4").view(np.int8).reshape(-1, SCALE_BYTES)], axis=1)


def dequantise(block: np.ndarray) -> np.ndarray:
    """Rows of a segment as float32 vectors (a float16 segment, from before int8, as it is)."""
    if block.dtype != np.int8:
        return block
    scale = np.ascontiguousarray(block[:, -SCALE_BYTES:]).view("<f4").reshape(-1)
    out = block[:, :-SCALE_BYTES].astype(np.float32)
    out *= scale[:, None]  # in place: the same products, one array fewer
    return out


class SentenceIndex(StoredPart):
    """passage id -> (sentences, dim) matrix of normalised vectors."""

    LABEL = "the sentence vectors"
    FORMAT = "sentences-segments/v2"
    MANIFEST = MANIFEST_FILE

    def __init__(self, path: Path, *, model: str, embed_format: str):
        self.path = Path(path)
        self.directory = self.path.parent
        self.model = model
        self.embed_format = embed_format
        self.built_at: str | None = None
        self._ids = np.zeros(0, dtype=np.int64)  # sorted
        self._seg = np.zeros(0, dtype=np.int32)
        self._start = np.zeros(0, dtype=np.int64)
        self._count = np.zeros(0, dtype=np.int32)
        self._segments: dict[int, np.ndarray] = {}  # number -> (rows, dim + 4) int8 (`quantise`), mmap once saved
        self._unsaved: set[int] = set()

    def __len__(self) -> int:
        return int(self._ids.size)

    def ids(self) -> np.ndarray:
        return self._ids

    def _row(self, passage_id: int) -> int | None:
        n = int(np.searchsorted(self._ids, passage_id))
        return n if n < self._ids.size and self._ids[n] == passage_id else None

    def get(self, passage_id: int) -> np.ndarray | None:
        n = self._row(int(passage_id))
        if n is None:
            return None
        return self._unpack(self.raw(n))

    def raw(self, n: int) -> np.ndarray:
        """Table row `n`'s stored rows as kept in its segment (codes, not vectors)."""
        seg, start, count = int(self._seg[n]), int(self._start[n]), int(self._count[n])
        return self._segments[seg][start:start + count]

    def _pack(self, mats: list[np.ndarray]) -> list[np.ndarray]:
        """Each passage's float rows as stored (`quantise`); a subclass may code them otherwise."""
        return [quantise(m) for m in mats]

    def _unpack(self, block: np.ndarray) -> np.ndarray:
        return dequantise(block)

    def best_cosines(self, ids: Iterable[int], query: np.ndarray) -> np.ndarray:
        """Each passage's closest sentence's cosine to `query` (NaN for one without sentence vectors).
        One gather and one product for all the passages, not one per passage (a cosine may move by
        a float ulp against the per-passage product: the evals are the same)."""
        ids = np.asarray(ids if isinstance(ids, (list, np.ndarray)) else list(ids), dtype=np.int64)
        out = np.full(ids.size, np.nan, dtype=np.float32)
        if not self._ids.size or not ids.size:
            return out
        pos = np.minimum(np.searchsorted(self._ids, ids), self._ids.size - 1)
        found = np.flatnonzero((self._ids[pos] == ids) & (self._count[pos] > 0))
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        rows = pos[found]
        if not rows.size:
            return out
        counts = self._count[rows].astype(np.int64)
        segments = self._segments
        parts = [segments[g][a:a + n] for g, a, n in
                 zip(self._seg[rows].tolist(), self._start[rows].tolist(), counts.tolist())]
        if all(p.dtype == np.int8 for p in parts):
            block = dequantise(np.concatenate(parts))
        else:  # float16 segments from before int8 beside int8 ones
            block = np.concatenate([dequantise(p).astype(np.float32) for p in parts])
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])  # each passage's first row in the block
        out[found] = np.maximum.reduceat(block @ q, first)
        return out

    # -- changes -----------------------------------------------------------------------

    def add(self, vectors: dict[int, np.ndarray]) -> None:
        """Append these passages' sentence matrices as one new segment (replacing any they had)."""
        vectors = {int(k): v for k, v in vectors.items() if v is not None and v.size}
        if not vectors:
            return
        self.remove(vectors)
        ids = np.fromiter(sorted(vectors), dtype=np.int64, count=len(vectors))
        mats = self._pack([vectors[int(i)] for i in ids])
        counts = np.asarray([m.shape[0] for m in mats], dtype=np.int32)
        number = max(self._segments, default=0) + 1
        self._segments[number] = np.ascontiguousarray(np.concatenate(mats))
        self._unsaved.add(number)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._install(np.concatenate([self._ids, ids]), np.concatenate([self._seg, np.full(ids.size, number, np.int32)]),
                      np.concatenate([self._start, starts]), np.concatenate([self._count, counts]))

    def remove(self, ids: Iterable[int]) -> int:
        ids = np.fromiter((int(i) for i in ids), dtype=np.int64)
        drop = np.isin(self._ids, ids)
        if drop.any():
            keep = ~drop
            self._install(self._ids[keep], self._seg[keep], self._start[keep], self._count[keep])
        return int(drop.sum())

    def _install(self, ids, seg, start, count) -> None:
        """Replace the table whole (never mutated: a reader holding the old arrays stays right)."""
        order = np.argsort(ids, kind="stable")
        self._ids, self._seg, self._start, self._count = ids[order], seg[order], start[order], count[order]
        live = set(np.unique(self._seg).tolist())
        for number in [n for n in self._segments if n not in live]:
            del self._segments[number]
            self._unsaved.discard(number)

    def clone(self) -> "SentenceIndex":
        """A copy that later changes leave this one untouched: the table arrays are replaced, never
        changed, and saved segments are read-only, so only the dicts are copied."""
        new = copy.copy(self)
        new._segments, new._unsaved = dict(self._segments), set(self._unsaved)
        new.__dict__["_digests"] = dict(self.__dict__.get("_digests", {}))
        return new

    def dead_share(self) -> float:
        total = sum(m.shape[0] for m in self._segments.values())
        return 0.0 if not total else 1.0 - int(self._count.sum()) / total

    def compact(self) -> None:
        """Everything into one fresh segment (when removals left too many dead rows): the stored
        rows copied as they are, not decoded and coded again (a lossy code would drift)."""
        if not self._ids.size:
            self._install(self._ids, self._seg, self._start, self._count)
            return
        blocks = [self.raw(n) for n in range(self._ids.size)]
        if len({b.dtype for b in blocks}) > 1:  # float16 segments from before int8 beside int8 ones
            blocks = self._pack([self._unpack(b).astype(np.float32) for b in blocks])
        number = max(self._segments, default=0) + 1
        self._segments[number] = np.ascontiguousarray(np.concatenate(blocks))
        self._unsaved.add(number)
        counts = self._count.copy()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._install(self._ids.copy(), np.full(self._ids.size, number, np.int32), starts, counts)

    def sync(self, store_ids: set[int], fetch_texts: Callable[[list[int]], list[str]],
             split: Callable[[str], list[str]], encode: Callable[[list[str]], np.ndarray],
             *, batch: int = 128) -> SyncReport:
        """Embed the sentences of passages not yet here on their own (no passage pass to share),
        drop those gone from the store, save. Ingest uses embeddings/sync.py instead."""
        have = set(self._ids.tolist())
        stale = have - store_ids
        self.remove(stale)
        missing = sorted(store_ids - have)
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            per_passage = [split(t) or [t] for t in fetch_texts(chunk)]
            flat = [s for sents in per_passage for s in sents]
            vecs = encode(flat) if flat else np.zeros((0, 0), dtype=np.float32)
            pos, found = 0, {}
            for pid, sents in zip(chunk, per_passage):
                found[pid] = vecs[pos:pos + len(sents)]
                pos += len(sents)
            self.add(found)
        if stale or missing:
            self.save()
        return SyncReport(added=len(missing), removed=len(stale), rebuilt=False)

    # -- persistence (embeddings/stored.py: manifest, checksums, load never raises) ---------

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".json")

    def _segment_path(self, number: int) -> Path:
        return self.path / f"seg-{number:06d}.npy"

    def build_params(self) -> dict:
        return {"model": self.model, "embed_format": self.embed_format}

    def stored_ids(self) -> list[int]:
        return self._ids.tolist()

    def data_paths(self) -> list[Path]:
        return [self.path / TABLE_FILE]

    def write_data(self) -> list[Path]:
        """New segments (each once, never rewritten), then the table; unused segment files go."""
        if self.dead_share() > COMPACT_SHARE:
            self.compact()
        self.path.mkdir(parents=True, exist_ok=True)
        self._coalesce_unsaved()
        for number in sorted(self._unsaved):
            buf = io.BytesIO()
            np.save(buf, self._segments[number], allow_pickle=False)
            atomic_write_bytes(self._segment_path(number), buf.getvalue())
            self._segments[number] = self._open_segment(self._segment_path(number))
        self._unsaved.clear()
        buf = io.BytesIO()
        np.savez(buf, ids=self._ids, seg=self._seg, start=self._start, count=self._count)
        atomic_write_bytes(self.path / TABLE_FILE, buf.getvalue())
        live = {self._segment_path(n).name for n in self._segments}
        for old in self.path.glob("seg-*.npy"):
            if old.name not in live:
                old.unlink(missing_ok=True)
        legacy = self.directory / LEGACY_FILE
        if legacy.exists():
            legacy.unlink(missing_ok=True)
        return [self.path / TABLE_FILE, *(self._segment_path(n) for n in sorted(self._segments))]

    def _open_segment(self, path: Path):
        """A saved segment as the table's rows read it: memory-mapped (`_mapped`)."""
        return _mapped(path)

    def _coalesce_unsaved(self) -> None:
        """The segments added since the last save written as one file, not one per ingest batch: each
        memory-mapped segment holds a file descriptor, and a 100k first build made ~400 per part."""
        nums = sorted(self._unsaved)
        if len(nums) < 2 or len({(self._segments[n].dtype, self._segments[n].shape[1:]) for n in nums}) > 1:
            return
        firsts = np.cumsum([0] + [self._segments[n].shape[0] for n in nums[:-1]])
        seg, start = self._seg.copy(), self._start.copy()  # replaced, never changed: readers may hold them
        for n, first in zip(nums, firsts.tolist()):
            rows = seg == n
            start[rows] += first
            seg[rows] = nums[0]
        merged = np.concatenate([self._segments[n] for n in nums])
        for n in nums[1:]:
            del self._segments[n]
            self._unsaved.discard(n)
        self._segments[nums[0]] = merged
        self._seg, self._start = seg, start

    def read_data(self, manifest: StoredManifest) -> str | None:
        with np.load(self.path / TABLE_FILE, allow_pickle=False) as data:
            ids, seg, start, count = data["ids"], data["seg"], data["start"], data["count"]
        segments = {}
        for number in np.unique(seg).tolist():
            segments[int(number)] = self._open_segment(self._segment_path(int(number)))
        ends = start + count
        if ids.size and (int(ends.max(initial=0)) > max(m.shape[0] for m in segments.values())
                         or any(ends[seg == n].max() > m.shape[0] for n, m in segments.items())):
            return "the sentence vector table points past its segments"
        self._segments, self._unsaved = segments, set()
        self._install(ids.astype(np.int64), seg.astype(np.int32), start.astype(np.int64), count.astype(np.int32))
        return None


def _mapped(path: Path) -> np.ndarray:
    """A segment file memory-mapped read-only, as a plain array (its base keeps the map open): a
    slice of an np.memmap pays for the subclass's bookkeeping, a hundred times per question."""
    return np.load(path, mmap_mode="r").view(np.ndarray)
