"""Run the evaluation set through the retrievers: the numbers behind every retrieval default.

`roundup-bot eval FILE` prints recall@1, recall@5, MRR@10, answer and refusal rates and
latency for dense-only, BM25-only and hybrid retrieval side by side. The baselines search
the question as typed, as a single retriever would; hybrid is what `ask` does (query
understanding, both retrievers, fusion, diversity). `ablation=True` adds the cross terms
(each retriever with query understanding, hybrid without), so the README can say where
the gains come from. `calibrate=True` finds each system's best relevance floor.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from embeddings.evaluation import (DUPLICATE_COSINE, EvalQuestion, ModeSummary, Outcome, first_relevant_rank, loo_correct,
                                   resolve_labels, summarise_outcomes)
from embeddings.ranking import choose_floor

log = logging.getLogger(__name__)

# name -> (retrieval mode, question as typed?)
SYSTEMS: dict[str, tuple[str, bool]] = {"dense": ("dense", True), "bm25": ("bm25", True), "hybrid": ("hybrid", False)}
ABLATIONS: dict[str, tuple[str, bool]] = {"dense+qu": ("dense", False), "bm25+qu": ("bm25", False),
                                          "hybrid-qu": ("hybrid", True)}


@dataclass
class EvalReport:
    summaries: dict[str, ModeSummary]
    calibrated: dict[str, dict] = field(default_factory=dict)  # system -> {"floor", "correct", "of", "loo", "summary"}
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    passages: int = 0

    def to_dict(self, *, details: bool = False) -> dict:
        out: dict = {"passages": self.passages, "systems": {m: asdict(s) for m, s in self.summaries.items()}}
        if self.calibrated:
            out["calibrated"] = {m: {k: (asdict(v) if k == "summary" else v) for k, v in c.items()}
                                 for m, c in self.calibrated.items()}
        if details:
            out["questions"] = {
                m: [{"id": o.question.id, "question": o.question.question, "rank": o.rank, "answered": o.answered,
                     "top_relevance": round(o.top_relevance, 4), "ms": round(o.ms, 2)} for o in outs]
                for m, outs in self.outcomes.items()}
        return out


def at_floor(outcomes: Sequence[Outcome], floor: float) -> list[Outcome]:
    """The same rankings judged against another floor (answered = some hit and top relevance >= floor)."""
    return [Outcome(o.question, o.ranked, bool(o.ranked) and o.top_relevance >= floor, o.top_relevance, o.ms, o.rank,
                    o.duplicate_top3) for o in outcomes]


def _repeats_story(retriever, ids: list[int]) -> bool:
    if len(ids) < 2:
        return False
    vecs = retriever.index.vectors(ids)
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, 0.0)
    return bool(sims.max() >= DUPLICATE_COSINE)


def run_eval(service, questions: Sequence[EvalQuestion], *, systems: Sequence[str] | None = None, k: int = 10,
             calibrate: bool = False, ablation: bool = False) -> EvalReport:
    """Every question through every system, timed one by one after a warm-up."""
    table = {**SYSTEMS, **ABLATIONS}
    names = list(systems or SYSTEMS) + (list(ABLATIONS) if ablation else [])
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown system {unknown[0]!r} (use {', '.join(table)})")
    service.ensure_ready()
    passages = service.store.passages()
    relevant = resolve_labels(questions, passages)
    retriever = service.retriever()
    cfg = retriever.config
    for name in names:  # first calls pay for lazy imports and caches; keep them out of the timings
        mode, as_typed = table[name]
        retriever.search("warm up question about tencent in 2019", k=k, mode=mode, as_typed=as_typed)
    report = EvalReport(summaries={}, passages=len(passages))
    for name in names:
        mode, as_typed = table[name]
        outcomes: list[Outcome] = []
        for q in questions:
            t0 = time.perf_counter()
            answer = retriever.search(q.question, k=k, mode=mode, keep_below_floor=True, as_typed=as_typed)
            ms = (time.perf_counter() - t0) * 1000
            ranked = [h.passage.id for h in answer.hits]
            top = answer.hits[0].relevance if answer.hits else 0.0
            rank = first_relevant_rank(ranked, relevant[q.id]) if q.answerable else None
            outcomes.append(Outcome(q, ranked, answer.answered, float(top or 0.0), ms, rank,
                                    _repeats_story(retriever, [h.passage.id for h in answer.hits[:3]])))
        report.outcomes[name] = outcomes
        report.summaries[name] = summarise_outcomes(name, cfg.floor_for(mode), outcomes)
        if calibrate:
            tops = [o.top_relevance if o.ranked else 0.0 for o in outcomes]
            answerable = [o.question.answerable for o in outcomes]
            correct = [o.rank is not None and o.rank <= 5 for o in outcomes]
            floor, count = choose_floor(tops, answerable, correct)
            report.calibrated[name] = {"floor": floor, "correct": count, "of": len(outcomes),
                                       "loo": loo_correct(tops, answerable, correct),
                                       "summary": summarise_outcomes(name, floor, at_floor(outcomes, floor))}
    return report
