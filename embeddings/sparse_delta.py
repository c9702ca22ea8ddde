"""The keyword index's delta: passages added (and main-index passages removed) since the last full build.

bm25s bakes each term's idf and the corpus's average length into its score matrix, so adding a
passage to it means rebuilding it (7 s at 100k passages). New passages go here instead, as
posting lists, scored with the same Lucene BM25 formula; removed ones become tombstones over
the main index. Scores stay comparable with a full rebuild: every term's idf is taken over the
live corpus (main minus tombstones plus delta) and the main index's baked idf is rescaled to it;
only the average length stays the main index's, a difference that fades as the delta is
merged (rebuilt in) past a size. tests/test_sparse.py checks the ranking equals a full rebuild.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

MERGE_MIN = 2_000  # a delta this big (or MERGE_SHARE of the main index) is merged by a full rebuild
MERGE_SHARE = 0.05


def lucene_idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Delta:
    """Immutable: each change makes a new one, so a search holding the old one stays whole."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tokens: tuple[tuple[str, ...], ...] = ()
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # main rows, sorted
    removed_df: dict[int, int] = field(default_factory=dict)  # main term id -> tombstoned docs having it
    postings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # term -> (rows, tf)
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def __len__(self) -> int:
        return int(self.ids.size)

    def df(self, term: str) -> int:
        hit = self.postings.get(term)
        return 0 if hit is None else int(hit[0].size)

    def with_added(self, ids: np.ndarray, tokens: list[list[str]]) -> "Delta":
        keep = ~np.isin(self.ids, ids)
        if not keep.all():  # a passage replaced: rebuild the postings (rare)
            all_ids = np.concatenate([self.ids[keep], ids])
            all_tokens = tuple(t for t, k in zip(self.tokens, keep) if k) + tuple(tuple(t) for t in tokens)
            return build_delta(all_ids, all_tokens, self.removed, self.removed_df)
        # Appending: only the new documents' terms change (their rows follow the old ones).
        new = build_delta(ids, tuple(tuple(t) for t in tokens), self.removed, self.removed_df)
        offset = len(self)
        postings = dict(self.postings)
        for term, (rows, tf) in new.postings.items():
            old = postings.get(term)
            postings[term] = (rows + offset, tf) if old is None else \
                (np.concatenate([old[0], rows + offset]), np.concatenate([old[1], tf]))
        return Delta(np.concatenate([self.ids, new.ids]), self.tokens + new.tokens, self.removed, self.removed_df,
                     postings, np.concatenate([self.lengths, new.lengths]))

    def without(self, ids: np.ndarray) -> "Delta":
        keep = ~np.isin(self.ids, ids)
        if keep.all():
            return self
        return build_delta(self.ids[keep], tuple(t for t, k in zip(self.tokens, keep) if k),
                           self.removed, self.removed_df)

    def with_tombstones(self, rows: np.ndarray, removed_df: dict[int, int]) -> "Delta":
        merged = dict(self.removed_df)
        for tid, n in removed_df.items():
            merged[tid] = merged.get(tid, 0) + n
        return build_delta(self.ids, self.tokens, np.union1d(self.removed, rows), merged)


def build_delta(ids: np.ndarray, tokens: tuple[tuple[str, ...], ...], removed: np.ndarray,
                removed_df: dict[int, int]) -> Delta:
    """Posting lists (term -> rows, term frequencies) and lengths for the delta's documents."""
    rows_of: dict[str, list[int]] = {}
    tf_of: dict[str, list[int]] = {}
    for row, toks in enumerate(tokens):
        for term, tf in Counter(toks).items():
            rows_of.setdefault(term, []).append(row)
            tf_of.setdefault(term, []).append(tf)
    postings = {t: (np.asarray(rows_of[t], dtype=np.int64), np.asarray(tf_of[t], dtype=np.float32)) for t in rows_of}
    lengths = np.asarray([len(t) for t in tokens], dtype=np.float32)
    return Delta(np.asarray(ids, dtype=np.int64), tokens, np.asarray(removed, dtype=np.int64),
                 removed_df, postings, lengths)


def tombstone_df(indices: np.ndarray, indptr: np.ndarray, rows: np.ndarray) -> dict[int, int]:
    """How many of the main index's `rows` contain each term, read from bm25s's CSC matrix
    (one column per term; `indices` are document rows)."""
    if rows.size == 0:
        return {}
    hits = np.flatnonzero(np.isin(indices, rows))
    terms = np.searchsorted(indptr, hits, side="right") - 1
    uniq, counts = np.unique(terms, return_counts=True)
    return {int(t): int(c) for t, c in zip(uniq, counts)}


def delta_scores(delta: Delta, term: str, idf: float, k1: float, b: float, avgdl: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the delta's documents for one term: Lucene BM25 (bm25s's formula)."""
    hit = delta.postings.get(term)
    if hit is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    rows, tf = hit
    tfc = tf / (k1 * ((1 - b) + b * delta.lengths[rows] / avgdl) + tf)
    return rows, (idf * tfc).astype(np.float32)


def needs_merge(delta: Delta, main_size: int) -> bool:
    limit = max(MERGE_MIN, int(MERGE_SHARE * main_size))
    return len(delta) > limit or delta.removed.size > limit
