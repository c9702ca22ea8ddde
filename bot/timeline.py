"""What the roundups said about one name, roundup by roundup: the data behind /timeline and
`roundup-bot timeline`, and the corpus's best-known names (for /help examples and suggestions).

Pure functions over passages and sentence vectors; the service does the I/O.
"""
from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from corpus.aliases import AliasTable
from corpus.model import Passage
from corpus.text import normalize_text
from embeddings.textcache import sentences_of

if TYPE_CHECKING:
    from embeddings.sentence_index import SentenceIndex

PAGE = 10  # entries per page in Discord


@dataclass(frozen=True)
class TimelineEntry:
    published: str
    sentence: str
    title: str
    url: str
    source: str | None = None

    def to_dict(self) -> dict:
        return {"published": self.published, "sentence": self.sentence, "title": self.title, "url": self.url,
                "source": self.source}


@dataclass
class Timeline:
    name: str  # as the roundups write it (華為 -> Huawei)
    asked: str  # as typed
    entries: list[TimelineEntry] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    suggestions: list[str] = field(default_factory=list)  # known names close to the asked one, when empty

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.entries) // PAGE))

    def page(self, n: int) -> list[TimelineEntry]:
        return self.entries[n * PAGE:(n + 1) * PAGE]

    def to_dict(self) -> dict:
        return {"name": self.name, "asked": self.asked, "since": self.since, "until": self.until,
                "entries": [e.to_dict() for e in self.entries], "suggestions": self.suggestions}


def canonical_name(text: str, aliases: AliasTable) -> str:
    """The name the roundups use for what was typed: 华为 -> Huawei, ant group -> Ant Group, pdd -> Pinduoduo."""
    typed = " ".join(text.split())
    key = normalize_text(typed).lower()
    for match in aliases.find(key):
        if match.entity is not None and match.end - match.start >= 0.6 * len(key):
            return match.entity.name
    entity = aliases.closest_name(key)
    return entity.name if entity is not None else typed


def best_sentence(sentences: Sequence[str], vectors: np.ndarray, query: np.ndarray,
                  mentions: Callable[[str], bool]) -> str | None:
    """The sentence that names it and is closest in meaning to it; any closest one if none names it.

    A sentence that opens with the name is about it ("Tencent bought..."), one that names it in
    passing less so ("..., as Alibaba had done"): the earlier the name, the small bonus.
    """
    if not sentences:
        return None
    scores = vectors @ query.reshape(-1) if len(vectors) else np.zeros(len(sentences))
    naming = [i for i, s in enumerate(sentences) if mentions(s)]
    if not naming:
        return sentences[max(range(len(sentences)), key=lambda i: (float(scores[i]), -i))]

    def opening(i: int) -> float:
        words = sentences[i].split()
        first = next((n for n in range(len(words)) if mentions(" ".join(words[:n + 1]))), len(words))
        return 0.1 * (1 - min(first, 10) / 10)

    return sentences[max(naming, key=lambda i: (float(scores[i]) + opening(i), -i))]


def kept_sentence_vectors(kept: SentenceIndex | None, encode: Callable[[Sequence[Passage]], list[tuple[list[str], np.ndarray]]],
                          passages: Sequence[Passage]) -> list[tuple[list[str], np.ndarray]]:
    """Each passage's sentences and their vectors: those kept at ingest (`kept`, the snapshot's
    SentenceIndex) where they match its sentences, the rest from `encode` in one batch. Encoding
    every roundup's sentences made a timeline of a name 4,520 roundups mention take 42 s at 100k
    passages; the kept vectors are what the best-sentence step of an answer reads too."""
    out: list[tuple[list[str], np.ndarray] | None] = []
    missing = []
    for p in passages:
        sentences = list(sentences_of(p.text))
        vectors = kept.get(p.id) if kept is not None else None
        if vectors is None or len(vectors) != len(sentences):
            missing.append((len(out), p))
            out.append(None)
        else:
            out.append((sentences, np.asarray(vectors, dtype=np.float32)))
    if missing:
        for (i, _), got in zip(missing, encode([p for _, p in missing])):
            out[i] = got
    return out  # type: ignore[return-value]


def _copy_key(p: Passage) -> tuple:
    return (" ".join(p.title.casefold().split()), p.published)


def build_entries(passages: Sequence[Passage], split: Callable[[Sequence[Passage]], list[tuple[list[str], np.ndarray]]],
                  query: np.ndarray, mentions: Callable[[str], bool]) -> list[TimelineEntry]:
    """One entry per roundup that mentions the name, in date order, with its most relevant sentence.

    Stored copies of one roundup (same title and date, or same link) make one entry.
    """
    by_article: dict[str, list[Passage]] = {}
    article_of: dict[tuple, str] = {}
    for p in passages:
        if not (mentions(p.text) or mentions(p.section or "")):
            continue
        keys = [_copy_key(p), ("url", p.url)]
        article = next((article_of[k] for k in keys if k in article_of), p.article_id)
        for k in keys:
            article_of.setdefault(k, article)
        if article == p.article_id:  # else a copy of a roundup already listed
            by_article.setdefault(article, []).append(p)
    entries = []
    split_all = iter(split([p for group in by_article.values() for p in group]))  # one batch for any encode
    for group in by_article.values():
        sentences: list[str] = []
        vecs = []
        for _ in group:
            sents, v = next(split_all)
            sentences += sents
            vecs.append(v)
        matrix = np.vstack([v for v in vecs if len(v)]) if any(len(v) for v in vecs) else np.zeros((0, len(query)))
        sentence = best_sentence(sentences, matrix, query, mentions) or group[0].text
        first = group[0]
        entries.append(TimelineEntry(first.published or "", " ".join(sentence.split()), first.title, first.url,
                                     first.source))
    entries.sort(key=lambda e: (e.published, e.title))
    return entries


def known_names(texts_by_article: Sequence[str], aliases: AliasTable) -> Counter:
    """How many roundups mention each entity of the alias table (by any of its names)."""
    from corpus.mentions import count_mentions

    return count_mentions(texts_by_article, [entity.name for entity in aliases.entities.values()])


def suggest(name: str, known: Counter, n: int = 3) -> list[str]:
    """Known names spelt like the asked one; failing that, the most mentioned ones."""
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    if close:
        return [lowered[c] for c in close]
    return [k for k, _ in known.most_common(n)]
