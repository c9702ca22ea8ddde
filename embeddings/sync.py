"""Keeping the derived parts (FAISS vectors, keyword index, sentence and token vectors) in step with the store.

One forward pass per batch of passages gives the passage vector, its sentences' vectors (each
the mean of the passage's token embeddings over the sentence: `Encoder.encode_with_spans`) and,
when a token part is kept, its first token vectors (`encode_with_tokens`, embeddings/token_index.py),
where encoding every sentence again on its own doubled the cost of an ingest. Each part is
saved once, at the end: the store is the truth, so a crash mid-ingest only means the next start
embeds what is missing. Which ids changed comes from the store's change feed (`catch_up` with
`Store.changes_since`); `plan_full` compares every id only when the feed cannot say (a part
loaded from disk, a damaged part, a pruned feed).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from corpus.model import Passage
from corpus.text import sentence_spans
from embeddings.encoder import Encoder
from embeddings.index import BULK_SETTLE, SyncReport, VectorIndex
from embeddings.jobs import batch_job
from embeddings.query import STOPWORDS
from embeddings.search import embed_text
from embeddings.spans import TokenVectors
from embeddings.sentence_index import SentenceIndex
from embeddings.sparse import SparseIndex
from embeddings.token_index import TokenIndex

log = logging.getLogger(__name__)

SENTENCE_MODES = ("one-pass", "separate")


@dataclass
class Parts:
    index: VectorIndex
    sparse: SparseIndex
    sentences: SentenceIndex
    tokens: TokenIndex | None = None  # None: the encoder cannot give them in its ingest pass


def _one_pass(encoder: Encoder, mode: str) -> bool:
    """Sentences from the passage's own pass: the mode asks for it and no passage prompt ("passage: ")
    sits before the text, in no sentence's span."""
    return mode == "one-pass" and not getattr(encoder, "passage_prompt", "")


def keeps_tokens(encoder: Encoder, mode: str = "one-pass") -> bool:
    """Whether the ingest pass can give token vectors: one pass and an encoder with
    `encode_with_tokens` (the live encode at question time stands in otherwise)."""
    return _one_pass(encoder, mode) and hasattr(encoder, "encode_with_tokens")


def passage_spans(p: Passage) -> list[tuple[int, int]]:
    """Each sentence's characters within `embed_text(p)` (the heading is prefixed to the text)."""
    offset = len(embed_text(p)) - len(p.text)
    return [(a + offset, b + offset) for a, b in sentence_spans(p.text)] or [(offset, offset + len(p.text))]


