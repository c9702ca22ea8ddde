"""The digest's stages called one at a time, on hand-made passages with the real model."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.charts import chart_filename
from corpus.mentions import mention_matcher
from corpus.model import Passage, passage_id
from digests.periods import Period
from digests.summary import (Cluster, about_the_column, DigestOptions, SentenceVectors, Topic, candidate_sentences, cluster_passages,
                             copy_rows, draft_items, name_stats, period_rows, pick_sentences, ranked_candidates,
                             topic_filter)

ROOT = Path(__file__).resolve().parents[1]
WEEK = Period("2022-03-01", "2022-03-07", "a week")

XIAOMI = "Xiaomi opened its first flagship store in Madrid, selling phones and scooters to shoppers who queued overnight."
XIAOMI_AGAIN = "Xiaomi has opened its first flagship shop in Madrid, where shoppers queued overnight for its phones."
BAIDU = "Baidu began testing 20 driverless taxis without safety drivers on public roads in Wuhan this spring."
FRAMING = "thanks for reading and see you again next week with more stories from the region."


def _p(aid: str, text: str, published: str | None = "2022-03-01") -> Passage:
    return Passage(passage_id(aid, text), aid, 0, None, text, f"Roundup {aid}", f"https://example.com/{aid}",
                   published, "Test Weekly")


def _cluster(rows: list[int], vectors: np.ndarray, weight: float = 1.0) -> Cluster:
    centroid = vectors[rows].sum(axis=0)
    return Cluster(rows, weight, "2022-03-01", weight, centroid / np.linalg.norm(centroid))


@pytest.fixture
def story(encoder):
    passages = [_p("a", XIAOMI), _p("b", XIAOMI_AGAIN, "2022-03-02"), _p("c", BAIDU), _p("d", FRAMING)]
    return passages, encoder.encode([p.text for p in passages])


def test_period_rows_keep_the_period_in_id_order():
    passages = [_p("z", BAIDU), _p("y", XIAOMI, "2022-02-28"), _p("x", FRAMING, None), _p("w", XIAOMI_AGAIN)]
    rows = period_rows(passages, WEEK)
    assert sorted(rows) == [0, 3]
    assert [passages[i].id for i in rows] == sorted(passages[i].id for i in rows)


def test_topic_filter_keeps_passages_naming_the_topic(story):
    passages, vectors = story
    rows = [0, 1, 2, 3]
    assert topic_filter(rows, passages, vectors, None) == rows
    xiaomi = Topic("Xiaomi", vectors[0], mention_matcher("Xiaomi"))
    assert topic_filter(rows, passages, vectors, xiaomi) == [0, 1]
    assert topic_filter([], passages, vectors, xiaomi) == []


def test_cluster_passages_count_a_copied_story_once(story):
    passages, vectors = story
    clusters = cluster_passages(passages, vectors, WEEK, DigestOptions(items=3, passage_duplicate_cosine=0.8))
    assert sorted(i for c in clusters for i in c.members) == [0, 1, 2, 3]
    copied = next(c for c in clusters if 0 in c.members)
    if 1 in copied.members:  # the two tellings in one cluster weigh as one story
        assert copied.weight == pytest.approx(1.0)
    assert [c.score for c in clusters] == sorted((c.score for c in clusters), reverse=True)


def test_candidate_sentences_best_first_and_a_name_topic_keeps_its_own(story, encoder):
    passages, vectors = story
    cluster = _cluster([0, 1, 2], vectors)
    sv = SentenceVectors(encoder.encode_queries)
    cands = candidate_sentences(cluster, passages, vectors, sv, None, DigestOptions())
    assert {c.row for c in cands} == {0, 1, 2}
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    baidu = Topic("Baidu", encoder.encode_query("Baidu"), mention_matcher("Baidu"))
    assert [c.text for c in candidate_sentences(cluster, passages, vectors, sv, baidu, DigestOptions())] == [BAIDU]


def test_ranked_candidates_skip_framing_and_encode_lazily(story, encoder):
    passages, vectors = story
    framing, baidu, xiaomi = _cluster([3], vectors), _cluster([2], vectors), _cluster([0], vectors)
    sv = SentenceVectors(encoder.encode_queries)
    ranked = ranked_candidates([framing, baidu, xiaomi], passages, vectors, sv, name_stats(passages), None,
                               DigestOptions())
    first = next(ranked)
    assert first[0] is baidu  # the framing cluster ranked first but has no fact to quote
    assert sv.encoded == 2  # the framing and Baidu sentences; Xiaomi's not yet
    assert [c for c, _ in ranked] == [xiaomi]  # with facts to quote, the framing is left out


def test_framing_alone_is_still_a_digest(story, encoder):
    passages, vectors = story
    framing = _cluster([3], vectors)
    sv = SentenceVectors(encoder.encode_queries)
    ranked = list(ranked_candidates([framing], passages, vectors, sv, name_stats(passages), None, DigestOptions()))
    assert [(c, [s.text for s in cands]) for c, cands in ranked] == [(framing, [FRAMING])]


GREETING = ("Hello and welcome back to Test Weekly, a digest of recent events shaping the Chinese tech "
            "landscape and what they mean to people in the rest of the world.")


@pytest.mark.parametrize("text, column", [
    (GREETING, True),
    ("Test Weekly readers asked about Baidu's robotaxis, so here is what we know.", False),  # another name
    ("Test Weekly turns 5 this week.", False),  # a number
    (XIAOMI, False),
])
def test_a_sentence_about_the_column_itself_is_framing(text, column):
    passages = [_p("a", text), _p("b", BAIDU)]
    assert about_the_column(text, name_stats(passages), passages[0].id) is column


def test_the_column_greeting_is_never_quoted(encoder):
    passages = [_p("a", GREETING), _p("a", BAIDU), _p("b", XIAOMI)]
    vectors = encoder.encode([p.text for p in passages])
    sv = SentenceVectors(encoder.encode_queries)
    clusters = [_cluster([0], vectors), _cluster([1], vectors), _cluster([2], vectors)]
    ranked = ranked_candidates(clusters, passages, vectors, sv, name_stats(passages), None, DigestOptions())
    quoted = [s.text for _, cands in ranked for s in cands]
    assert GREETING not in quoted and BAIDU in quoted and XIAOMI in quoted


def test_pick_sentences_never_repeats_what_is_said(story, encoder):
    passages, vectors = story
    opts = DigestOptions()
    sv = SentenceVectors(encoder.encode_queries)
    pair = _cluster([0, 1], vectors, weight=1.0)
    cands = candidate_sentences(pair, passages, vectors, sv, None, opts)
    picked = pick_sentences(pair, cands, [], set(), opts)
    assert len(picked) == 1  # one sentence for a cluster of one story, and its retelling is a duplicate
    assert pick_sentences(pair, cands, picked, set(), opts) == []
    assert sorted(copy_rows(cands, picked, opts)) == [0, 1]


def test_draft_items_stop_at_the_count_and_cite_a_repeat_where_it_was_said(story, encoder):
    passages, vectors = story
    opts = DigestOptions(items=2)
    sv = SentenceVectors(encoder.encode_queries)
    xiaomi, again, baidu = _cluster([0], vectors), _cluster([1], vectors), _cluster([2], vectors)
    ranked = [(c, candidate_sentences(c, passages, vectors, sv, None, opts)) for c in (xiaomi, again, baidu)]
    drafts = draft_items(ranked, opts)
    assert [d.cluster for d in drafts] == [xiaomi, baidu]
    assert drafts[0].copies == [0, 1]  # the retelling is cited on the item that quoted the story
    assert draft_items(ranked, DigestOptions(items=1))[0].cluster is xiaomi


def test_chart_file_names_are_ascii_and_short():
    assert chart_filename("TikTok") == "trend-tiktok.png"
    assert chart_filename("Ant Group's IPO!") == "trend-ant-group-s-ipo.png"
    assert chart_filename("华为").startswith("trend-chart-") and chart_filename("华为").isascii()
    assert chart_filename("华为") != chart_filename("腾讯")  # never overwrite each other
    assert len(chart_filename("x" * 200)) == len("trend-.png") + 40


@pytest.mark.parametrize("low, high", [("digests", "embeddings"), ("embeddings", "digests")])
def test_digests_and_embeddings_do_not_import_each_other(low, high):
    modules = [f"{low}.{p.stem}" for p in (ROOT / low).glob("*.py") if p.stem != "__init__"]
    code = (f"import sys\nfor m in {modules!r}:\n    __import__(m)\n"
            f"print(sorted(m for m in sys.modules if m == {high!r} or m.startswith({high + '.'!r})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
