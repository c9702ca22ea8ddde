"""Topic alerts: which newly stored passages are about a topic, at most one per roundup.

Pure: the caller brings the candidate passages (new, recent, visible to the server), their
vectors and the topic as `/digest topic:` reads it (a name matcher when the corpus uses the
name, else a query vector and a cosine floor).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from corpus.model import Passage


@dataclass(frozen=True)
class AlertMatch:
    passage: Passage
    score: float  # cosine between the topic and the passage


def match_alert(passages: Sequence[Passage], vectors: np.ndarray, *, query: np.ndarray,
                matcher: Callable[[str], bool] | None, floor: float) -> list[AlertMatch]:
    """The best passage of each roundup that is about the topic, newest roundup first.

    About the topic: it names it (when `matcher` is given: a name the corpus uses, through
    the alias table), else its cosine to the topic is at least `floor`. Among a roundup's
    passages about it, the closest in meaning is the one to post.
    """
    if not passages:
        return []
    scores = np.asarray(vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32).reshape(-1)
    best: dict[str, AlertMatch] = {}
    for passage, score in zip(passages, scores.tolist()):
        about = matcher(passage.text) if matcher is not None else score >= floor
        if not about:
            continue
        held = best.get(passage.article_id)
        if held is None or score > held.score:
            best[passage.article_id] = AlertMatch(passage, float(score))
    return sorted(best.values(), key=lambda m: (m.passage.published or "", m.score), reverse=True)
