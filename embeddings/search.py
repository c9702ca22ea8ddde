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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np

from corpus.aliases import AliasTable
from corpus.model import Passage
from corpus.text import normalize_text, split_sentences
from embeddings.answerability import MODEL_FILE, AnswerabilityModel, Signals, load_model
from embeddings.decide import answer_signals
from embeddings.encoder import Encoder
from embeddings.extract import SentenceWeights, question_kind, score_sentences
from embeddings.index import VectorIndex
from embeddings.query import (Period, Understanding, mentions_month_soon_after, mentions_period, reporting_lag,
                              understand)
from embeddings.ranking import FUSIONS, diversify, rank_by, reciprocal_rank_fusion, weighted_sum
from embeddings.sentence_index import SentenceIndex
from embeddings.sparse import SparseIndex, query_terms, tokenize

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


class PassageSource(Protocol):
    """What retrieval needs of the store (corpus.store.Store provides it)."""

    def passages(self, ids: Iterable[int] | None = None) -> list[Passage]: ...

    def passage_ids_between(self, since: str | None, until: str | None) -> list[int]: ...


class QuestionError(ValueError):
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
    confidence: float | None = None  # the answerability model's probability that the roundups answer it
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
    q = " ".join((question or "").split())
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
    """How questions are searched; bot.settings.Settings fills it from ROUNDUP_* settings.

    Defaults are the values chosen on tests/eval/questions.jsonl (see README, "Retrieval quality").
    """

    mode: str = "hybrid"  # dense | bm25 | hybrid
    fusion: str = "weighted"  # weighted | rrf
    dense_weight: float = 0.5  # weighted fusion: share of the cosine; the rest is BM25 coverage
    rrf_k: int = 60
    floor: float = 0.294  # hybrid relevance floor
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
    sentence_weight: float = 0.3  # share of a passage's cosine taken from its closest sentence
    answer_kind_weight: float = 0.15  # best sentence: bonus for holding the kind of answer asked for
    restate_penalty: float = 0.15  # best sentence: malus for one that only restates the question
    local_sentence_weights: bool = False  # best sentence: a question word in every sentence counts less
    sentence_dense_weight: float | None = None  # best sentence: the cosine's share (None: dense_weight)
    answerability: bool = True  # hybrid: decide with the answerability model instead of the floor
    answerability_model: str | None = None  # path to a model JSON; None = the shipped one

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r} (use {', '.join(MODES)})")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r} (use {', '.join(FUSIONS)})")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be between 0 and 1, got {self.dense_weight}")
        if not 0.0 < self.mmr_lambda <= 1.0:
            raise ValueError(f"mmr_lambda must be in (0, 1], got {self.mmr_lambda}")

    def floor_for(self, mode: str) -> float:
        return {"hybrid": self.floor, "dense": self.dense_floor, "bm25": self.bm25_floor}[mode]


@dataclass
class _Candidate:
    passage: Passage
    cosine: float = 0.0
    bm25: float = 0.0
    coverage: float = 0.0


