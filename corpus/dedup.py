"""Near-duplicate paragraphs: the same story republished elsewhere is stored once.

Scraped and syndicated copies of a roundup differ from the original in small ways (a
dropped sentence, changed quotes, an inserted "via"), so exact hashes miss them. Method:

1. word 4-shingles of the normalised, case-folded text (each CJK character is a word);
2. a MinHash signature (datasketch, 128 permutations) cut into 32 bands of 4 rows; the band
   hashes of every stored passage live in SQLite (`passage_bands`), so finding candidates is
   one indexed query and survives restarts; rows disappear with their passages (cascade);
3. an exact check of the candidates: a new paragraph is a duplicate when at least 80% of its
   shingles occur in the stored passages of one other article. Containment rather than
   Jaccard, so a paragraph that one copy split into two passages, or merged with a short
   neighbour, still counts.

32x4 bands find a pair with Jaccard 0.6 with probability 0.99 and 0.5 with 0.87; the exact
check removes the false candidates. Paragraphs under 12 words ("Huawei declined to comment.")
are never dropped: short lines recur across different stories. An article whose words are
mostly (80%) duplicates is a republished copy and is skipped whole, so no orphan scraps of it
are cited under the copy's URL; otherwise only its duplicate paragraphs are left out.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .model import Article, Section
from .text import normalize_text, word_count, word_spans

if TYPE_CHECKING:
    from corpus.store import Store

log = logging.getLogger(__name__)

SHINGLE_WORDS = 4
NUM_PERM = 128
BANDS, ROWS = 32, 4
SEED = 1
CONTAINMENT_THRESHOLD = 0.8
MIN_WORDS = 12
ARTICLE_COPY_SHARE = 0.8
FORMAT = f"minhash-affine32-{NUM_PERM}-{BANDS}x{ROWS}-k{SHINGLE_WORDS}-seed{SEED}/v1"
_PUNCT_RE = re.compile(r"^\W+|\W+$")


def tokens(text: str) -> list[str]:
    norm = normalize_text(text).casefold()
    out = []
    for a, b in word_spans(norm):
        tok = _PUNCT_RE.sub("", norm[a:b])
        if tok:
            out.append(tok)
    return out


def shingles(text: str, k: int = SHINGLE_WORDS) -> frozenset[str]:
    """Word k-grams; a text shorter than k words is one shingle, so it still has a signature."""
    toks = tokens(text)
    if len(toks) < k:
        return frozenset({" ".join(toks)}) if toks else frozenset()
    return frozenset(" ".join(toks[i:i + k]) for i in range(len(toks) - k + 1))


_TEMPLATE = None


def signature(items: Iterable[str]) -> np.ndarray:
    """MinHash values of a shingle set (one fixed seed and scheme, so stored bands stay valid)."""
    global _TEMPLATE
    from datasketch import MinHash

    if _TEMPLATE is None:
        _TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32")
    m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", permutations=_TEMPLATE.permutations)
    m.update_batch([s.encode("utf-8") for s in items])
    return m.hashvalues


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 64-bit key per band (band number mixed in, so equal rows in different bands differ)."""
    values = np.asarray(sig, dtype="<u8")
    keys = []
    for b in range(BANDS):
        h = hashlib.blake2b(b.to_bytes(1, "big") + values[b * ROWS:(b + 1) * ROWS].tobytes(), digest_size=8)
        keys.append(int.from_bytes(h.digest(), "big", signed=True))
    return keys


def containment(part: frozenset[str], whole: set[str] | frozenset[str]) -> float:
    return len(part & whole) / len(part) if part else 0.0


@dataclass
class DedupOutcome:
    article: Article | None  # None: the whole article is a copy of something stored
    dropped: int = 0  # paragraphs left out
    duplicate_of: str | None = None  # url of the article most of them came from

    @property
    def is_copy(self) -> bool:
        return self.article is None


