"""Question in, ranked and cited passages out."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from corpus.model import Passage
from embeddings.encoder import Encoder
from embeddings.index import VectorIndex

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


class PassageSource(Protocol):
    """What retrieval needs of the store (corpus.store.Store provides it)."""

    def passages(self, ids: Iterable[int] | None = None) -> list[Passage]: ...

    def passage_ids_between(self, since: str | None, until: str | None) -> list[int]: ...


class QuestionError(ValueError):
    """A question we refuse to run, with a message fit to show the user as is."""


@dataclass
class Hit:
    passage: Passage
    score: float
    best_sentence: str | None = None

    def to_dict(self) -> dict:
        p = self.passage
        return {
            "id": p.hex_id, "text": p.text, "title": p.title, "url": p.url, "published": p.published,
            "section": p.section, "source": p.source, "score": round(self.score, 4),
            "best_sentence": self.best_sentence,
        }


@dataclass
class Answer:
    question: str
    answered: bool
    hits: list[Hit]
    elapsed_ms: float
    since: str | None = None
    until: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answered": self.answered,
            "results": [h.to_dict() for h in self.hits], "elapsed_ms": round(self.elapsed_ms, 2),
            "since": self.since, "until": self.until,
        }


def check_question(question: str) -> str:
    q = " ".join((question or "").split())
    if not q:
        raise QuestionError("the question is empty: ask something, e.g. \"What did Huawei ship in 2019?\"")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return q


def embed_text(passage: Passage) -> str:
    """What gets embedded: the section heading gives a short paragraph its topic."""
    if passage.section:
        return f"{passage.section}. {passage.text}"
    return passage.text


class Retriever:
    """Dense retrieval over the FAISS index with date filters and a relevance floor."""

    def __init__(self, store: PassageSource, index: VectorIndex, encoder: Encoder, *, floor: float = 0.3):
        self.store = store
        self.index = index
        self.encoder = encoder
        self.floor = floor

    def search(self, question: str, *, k: int = 5, since: str | None = None, until: str | None = None,
               offset: int = 0) -> Answer:
        start = time.perf_counter()
        q = check_question(question)
        allowed = self.store.passage_ids_between(since, until) if (since or until) else None
        qvec = self.encoder.encode_query(q)
        pairs = self.index.search(qvec, k + offset, allowed=allowed)[offset:]
        passages = {p.id: p for p in self.store.passages([i for i, _ in pairs])}
        hits = [Hit(passages[i], s) for i, s in pairs if i in passages]
        answered = bool(hits) and hits[0].score >= self.floor
        if answered:
            hits = [h for h in hits if h.score >= self.floor]
        return Answer(q, answered, hits, (time.perf_counter() - start) * 1000, since, until)


def best_sentences(qvec: np.ndarray, hits: list[Hit], encoder: Encoder, split) -> None:
    """Mark each hit's sentence closest to the question (one batched encode for all hits)."""
    chunks: list[tuple[int, str]] = []
    for n, h in enumerate(hits):
        for s in split(h.passage.text):
            chunks.append((n, s))
    if not chunks:
        return
    vecs = encoder.encode_queries([s for _, s in chunks])
    scores = vecs @ qvec.reshape(-1)
    best: dict[int, tuple[float, str]] = {}
    for (n, s), score in zip(chunks, scores):
        if n not in best or score > best[n][0]:
            best[n] = (float(score), s)
    for n, (_, s) in best.items():
        hits[n].best_sentence = s