class Retriever:
    """Dense, keyword or hybrid retrieval with date understanding, diversity and a relevance floor.

    Cheap to build (it only holds references), so the service makes one per question.
    """

    def __init__(self, store: PassageSource, index: VectorIndex, encoder: Encoder, *,
                 sparse: SparseIndex | None = None, sentences: SentenceIndex | None = None,
                 aliases: AliasTable | None = None, config: SearchConfig | None = None,
                 floor: float | None = None, anchor: date | None = None, first: date | None = None):
        if config is None:
            # The original dense-only form: Retriever(store, index, encoder, floor=0.3)
            config = SearchConfig(mode="hybrid" if sparse is not None else "dense")
        if floor is not None:
            config = SearchConfig(**{**config.__dict__, "floor": floor, "dense_floor": floor})
        self.store = store
        self.index = index
        self.encoder = encoder
        self.sparse = sparse
        self.sentences = sentences
        self.aliases = aliases
        self.config = config
        self.anchor = anchor  # the newest roundup's date: "last week" counts back from it
        self.first = first

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
               best_sentence: bool = False, keep_below_floor: bool = False, as_typed: bool = False) -> Answer:
        """Ranked hits for `question`; `answered` says whether the top one clears the floor.

        Hits under the floor are dropped from an answer (kept when refused, to show the
        closest miss); `keep_below_floor` keeps them always, for the evaluation. `as_typed`
        skips query understanding (no aliases, no dates): the baselines the eval compares with.
        """
        start = time.perf_counter()
        cfg = self.config
        q = check_question(question)
        mode = mode or cfg.mode
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        if mode != "dense" and (self.sparse is None or not len(self.sparse)):
            mode = "dense"  # no keyword index (an empty store, or the old dense-only form)
        u = Understanding(q, normalize_text(q).lower(), [(q, 1.0)]) if as_typed else self.understand(q)
        notes: list[str] = []
        understood = _describe(u)
        if u.rewrites:
            notes.append("read " + ", ".join(f"{a!r} as {b}" for a, b in u.rewrites))

        def done(hits: list[Hit], answered: bool, confidence: float | None = None,
                 signals: Signals | None = None) -> Answer:
            return Answer(q, answered, hits, (time.perf_counter() - start) * 1000, since, until, notes, mode,
                          understood, confidence, signals)

        # Hard bounds: the caller's, narrowed by "since 2020" / "before 2015" in the question.
        lo = max(filter(None, [since, u.dates.since.isoformat() if u.dates.since else None]), default=None)
        hi = min(filter(None, [until, u.dates.until.isoformat() if u.dates.until else None]), default=None)
        if lo and hi and lo > hi:
            notes.append(f"no dates are both on or after {lo} and on or before {hi}")
            return done([], False)
        allowed = set(self.store.passage_ids_between(lo, hi)) if (lo or hi) else None
        if allowed is not None and not allowed:
            notes.append(_nothing_between(lo, hi, self.first, self.anchor))
            return done([], False)
        periods = u.dates.periods
        window = None
        if periods:
            window = set()
            for p in periods:
                lag = max(cfg.period_slack_days, reporting_lag(p), 62 if p.granularity in ("month", "day") else 0)
                window |= set(self.store.passage_ids_between(p.start.isoformat(), (p.end + timedelta(days=lag)).isoformat()))
            if allowed is not None:
                window &= allowed

        limit = k + offset
        pool = max(cfg.pool, 3 * limit)
        cands: dict[int, _Candidate] = {}
        qvec = None
        dense_rank: list[int] = []
        if mode in ("dense", "hybrid"):
            qvec = self.encoder.encode_query(u.dense_text)
            pairs = self.index.search(qvec, pool, allowed=allowed)
            if window:
                pairs += self.index.search(qvec, pool, allowed=window)
            dense_scores = dict(pairs)
            dense_rank = rank_by(dense_scores)
        sparse_scores = coverage = None
        terms: dict[str, float] = {}
        own: set[str] = set()
        if mode in ("bm25", "hybrid"):
            terms, own = query_terms(u.phrases)
            sparse_scores = self.sparse.scores(terms)
            coverage = self.sparse.coverage(sparse_scores, terms, own)
            top_ids = self._top_sparse(sparse_scores, pool, allowed) + (
                self._top_sparse(sparse_scores, pool, window) if window else [])
        else:
            top_ids = []
        ids = list(dict.fromkeys([*dense_rank, *top_ids]))
        for p in self.store.passages(ids):
            cands[p.id] = _Candidate(p)
        if periods:
            slack = timedelta(days=cfg.period_slack_days)
            cands = {i: c for i, c in cands.items() if _in_periods(c.passage, periods, slack)}
            if not cands:
                labels = " or ".join(p.label for p in periods)
                notes.append(f"the roundups have nothing from {labels}"
                             + (f"; they cover {self.first} to {self.anchor}" if self.first and self.anchor else ""))
                return done([], False)
        if not cands:
            return done([], False)

        order_ids = list(cands)
        if qvec is not None:
            missing = [i for i in order_ids if i not in dense_scores]
            if missing:
                dense_scores.update(zip(missing, (self.index.vectors(missing) @ qvec.reshape(-1)).tolist()))
            for i in order_ids:
                cands[i].cosine = float(dense_scores[i])
        if sparse_scores is not None:
            for i, row in zip(order_ids, self.sparse.rows(order_ids)):
                if row is not None:
                    cands[i].bm25 = float(sparse_scores[row])
                    cands[i].coverage = float(coverage[row])

        if qvec is not None and cfg.sentence_weight > 0 and self.sentences is not None:
            self._blend_sentences(cands, qvec, cfg.sentence_weight)
        cos = {i: c.cosine for i, c in cands.items()}
        cov = {i: c.coverage for i, c in cands.items()}
        if mode == "dense":
            relevance = ranking = cos
        elif mode == "bm25":
            relevance = ranking = cov
        else:
            relevance = weighted_sum(cos, cov, cfg.dense_weight)
            if cfg.fusion == "rrf":
                ranking = reciprocal_rank_fusion(
                    [rank_by(cos), [i for i in rank_by(cov) if cov[i] > 0]], k=cfg.rrf_k)
            else:
                ranking = relevance
        if u.dates.recent and cfg.recency_boost and self.first and self.anchor and self.anchor > self.first:
            span = (self.anchor - self.first).days
            ranking = {i: s + cfg.recency_boost * _age_share(cands[i].passage, self.first, span)
                       for i, s in ranking.items()}
        order = rank_by(ranking, tiebreak=relevance)

        head = order[: 3 * limit + 10]
        similarity = self._similarity(head) if diverse and (cfg.mmr_lambda < 1.0 or cfg.same_story) else None
        picks = diversify(head, ranking, limit=limit,
                          group_of={i: c.passage.article_id for i, c in cands.items()},
                          similarity=similarity, lam=cfg.mmr_lambda if diverse else 1.0,
                          distinct_top=cfg.distinct_top if diverse else 0, same_story=cfg.same_story or None)
        hits = [Hit(cands[p.id].passage, p.score, relevance=relevance[p.id]) for p in picks]
        floor = cfg.floor_for(mode)
        answered = bool(hits) and hits[0].relevance >= floor
        signals = confidence = None
        if hits and mode == "hybrid" and not as_typed:
            model = self.answerability_model
            signals = answer_signals(q, u, self.aliases, hits[0], list(cands.values()), cos[hits[0].passage.id],
                                     sorted(relevance.values(), reverse=True), own, terms, self.sparse)
            if model is not None:
                answered, confidence = model.answers(signals)
                if signals.names_pool < 1.0:
                    # It names a company or person no retrieved passage names: whatever came up is
                    # about something else.
                    answered = False
                    notes.append("no roundup passage names everything the question asks about")
        first = hits[0] if hits else None
        hits = hits[offset:]
        if answered and not keep_below_floor:
            # The floor decides whether to answer at all; a further passage just under it still
            # belongs in "More results", one far under it is noise.
            hits = [h for h in hits if h.relevance >= floor * cfg.secondary_floor or h is first]
        if best_sentence and hits:
            self._mark_best_sentences(q, hits, qvec, terms, own, mode)
        return done(hits, answered, confidence, signals)

    @property
    def answerability_model(self) -> AnswerabilityModel | None:
        if not self.config.answerability:
            return None
        return _cached_model(self.config.answerability_model)

    # -- helpers -----------------------------------------------------------------------

    def _top_sparse(self, scores: np.ndarray, n: int, restrict: set[int] | None) -> list[int]:
        ids = self.sparse.ids
        if restrict is not None:
            mask = np.isin(ids, np.fromiter(restrict, dtype=np.int64, count=len(restrict)))
            scores = np.where(mask, scores, 0.0)
        positive = int((scores > 0).sum())
        if not positive:
            return []
        n = min(n, positive)
        top = np.argpartition(-scores, n - 1)[:n]
        return [int(ids[r]) for r in top[np.argsort(-scores[top], kind="stable")]]

    def _blend_sentences(self, cands: dict[int, "_Candidate"], qvec: np.ndarray, weight: float) -> None:
        """A passage is as close to the question as its closest sentence, in part: an answer in a
        passage's second sentence is diluted in the whole passage's vector."""
        q = qvec.reshape(-1)
        for i, c in cands.items():
            vecs = self.sentences.get(i)
            if vecs is not None and len(vecs):
                best = float((np.asarray(vecs, dtype=np.float32) @ q).max())
                c.cosine = (1.0 - weight) * c.cosine + weight * best

    def _similarity(self, ids: list[int]):
        vecs = self.index.vectors(ids)
        sims = vecs @ vecs.T
        pos = {i: n for n, i in enumerate(ids)}
        return lambda a, b: float(sims[pos[a], pos[b]]) if a in pos and b in pos else 0.0

    def _mark_best_sentences(self, question: str, hits: list[Hit], qvec, terms: dict[str, float], own: set[str],
                             mode: str) -> None:
        """Each hit's sentence that best answers the question (embeddings/extract.py): cosine, the
        question's words, and an answer of the kind the question asks for."""
        qidf = {t: terms.get(t, 1.0) * self.sparse.idf(t) for t in own} if (self.sparse is not None and own) else {}
        hybrid_w = self.config.dense_weight if self.config.sentence_dense_weight is None \
            else self.config.sentence_dense_weight
        w = {"dense": 1.0, "bm25": 0.0, "hybrid": hybrid_w}[mode]
        kind = question_kind(question)
        for hit in hits:
            sents = split_sentences(hit.passage.text) or [hit.passage.text]
            if len(sents) == 1:
                hit.best_sentence = sents[0]
                continue
            dense = np.zeros(len(sents))
            vecs = self.sentences.get(hit.passage.id) if self.sentences is not None else None
            if qvec is not None and w > 0:
                if vecs is None or vecs.shape[0] != len(sents):
                    vecs = self.encoder.encode_queries(sents)  # not embedded at ingest: rare, slower
                dense = np.asarray(vecs, dtype=np.float32) @ qvec.reshape(-1)
            scores = score_sentences(sents, dense, [tokenize(x) for x in sents], qidf, kind,
                                     SentenceWeights(dense=w, lexical=1 - w, kind=self.config.answer_kind_weight,
                                                     restates=self.config.restate_penalty,
                                                     local=self.config.local_sentence_weights))
            hit.best_sentence = sents[int(np.argmax(scores))]


@functools.lru_cache(maxsize=4)
def _cached_model(path: str | None) -> AnswerabilityModel | None:
    """The configured model (or the shipped one); None, with one warning, if the shipped one is missing."""
    if path is None and not MODEL_FILE.exists():
        log.warning("no answerability model at %s: deciding by the relevance floor", MODEL_FILE)
        return None
    return load_model(Path(path) if path else None)


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


def _in_periods(p: Passage, periods: tuple[Period, ...], slack: timedelta) -> bool:
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

