"""Sentences and search terms of stored texts, remembered for question time.

Each question splits its best passages into sentences and tokenises them twice over (the
answerability signals read the first hit's, the best-sentence pick every hit's), and popular
passages come up again and again. A stored text's sentences and terms never change, so they
are computed once per text and kept in small LRU caches (a few MB at most). Only the query
path uses these; ingest and the keyword index call `tokenize` directly.
"""
from __future__ import annotations

import functools

from corpus.text import split_sentences
from embeddings.sparse import tokenize

SENTENCE_CACHE = 4096  # passages
TERM_CACHE = 16384  # texts: passages and their sentences


@functools.lru_cache(maxsize=SENTENCE_CACHE)
def sentences_of(text: str) -> tuple[str, ...]:
    """`split_sentences(text)`, remembered (a tuple: shared between callers, so never changed)."""
    return tuple(split_sentences(text))


@functools.lru_cache(maxsize=TERM_CACHE)
def terms_of(text: str) -> tuple[str, ...]:
    """`tokenize(text)`, remembered."""
    return tuple(tokenize(text))
