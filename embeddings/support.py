"""Does the passage say what was asked? A soft, token-level check (late interaction, MaxSim).

Word overlap misses a passage that says "chief financial officer" for "cfo", and a passage's
cosine is dominated by the company it is about. Here each word the question asks about (not
its names, question words or stop words) is looked for among the passage's tokens with the
embedding model's own contextual token vectors: a word's support is the best cosine of its
tokens to any passage token (ColBERT's MaxSim), and a passage's support is the IDF-weighted
mean over the asked-about words. Of two passages about the same company, the one that states
the asked-about thing scores higher. Pure numpy over `TokenVectors` (embeddings/spans.py).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from embeddings.spans import TokenVectors

_LETTER_RE = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class AskedWord:
    word: str  # as typed ("r&d", "founded")
    rows: tuple[int, ...]  # its tokens among the question's
    weight: float  # IDF weight of its term


def asked_words(text: str, question: TokenVectors, weights: Mapping[str, float], skip: frozenset[str] | set[str],
                terms_of: Callable[[str], list[str]], stopwords: frozenset[str] | set[str] = frozenset()
                ) -> list[AskedWord]:
    """The words of `text` (the question as encoded) the passage should state: tokens grouped into
    words ("co", "##founder"; "r", "&", "d"); a word counts when one of its terms (`terms_of`, the
    keyword tokenizer) is a content term not in `skip` (names, question and form words) nor a bare
    number, or, with no term at all, when it is a joined word that is no stop word ("r&d")."""
    out: list[AskedWord] = []
    fallback = float(np.mean(list(weights.values()))) if weights else 1.0
    for rows in _words(question.offsets, text):
        start, end = question.offsets[rows[0]][0], question.offsets[rows[-1]][1]
        word = text[start:end]
        all_terms = terms_of(word)
        terms = [t for t in all_terms if t not in skip and not t.isdigit()]
        if not all_terms:
            low = word.lower()
            if word.isalnum() or low in stopwords or len(_LETTER_RE.findall(low)) < 2:
                continue
            terms = [low]
        if terms:
            out.append(AskedWord(word, tuple(rows), max(weights.get(t, 0.0) for t in terms) or fallback))
    return out


def _words(offsets: list[tuple[int, int]], text: str) -> list[list[int]]:
    """Token rows of each word: runs of touching tokens ("co", "##founder"; "r", "&", "d"), less
    the punctuation at either end ("Zorblax?")."""
    runs: list[list[int]] = []
    for n, (a, _) in enumerate(offsets):
        if runs and a == offsets[runs[-1][-1]][1]:
            runs[-1].append(n)
        else:
            runs.append([n])
    out = []
    for rows in runs:
        real = [n for n, (a, b) in ((n, offsets[n]) for n in rows) if any(c.isalnum() for c in text[a:b])]
        if real:
            out.append(rows[rows.index(real[0]):rows.index(real[-1]) + 1])
    return out


def support(question: TokenVectors, asked: list[AskedWord], passage: TokenVectors) -> float:
    """IDF-weighted mean, over the asked-about words, of their tokens' best cosine to any passage
    token (MaxSim); 1.0 when the question asks about no word beyond its names, 0.0 for an empty passage."""
    if not asked:
        return 1.0
    if not len(passage.vectors) or not len(question.vectors):
        return 0.0
    best = (question.vectors @ passage.vectors.T).max(axis=1)
    scores = np.array([best[list(w.rows)].mean() for w in asked])
    weights = np.array([w.weight for w in asked])
    return float((scores * weights).sum() / weights.sum()) if weights.sum() > 0 else float(scores.mean())
