"""Passages by id for questions, remembered while the store does not change.

Every question fetches its hundred or so candidates (both retrievers' best) from SQLite to
fuse, diversify and judge them: at 10k-100k passages that read was a millisecond of a
five-millisecond answer, and questions on one topic keep fetching the same passages. A cache
belongs to one store generation (any change to passages or articles bumps it, see
corpus/store.py), so it never shows a stale title or text; the service starts a new one when
the generation moves. Bounded (least recently used out), safe to share between threads.
"""
from __future__ import annotations

from collections.abc import Iterable

from corpus.model import Passage
from embeddings.lru import LruMap

CACHE_PASSAGES = 5_000  # about 1 KB each


class CachedPassages:
    """A PassageSource (embeddings/search.py) over a store, for one generation of it."""

    def __init__(self, store, generation: int, size: int = CACHE_PASSAGES):
        self.store = store
        self.generation = generation
        self._cache: LruMap[int, Passage] = LruMap(size)

    def passages(self, ids: Iterable[int] | None = None) -> list[Passage]:
        """As `Store.passages`: those found, in the order asked (all of them when `ids` is None)."""
        if ids is None:
            return self.store.passages(None)
        ids = [int(i) for i in ids]
        found = self._cache.get_many(ids, lambda missing: {p.id: p for p in self.store.passages(missing)})
        return [found[i] for i in ids if i in found]

    def passage_ids_between(self, since: str | None, until: str | None) -> list[int]:
        return self.store.passage_ids_between(since, until)

    def __getattr__(self, name: str):
        return getattr(self.store, name)  # anything else a caller wants of the store