class DuplicateIndex:
    """LSH bands of every stored passage, in the store's SQLite file (blocking; use a thread)."""

    DDL = """
    CREATE TABLE IF NOT EXISTS passage_bands (
        band INTEGER NOT NULL,
        passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE
    );
    CREATE INDEX IF NOT EXISTS passage_bands_band ON passage_bands(band);
    CREATE INDEX IF NOT EXISTS passage_bands_passage ON passage_bands(passage_id);
    """

    def __init__(self, store: "Store"):
        self.store = store
        store.migrate("dedup", (self.DDL,))  # append a step to change these tables

    def sync(self) -> int:
        """Band every passage that has none yet (any source, files included); returns how many."""
        if self.store.get_meta("dedup_format") != FORMAT:
            with self.store.transaction() as conn:
                conn.execute("DELETE FROM passage_bands")
            self.store.set_meta("dedup_format", FORMAT)
        rows = self.store.execute(
            "SELECT id, text FROM passages WHERE id NOT IN (SELECT passage_id FROM passage_bands)")
        if not rows:
            return 0
        values = [(key, r["id"]) for r in rows for key in band_keys(signature(shingles(r["text"])))]
        with self.store.transaction() as conn:
            conn.executemany("INSERT INTO passage_bands(band, passage_id) VALUES (?, ?)", values)
        log.debug("banded %d passages for duplicate detection", len(rows))
        return len(rows)

    def _stored_match(self, sh: frozenset[str], keys: list[int], exclude_article: str) -> tuple[str, float] | None:
        marks = ",".join("?" * len(keys))
        rows = self.store.execute(
            f"""SELECT DISTINCT p.id, p.article_id, p.text, a.url FROM passage_bands b
                JOIN passages p ON p.id = b.passage_id JOIN articles a ON a.id = p.article_id
                WHERE b.band IN ({marks}) AND p.article_id != ?""", [*keys, exclude_article])
        by_article: dict[str, tuple[str, set[str]]] = {}
        for r in rows:
            url, acc = by_article.setdefault(r["article_id"], (r["url"], set()))
            acc.update(shingles(r["text"]))
        best = max(((url, containment(sh, acc)) for url, acc in by_article.values()), key=lambda x: x[1],
                   default=None)
        return best if best and best[1] >= CONTAINMENT_THRESHOLD else None

    def filter_articles(self, articles: list[Article]) -> list[DedupOutcome]:
        """Drop paragraphs already stored under another article (or earlier in this batch)."""
        self.sync()
        batch: dict[int, list[tuple[str, str, frozenset[str]]]] = {}
        return [self._filter_one(article, batch) for article in articles]

    def _filter_one(self, article: Article, batch: dict) -> DedupOutcome:
        total = dup_words = 0
        sources: Counter[str] = Counter()
        adds: list[tuple[list[int], frozenset[str]]] = []
        sections: list[Section] = []
        for section in article.sections:
            kept = []
            for p in section.paragraphs:
                n = word_count(p)
                total += n
                if n < MIN_WORDS:
                    kept.append(p)
                    continue
                sh = shingles(p)
                keys = band_keys(signature(sh))
                match = self._stored_match(sh, keys, article.id) or _batch_match(batch, sh, keys, article.id)
                if match:
                    dup_words += n
                    sources[match[0]] += 1
                    log.debug("duplicate paragraph in %s (%.2f of it in %s)", article.url, match[1], match[0])
                    continue
                kept.append(p)
                adds.append((keys, sh))
            if kept:
                sections.append(Section(section.heading, tuple(kept)))
        if not dup_words:
            outcome = DedupOutcome(article)
        else:
            origin = sources.most_common(1)[0][0]
            dropped = sum(sources.values())
            if dup_words >= ARTICLE_COPY_SHARE * total or not sections:
                return DedupOutcome(None, dropped, origin)
            outcome = DedupOutcome(replace(article, sections=tuple(sections)), dropped, origin)
        for keys, sh in adds:
            for key in keys:
                batch.setdefault(key, []).append((article.id, article.url, sh))
        return outcome


def _batch_match(batch: dict, sh: frozenset[str], keys: list[int], exclude_article: str) -> tuple[str, float] | None:
    by_article: dict[str, tuple[str, set[str]]] = {}
    for key in keys:
        for aid, url, other in batch.get(key, ()):
            if aid != exclude_article:
                by_article.setdefault(aid, (url, set()))[1].update(other)
    best = max(((url, containment(sh, acc)) for url, acc in by_article.values()), key=lambda x: x[1], default=None)
    return best if best and best[1] >= CONTAINMENT_THRESHOLD else None
