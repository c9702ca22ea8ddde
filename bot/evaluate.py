"""Run the evaluation set through the retrievers: the numbers behind every retrieval default.

`roundup-bot eval FILE` prints recall@1, recall@5, MRR@10, answer and refusal rates and
latency for dense-only, BM25-only and hybrid retrieval side by side. The baselines search
the question as typed, as a single retriever would; hybrid is what `ask` does (query
understanding, both retrievers, fusion, diversity). `ablation=True` adds the cross terms
(each retriever with query understanding, hybrid without), so the README can say where
the gains come from. `calibrate=True` finds each system's best relevance floor.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING
from pathlib import Path
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from embeddings.evaluation import (DUPLICATE_COSINE, EvalError, EvalQuestion, ModeSummary, Outcome, first_relevant_rank,
                                   load_questions, loo_correct, resolve_labels, summarise_outcomes)
from embeddings.ranking import choose_floor

if TYPE_CHECKING:
    from embeddings.answerability import AnswerabilityModel

log = logging.getLogger(__name__)

# name -> (retrieval mode, question as typed?)
SYSTEMS: dict[str, tuple[str, bool]] = {"dense": ("dense", True), "bm25": ("bm25", True), "hybrid": ("hybrid", False)}
ABLATIONS: dict[str, tuple[str, bool]] = {"dense+qu": ("dense", False), "bm25+qu": ("bm25", False),
                                          "hybrid-qu": ("hybrid", True)}


ID_LISTS = ("misses", "wrong_answers", "unanswered")  # per-question ids in a summary


@dataclass
class EvalReport:
    summaries: dict[str, ModeSummary]
    calibrated: dict[str, dict] = field(default_factory=dict)  # system -> {"floor", "correct", "of", "loo", "summary"}
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    passages: int = 0
    splits: dict[str, dict[str, ModeSummary]] = field(default_factory=dict)  # split -> system -> summary

    def to_dict(self, *, details: bool = False) -> dict:
        out: dict = {"passages": self.passages, "systems": {m: asdict(s) for m, s in self.summaries.items()}}
        if self.splits:
            out["splits"] = {sp: {m: asdict(s) for m, s in by.items()} for sp, by in self.splits.items()}
            # A frozen test split shows aggregates only: no question ids, here or in the whole-set lines.
            frozen = [*out["splits"].get("test", {}).values(), *out["systems"].values()] if "test" in out["splits"] else []
            for summary in frozen:
                for key in ID_LISTS:
                    summary.pop(key, None)
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
    return [dataclasses.replace(o, answered=bool(o.ranked) and o.top_relevance >= floor) for o in outcomes]


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
    bold = any(q.answer for q in questions)  # answer-in-bold needs each hit's best sentence
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
            answer = retriever.search(q.question, k=k, mode=mode, keep_below_floor=True, as_typed=as_typed,
                                      best_sentence=bold)
            ms = (time.perf_counter() - t0) * 1000
            ranked = [h.passage.id for h in answer.hits]
            top = answer.hits[0].relevance if answer.hits else 0.0
            rank = first_relevant_rank(ranked, relevant[q.id]) if q.answerable else None
            outcomes.append(Outcome(q, ranked, answer.answered, float(top or 0.0), ms, rank,
                                    _repeats_story(retriever, [h.passage.id for h in answer.hits[:3]]),
                                    answer.hits[0].best_sentence if answer.hits else None, answer.confidence,
                                    answer.signals))
        report.outcomes[name] = outcomes
        report.summaries[name] = summarise_outcomes(name, cfg.floor_for(mode), outcomes)
        for split in sorted({q.split for q in questions if q.split}):
            part = [o for o in outcomes if o.question.split == split]
            report.splits.setdefault(split, {})[name] = summarise_outcomes(name, cfg.floor_for(mode), part)
        if calibrate:
            tops = [o.top_relevance if o.ranked else 0.0 for o in outcomes]
            answerable = [o.question.answerable for o in outcomes]
            correct = [o.rank is not None and o.rank <= 5 for o in outcomes]
            floor, count = choose_floor(tops, answerable, correct)
            report.calibrated[name] = {"floor": floor, "correct": count, "of": len(outcomes),
                                       "loo": loo_correct(tops, answerable, correct),
                                       "summary": summarise_outcomes(name, floor, at_floor(outcomes, floor))}
    return report


# --- the held-out set ------------------------------------------------------------------------

def load_eval_set(path: Path) -> tuple[list[EvalQuestion], list[Path]]:
    """A question file (over the corpus in the data directory), or a held-out directory:
    questions-*.jsonl over its own articles-*.jsonl, read beside the bundled sample."""
    path = Path(path)
    if not path.is_dir():
        return load_questions(path), []
    question_files = sorted(path.glob("questions-*.jsonl"))
    article_files = sorted(path.glob("articles-*.jsonl"))
    if not question_files or not article_files:
        raise EvalError(f"{path}: a held-out directory needs questions-*.jsonl and articles-*.jsonl files")
    questions = [q for f in question_files for q in load_questions(f)]
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise EvalError(f"{path}: duplicate question id {q.id!r}")
        seen.add(q.id)
    return questions, article_files


def heldout_service(settings, article_files: Sequence[Path], *, encoder=None):
    """A service over its own data directory (DATA_DIR/eval/heldout) holding the bundled sample and
    every held-out article; built once, then reused (ingest is idempotent)."""
    from bot.service import RoundupService

    data_dir = settings.data_dir / "eval" / "heldout"
    service = RoundupService(settings.replace(data_dir=data_dir, auto_ingest_bundled=True, sample=True), encoder=encoder)
    service.ensure_ready()
    report = service.ingest(article_files)
    if report.errors:
        service.close()
        raise EvalError(f"held-out articles failed to ingest: {report.errors[0]}")
    return service


def fit_answerability(report: EvalReport, *, split: str = "dev", min_answered: float = 0.92,
                      source: str = "") -> tuple["AnswerabilityModel", dict]:
    """The answerability model fitted on one split's hybrid outcomes (never the test split)."""
    from embeddings.answerability import fit_model

    if split == "test":
        raise EvalError("the test split is frozen: fit on dev")
    rows = [o for o in report.outcomes.get("hybrid", []) if o.question.split == split and o.signals is not None]
    if not rows:
        raise EvalError(f"no hybrid outcomes with signals on the {split} split")
    labels = [o.question.answerable and o.rank is not None and o.rank <= 5 for o in rows]
    answerable = [o.question.answerable for o in rows]
    # Questions on one article share their passages: keep them in one fold (an unanswerable one stands alone).
    groups = [o.question.labels[0].article if o.question.labels else f"q:{o.question.id}" for o in rows]
    return fit_model([o.signals for o in rows], labels, answerable, min_answered=min_answered, groups=groups,
                     provenance={"data": source, "split": split, "questions": len(rows),
                                 "label": "answerable and a right passage in the top 5",
                                 "threshold_rule": f"highest cut answering >= {min_answered:.0%} of answerable "
                                                   "dev questions, on out-of-fold confidences (folds by article)"})
