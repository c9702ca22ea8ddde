"""Publication days as numpy arrays, so a date-bounded question filters by mask, not by row objects.

A question bounded "since 2020" at 100k passages used to turn 50-80k SQLite rows into Python
ints and sets per question; the garbage those made set off full collections of 250 ms. Here the
days are one int32 array sorted by passage id, loaded once and patched from the store's change
feed; each index asks for the days aligned with its own rows once per change, and a bound is a
vectorised comparison.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from corpus.store import NO_DAY, day_number
from embeddings.lru import LruMap

log = logging.getLogger(__name__)

MASK_CACHE = 16  # filters' masks kept per table


class DayTable:
    """Passage id -> publication day, as two arrays sorted by id. Immutable: `patched` makes a new one,
    so a search holding this one never sees it change."""

    def __init__(self, ids: np.ndarray, days: np.ndarray):
        order = np.argsort(ids, kind="stable")
        self.ids = np.ascontiguousarray(ids[order], dtype=np.int64)
        self.days = np.ascontiguousarray(days[order], dtype=np.int32)
        self._masks: LruMap[tuple, tuple[np.ndarray, np.ndarray]] = LruMap(MASK_CACHE)  # see `mask_of`
        self._aligned: dict[str, tuple[object, np.ndarray]] = {}  # set last (LazyDayTable looks for it)

    def __len__(self) -> int:
        return int(self.ids.size)

    def days_of(self, ids: np.ndarray) -> np.ndarray:
        """Days for `ids` in their order; NO_DAY for an id not in the table."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.ids.size == 0:
            return np.full(ids.shape, NO_DAY, dtype=np.int32)
        pos = np.minimum(np.searchsorted(self.ids, ids), self.ids.size - 1)
        return np.where(self.ids[pos] == ids, self.days[pos], NO_DAY).astype(np.int32)

    def aligned(self, key: str, ids: np.ndarray) -> np.ndarray:
        """`days_of(ids)`, cached while the caller keeps passing the same ids array object."""
        hit = self._aligned.get(key)
        if hit is not None and hit[0] is ids:
            return hit[1]
        days = self.days_of(ids)
        self._aligned[key] = (ids, days)
        return days

    def mask_of(self, flt: "DayFilter", key: str, ids: np.ndarray) -> np.ndarray:
        """`flt`'s mask over `ids` (read-only), kept for the last MASK_CACHE filters: questions repeat
        their bounds ("since 2020"), and each mask is a pass over every row of an index."""
        days = self.aligned(key, ids)
        # Keyed by the days array too (its id: the entry holds the array, so the id is not reused
        # while it lives): a changed index aligns new days, and its old masks age out.
        k = (key, flt.ranges, flt.within, id(days))

        def make(keys: list) -> dict:
            mask = flt.mask_days(days)
            mask.setflags(write=False)
            return {keys[0]: (days, mask)}

        return self._masks.get_many([k], make)[k][1]

    def patched(self, removed: set[int] | np.ndarray, ids: np.ndarray, days: np.ndarray) -> "DayTable":
        """A new table without `removed`, with (ids, days) added or replaced."""
        drop = np.isin(self.ids, np.fromiter(removed, dtype=np.int64) if isinstance(removed, set) else removed)
        drop |= np.isin(self.ids, ids)
        return DayTable(np.concatenate([self.ids[~drop], ids]), np.concatenate([self.days[~drop], days]))

    def between(self, lo: str | None, hi: str | None) -> "DayFilter":
        return DayFilter(self, ((_day(lo, NO_DAY + 1), _day(hi, np.iinfo(np.int32).max)),))


class LazyDayTable(DayTable):
    """A DayTable read on first use (`load` gives ids and days): most questions have no date bound,
    and reading 100k passages' days from the store took 0.15-0.4 s of every cold `ask`."""

    def __init__(self, load: Callable[[], tuple[np.ndarray, np.ndarray]]):
        self._load = load
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        if name not in ("ids", "days", "_masks", "_aligned"):
            raise AttributeError(name)
        with self._lock:
            if "_aligned" not in self.__dict__:  # set last by DayTable.__init__
                DayTable.__init__(self, *self._load())
        return self.__dict__[name]


@dataclass(frozen=True)
class DayFilter:
    """Passages published within any of `ranges` (inclusive day numbers) and, if `within` is set,
    also inside it: what a bounded question may return, as a mask over any index's rows."""

    table: DayTable
    ranges: tuple[tuple[int, int], ...]
    within: "DayFilter | None" = None

    def mask_days(self, days: np.ndarray) -> np.ndarray:
        mask = np.zeros(days.shape, dtype=bool)
        for lo, hi in self.ranges:
            mask |= (days >= lo) & (days <= hi)
        if self.within is not None:
            mask &= self.within.mask_days(days)
        return mask

    def mask(self, key: str, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` (an index's rows, cached under `key`) pass (read-only)."""
        return self.table.mask_of(self, key, ids)

    def ids(self) -> np.ndarray:
        return self.table.ids[self.mask_days(self.table.days)]

    def count(self) -> int:
        return int(self.mask_days(self.table.days).sum())

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, passage_id: int) -> bool:
        return bool(self.mask_days(self.table.days_of(np.asarray([passage_id])))[0])

    def __iter__(self):
        return iter(self.ids().tolist())

    def union(self, lo: str | None, hi: str | None) -> "DayFilter":
        """This filter widened by one more range (each period a question names)."""
        return DayFilter(self.table, self.ranges + self.table.between(lo, hi).ranges, self.within)

    def inside(self, other: "DayFilter | None") -> "DayFilter":
        return self if other is None else DayFilter(self.table, self.ranges, other)


def _day(text: str | None, default: int) -> int:
    n = day_number(text)
    return int(default) if n == NO_DAY else n


def from_store(store) -> DayTable:
    ids, days = store.passage_days()
    return DayTable(ids, days)
