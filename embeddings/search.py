"""Question in, ranked and cited passages out: dense, BM25 or hybrid retrieval.

The hybrid retriever searches the FAISS index with the question's embedding and the BM25
index with its words (names expanded through the alias table), fuses the two scores, keeps
to the dates the question names, spreads the top results over different roundups (MMR),
marks each passage's best sentence, and abstains when nothing clears the relevance floor.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from corpus.aliases import AliasTable
from corpus.errors import InputError
from corpus.model import Passage
from corpus.text import clean_question, normalize_text
from embeddings.answerability import AnswerabilityError, AnswerabilityModel, Signals, load_model, name_share
from embeddings.decide import (QuestionFocus, answer_signals, asking_skip, question_focus,
                               rerank_by_support, supports_needed)
from embeddings.days import DayFilter, DayTable
from embeddings.encoder import Encoder
from embeddings.extract import SentenceWeights, question_kind, score_sentences
from embeddings.index import VectorIndex
from embeddings.jobs import keyword_pool
from embeddings.query import (DateSpan, Understanding, mentions_month_soon_after, mentions_period, reporting_lag,
                              understand)
from embeddings.ranking import FUSIONS, rank_by, reciprocal_rank_fusion, roundup_key, weighted_sum
from embeddings.ranking import diversify as pick_diverse
from embeddings.sentence_index import SentenceIndex
from embeddings.query import STOPWORDS
from embeddings.spans import TokenVectors
from embeddings.sparse import SparseIndex, query_terms, tokenize
from embeddings.support import asked_words, support
from embeddings.textcache import sentences_of, terms_of
from embeddings.token_cache import TokenCache, passage_tokens

if TYPE_CHECKING:
    from embeddings.token_index import TokenIndex

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


class PassageSource(Protocol):
    """What retrieval needs of the store (corpus.store.Store provides it)."""

    def passages(self, ids: Iterable[int] | None = None) -> list[Passage]: ...

    def passage_ids_between(self, since: str | None, until: str | None) -> list[int]: ...


class QuestionError(InputError, ValueError):
    """A question we refuse to run, with a message fit to show the user as is."""


MODES = ("dense", "bm25", "hybrid")


@dataclass
class Hit:
    passage: Passage
    score: float  # what the list is ordered by; never rises down the list
    best_sentence: str | None = None
    relevance: float | None = None  # absolute, comparable across questions; the floor applies to it

    def to_dict(self) -> dict:
        p = self.passage
        return {
            "id": p.hex_id, "text": p.text, "title": p.title, "url": p.url, "published": p.published,
            "section": p.section, "source": p.source, "score": round(self.score, 4),
            "relevance": round(self.score if self.relevance is None else self.relevance, 4),
            "best_sentence": self.best_sentence,
        }


@dataclass
class Answer:
    question: str
    answered: bool
    hits: list[Hit]
    elapsed_ms: float
    since: str | None = None
    until: str | None = None
    notes: list[str] = field(default_factory=list)
    mode: str = "dense"
    understood: dict = field(default_factory=dict)  # names, periods and bounds read from the question
    confidence: float | None = None  # hybrid: the answerability model's probability that this answers it
    signals: Signals | None = None  # what that confidence was computed from

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answered": self.answered,
            "results": [h.to_dict() for h in self.hits], "elapsed_ms": round(self.elapsed_ms, 2),
            "since": self.since, "until": self.until, "mode": self.mode, "notes": self.notes,
            "understood": self.understood,
            "confidence": None if self.confidence is None else round(self.confidence, 3),
        }


def check_question(question: str) -> str:
    q = " ".join(clean_question(question or "").split())
    if not q:
        raise QuestionError("the question is empty: ask something, e.g. \"What did Huawei ship in 2019?\"")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return q


def embed_text(passage: Passage) -> str:
    """What gets embedded: the section heading gives a short paragraph its topic."""
    if passage.section:
        return f"{passage.section}. {passage.text}"
    return passage.text


@dataclass(frozen=True)
class SearchConfig:
    """How questions are searched; bot.settings.Settings holds one, read from ROUNDUP_* settings.

    Defaults are the values chosen on tests/eval/questions.jsonl (see README, "Retrieval quality").
    """

    mode: str = "hybrid"  # dense | bm25 | hybrid
    fusion: str = "weighted"  # weighted | rrf
    dense_weight: float = 0.5  # weighted fusion: share of the cosine; the rest is BM25 coverage
    rrf_k: int = 60
    floor: float = 0.291  # hybrid relevance floor (used when the answerability model is off, and for later hits)
    dense_floor: float = 0.444
    bm25_floor: float = 0.196
    pool: int = 50  # candidates taken from each retriever before fusion
    mmr_lambda: float = 1.0  # 1 = pure relevance; lower trades relevance for variety
    distinct_top: int = 3  # at most one passage per roundup in the first this-many results
    same_story: float = 0.85  # ... and per story: passages this similar are folded together (0 = off)
    period_slack_days: int = 10  # a weekly digest reports on the days before it was published
    expansion_weight: float = 1.0  # BM25 weight of alias expansions ("ant group" -> "Ant Financial")
    parent_weight: float = 0.5  # BM25 weight of a product's owner ("taobao" -> "Alibaba")
    recency_boost: float = 0.05  # "latest ...": the newest roundup gains this much
    secondary_floor: float = 0.8  # once answering, hits after the first need this share of the floor
    # Chosen on the dev split of tests/eval/heldout (README, "Answer quality on held-out roundups"):
    sentence_weight: float = 0.3  # share of a passage's cosine taken from its closest sentence
    answer_kind_weight: float = 0.15  # best sentence: bonus for holding the kind of answer asked for
    restate_penalty: float = 0.15  # best sentence: malus for one that only restates the question
    local_sentence_weights: bool = False  # best sentence: a question word in every sentence counts less
    sentence_dense_weight: float | None = None  # best sentence: the cosine's share (None: dense_weight)
    sentence_name_weight: float = 0.5  # best sentence: weight of the question's name words (1: like any word)
    sentence_variants: bool = True  # best sentence: words match on their first five letters ("founder"/"founded")
    # hybrid: the distinct top re-ordered by score + this x token-level support (embeddings/support.py): how
    # well each passage's tokens meet the words the question asks about, times its share of the question's
    # names. Only hits within this much of the first whose support can change the order are encoded
    # (embeddings/decide.py, supports_needed), so most questions pay nothing. 0 = off. Chosen on dev:
    # recall@1 0.883 -> 0.904 (0.15 gives 0.913 but refuses fewer unanswerable questions).
    support_rerank_weight: float = 0.1
    # support: encode only a passage's first this-many tokens (0: all): the encode's time grows with them. On
    # dev no figure moved at 64 (two questions' order behind a wrong first hit did); 48 cost a question at
    # recall@1, and a window around the closest sentence did worse than the first tokens at 32 and 48.
    support_max_tokens: int = 64
    # hybrid: the keyword side (BM25 scores and top) runs on another core while the question is encoded:
    # the same answers, `ask` p50 at 100k 4.9-5.6 -> 4.5-4.6 ms on 2 cores (benchmarks/bench_scale.py)
    parallel: bool = True
    answerability: bool = True  # hybrid: answer or refuse by the answerability model, not the floor
    answerability_model: str | None = None  # a model JSON; None: the one shipped (embeddings/answerability.json)

    def check(self) -> "SearchConfig":
        """Raise ValueError for a setting out of range. Not done on construction: Settings holds
        one from the moment it loads, and a bad retrieval setting must not stop `status`."""
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r} (use {', '.join(MODES)})")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r} (use {', '.join(FUSIONS)})")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be between 0 and 1, got {self.dense_weight}")
        if not 0.0 < self.mmr_lambda <= 1.0:
            raise ValueError(f"mmr_lambda must be in (0, 1], got {self.mmr_lambda}")
        if self.support_max_tokens < 0:
            raise ValueError(f"support_max_tokens must be 0 (all) or more, got {self.support_max_tokens}")
        if not 0.0 <= self.sentence_weight <= 1.0:
            raise ValueError(f"sentence_weight must be between 0 and 1, got {self.sentence_weight}")
        return self

    def floor_for(self, mode: str) -> float:
        return {"hybrid": self.floor, "dense": self.dense_floor, "bm25": self.bm25_floor}[mode]


@dataclass
class _Candidate:
    passage: Passage | None  # None until a stage needs it (`Retriever._load`): most candidates are never shown
    cosine: float = 0.0
    bm25: float = 0.0
    coverage: float = 0.0
    sentence_cosine: float | None = None  # its closest sentence's cosine, when sentence vectors were read


@dataclass
class Search:
    """One question on its way through the stages of `Retriever.search`; each stage fills a part."""

    question: str  # checked
    understanding: Understanding
    mode: str  # dense | bm25 | hybrid, as settled for this question
    limit: int  # hits wanted, counting those skipped by `offset`
    lo: str | None = None  # hard date bounds
    hi: str | None = None
    allowed: set[int] | DayFilter | None = None  # passages within them (None: no bounds)
    window: set[int] | DayFilter | None = None  # passages published in the periods the question names
    qvec: np.ndarray | None = None
    dense_scores: dict[int, float] = field(default_factory=dict)
    terms: dict[str, float] = field(default_factory=dict)  # keyword query, weighted
    own: set[str] = field(default_factory=set)  # the question's own terms
    sparse_scores: np.ndarray | None = None  # BM25 of every passage, aligned with the keyword index
    cands: dict[int, _Candidate] = field(default_factory=dict)
    relevance: dict[int, float] = field(default_factory=dict)  # absolute: the floor applies to it
    ranking: dict[int, float] = field(default_factory=dict)  # what orders the list
    notes: list[str] = field(default_factory=list)
    as_typed: bool = False  # no query understanding: a baseline for the eval
    confidence: float | None = None  # the answerability model's, hybrid only
    signals: Signals | None = None
    focus: QuestionFocus | None = None  # hybrid: the question's names and focus words
    qtokens: TokenVectors | None = None  # the question's token vectors, when support re-ranking is on
    lean: bool = False  # candidates' passages fetched when a stage needs them, not all at once


class _StalePassage(Exception):
    """A candidate the index returned is no longer in the store: the search is run again fetching
    every candidate up front, as a store changed under an index is handled (such hits are dropped)."""


class Retriever:
    """Dense, keyword or hybrid retrieval with date understanding, diversity and a relevance floor.

    Cheap to build (it only holds references), so the service makes one per question.
    """

    def __init__(self, store: PassageSource, index: VectorIndex, encoder: Encoder, *,
                 sparse: SparseIndex | None = None, sentences: SentenceIndex | None = None,
                 aliases: AliasTable | None = None, config: SearchConfig | None = None,
                 floor: float | None = None, anchor: date | None = None, first: date | None = None,
                 days: DayTable | None = None, token_cache: TokenCache | None = None, tokens: TokenIndex | None = None,
                 in_step: bool = False):
        if config is None:
            # The original dense-only form: Retriever(store, index, encoder, floor=0.3)
            config = SearchConfig(mode="hybrid" if sparse is not None else "dense")
        if floor is not None:
            config = replace(config, floor=floor, dense_floor=floor)
        config.check()
        self.store = store
        self.index = index
        self.encoder = encoder
        self.sparse = sparse
        self.sentences = sentences
        self.aliases = aliases
        self.config = config
        self.anchor = anchor  # the newest roundup's date: "last week" counts back from it
        self.first = first
        self.days = days  # publication days as arrays: date bounds become masks, not id sets
        self.token_cache = token_cache  # passages' token vectors for the support re-ranking, kept across questions
        self.tokens = tokens  # ... and those kept at ingest (embeddings/token_index.py), read instead of encoding
        # The store holds every passage the indexes return (the service knows: its snapshot is in step with the
        # store's generation), so a question fetches only the passages it looks at (`Search.lean`).
        self.in_step = in_step

    @property
    def floor(self) -> float:
        return self.config.floor_for(self.config.mode)

    # -- the search --------------------------------------------------------------------

    def understand(self, question: str) -> Understanding:
        known = self.sparse.knows if self.sparse is not None and len(self.sparse) else None
        return understand(question, aliases=self.aliases, anchor=self.anchor, known=known,
                          expansion_weight=self.config.expansion_weight, parent_weight=self.config.parent_weight)

    def search(self, question: str, *, k: int = 5, since: str | None = None, until: str | None = None,
               offset: int = 0, mode: str | None = None, diverse: bool = True,
               best_sentence: bool = False, keep_below_floor: bool = False, as_typed: bool = False,
               checked: bool = False,
               restrict: set[int] | frozenset[int] | None = None) -> Answer:
        """Ranked hits for `question`; `answered` says whether the top one clears the floor.

        `restrict` limits the search to those passage ids (what one server may see).

        Hits under the floor are dropped from an answer (kept when refused, to show the
        closest miss); `keep_below_floor` keeps them always, for the evaluation. `as_typed`
        skips query understanding (no aliases, no dates): the baselines the eval compares with.
        The stages below each take the `Search` the one before filled; a test can run any alone.
        """
        start = time.perf_counter()
        for lean in dict.fromkeys([self.in_step, False]):
            s = self.prepare(question, k=k, offset=offset, mode=mode, as_typed=as_typed, checked=checked)
            s.lean = lean
            understood = _describe(s.understanding)
            hits: list[Hit] = []
            answered = False
            try:
                if self.bounds(s, since, until, restrict) and self.candidates(s):
                    self.fuse(s)
                    self.recency(s)
                    hits, answered = self.decide(s, self.diversify(s, diverse=diverse), offset=offset,
                                                 keep_below_floor=keep_below_floor, best_sentence=best_sentence)
                break
            except _StalePassage:
                log.info("a candidate passage left the store: fetching every candidate")
        return Answer(s.question, answered, hits, (time.perf_counter() - start) * 1000, since, until, s.notes,
                      s.mode, understood, s.confidence, s.signals)

    # -- the stages --------------------------------------------------------------------

    def prepare(self, question: str, *, k: int = 5, offset: int = 0, mode: str | None = None,
                as_typed: bool = False, checked: bool = False) -> Search:
        """The question checked and understood (names, dates), and the retrieval mode settled."""
        q = question if checked else check_question(question)
        mode = mode or self.config.mode
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        if mode != "dense" and (self.sparse is None or not len(self.sparse)):
            mode = "dense"  # no keyword index (an empty store, or the old dense-only form)
        u = Understanding(q, normalize_text(q).lower(), [(q, 1.0)]) if as_typed else self.understand(q)
        s = Search(q, u, mode, limit=k + offset, as_typed=as_typed)
        if u.rewrites:
            s.notes.append("read " + ", ".join(f"{a!r} as {b}" for a, b in u.rewrites))
        return s

    def bounds(self, s: Search, since: str | None = None, until: str | None = None,
               restrict: set[int] | frozenset[int] | None = None) -> bool:
        """Hard date bounds (the caller's, narrowed by "since 2020" / "before 2015" in the question),
        kept to `restrict` when given, and the window of the periods it names. False, with a note,
        when no passage can qualify."""
        s.lo, s.hi = date_bounds(s.understanding, since, until)
        lo, hi = s.lo, s.hi
        if lo and hi and lo > hi:
            s.notes.append(f"no dates are both on or after {lo} and on or before {hi}")
            return False
        s.allowed = self._between(lo, hi) if (lo or hi) else None
        if s.allowed is not None and not len(s.allowed):
            s.notes.append(_nothing_between(lo, hi, self.first, self.anchor))
            return False
        if restrict is not None:  # what one server may see
            s.allowed = set(restrict) if s.allowed is None else set(s.allowed) & set(restrict)
            if not s.allowed:
                return False
        periods = s.understanding.dates.periods
        if periods:
            spans = []
            for p in periods:
                lag = max(self.config.period_slack_days, reporting_lag(p), 62 if p.granularity in ("month", "day") else 0)
                spans.append((p.start.isoformat(), (p.end + timedelta(days=lag)).isoformat()))
            if self.days is not None:
                window = self.days.between(*spans[0])
                for a, b in spans[1:]:
                    window = window.union(a, b)
                s.window = window.inside(s.allowed if isinstance(s.allowed, DayFilter) else None)
            else:
                s.window = set()
                for a, b in spans:
                    s.window |= set(self.store.passage_ids_between(a, b))
            if s.allowed is not None and not isinstance(s.allowed, DayFilter):
                s.window = set(s.window) & s.allowed  # a server's own passages: ids, not a day mask
        return True

    def _between(self, lo: str | None, hi: str | None) -> set[int] | DayFilter:
        """Passages published in [lo, hi]: a mask over the day arrays, or (without them) ids from the store."""
        if self.days is not None:
            return self.days.between(lo, hi)
        return set(self.store.passage_ids_between(lo, hi))

    def candidates(self, s: Search) -> bool:
        """Each retriever's best (overall and within the periods' window), kept to the periods,
        with both scores for every candidate. False when none is left."""
        pool = keyword_pool() if s.mode == "hybrid" and self.config.parallel else None
        if pool is not None:  # the keyword side on another core while the model runs here (GIL released)
            keywords = pool.submit(self._sparse_candidates, s)
            dense = self._dense_candidates(s)
            sparse = keywords.result()
        else:
            dense, sparse = self._dense_candidates(s), self._sparse_candidates(s)
        ids = list(dict.fromkeys([*dense, *sparse]))
        periods = s.understanding.dates.periods
        if s.lean and not periods:
            s.cands = {i: _Candidate(None) for i in ids}
        else:
            s.cands = {p.id: _Candidate(p) for p in self.store.passages(ids)}
        if periods:
            slack = timedelta(days=self.config.period_slack_days)
            s.cands = {i: c for i, c in s.cands.items() if _in_periods(c.passage, periods, slack)}
            if not s.cands:
                labels = " or ".join(p.label for p in periods)
                s.notes.append(f"the roundups have nothing from {labels}"
                               + (f"; they cover {self.first} to {self.anchor}" if self.first and self.anchor else ""))
                return False
        if not s.cands:
            return False
        self._score_candidates(s)
        if s.mode == "hybrid" and s.qvec is not None and self.config.sentence_weight > 0 and self.sentences is not None:
            self._blend_sentences(s.cands, s.qvec, self.config.sentence_weight)
        return True

    def fuse(self, s: Search) -> None:
        """Scores -> relevance (what the floor applies to) and ranking (what orders the list)."""
        s.relevance, s.ranking = fuse_scores(s.cands, s.mode, self.config)

    def recency(self, s: Search) -> None:
        """"Latest ..." questions: newer roundups gain up to `recency_boost` in the ranking."""
        cfg = self.config
        if s.understanding.dates.recent and cfg.recency_boost and self.first and self.anchor \
                and self.anchor > self.first:
            self._load(s, list(s.cands))
            s.ranking = recency_boosted(s.ranking, s.cands, self.first, self.anchor, cfg.recency_boost)

    def diversify(self, s: Search, *, diverse: bool = True) -> list[Hit]:
        """The first `limit` hits by ranking, spread over roundups and stories (MMR)."""
        cfg = self.config
        order = rank_by(s.ranking, tiebreak=s.relevance)
        head = order[: 3 * s.limit + 10]
        similarity = self._similarity(head) if diverse and (cfg.mmr_lambda < 1.0 or cfg.same_story) else None
        picks = pick_diverse(head, s.ranking, limit=s.limit, group_of=_Roundups(self, s, head),
                             similarity=similarity, lam=cfg.mmr_lambda if diverse else 1.0,
                             distinct_top=cfg.distinct_top if diverse else 0, same_story=cfg.same_story or None)
        self._load(s, [p.id for p in picks])
        return [Hit(s.cands[p.id].passage, p.score, relevance=s.relevance[p.id]) for p in picks]

    def decide(self, s: Search, hits: list[Hit], *, offset: int = 0, keep_below_floor: bool = False,
               best_sentence: bool = False) -> tuple[list[Hit], bool]:
        """Answer or refuse (hybrid: by the answerability model; otherwise, or without one, by the
        floor), drop the noise after the first hit, mark best sentences."""
        if s.mode == "hybrid" and not s.as_typed and hits:
            s.focus = question_focus(s.question, s.understanding, self.aliases, s.own, s.terms, self.sparse)
            hits = self._rerank_by_support(s, hits)
        verdict = self.answerable(s, hits)
        hits, answered = apply_floor(hits, self.config.floor_for(s.mode), self.config.secondary_floor,
                                     offset=offset, keep_below_floor=keep_below_floor, answered=verdict)
        if best_sentence and hits:
            names = s.focus.name_terms if s.focus is not None else frozenset()
            self._mark_best_sentences(s.question, hits, s.qvec, s.terms, s.own, s.mode, names)
        return hits, answered

    def answerable(self, s: Search, hits: list[Hit]) -> bool | None:
        """The answerability model's verdict on the first hit (and `s.confidence`), or None when it
        does not apply (not hybrid, a baseline, no model). A question naming a company or person no
        candidate passage names is refused whatever the confidence: what came up is about something else."""
        if not hits or s.mode != "hybrid" or s.as_typed:
            return None
        first = hits[0]
        cand = s.cands[first.passage.id]
        s.signals = answer_signals(s.question, s.understanding, self.aliases, first, lambda: self._loaded(s),
                                   cand.cosine, sorted(s.relevance.values(), reverse=True),
                                   s.own, s.terms, self.sparse, s.focus, cand.sentence_cosine)
        model = self.answerability_model
        if model is None:
            return None
        answered, s.confidence = model.answers(s.signals)
        if s.signals.names_pool < 1.0:
            s.notes.append("no roundup passage names everything the question asks about")
            return False
        return answered

    def _rerank_by_support(self, s: Search, hits: list[Hit]) -> list[Hit]:
        """The distinct top re-ordered by token-level support, for only the hits near the first whose
        support can change the order (`supports_needed`): their token vectors read from those kept
        at ingest (embeddings/token_index.py), else each encoded alone and remembered across
        questions (embeddings/token_cache.py). A hit left out keeps its score; the order is the one
        every support would give."""
        weight = self.config.support_rerank_weight
        if weight <= 0 or s.qtokens is None or s.focus is None or len(hits) < 2:
            return hits
        top = hits[: self.config.distinct_top or 5]
        near = [h for h in top if hits[0].score - h.score < weight]
        if len(near) < 2:
            return hits
        # As far as the passage names who the question asks about: one about someone else gains nothing.
        shares = [name_share(s.focus.names, _lowered(h.passage)) for h in near]
        need = supports_needed([h.score for h in near], shares, weight)  # the others cannot change the order
        if not need:
            return hits
        asked = asked_words(s.understanding.dense_text, s.qtokens, s.focus.weights, asking_skip(s.focus), tokenize,
                            STOPWORDS)
        if not asked:
            return hits
        tokens = passage_tokens(self.tokens, self.token_cache, self.encoder, [near[i].passage for i in need],
                                self.config.support_max_tokens or None)
        supports = [0.0] * len(near)
        for i, t in zip(need, tokens):
            supports[i] = max(0.0, support(s.qtokens, asked, t)) * shares[i]
        return rerank_by_support(hits, supports, weight)

    @property
    def answerability_model(self) -> AnswerabilityModel | None:
        if not self.config.answerability:
            return None
        return _cached_model(self.config.answerability_model)

    # -- helpers -----------------------------------------------------------------------

    def _load(self, s: Search, ids: list[int]) -> None:
        """The passages of these candidates, fetched in one read where not yet (a lean search)."""
        need = [i for i in ids if s.cands[i].passage is None]
        if not need:
            return
        got = {p.id: p for p in self.store.passages(need)}
        for i in need:
            if i not in got:
                raise _StalePassage(i)
            s.cands[i].passage = got[i]

    def _loaded(self, s: Search) -> list[_Candidate]:
        """Every candidate, passages fetched (the answerability names check may read them all)."""
        self._load(s, list(s.cands))
        return list(s.cands.values())

    def _dense_candidates(self, s: Search) -> list[int]:
        if s.mode not in ("dense", "hybrid"):
            return []
        pool = max(self.config.pool, 3 * s.limit)
        if self.config.support_rerank_weight > 0 and s.mode == "hybrid" and hasattr(self.encoder, "encode_query_tokens"):
            s.qvec, s.qtokens = self.encoder.encode_query_tokens(s.understanding.dense_text)  # one run, both
        else:
            s.qvec = self.encoder.encode_query(s.understanding.dense_text)
        pairs = self.index.search(s.qvec, pool, allowed=s.allowed)
        if s.window:
            pairs += self.index.search(s.qvec, pool, allowed=s.window)
        s.dense_scores = dict(pairs)
        return rank_by(s.dense_scores)

    def _sparse_candidates(self, s: Search) -> list[int]:
        if s.mode not in ("bm25", "hybrid"):
            return []
        pool = max(self.config.pool, 3 * s.limit)
        s.terms, s.own = query_terms(s.understanding.phrases)
        s.sparse_scores = self.sparse.scores(s.terms)
        return self._top_sparse(s.sparse_scores, pool, s.allowed) + (
            self._top_sparse(s.sparse_scores, pool, s.window) if s.window else [])

    def _score_candidates(self, s: Search) -> None:
        """Both scores for every candidate, including those only one retriever found."""
        order_ids, cands = list(s.cands), list(s.cands.values())
        if s.qvec is not None:
            dense = s.dense_scores
            missing = [i for i in order_ids if i not in dense]
            if missing:
                dense.update(zip(missing, (self.index.vectors(missing) @ s.qvec.reshape(-1)).tolist()))
            for i, c in zip(order_ids, cands):
                c.cosine = float(dense[i])
        if s.sparse_scores is not None:
            rows, found = self.sparse.row_array(order_ids)
            scores = s.sparse_scores[rows[found]]  # one gather, not one lookup per candidate
            coverage = self.sparse.coverage(scores, s.terms, s.own)  # the candidates' only, not every passage's
            have = [c for c, f in zip(cands, found.tolist()) if f]
            for c, bm25, cov in zip(have, scores.tolist(), coverage.tolist()):
                c.bm25, c.coverage = bm25, cov

    def _top_sparse(self, scores: np.ndarray, n: int, restrict: set[int] | None) -> list[int]:
        ids = self.sparse.ids
        if isinstance(restrict, DayFilter):
            scores = np.where(restrict.mask("sparse", ids), scores, 0.0)
        elif restrict is not None:
            mask = np.isin(ids, np.fromiter(restrict, dtype=np.int64, count=len(restrict)))
            scores = np.where(mask, scores, 0.0)
        positive = int(np.count_nonzero(scores))  # BM25 scores are never negative
        if not positive:
            return []
        n = min(n, positive)
        top = np.argpartition(-scores, n - 1)[:n]
        return [int(ids[r]) for r in top[np.argsort(-scores[top], kind="stable")]]

    def _similarity(self, ids: list[int]):
        vecs = self.index.vectors(ids)
        sims = vecs @ vecs.T
        pos = {i: n for n, i in enumerate(ids)}
        return lambda a, b: float(sims[pos[a], pos[b]]) if a in pos and b in pos else 0.0

    def _blend_sentences(self, cands: dict[int, _Candidate], qvec: np.ndarray, weight: float) -> None:
        """A passage is as close to the question as its closest sentence, in part: an answer in a
        passage's second sentence is diluted in the whole passage's vector."""
        best = self.sentences.best_cosines(list(cands), qvec)
        for c, b in zip(cands.values(), best.tolist()):
            if b == b:  # not NaN: the passage has sentence vectors
                c.sentence_cosine = b
                c.cosine = (1.0 - weight) * c.cosine + weight * b

    def _mark_best_sentences(self, question: str, hits: list[Hit], qvec, terms: dict[str, float], own: set[str],
                             mode: str, names: set[str] = frozenset()) -> None:
        """Each hit's sentence that best answers the question (embeddings/extract.py): cosine, the
        question's words, and an answer of the kind the question asks for."""
        cfg = self.config
        qidf = {t: terms.get(t, 1.0) * self.sparse.idf(t) for t in own} if (self.sparse is not None and own) else {}
        hybrid_w = cfg.dense_weight if cfg.sentence_dense_weight is None else cfg.sentence_dense_weight
        w = {"dense": 1.0, "bm25": 0.0, "hybrid": hybrid_w}[mode]
        weights = SentenceWeights(dense=w, lexical=1 - w, kind=cfg.answer_kind_weight, restates=cfg.restate_penalty,
                                  local=cfg.local_sentence_weights, names=cfg.sentence_name_weight,
                                  variants=cfg.sentence_variants)
        kind = question_kind(question)
        for hit in hits:
            sents = list(sentences_of(hit.passage.text)) or [hit.passage.text]
            if len(sents) == 1:
                hit.best_sentence = sents[0]
                continue
            dense = np.zeros(len(sents))
            vecs = self.sentences.get(hit.passage.id) if self.sentences is not None else None
            if qvec is not None and w > 0:
                if vecs is None or vecs.shape[0] != len(sents):
                    encode = getattr(self.encoder, "encode_passages", self.encoder.encode_queries)
                    vecs = encode(sents)  # not embedded at ingest: rare, slower
                dense = np.asarray(vecs, dtype=np.float32) @ qvec.reshape(-1)
            scores = score_sentences(sents, dense, [terms_of(x) for x in sents], qidf, kind, weights, question, names)
            hit.best_sentence = sents[int(np.argmax(scores))]


