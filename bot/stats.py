"""What members asked and thought of the answers: the numbers behind /stats and `roundup-bot stats`.

Questions per day, the answered share, the median confidence (when answers carry one), votes
and the reasons given, and the questions the roundups could not answer, grouped by meaning so
moderators see what is missing rather than ten spellings of one question.
"""
from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.state import REASONS

SIMILAR = 0.7  # cosine above which two unanswered questions count as one gap


@dataclass
class Gap:
    question: str  # the group's most typical wording (the one closest to the others)
    count: int
    others: list[str] = field(default_factory=list)


@dataclass
class Stats:
    days: list[tuple[str, int, int]]  # (YYYY-MM-DD, asked, answered)
    asked: int
    answered: int
    median_confidence: float | None
    up: int
    down: int
    reasons: Counter
    details: list[str]
    gaps: list[Gap]

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.asked if self.asked else None

    def to_dict(self) -> dict:
        return {"asked": self.asked, "answered": self.answered, "answered_share": self.answered_share,
                "median_confidence": self.median_confidence, "up": self.up, "down": self.down,
                "reasons": {REASONS.get(k, k): v for k, v in self.reasons.items()}, "details": self.details,
                "days": [{"date": d, "asked": a, "answered": n} for d, a, n in self.days],
                "unanswered": [{"question": g.question, "count": g.count, "similar": g.others} for g in self.gaps]}

    def csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["date", "questions", "answered", "answered_share"])
        for d, a, n in self.days:
            w.writerow([d, a, n, f"{n / a:.3f}" if a else ""])
        return out.getvalue()


def group_similar(vectors: np.ndarray, threshold: float = SIMILAR) -> list[list[int]]:
    """Greedy grouping of unit vectors: each joins the first group whose founder is close enough."""
    groups: list[list[int]] = []
    for i in range(len(vectors)):
        for g in groups:
            if float(vectors[g[0]] @ vectors[i]) >= threshold:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def gaps(questions: Sequence[str], encode: Callable[[list[str]], np.ndarray] | None, top: int = 5) -> list[Gap]:
    """The unanswered questions, grouped by meaning, biggest group first."""
    if not questions:
        return []
    texts = list(questions)
    if encode is None:
        groups = [[i for i, t in enumerate(texts) if t.lower() == key] for key in dict.fromkeys(t.lower() for t in texts)]
    else:
        groups = group_similar(np.asarray(encode(texts), dtype=np.float32))
    groups.sort(key=lambda g: (-len(g), -max(g)))  # ties: the most recently asked first
    out = []
    for g in groups[:top]:
        wordings = list(dict.fromkeys(texts[i] for i in reversed(g)))
        out.append(Gap(wordings[0], len(g), wordings[1:4]))
    return out


def compute(questions: Sequence[dict], feedback: Sequence[dict],
            encode: Callable[[list[str]], np.ndarray] | None = None, *, top: int = 5) -> Stats:
    """From BotState.questions() and BotState.feedback_rows()."""
    per_day: dict[str, list[int]] = {}
    for q in questions:
        day = per_day.setdefault(q["created_at"][:10], [0, 0])
        day[0] += 1
        day[1] += int(bool(q["answered"]))
    confidences = [q["confidence"] for q in questions if q.get("confidence") is not None]
    reasons = Counter(f["reason"] for f in feedback if f["vote"] < 0 and f.get("reason"))
    details = [f["detail"] for f in feedback if f["vote"] < 0 and f.get("detail")][-5:]
    unanswered = [q["question"] for q in questions if not q["answered"]]
    return Stats(
        days=[(d, a, n) for d, (a, n) in sorted(per_day.items())],
        asked=len(questions), answered=sum(int(bool(q["answered"])) for q in questions),
        median_confidence=statistics.median(confidences) if confidences else None,
        up=sum(1 for f in feedback if f["vote"] > 0), down=sum(1 for f in feedback if f["vote"] < 0),
        reasons=reasons, details=details, gaps=gaps(unanswered, encode, top),
    )


def collect(service, *, guild_id: int | None = None, since: str | None = None) -> Stats:
    """Blocking: reads the bot's tables in the service's store and encodes the unanswered questions."""
    from bot.state import BotState

    state = BotState(service.store)
    return compute(state.questions(guild_id=guild_id, since=since),
                   state.feedback_rows(guild_id=guild_id, since=since), service.encoder.encode_queries)
