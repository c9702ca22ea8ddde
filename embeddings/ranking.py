"""Pure ranking functions: score fusion, diversity, floor calibration. No I/O, no models.

Kept apart from the retriever so each rule can be checked by hand on a few numbers.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

FUSIONS = ("weighted", "rrf")


def weighted_sum(dense: Mapping[Hashable, float], lexical: Mapping[Hashable, float], weight: float) -> dict:
    """weight * dense + (1 - weight) * lexical, for every id in either (a missing score is 0).

    Both inputs must already be on a [0, 1] scale that means the same for every question
    (cosine; BM25 over the question's best possible score), so the sum is an absolute
    relevance a floor can be applied to, not just an order.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    ids = list(dict.fromkeys([*dense, *lexical]))
    return {i: weight * max(0.0, dense.get(i, 0.0)) + (1.0 - weight) * lexical.get(i, 0.0) for i in ids}


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hashable]], *, k: int = 60,
                           weights: Sequence[float] | None = None) -> dict:
    """RRF (Cormack et al. 2009): sum over rankings of weight / (k + rank), ranks from 1.

    An id absent from a ranking gets nothing from it.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    out: dict = {}
    for ranking, w in zip(rankings, weights):
        for rank, i in enumerate(ranking, 1):
            out[i] = out.get(i, 0.0) + w / (k + rank)
    return out


def rank_by(scores: Mapping[Hashable, float], *, tiebreak: Mapping[Hashable, float] | None = None) -> list:
    """Ids by score, highest first; ties by `tiebreak` (higher first), then by id for determinism."""
    tb = tiebreak or {}
    return [i for *_, i in sorted([(-s, -tb.get(i, 0.0), i) for i, s in scores.items()])]  # keys made once


@dataclass
class Pick:
    id: Hashable
    score: float  # the MMR value it was placed with: never rises down the list


def roundup_key(passage) -> str:
    """Which roundup a passage is from, for "one per roundup": stored copies of one roundup (the
    same link under two ids, e.g. an original and its republished copy) are one roundup."""
    url = (passage.url or "").strip().rstrip("/").lower()
    return url.split("://", 1)[-1] if url else f"id:{passage.article_id}"


def diversify(order: Sequence[Hashable], relevance: Mapping[Hashable, float], *, limit: int,
              group_of: Mapping[Hashable, Hashable], similarity: Callable[[Hashable, Hashable], float] | None = None,
              lam: float = 1.0, distinct_top: int = 3, same_story: float | None = None) -> list[Pick]:
    """Maximal marginal relevance, with one passage per article (and per story) in the first `distinct_top`.

    Each step places the candidate with the highest rel - (1 - lam) / lam * top * max
    similarity to those already placed, where `top` is the best relevance: standard MMR on
    relevance scaled to the best one, divided by lam and scaled back, so the first pick keeps
    its score and lam means the same for cosines, BM25 coverage or tiny RRF scores.

    While fewer than `distinct_top` are placed, a candidate from an article already placed,
    or at least `same_story` similar to one (the same news republished elsewhere), waits: it
    comes back after the first `distinct_top` (or when nothing else is left), its value capped
    at the last pick's so that values never rise down the list.
    """
    if not 0.0 < lam <= 1.0:
        raise ValueError(f"lam must be in (0, 1], got {lam}")
    remaining = list(order)
    top = max((relevance[i] for i in remaining), default=0.0)
    penalty = (1.0 - lam) / lam * (top if top > 0 else 1.0)
    picks: list[Pick] = []
    groups: set[Hashable] = set()
    waiting: list[Hashable] = []
    cap: float | None = None
    max_sim: dict[Hashable, float] = {i: 0.0 for i in remaining}

    def value(i: Hashable) -> float:
        v = relevance[i] - penalty * max_sim[i]
        return min(v, cap) if cap is not None and i in waited else v

    waited: set[Hashable] = set()
    distinct = distinct_top > 0
    while len(picks) < limit:
        if distinct and (len(picks) >= distinct_top or not remaining):
            distinct = False  # the top is settled: whoever waited may now take a place
            cap = picks[-1].score if picks else None
            waited.update(waiting)
            back = set(remaining) | set(waiting)
            remaining = [i for i in order if i in back]  # in their original order
            waiting = []
        if not remaining:
            break
        best = remaining.pop(_first_highest([value(i) for i in remaining]))
        if distinct:
            group = group_of.get(best, best)
            twin = same_story is not None and similarity is not None and any(
                similarity(best, p.id) >= same_story for p in picks)
            if group in groups or twin:
                waiting.append(best)
                continue
            groups.add(group)
        picks.append(Pick(best, float(value(best))))
        if penalty and similarity is not None:
            for i in remaining + waiting:
                max_sim[i] = max(max_sim[i], similarity(i, best))
    return picks


def _first_highest(values: list[float]) -> int:
    """The first position holding the highest value: `max` over (value, -position), without a key
    function per element when no value is NaN (it runs for every pick over the whole head)."""
    if all(v == v for v in values):
        return values.index(max(values))
    return max(range(len(values)), key=lambda pos: (values[pos], -pos))


def choose_floor(top_relevance: Sequence[float], answerable: Sequence[bool],
                 correct: Sequence[bool]) -> tuple[float, int]:
    """The floor that maximises correct answers plus correct refusals, and that count.

    A question is answered when its top relevance is >= the floor. An answerable question
    counts when answered with a correct passage (`correct`), an unanswerable one when
    refused. Among equally good floors the widest gap is taken, and the floor is put in the
    middle of that gap, so it does not sit on one question's score.
    """
    scores = np.asarray(top_relevance, dtype=float)
    if scores.size == 0:
        return 0.0, 0
    answerable = np.asarray(answerable, dtype=bool)
    good = answerable & np.asarray(correct, dtype=bool)
    cuts = np.unique(np.concatenate([[0.0], scores, [scores.max() + 1e-6]]))
    best: tuple[int, float, float] | None = None  # (count, gap, floor)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        floor = (lo + hi) / 2 if hi > lo else hi
        answered = scores >= floor
        count = int((answered & good).sum() + (~answered & ~answerable).sum())
        gap = hi - lo
        if best is None or (count, gap) > (best[0], best[1]):
            best = (count, gap, floor)
    # A floor below every score never refuses; one above every score never answers.
    return round(float(best[2]), 4), best[0]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else 0.0
