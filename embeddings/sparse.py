"""BM25 keyword index (bm25s) over the same passages as the FAISS index, keyed by passage id.

Dense MiniLM vectors miss exact names, numbers and dates; BM25 catches them. Like the
vector index this is a cache of the store: `sync` makes it hold exactly the store's
passages. BM25's document frequencies depend on every passage, so any change rebuilds the
whole matrix; that takes well under a second for tens of thousands of passages, so it is
simpler and safer than patching it. Saved beside the FAISS index through embeddings/stored.py.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from corpus.text import normalize_text
from embeddings.index import SyncReport
from embeddings.lru import LruMap
from embeddings.query import STOPWORDS
from embeddings.sparse_delta import Delta, delta_scores, lucene_idf, needs_merge, tombstone_df
from embeddings.stored import StoredManifest, StoredPart, atomic_write_bytes

log = logging.getLogger(__name__)

SPARSE_DIR = "sparse"
MANIFEST_FILE = "sparse.json"
IDS_FILE = "ids.npy"
LENGTHS_FILE = "lengths.npy"
DELTA_FILE = "sparse.delta"  # JSON: ids, tokens and tombstones since the last full build
TOKENIZER = "en-snowball+cjk-unigram/v2"  # bump when `tokenize` changes: old indexes are rebuilt
# Re-scored main-index columns kept for questions, counted in float32 values (8 MB): members ask
# about the same companies again and again, and re-scoring a common name's column (tens of
# thousands of rows at 100k passages) was half of a BM25 query.
COLUMN_CACHE_VALUES = 2_000_000

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|\d+(?:[.,]\d+)*|[a-z0-9]+")
_DOTTED_RE = re.compile(r"\b(?:[a-z]\.){2,}")  # U.S. -> usa, U.K. -> uk, e.g. -> eg
_STEMMER = Stemmer.Stemmer("english")
_STEM_LOCK = threading.Lock()  # PyStemmer objects are not thread-safe; Discord calls from threads


def _undot(m: re.Match) -> str:
    word = m.group().replace(".", "")
    return "usa" if word == "us" else word


def words(text: str) -> list[str]:
    """Lower-cased words before stemming: U.S. is 'usa', 5,000 is '5000', each CJK character a word."""
    low = normalize_text(text).lower()
    if low.count(".") > 1:  # _DOTTED_RE needs two dots: most sentences have only their last
        low = _DOTTED_RE.sub(_undot, low)
    return [tok.replace(",", "") if tok[0].isdigit() else tok for tok in _TOKEN_RE.findall(low)
            if tok[0].isdigit() or not ((len(tok) < 2 and tok.isascii()) or tok in STOPWORDS)]


def tokenize(text: str) -> list[str]:
    """The terms BM25 indexes and searches: `words`, stemmed (Snowball English)."""
    ws = words(text)
    with _STEM_LOCK:
        return _STEMMER.stemWords(ws)


def query_terms(phrases: Iterable[tuple[str, float]]) -> tuple[dict[str, float], set[str]]:
    """Weighted terms from (text, weight) phrases, and the terms of the question itself.

    A term keeps its largest weight; the question's own terms (the first phrase, weight 1)
    decide how much of the question a passage covers.
    """
    terms: dict[str, float] = {}
    own: set[str] = set()
    for n, (text, weight) in enumerate(phrases):
        for t in tokenize(text):
            terms[t] = max(terms.get(t, 0.0), weight)
            if n == 0:
                own.add(t)
    return terms, own


class SparseIndex(StoredPart):
    """BM25 over passages; scores come back as one array aligned with `ids`.

    A full build (bm25s) plus a delta of later changes (embeddings/sparse_delta.py), merged
    back by a full build past a size: a new article costs its own tokenisation, not the corpus's.
    """

    LABEL = "the keyword index"
    FORMAT = "bm25s-dir+delta/v2"
    MANIFEST = MANIFEST_FILE

    def __init__(self, directory: Path, *, k1: float = 1.2, b: float = 0.75):
        self.directory = Path(directory)
        self.k1 = k1
        self.b = b
        self.model: bm25s.BM25 | None = None
        self.built_at: str | None = None
        self._main_ids = np.zeros(0, dtype=np.int64)  # rows of the bm25s model
        self._lengths = np.zeros(0, dtype=np.int32)  # main documents' token counts
        self._df = np.zeros(0, dtype=np.int64)  # main term id -> documents having it (at build)
        self._delta = Delta()
        self._main_dirty = True
        self._refresh()

    def __len__(self) -> int:
        return int(self.ids.size)

    # -- building ----------------------------------------------------------------------

    def build(self, ids: list[int], texts: list[str]) -> None:
        """Index `texts` under `ids` from scratch (delta merged in), replacing (never mutating)
        what was there, so a snapshot taken before stays whole."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        tokens = [tokenize(t) or [""] for t in texts]
        model = None
        if ids:
            model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            # An empty document (all stopwords) still needs a token for bm25s; "" never matches a query.
            model.index(tokens, show_progress=False)
        self._install(np.asarray(ids, dtype=np.int64), model, np.asarray([len(t) for t in tokens], dtype=np.int32))

    def _install(self, ids: np.ndarray, model: bm25s.BM25 | None, lengths: np.ndarray) -> None:
        # bm25s stores one CSC column per term: its length is the term's document frequency.
        df = (np.diff(np.asarray(model.scores["indptr"])).astype(np.int64) if model is not None
              else np.zeros(0, dtype=np.int64))
        self._main_ids, self.model, self._lengths, self._df = ids, model, lengths, df
        self._delta = Delta()
        self._main_dirty = True
        self._refresh()

    def _refresh(self) -> None:
        """The live ids (main rows not tombstoned, then the delta's) and a sorted lookup, replaced whole."""
        removed = self._delta.removed
        self._live = None if removed.size == 0 else np.setdiff1d(np.arange(self._main_ids.size), removed)
        main = self._main_ids if self._live is None else self._main_ids[self._live]
        self.ids = np.concatenate([main, self._delta.ids])
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted = self.ids[self._order]
        n_main = max(int(self._main_ids.size), 1)
        self._avgdl_main = float(self._lengths.sum()) / n_main if self._lengths.size else 1.0
        live_len = float(self._lengths.sum()) - float(self._lengths[removed].sum()) + float(self._delta.lengths.sum())
        self._avgdl = live_len / self.ids.size if self.ids.size else 1.0
        # Columns as scored for this state only: a new map, never cleared, so a snapshot keeps its own.
        self._columns: LruMap[int, tuple[np.ndarray, np.ndarray]] = LruMap(COLUMN_CACHE_VALUES, _column_size)

    def clone(self) -> "SparseIndex":
        """A writer's working copy: the model and the delta are replaced whole on change, never
        mutated, so a shallow copy is enough."""
        new = copy.copy(self)
        new.__dict__["_digests"] = dict(self.__dict__.get("_digests", {}))
        return new

    def snapshot(self) -> "SparseIndex":
        """A view that a later `sync` cannot change under a running search (take it under the writers' lock)."""
        return copy.copy(self)

    def apply(self, added: list[int], texts: list[str], removed: Iterable[int],
              fetch_all: Callable[[list[int]], list[str]] | None = None) -> bool:
        """Passages added (with their texts) and removed, into the delta; merged by a full build
        (texts from `fetch_all`) once the delta passes its size. True if it merged."""
        removed = np.fromiter((int(i) for i in removed), dtype=np.int64)
        added_ids = np.asarray(added, dtype=np.int64)
        gone = np.concatenate([removed, added_ids])  # a re-added id replaces its old row
        delta = self._delta.without(gone)
        rows = np.flatnonzero(np.isin(self._main_ids, gone))
        rows = np.setdiff1d(rows, delta.removed)
        if rows.size and self.model is not None:
            sc = self.model.scores
            delta = delta.with_tombstones(rows, tombstone_df(np.asarray(sc["indices"]), np.asarray(sc["indptr"]), rows))
        if added_ids.size:
            delta = delta.with_added(added_ids, [tokenize(t) or [""] for t in texts])
        self._delta = delta
        self._refresh()
        if fetch_all is not None and (self.model is None or needs_merge(delta, int(self._main_ids.size))):
            ids = sorted(self.ids.tolist())
            self.build(ids, fetch_all(ids))
            return True
        return False

    def sync(self, store_ids: set[int], fetch_texts: Callable[[list[int]], list[str]]) -> SyncReport:
        """Hold exactly `store_ids` (a full comparison, at load): differences go through the delta."""
        have = set(self.ids.tolist())
        if have == store_ids and (self.model is not None or not store_ids):
            return SyncReport(added=0, removed=0, rebuilt=False)
        added, removed = sorted(store_ids - have), have - store_ids
        if self.model is None and not len(self._delta):
            self.build(sorted(store_ids), fetch_texts(sorted(store_ids)) if store_ids else [])
            merged = True
        else:
            merged = self.apply(added, fetch_texts(added) if added else [], removed, fetch_texts)
        self.save()
        return SyncReport(added=len(added), removed=len(removed), rebuilt=merged)

    # -- scoring -----------------------------------------------------------------------

    def _main_column(self, tid: int, idf: float) -> tuple[np.ndarray, np.ndarray]:
        """One term's main-index scores re-scored for the live corpus: bm25s baked in the idf and
        average length of its build, so each stored score is turned back into the term frequency
        (exact: an integer) and scored again with today's idf and average length, the numbers a
        full rebuild would give."""
        sc = self.model.scores
        lo, hi = int(sc["indptr"][tid]), int(sc["indptr"][tid + 1])
        rows = sc["indices"][lo:hi]  # a view: a cached column holds only its values
        x = np.asarray(sc["data"][lo:hi], dtype=np.float64) / lucene_idf(int(self._main_ids.size), self._main_df(tid))
        dl = self._lengths[rows].astype(np.float64)
        k1, b = self.k1, self.b
        tf = np.rint(k1 * (1 - b + b * dl / self._avgdl_main) * x / np.maximum(1 - x, 1e-9))
        vals = (idf * tf / (k1 * (1 - b + b * dl / self._avgdl) + tf)).astype(np.float32)
        vals.setflags(write=False)  # shared through the column cache
        return rows, vals

    def _term_id(self, term: str) -> int | None:
        return None if self.model is None else self.model.vocab_dict.get(term)

    def knows(self, word: str) -> bool:
        """True if the corpus has this (unstemmed) word: typo correction leaves it alone."""
        terms = tokenize(word)
        return bool(terms) and all(self._term_id(t) is not None or t in self._delta.postings for t in terms)

    def _main_df(self, tid: int | None) -> int:
        return int(self._df[tid]) if tid is not None and tid < self._df.size else 0

    def idf(self, term: str) -> float:
        """Lucene BM25 idf over the live corpus; a term no passage has gets the largest idf."""
        tid = self._term_id(term)
        df = self._main_df(tid) - self._delta.removed_df.get(tid, 0) + self._delta.df(term)
        return lucene_idf(len(self), max(df, 0))

    def scores(self, terms: Mapping[str, float]) -> np.ndarray:
        """Weighted BM25 score of every passage (aligned with `ids`): the main index's columns with
        their idf rescaled to the live corpus's, tombstones dropped, the delta's scored alike."""
        n_main = int(self._main_ids.size)
        main = np.zeros(n_main, dtype=np.float32)
        extra = np.zeros(len(self._delta), dtype=np.float32)
        if self.model is None and not len(self._delta):
            return np.zeros(len(self), dtype=np.float32)
        for term, weight in terms.items():
            if weight <= 0 or term == "":
                continue
            idf = self.idf(term)
            tid = self._term_id(term)
            if tid is not None:
                rows, vals = self._columns.get_many([tid], lambda _, t=tid, f=idf: {t: self._main_column(t, f)})[tid]
                np.add.at(main, rows, np.float32(weight) * vals)  # rows are distinct: as `main[rows] +=`, faster
            rows, vals = delta_scores(self._delta, term, idf, self.k1, self.b, self._avgdl)
            extra[rows] += np.float32(weight) * vals
        if self._live is not None:
            main = main[self._live]
        return np.concatenate([main, extra])

    def coverage(self, scores: np.ndarray, terms: Mapping[str, float], own: set[str]) -> np.ndarray:
        """Scores over the best any passage could get for the question's own terms, in [0, 1].

        A lucene BM25 term scores at most its idf, so the question's summed idf bounds what
        a passage can score. Terms the corpus lacks count at full idf: a question about
        "banana bread" covers nothing, however well "bread" alone might match.
        """
        ideal = sum(terms.get(t, 1.0) * self.idf(t) for t in own)
        if ideal <= 0:
            return np.zeros_like(scores)
        return np.clip(scores / ideal, 0.0, 1.0)

    def row_array(self, ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of `ids` in the score arrays, and which ids have one (where not, the row means nothing)."""
        ids = np.asarray(ids if isinstance(ids, (list, np.ndarray)) else list(ids), dtype=np.int64)
        if self._sorted.size == 0:
            return np.zeros(ids.size, dtype=np.int64), np.zeros(ids.size, dtype=bool)
        pos = np.minimum(np.searchsorted(self._sorted, ids), self._sorted.size - 1)
        return self._order[pos], self._sorted[pos] == ids

    # -- persistence (embeddings/stored.py: manifest, checksums, load never raises) ---------

    @property
    def model_dir(self) -> Path:
        return self.directory / SPARSE_DIR

    def build_params(self) -> dict:
        return {"tokenizer": TOKENIZER, "k1": self.k1, "b": self.b}

    def stored_ids(self) -> list[int]:
        return self.ids.tolist()

    def data_paths(self) -> list[Path]:
        return [self.model_dir, self.delta_path]

    @property
    def delta_path(self) -> Path:
        return self.directory / DELTA_FILE

    def write_data(self) -> list[Path]:
        """The main model only when it was rebuilt (to a fresh directory, swapped in whole), the
        delta every time; the manifest (written after) checks each file."""
        if self._main_dirty or not self.model_dir.exists():
            self._write_main()
            self._main_dirty = False
        d = self._delta
        payload = {"ids": d.ids.tolist(), "tokens": [list(t) for t in d.tokens],
                   "removed": self._main_ids[d.removed].tolist()}
        atomic_write_bytes(self.delta_path, json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        return sorted(p for p in self.model_dir.iterdir() if p.is_file()) + [self.delta_path]

    def _write_main(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{SPARSE_DIR}.", dir=self.directory))
        try:
            np.save(tmp / IDS_FILE, self._main_ids, allow_pickle=False)
            np.save(tmp / LENGTHS_FILE, self._lengths, allow_pickle=False)
            if self.model is not None:
                self.model.save(str(tmp), show_progress=False)
            old = None
            if self.model_dir.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{SPARSE_DIR}.old.", dir=self.directory))
                os.replace(self.model_dir, old / SPARSE_DIR)
            os.replace(tmp, self.model_dir)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def read_data(self, manifest: StoredManifest) -> str | None:
        ids = np.load(self.model_dir / IDS_FILE, allow_pickle=False).astype(np.int64)
        lengths = np.load(self.model_dir / LENGTHS_FILE, allow_pickle=False).astype(np.int32)
        model = None
        if ids.size:
            model = bm25s.BM25.load(str(self.model_dir), show_progress=False, verbosity=0)
            if int(model.scores["num_docs"]) != ids.size or lengths.size != ids.size:
                return "the keyword index files do not match their manifest"
        delta = json.loads(self.delta_path.read_text("utf-8"))
        self._install(ids, model, lengths)
        self._main_dirty = False
        removed = np.flatnonzero(np.isin(ids, np.asarray(delta["removed"], dtype=np.int64)))
        if removed.size and model is not None:
            sc = model.scores
            self._delta = Delta().with_tombstones(
                removed, tombstone_df(np.asarray(sc["indices"]), np.asarray(sc["indptr"]), removed))
        if delta["ids"]:
            self._delta = self._delta.with_added(np.asarray(delta["ids"], dtype=np.int64), delta["tokens"])
        self._refresh()
        return None


def _column_size(column: tuple[np.ndarray, np.ndarray]) -> int:
    return int(column[1].size)