@functools.lru_cache(maxsize=4)
def _cached_model(path: str | None) -> AnswerabilityModel | None:
    """The configured model (or the shipped one); None, with one warning, if it is missing or unusable:
    answering then falls back to the relevance floor rather than failing every question."""
    try:
        return load_model(Path(path) if path else None)
    except AnswerabilityError as exc:
        log.warning("%s: deciding by the relevance floor", exc)
        return None


class _Roundups(Mapping):
    """Candidate id -> its roundup (`roundup_key`), for `diversify`'s one-per-roundup rule, fetching
    passages only as it asks: it looks at the first few of the head, rarely all of them. Each fetch
    reads the next `s.limit` of the head from the one asked about: the hits, when none waits."""

    def __init__(self, retriever: Retriever, s: Search, head: list[int]):
        self._retriever, self._s, self._head = retriever, s, head
        self._pos = {i: n for n, i in enumerate(head)}
        self._chunk = max(1, s.limit)

    def __getitem__(self, i: int) -> str:
        n = self._pos[i]  # KeyError: not a candidate of the head
        cand = self._s.cands[i]
        if cand.passage is None:
            self._retriever._load(self._s, self._head[n:n + self._chunk])
        return roundup_key(cand.passage)

    def __iter__(self):
        return iter(self._head)

    def __len__(self) -> int:
        return len(self._head)


