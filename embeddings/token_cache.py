"""Passages' token vectors for the support re-ranking (embeddings/support.py), the most recently
used kept: "More results" runs the search again for the next page, and a question asked twice
meets the same passages, so neither encodes them again. Keyed by the text encoded (an edited
passage is a new key) and the token cap; 128 entries of at most 64 x 384 floats is about 12 MB.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from embeddings.spans import TokenVectors

log = logging.getLogger(__name__)


def encode_alone(encoder, texts: list[str], max_tokens: int | None) -> list[TokenVectors]:
    """Passage-side token vectors, one text per run: no padding to pay for, and each text's vectors
    are its own (int8 dynamic quantisation scales activations over the whole batch, so a batch
    mate moves them a little: a cached or pruned re-ranking would then differ from a fresh one)."""
    return [encoder.encode_tokens([t], side="passage", max_tokens=max_tokens)[0] for t in texts]


class TokenCache:
    """A small LRU in front of `encode_alone`; safe across threads."""

    def __init__(self, size: int = 128):
        self.size = size
        self._items: OrderedDict[tuple[str, str, int | None], TokenVectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def passages(self, encoder, texts: list[str], max_tokens: int | None = None) -> list[TokenVectors]:
        """Each text's passage-side token vectors: the remembered ones, the others encoded."""
        name = str(getattr(encoder, "name", type(encoder).__name__))
        keys = [(name, t, max_tokens) for t in texts]
        with self._lock:
            found = {k: self._items[k] for k in keys if k in self._items}
            for k in found:
                self._items.move_to_end(k)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            new = encode_alone(encoder, [k[1] for k in missing], max_tokens)
            found.update(zip(missing, new))
            with self._lock:
                for k, tv in zip(missing, new):
                    self._items[k] = tv
                    self._items.move_to_end(k)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        return [found[k] for k in keys]
