"""Passages' token vectors for the support re-ranking (embeddings/support.py): those kept at
ingest (embeddings/token_index.py) when there are, else encoded live, the most recently used
kept: "More results" runs the search again for the next page, and a question asked twice meets
the same passages, so neither encodes them again. Keyed by the text encoded (an edited
passage is a new key) and the token cap; 128 entries of at most 64 x 384 floats is about 12 MB.
"""
from __future__ import annotations

import logging

from embeddings.lru import LruMap
from embeddings.spans import TokenVectors

log = logging.getLogger(__name__)


def encode_alone(encoder, texts: list[str], max_tokens: int | None) -> list[TokenVectors]:
    """Passage-side token vectors, one text per run: no padding to pay for, and each text's vectors
    are its own (int8 dynamic quantisation scales activations over the whole batch, so a batch
    mate moves them a little: a cached or pruned re-ranking would then differ from a fresh one)."""
    return [encoder.encode_tokens([t], side="passage", max_tokens=max_tokens)[0] for t in texts]


def passage_tokens(stored, cache: "TokenCache | None", encoder, passages: list, max_tokens: int | None
                   ) -> list[TokenVectors]:
    """Each passage's token vectors for the support: read from `stored` (a TokenIndex) when it
    holds the passage and keeps at least `max_tokens` of its tokens, else encoded alone (through
    `cache` when given): a data directory built before tokens were kept, a damaged token part
    being rebuilt, or a larger cap than was kept."""
    out: list[TokenVectors | None] = [None] * len(passages)
    if stored is not None and max_tokens and max_tokens <= stored.max_tokens:
        for n, p in enumerate(passages):
            try:
                vecs = stored.get(p.id)
            except OSError as exc:  # a token file gone or cut under a running process: encode instead
                log.warning("token vectors of passage %d unreadable (%s): encoding them", p.id, exc)
                vecs = None
            if vecs is not None:
                out[n] = TokenVectors(vecs[:max_tokens], [])
    todo = [n for n, t in enumerate(out) if t is None]
    if todo:
        texts = [passages[n].text for n in todo]
        made = cache.passages(encoder, texts, max_tokens) if cache is not None else encode_alone(encoder, texts, max_tokens)
        for n, t in zip(todo, made):
            out[n] = t
    return out  # type: ignore[return-value]


class TokenCache:
    """A small LRU in front of `encode_alone`; safe across threads."""

    def __init__(self, size: int = 128):
        self._items: LruMap[tuple[str, str, int | None], TokenVectors] = LruMap(size)
        self.hits = self.misses = 0

    def passages(self, encoder, texts: list[str], max_tokens: int | None = None) -> list[TokenVectors]:
        """Each text's passage-side token vectors: the remembered ones, the others encoded."""
        name = str(getattr(encoder, "name", type(encoder).__name__))
        keys = [(name, t, max_tokens) for t in texts]
        made = 0

        def encode(missing: list) -> dict:
            nonlocal made
            made = len(missing)
            return dict(zip(missing, encode_alone(encoder, [k[1] for k in missing], max_tokens)))

        found = self._items.get_many(keys, encode)
        self.hits += len(keys) - made
        self.misses += made
        return [found[k] for k in keys]
