"""BM25 keyword index (bm25s) over the same passages as the FAISS index, keyed by passage id.

Dense MiniLM vectors miss exact names, numbers and dates; BM25 catches them. Like the
vector index this is a cache of the store: `sync` makes it hold exactly the store's
passages. BM25's document frequencies depend on every passage, so any change rebuilds the
whole matrix; that takes well under a second for tens of thousands of passages, so it is
simpler and safer than patching it. Saved beside the FAISS index through embeddings/stored.py.
"""
from __future__ import annotations

import copy
import logging
import math
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
from embeddings.query import STOPWORDS
from embeddings.stored import StoredManifest, StoredPart

log = logging.getLogger(__name__)

SPARSE_DIR = "sparse"
MANIFEST_FILE = "sparse.json"
IDS_FILE = "ids.npy"
TOKENIZER = "en-snowball+cjk-unigram/v2"  # bump when `tokenize` changes: old indexes are rebuilt

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
    low = _DOTTED_RE.sub(_undot, normalize_text(text).lower())
    out = []
    for tok in _TOKEN_RE.findall(low):
        if tok[0].isdigit():
            tok = tok.replace(",", "")
        elif (len(tok) < 2 and tok.isascii()) or tok in STOPWORDS:
            continue
        out.append(tok)
    return out


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
    """BM25 over passages; scores come back as one array aligned with `ids`."""

    LABEL = "the keyword index"
    FORMAT = "bm25s-dir/v1"
    MANIFEST = MANIFEST_FILE

    def __init__(self, directory: Path, *, k1: float = 1.2, b: float = 0.75):
        self.directory = Path(directory)
        self.k1 = k1
        self.b = b
        self.ids = np.zeros(0, dtype=np.int64)
        self.model: bm25s.BM25 | None = None
        self.built_at: str | None = None
        self._row: dict[int, int] = {}
        self._df = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.ids.size)

    # -- building ----------------------------------------------------------------------

    def build(self, ids: list[int], texts: list[str]) -> None:
        """Index `texts` under `ids`, replacing (never mutating) what was there, so a snapshot
        taken before stays whole."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        model = None
        if ids:
            model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            # An empty document (all stopwords) still needs a token for bm25s; "" never matches a query.
            model.index([tokenize(t) or [""] for t in texts], show_progress=False)
        self._install(np.asarray(ids, dtype=np.int64), model)

    def _install(self, ids: np.ndarray, model: bm25s.BM25 | None) -> None:
        row = {int(i): n for n, i in enumerate(ids.tolist())}
        # bm25s stores one CSC column per term: its length is the term's document frequency.
        df = (np.diff(np.asarray(model.scores["indptr"])).astype(np.int64) if model is not None
              else np.zeros(0, dtype=np.int64))
        self.ids, self.model, self._row, self._df = ids, model, row, df

    def snapshot(self) -> "SparseIndex":
        """A view that a later `sync` cannot change under a running search (take it under the writers' lock)."""
        return copy.copy(self)

    def sync(self, store_ids: set[int], fetch_texts: Callable[[list[int]], list[str]]) -> SyncReport:
        """Hold exactly `store_ids`: rebuild from the store's texts when they differ, then save."""
        have = set(self.ids.tolist())
        if have == store_ids and (self.model is not None or not store_ids):
            return SyncReport(added=0, removed=0, rebuilt=False)
        ids = sorted(store_ids)
        texts = fetch_texts(ids) if ids else []
        self.build(ids, texts)
        self.save()
        return SyncReport(added=len(store_ids - have), removed=len(have - store_ids), rebuilt=True)

    # -- scoring -----------------------------------------------------------------------

    def _term_id(self, term: str) -> int | None:
        return None if self.model is None else self.model.vocab_dict.get(term)

    def knows(self, word: str) -> bool:
        """True if the corpus has this (unstemmed) word: typo correction leaves it alone."""
        terms = tokenize(word)
        return bool(terms) and all(self._term_id(t) is not None for t in terms)

    def idf(self, term: str) -> float:
        """Lucene BM25 idf; a term no passage has gets the largest idf (it is the most telling)."""
        n = len(self)
        tid = self._term_id(term)
        df = int(self._df[tid]) if tid is not None and tid < self._df.size else 0
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def scores(self, terms: Mapping[str, float]) -> np.ndarray:
        """Weighted BM25 score of every passage (aligned with `ids`)."""
        out = np.zeros(len(self), dtype=np.float32)
        if self.model is None:
            return out
        for term, weight in terms.items():
            tid = self._term_id(term)
            if tid is None or weight <= 0 or term == "":
                continue
            out += np.float32(weight) * self.model.get_scores_from_ids([tid])
        return out

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

    def rows(self, ids: Iterable[int]) -> list[int | None]:
        return [self._row.get(int(i)) for i in ids]

    # -- persistence (embeddings/stored.py: manifest, checksums, load never raises) ---------

    @property
    def model_dir(self) -> Path:
        return self.directory / SPARSE_DIR

    def build_params(self) -> dict:
        return {"tokenizer": TOKENIZER, "k1": self.k1, "b": self.b}

    def stored_ids(self) -> list[int]:
        return self.ids.tolist()

    def data_paths(self) -> list[Path]:
        return [self.model_dir]

    def write_data(self) -> list[Path]:
        """The model to a fresh directory, swapped in whole; the manifest (written after) checks each file."""
        tmp = Path(tempfile.mkdtemp(prefix=f".{SPARSE_DIR}.", dir=self.directory))
        try:
            np.save(tmp / IDS_FILE, self.ids, allow_pickle=False)
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
        return sorted(p for p in self.model_dir.iterdir() if p.is_file())

    def read_data(self, manifest: StoredManifest) -> str | None:
        ids = np.load(self.model_dir / IDS_FILE, allow_pickle=False).astype(np.int64)
        model = None
        if ids.size:
            model = bm25s.BM25.load(str(self.model_dir), show_progress=False, verbosity=0)
            if int(model.scores["num_docs"]) != ids.size:
                return "the keyword index files do not match their manifest"
        self._install(ids, model)
        return None
