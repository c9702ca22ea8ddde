"""Per-member cooldowns: a sliding window on the monotonic clock (wall-clock jumps can't unlock it)."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable


class Cooldowns:
    """At most `rate` uses per `per` seconds for each key."""

    def __init__(self, rate: int, per: float, *, clock: Callable[[], float] | None = None):
        self.rate = max(1, rate)
        self.per = per
        self._clock = clock or (lambda: time.monotonic())  # looked up per call: tests may swap the clock
        self._uses: dict[Hashable, deque[float]] = {}

    def now(self) -> float:
        return self._clock()

    def hit(self, key: Hashable) -> float | None:
        """Record a use; None if allowed, else seconds until the next use would be."""
        now = self._clock()
        uses = self._uses.setdefault(key, deque())
        while uses and now - uses[0] >= self.per:
            uses.popleft()
        if len(uses) >= self.rate:
            return self.per - (now - uses[0])
        uses.append(now)
        if len(self._uses) > 10_000:
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        for key in [k for k, u in self._uses.items() if not u or now - u[-1] >= self.per]:
            del self._uses[key]
