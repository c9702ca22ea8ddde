"""Each stage of Retriever.search on its own, on a small corpus (real model, FAISS, BM25, SQLite)."""
from __future__ import annotations

from datetime import date

import pytest

from corpus.model import Passage
from embeddings.search import (Hit, SearchConfig, _Candidate, apply_floor, date_bounds, fuse_scores,
                               recency_boosted)
from sample_articles import P1, P2, P3
from sample_articles import article as _art
from sample_articles import write_jsonl as _jsonl


@pytest.fixture
def retriever(make_service, tmp_path):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1, P2]), _art("a2", "2022-03-07", [P3])])])
    return svc.retriever()


def _passage(pid: int, article: str, published: str) -> Passage:
    return Passage(id=pid, article_id=article, position=0, section=None, text=f"text {pid}", title="t", url="u",
                   published=published, source="s")


def test_prepare_checks_the_question_and_settles_the_mode(retriever):
    s = retriever.prepare("  Baidu   robotaxi  ", mode="hybrid")
    assert s.question == "Baidu robotaxi" and s.mode == "hybrid" and s.limit == 5
    retriever.sparse = None
    assert retriever.prepare("Baidu robotaxi", mode="bm25").mode == "dense"  # no keyword index: dense


def test_bounds_narrow_to_the_question_dates_and_refuse_contradictions(retriever):
    s = retriever.prepare("Baidu robotaxi since 2022")
    assert retriever.bounds(s) and s.lo == "2022-01-01" and set(s.allowed) == retriever.store.passage_ids()
    s = retriever.prepare("Baidu robotaxi since 2022")
    assert not retriever.bounds(s, until="2021-06-30") and "no dates are both" in s.notes[-1]
    s = retriever.prepare("what happened in March 2022")
    assert retriever.bounds(s) and s.allowed is None
    assert {p.text for p in retriever.store.passages(s.window)} == {P3}


def test_candidates_carry_both_scores_and_keep_to_the_periods(retriever):
    s = retriever.prepare("Baidu robotaxi permit")
    assert retriever.bounds(s) and retriever.candidates(s)
    p3 = next(c for c in s.cands.values() if c.passage.text == P3)
    assert p3.cosine > 0.3 and p3.bm25 > 0 and 0 < p3.coverage <= 1
    s = retriever.prepare("Baidu robotaxi permit in 2019")
    assert retriever.bounds(s) and not retriever.candidates(s)
    assert "nothing from 2019" in s.notes[-1]


def test_fuse_scores_by_mode():
    cands = {1: _Candidate(_passage(1, "a", "2022-01-01"), cosine=0.8, coverage=0.0),
             2: _Candidate(_passage(2, "b", "2022-01-01"), cosine=0.4, coverage=1.0)}
    rel, rank = fuse_scores(cands, "dense", SearchConfig())
    assert rel == rank == {1: 0.8, 2: 0.4}
    rel, rank = fuse_scores(cands, "hybrid", SearchConfig(dense_weight=0.5))
    assert rel == pytest.approx({1: 0.4, 2: 0.7}) and rank is rel
    rel, rank = fuse_scores(cands, "hybrid", SearchConfig(fusion="rrf"))
    assert rel == pytest.approx({1: 0.4, 2: 0.7}) and rank[2] > rank[1]


def test_recency_lifts_the_newer_roundup():
    cands = {1: _Candidate(_passage(1, "a", "2020-01-01")), 2: _Candidate(_passage(2, "b", "2022-01-01"))}
    out = recency_boosted({1: 0.50, 2: 0.48}, cands, date(2020, 1, 1), date(2022, 1, 1), 0.05)
    assert out == pytest.approx({1: 0.50, 2: 0.53})


def test_diversify_spreads_the_top_over_roundups(retriever):
    s = retriever.prepare("Xiaomi store and Meituan riders", k=2)
    assert retriever.bounds(s) and retriever.candidates(s)
    retriever.fuse(s)
    retriever.recency(s)
    hits = retriever.diversify(s)
    assert len({h.passage.article_id for h in hits[:2]}) == 2  # distinct_top: one per roundup first
    together = retriever.diversify(s, diverse=False)
    assert [h.passage.article_id for h in together] == ["a1", "a1"]


def test_apply_floor_answers_refuses_and_trims():
    hits = [Hit(_passage(i, "a", "2022-01-01"), r, relevance=r) for i, r in enumerate([0.5, 0.3, 0.1])]
    kept, answered = apply_floor(hits, 0.35, 0.8)
    assert answered and [h.relevance for h in kept] == [0.5, 0.3]  # 0.3 >= 0.8 * 0.35; 0.1 is noise
    kept, answered = apply_floor(hits, 0.6, 0.8)
    assert not answered and len(kept) == 3  # refused: the closest misses are shown
    kept, answered = apply_floor(hits, 0.35, 0.8, offset=1, keep_below_floor=True)
    assert answered and len(kept) == 2


def test_the_stages_in_order_are_the_search(retriever):
    question = "Baidu robotaxi permit"
    s = retriever.prepare(question)
    assert retriever.bounds(s) and retriever.candidates(s)
    retriever.fuse(s)
    retriever.recency(s)
    hits, answered = retriever.decide(s, retriever.diversify(s), best_sentence=True)
    answer = retriever.search(question, best_sentence=True)
    assert answered == answer.answered
    assert [(h.passage.id, h.score, h.best_sentence) for h in hits] == \
        [(h.passage.id, h.score, h.best_sentence) for h in answer.hits]
    assert date_bounds(s.understanding, "2020-01-01", None) == ("2020-01-01", None)
