"""The values each setting accepts, checked once when Settings load (bot/settings.py).

A bad value (`ROUNDUP_RETRIEVAL=foo`, a top-k of 0, an unknown encoder backend) is refused at
start-up with one line naming the key, the value and what is accepted, so no command runs half
way on it. Settings without a rule accept any value of their type.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from digests.summary import MAX_ITEMS
from embeddings.encoder import BACKENDS
from embeddings.ranking import FUSIONS
from embeddings.search import MODES
from embeddings.sync import SENTENCE_MODES

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_TOP_K = 50  # as `ask -k`


@dataclass(frozen=True)
class Rule:
    ok: Callable[[object], bool]
    accepts: str  # "use dense, bm25 or hybrid", "use a whole number from 1 to 50"


def _words(options) -> str:
    options = list(options)
    return ", ".join(options[:-1]) + f" or {options[-1]}" if len(options) > 1 else options[0]


def choice(*options: str, any_case: bool = False) -> Rule:
    allowed = {o.lower() for o in options} if any_case else set(options)
    return Rule(lambda v: isinstance(v, str) and (v.lower() if any_case else v) in allowed, f"use {_words(options)}")


def whole(lo: int, hi: int | None = None) -> Rule:
    """An int from `lo` to `hi` (inclusive; no upper bound without one)."""
    span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
    return Rule(lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v and (hi is None or v <= hi),
                f"use a whole number {span}")


def number(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> Rule:
    """A finite number, at least `lo` (more than `lo` with `above`) and at most `hi`."""
    def ok(v: object) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (lo is None or (v > lo if above else v >= lo)) and (hi is None or v <= hi)

    if lo is not None and hi is not None:
        span = f"between {lo:g} and {hi:g}" if not above else f"over {lo:g} and at most {hi:g}"
    elif lo is not None:
        span = f"over {lo:g}" if above else f"of at least {lo:g}"
    else:
        span = "(a finite number)"
    return Rule(ok, f"use a number {span}" if lo is not None else "use a finite number")


INDEX_TYPE = Rule(lambda v: isinstance(v, str) and re.fullmatch(r"flat|auto|hnsw(?:[1-9]\d*)?", v) is not None,
                  "use flat, auto or hnswM (e.g. hnsw32)")
TOKEN_CODES = Rule(lambda v: isinstance(v, int) and not isinstance(v, bool) and v in (0, 8, 12, 16, 24, 32, 48, 64, 96),
                   "use 0 (int8, no codebook) or a divisor of the model's dimension: 8, 12, 16, 24, 32, 48, 64 or 96")
SHARE, POSITIVE, NON_NEGATIVE, FINITE = number(0, 1), number(0, above=True), number(0), number()

RULES: dict[str, Rule] = {
    "retrieval": choice(*MODES), "fusion": choice(*FUSIONS), "encoder_backend": choice(*BACKENDS),
    "index_type": INDEX_TYPE, "sentence_vectors": choice(*SENTENCE_MODES),
    "token_codes": TOKEN_CODES,
    "log_level": choice(*LOG_LEVELS, any_case=True),
    "top_k": whole(1, MAX_TOP_K), "digest_items": whole(1, MAX_ITEMS), "digest_post_hour": whole(0, 23),
    "hnsw_threshold": whole(1), "index_save_every": whole(1), "candidate_pool": whole(1), "rrf_k": whole(1),
    "cooldown_rate": whole(1), "max_concurrent_retrievals": whole(1), "crawl_max_pages": whole(1),
    "fetch_concurrency": whole(1), "fetch_per_host": whole(1), "max_body_bytes": whole(1),
    "feed_max_entries": whole(0), "retention_days": whole(0), "fetch_retries": whole(0),
    "period_slack_days": whole(0), "encoder_threads": whole(0), "distinct_top": whole(0),
    "dense_weight": SHARE, "sentence_weight": SHARE, "digest_topic_floor": SHARE, "same_story": SHARE,
    "secondary_floor": SHARE, "bm25_b": SHARE, "mmr_lambda": number(0, 1, above=True),
    "relevance_floor": FINITE, "dense_floor": FINITE, "bm25_floor": FINITE, "bm25_k1": NON_NEGATIVE,
    "expansion_weight": NON_NEGATIVE, "parent_weight": NON_NEGATIVE, "recency_boost": NON_NEGATIVE,
    "answer_kind_weight": NON_NEGATIVE, "restate_penalty": NON_NEGATIVE,
    "refresh_hours": NON_NEGATIVE, "alert_minutes": NON_NEGATIVE, "alert_recent_days": POSITIVE,
    "cooldown_per": POSITIVE, "backfill_status_seconds": POSITIVE, "fetch_timeout": POSITIVE,
    "fetch_connect_timeout": POSITIVE, "fetch_url_deadline": POSITIVE, "fetch_source_deadline": POSITIVE,
    "fetch_refresh_deadline": POSITIVE, "crawl_delay": NON_NEGATIVE, "fetch_backoff": NON_NEGATIVE,
    "fetch_backoff_max": NON_NEGATIVE, "fetch_retry_after_max": NON_NEGATIVE, "fetch_keepalive": NON_NEGATIVE,
}


def first_problem(values: Callable[[str], object], label: Callable[[str], str]) -> str | None:
    """The one-line complaint about the first setting out of range, or None when all are fine.
    `values(key)` reads a setting by its flat name; `label(key)` names it as the user set it."""
    for key, rule in RULES.items():
        value = values(key)
        if not rule.ok(value):
            return f"bad value for {label(key)}: {value!r}; {rule.accepts}"
    return None