def _lowered(p: Passage) -> str:
    return f"{p.section or ''} {p.text}".lower()


def date_bounds(u: Understanding, since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """The narrower of the caller's bounds and the question's own ("since 2020", "before 2015")."""
    lo = max(filter(None, [since, u.dates.since.isoformat() if u.dates.since else None]), default=None)
    hi = min(filter(None, [until, u.dates.until.isoformat() if u.dates.until else None]), default=None)
    return lo, hi


def fuse_scores(cands: dict[int, _Candidate], mode: str, cfg: SearchConfig) -> tuple[dict, dict]:
    """(relevance, ranking) per candidate id: the cosine, the BM25 coverage, or both fused."""
    cos = {i: c.cosine for i, c in cands.items()}
    cov = {i: c.coverage for i, c in cands.items()}
    if mode == "dense":
        return cos, cos
    if mode == "bm25":
        return cov, cov
    relevance = weighted_sum(cos, cov, cfg.dense_weight)
    if cfg.fusion == "rrf":
        return relevance, reciprocal_rank_fusion([rank_by(cos), [i for i in rank_by(cov) if cov[i] > 0]],
                                                 k=cfg.rrf_k)
    return relevance, relevance


def recency_boosted(ranking: dict[int, float], cands: dict[int, _Candidate], first: date, anchor: date,
                    boost: float) -> dict[int, float]:
    """Each ranking score plus `boost` times how late in the corpus's span its roundup came."""
    span = (anchor - first).days
    return {i: s + boost * _age_share(cands[i].passage, first, span) for i, s in ranking.items()}


def apply_floor(hits: list[Hit], floor: float, secondary: float, *, offset: int = 0,
                keep_below_floor: bool = False, answered: bool | None = None) -> tuple[list[Hit], bool]:
    """Answered when the first hit clears the floor (or as `answered` says: the answerability
    model's verdict); then later hits need `secondary` of the floor.

    A further passage just under the floor still belongs in "More results", one far under it is noise.
    """
    answered = (bool(hits) and hits[0].relevance >= floor) if answered is None else (bool(hits) and answered)
    first = hits[0] if hits else None
    hits = hits[offset:]
    if answered and not keep_below_floor:
        hits = [h for h in hits if h.relevance >= floor * secondary or h is first]
    return hits, answered


def _describe(u: Understanding) -> dict:
    out: dict = {}
    if u.names:
        out["names"] = u.names
    if u.dates.periods:
        out["periods"] = [{"label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat()}
                          for p in u.dates.periods]
    if u.dates.since:
        out["since"] = u.dates.since.isoformat()
    if u.dates.until:
        out["until"] = u.dates.until.isoformat()
    if u.dates.recent:
        out["recent"] = True
    return out


def _in_periods(p: Passage, periods: tuple[DateSpan, ...], slack: timedelta) -> bool:
    """Published during a period (or within `slack` after it), or naming it in its text."""
    published = date.fromisoformat(p.published) if p.published else None
    for period in periods:
        lag = max(slack, timedelta(days=reporting_lag(period)))
        if published is not None and period.start <= published <= period.end + lag:
            return True
        if mentions_period(p.text, period) or mentions_month_soon_after(p.text, period, published):
            return True
    return False


def _age_share(p: Passage, first: date, span: int) -> float:
    if not p.published:
        return 0.0
    return max(0.0, min(1.0, (date.fromisoformat(p.published) - first).days / span))


def _nothing_between(lo: str | None, hi: str | None, first: date | None, last: date | None) -> str:
    what = f"between {lo} and {hi}" if lo and hi else (f"since {lo}" if lo else f"before {hi}")
    cover = f"; they cover {first} to {last}" if first and last else ""
    return f"the roundups have nothing published {what}{cover}"

