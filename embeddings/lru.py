"""A small thread-safe least-recently-used map, for the question path's caches
(embeddings/passage_cache.py, embeddings/token_cache.py, the keyword index's columns): look many
keys up at once, make the missing values in one call outside the lock, keep at most `size`
entries (or, given `weight`, at most `size` of their summed weights).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruMap(Generic[K, V]):
    def __init__(self, size: int, weight: Callable[[V], int] | None = None):
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._weight = weight
        self.total = 0  # summed weights (entries when there is no `weight`)

    def __len__(self) -> int:
        return len(self._items)

    def get_many(self, keys: Sequence[K], make: Callable[[list[K]], dict[K, V]]) -> dict[K, V]:
        """The values of `keys`: the remembered ones, and what `make(missing keys)` returns (a key it
        leaves out stays missing, e.g. a passage no longer stored)."""
        with self._lock:
            found = {k: self._items[k] for k in keys if k in self._items}
            for k in found:
                self._items.move_to_end(k)
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            made = make(missing)
            found.update(made)
            with self._lock:
                for k, v in made.items():
                    old = self._items.pop(k, None)
                    if old is not None:
                        self.total -= self._weigh(old)
                    self._items[k] = v
                    self.total += self._weigh(v)
                while self.total > self.size and self._items:
                    self.total -= self._weigh(self._items.popitem(last=False)[1])
        return found

    def _weigh(self, value: V) -> int:
        return 1 if self._weight is None else self._weight(value)
