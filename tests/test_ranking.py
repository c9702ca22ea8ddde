"""Fusion, diversity and floor calibration: pure functions checked against hand-computed numbers."""
from __future__ import annotations

import random

import pytest

from embeddings.evaluation import loo_correct, mrr_at, recall_at
from embeddings.ranking import choose_floor, diversify, rank_by, reciprocal_rank_fusion, weighted_sum


def test_weighted_sum_by_hand():
    fused = weighted_sum({"a": 0.8, "b": 0.2, "d": -0.3}, {"b": 1.0, "c": 0.5}, 0.25)
    # a: .25*.8 = .2; b: .25*.2 + .75*1 = .8; c: .75*.5 = .375; d: a negative cosine counts as 0
    assert fused == pytest.approx({"a": 0.2, "b": 0.8, "c": 0.375, "d": 0.0})
    assert rank_by(fused) == ["b", "c", "a", "d"]


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_weighted_sum_rejects_weights_outside_0_1(weight):
    with pytest.raises(ValueError):
        weighted_sum({"a": 1.0}, {}, weight)


def test_rrf_by_hand():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert rank_by(fused) == ["a", "c", "b"]
    weighted = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=0, weights=[2.0, 1.0])
    assert weighted == pytest.approx({"a": 2 / 1 + 1 / 2, "b": 2 / 2 + 1 / 1})


def test_rank_by_breaks_ties_by_tiebreak_then_id():
    assert rank_by({"b": 1.0, "a": 1.0, "c": 1.0}, tiebreak={"c": 0.5}) == ["c", "a", "b"]


def test_one_passage_per_article_in_the_top_three():
    rel = {"a1": 0.9, "a2": 0.85, "b1": 0.5, "c1": 0.4, "a3": 0.3}
    groups = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "c1": "C"}
    picks = diversify(list(rel), rel, limit=5, group_of=groups)
    assert [p.id for p in picks] == ["a1", "b1", "c1", "a2", "a3"]
    # a2 waited for the top three; it comes back capped at the third's value, so scores never rise
    assert [p.score for p in picks] == pytest.approx([0.9, 0.5, 0.4, 0.4, 0.3])
    undiverse = diversify(list(rel), rel, limit=5, group_of=groups, distinct_top=0)
    assert [p.id for p in undiverse] == ["a1", "a2", "b1", "c1", "a3"]


def test_waiting_passages_come_back_when_nothing_else_is_left():
    rel = {"a1": 0.9, "a2": 0.8, "b1": 0.5}
    groups = {"a1": "A", "a2": "A", "b1": "B"}
    picks = diversify(list(rel), rel, limit=5, group_of=groups)
    assert [p.id for p in picks] == ["a1", "b1", "a2"]
    assert [p.score for p in picks] == pytest.approx([0.9, 0.5, 0.5])


def test_same_story_from_another_roundup_waits_too():
    rel = {"p": 0.9, "q": 0.88, "r": 0.5, "s": 0.4}
    sims = {frozenset("pq"): 0.9, frozenset("pr"): 0.1, frozenset("ps"): 0.2, frozenset("qr"): 0.1,
            frozenset("qs"): 0.2, frozenset("rs"): 0.3}
    sim = lambda a, b: sims[frozenset((a, b))]  # noqa: E731
    picks = diversify(list(rel), rel, limit=4, group_of={}, similarity=sim, same_story=0.85)
    assert [p.id for p in picks] == ["p", "r", "s", "q"]
    assert [p.id for p in diversify(list(rel), rel, limit=4, group_of={}, similarity=sim)] == ["p", "q", "r", "s"]


def test_mmr_penalty_by_hand():
    rel = {"x": 1.0, "y": 0.9, "z": 0.7}
    sims = {frozenset("xy"): 0.9, frozenset("xz"): 0.1, frozenset("yz"): 0.2}
    sim = lambda a, b: sims[frozenset((a, b))]  # noqa: E731
    # lam 0.5: penalty (1 - .5) / .5 * top(1.0) = 1 per unit of similarity
    picks = diversify(list(rel), rel, limit=3, group_of={}, similarity=sim, lam=0.5, distinct_top=0)
    assert [p.id for p in picks] == ["x", "z", "y"]
    assert [p.score for p in picks] == pytest.approx([1.0, 0.7 - 0.1, 0.9 - 0.9])
    # the same choice on a scale 100 times smaller (RRF scores): lam means the same
    small = {k: v / 100 for k, v in rel.items()}
    assert [p.id for p in diversify(list(small), small, limit=3, group_of={}, similarity=sim, lam=0.5,
                                    distinct_top=0)] == ["x", "z", "y"]


def test_diversified_scores_never_rise_down_the_list():
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 12)
        ids = list(range(n))
        rel = {i: rng.random() for i in ids}
        groups = {i: rng.randint(0, 3) for i in ids}
        sims = {(a, b): rng.random() for a in ids for b in ids}
        picks = diversify(rank_by(rel), rel, limit=rng.randint(1, n), group_of=groups,
                          similarity=lambda a, b: sims[min(a, b), max(a, b)], lam=rng.choice([1.0, 0.8, 0.5]),
                          same_story=rng.choice([None, 0.9]))
        scores = [p.score for p in picks]
        assert scores == sorted(scores, reverse=True)
        assert len({p.id for p in picks}) == len(picks)
        top = [groups[p.id] for p in picks[:3]]
        if len(set(groups.values())) >= 3 and len(picks) >= 3:
            assert len(set(top)) == len(top)


def test_choose_floor_takes_the_middle_of_the_widest_best_gap():
    assert choose_floor([0.1, 0.2, 0.6, 0.7], [False, False, True, True], [False, False, True, True]) == (0.4, 4)
    # answering all gets 2 right, refusing under .6 also 2: the wider gap (0 to .3) wins
    assert choose_floor([0.3, 0.5, 0.6], [True, False, True], [True, False, True]) == (0.15, 2)
    # an answerable question without a right passage is never a right call, answered or not
    assert choose_floor([0.9], [True], [False]) == (0.45, 0)


def test_leave_one_out_is_no_better_than_calibrating_on_everything():
    tops = [0.1, 0.25, 0.3, 0.5, 0.6, 0.7]
    answerable = [False, False, True, False, True, True]
    correct = [False, False, True, False, True, True]
    _, best = choose_floor(tops, answerable, correct)
    assert loo_correct(tops, answerable, correct) <= best
    # perfectly separated data loses nothing
    assert loo_correct([0.1, 0.2, 0.8, 0.9], [False, False, True, True], [False, False, True, True]) == 4


def test_recall_and_mrr_by_hand():
    ranks = [1, 3, None, 7, 12]
    assert recall_at(ranks, 1) == pytest.approx(1 / 5)
    assert recall_at(ranks, 5) == pytest.approx(2 / 5)
    assert mrr_at(ranks, 10) == pytest.approx((1 + 1 / 3 + 1 / 7) / 5)


def test_copies_of_one_roundup_share_a_roundup_key():
    from corpus.model import Passage
    from embeddings.ranking import roundup_key

    def p(article, url):
        return Passage(id=1, article_id=article, position=0, section=None, text="t", title="T", url=url,
                       published="2019-11-03")

    assert roundup_key(p("cr-1", "http://x.com/a/")) == roundup_key(p("seed-1", "https://X.com/a"))
    assert roundup_key(p("cr-1", "http://x.com/a")) != roundup_key(p("cr-2", "http://x.com/b"))
    assert roundup_key(p("a", "")) != roundup_key(p("b", ""))