def embed_batch(encoder: Encoder, passages: list[Passage], *, mode: str = "one-pass"
                ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Passage vectors, and each passage's sentence vectors (float16), in one pass when `mode`
    is one-pass (sentences past the model's truncation are encoded on their own)."""
    vecs, sentences, _ = embed_with_tokens(encoder, passages, mode=mode)
    return vecs, sentences


def embed_with_tokens(encoder: Encoder, passages: list[Passage], *, mode: str = "one-pass",
                      max_tokens: int | None = None) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
    """`embed_batch`, and with `max_tokens` (when `keeps_tokens`) each passage's first text tokens'
    vectors from the same pass (the heading's tokens left out, as the live encode leaves them)."""
    texts = [embed_text(p) for p in passages]
    spans = [passage_spans(p) for p in passages]
    tokens: dict[int, np.ndarray] = {}
    if max_tokens and keeps_tokens(encoder, mode):
        starts = [len(t) - len(p.text) for t, p in zip(texts, passages)]
        vecs, per, toks = encoder.encode_with_tokens(texts, spans, starts, max_tokens)
        tokens = {p.id: content_tokens(tv, text) for p, tv, text in zip(passages, toks, texts)}
    elif _one_pass(encoder, mode) and hasattr(encoder, "encode_with_spans"):
        vecs, per = encoder.encode_with_spans(texts, spans)
    else:
        vecs, per = encoder.encode(texts), [[None] * len(s) for s in spans]
    todo = [(n, m) for n, row in enumerate(per) for m, v in enumerate(row) if v is None]
    if todo:
        encode_sentences = getattr(encoder, "encode_passages", encoder.encode_queries)
        extra = encode_sentences([texts[n][slice(*spans[n][m])] for n, m in todo])
        for (n, m), v in zip(todo, extra):
            per[n][m] = v
    sentences = {p.id: np.stack(row).astype(np.float16) for p, row in zip(passages, per)}
    return np.asarray(vecs, dtype=np.float32), sentences, tokens


def content_tokens(tokens: TokenVectors, text: str) -> np.ndarray:
    """The rows of tokens worth keeping for the support: not punctuation (ColBERT masks it on the
    document side too) and not a stop word, which no asked-about word (embeddings/support.py) is;
    about 40% fewer rows, the same dev figures. An all-stop-word passage keeps its first row."""
    keep = [n for n, (a, b) in enumerate(tokens.offsets)
            if any(c.isalnum() for c in text[a:b]) and text[a:b].lower() not in STOPWORDS]
    return tokens.vectors[keep] if keep else tokens.vectors[:1]


def _missing(have: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    return wanted[~np.isin(wanted, have)] if wanted.size else wanted


def catch_up(parts: Parts, added: Iterable[int], removed: Iterable[int], fetch: Callable[[list[int]], list[Passage]],
             encoder: Encoder, *, batch: int = 256, mode: str = "one-pass",
             on_progress: Callable[[int, int], None] | None = None) -> SyncReport:
    """Apply the store's changes to every part: drop `removed`, embed whatever of `added` a part
    lacks (one pass for both vector parts), then save each changed part once."""
    removed = np.fromiter((int(i) for i in removed), dtype=np.int64)
    added = np.unique(np.fromiter((int(i) for i in added), dtype=np.int64))
    need_dense = _missing(parts.index.ids(), added)
    need_sent = _missing(parts.sentences.ids(), added)
    need_sparse = _missing(parts.sparse.ids, added)
    need_tok = _missing(parts.tokens.ids(), added) if parts.tokens is not None else added[:0]
    dropped = parts.index.remove(removed.tolist())
    parts.sentences.remove(removed.tolist())
    if parts.tokens is not None:
        parts.tokens.remove(removed.tolist())
    todo = np.union1d(np.union1d(need_dense, need_sent), need_tok).tolist()
    cap = parts.tokens.max_tokens if parts.tokens is not None else None
    if todo:
        encoder.dim  # load the model first: its load sets the single-question thread count
    done = 0
    with batch_job():
        for start in range(0, len(todo), batch):
            passages = fetch(todo[start:start + batch])
            vecs, sents, toks = embed_with_tokens(encoder, passages, mode=mode, max_tokens=cap)
            want = parts.index.has(np.asarray([p.id for p in passages], dtype=np.int64))
            parts.index.add([p.id for p, w in zip(passages, want) if not w], vecs[~want])
            parts.sentences.add(sents)
            if parts.tokens is not None:
                parts.tokens.add(toks)
            done += len(passages)
            if on_progress:
                on_progress(done, len(todo))
    if need_dense.size >= BULK_SETTLE:
        parts.index.settle()
    fetch_texts = lambda ids: [embed_text(p) for p in fetch(ids)]  # noqa: E731
    sparse_changed = bool(need_sparse.size or removed.size)
    if sparse_changed:
        parts.sparse.apply(need_sparse.tolist(), fetch_texts(need_sparse.tolist()) if need_sparse.size else [],
                           removed.tolist(), fetch_all=fetch_texts)
    if need_dense.size or dropped:
        parts.index.save()
    if need_sent.size or removed.size:
        parts.sentences.save()
    if parts.tokens is not None and (need_tok.size or removed.size):
        parts.tokens.save()
    if sparse_changed:
        parts.sparse.save()
    return SyncReport(added=int(need_dense.size), removed=dropped, rebuilt=False)


def plan_full(parts: Parts, store_ids: set[int]) -> tuple[list[int], list[int]]:
    """The full comparison (at load, after a rebuild or when the change feed cannot cover the
    gap): (store ids some part lacks, ids some part holds that the store no longer has)."""
    wanted = np.fromiter(store_ids, dtype=np.int64, count=len(store_ids))
    held = [parts.index.ids(), parts.sparse.ids, parts.sentences.ids()]
    if parts.tokens is not None:
        held.append(parts.tokens.ids())
    in_all = held[0]
    for ids in held[1:]:
        in_all = np.intersect1d(in_all, ids)
    return np.setdiff1d(wanted, in_all).tolist(), np.setdiff1d(np.unique(np.concatenate(held)), wanted).tolist()


def sync_parts(parts: Parts, store_ids: set[int], fetch: Callable[[list[int]], list[Passage]], encoder: Encoder,
               **kwargs) -> SyncReport:
    """Make every part hold exactly `store_ids` (the full comparison, once at load or rebuild)."""
    added, removed = plan_full(parts, store_ids)
    return catch_up(parts, added, removed, fetch, encoder, **kwargs)
