"""The extractive digest on the bundled corpus with the real model: acceptance points and parts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corpus.mentions import mention_matcher
from corpus.model import Passage, passage_id
from corpus.text import normalize_text
from digests.periods import Period, PeriodError
from digests.summary import (DigestError, DigestOptions, cluster_count, cluster_labels, duplicate_weights,
                             summarise)

ROOT = Path(__file__).resolve().parents[1]
DUP = DigestOptions().duplicate_cosine
# Periods of the bundled corpus holding at least three roundups.
SEVERAL = ["year:2019", "year:2014", "all", "2019-10-01..2020-06-30"]


def _articles(svc, digest) -> set[str]:
    ids = [i for item in digest.items for i in item.passage_ids]
    return {p.article_id for p in svc.store.passages(ids)}


def _sentences(digest) -> list[tuple[int, str]]:
    return [(n, s) for n, item in enumerate(digest.items) for s in item.sentences]


@pytest.mark.parametrize("period", SEVERAL)
def test_several_roundups_give_items_from_three_articles(bundled_service, period):
    d = bundled_service.digest(period)
    assert len(d.items) == 5
    urls = {src.url for item in d.items for src in item.sources}
    assert len(urls) >= 3, [i.to_dict() for i in d.items]
    assert len(_articles(bundled_service, d)) >= 3


@pytest.mark.parametrize("period", SEVERAL + ["week:2019-11-03", "latest"])
def test_no_shared_or_near_duplicate_sentences(bundled_service, encoder, period):
    d = bundled_service.digest(period)
    pairs = _sentences(d)
    keys = [normalize_text(s).lower() for _, s in pairs]
    assert len(keys) == len(set(keys)), "a sentence appears twice"
    vecs = encoder.encode_queries([s for _, s in pairs])
    sims = vecs @ vecs.T
    for a in range(len(pairs)):
        for b in range(a + 1, len(pairs)):
            assert sims[a, b] < DUP, f"near-duplicates ({sims[a, b]:.2f}): {pairs[a][1]!r} / {pairs[b][1]!r}"


def test_the_two_versions_of_one_roundup_are_not_both_quoted(bundled_service, encoder):
    """2019-11-03 exists twice (JSONL and a reworded republished copy): their sentences pair up at
    cosine 0.75-0.92, so each fact may appear once only."""
    d = bundled_service.digest("week:2019-11-03", items=8)
    assert len(_articles(bundled_service, d)) <= 2
    sentences = [s for _, s in _sentences(d)]
    assert len(sentences) >= 5
    week = bundled_service.store.passages(bundled_service.store.passage_ids_between("2019-10-28", "2019-11-03"))
    assert {p.article_id for p in week} == {"cr-2019-11-03", "seed-2019-11-03"}
    vecs = encoder.encode_queries(sentences)
    assert float((vecs @ vecs.T - np.eye(len(sentences))).max()) < DUP


@pytest.mark.parametrize("period", SEVERAL + ["month:2020-06", "latest", "week:2014-06-08"])
def test_every_source_and_sentence_lies_inside_the_period(bundled_service, period):
    d = bundled_service.digest(period)
    assert d.items
    for item in d.items:
        assert item.label and item.sentences and item.sources
        for src in item.sources:
            assert d.period.since <= src.published <= d.period.until
        texts = " ".join(p.text for p in bundled_service.store.passages(item.passage_ids))
        for s in item.sentences:
            assert s in texts  # extractive: every sentence is quoted from a cited passage


def test_latest_is_the_newest_week_in_the_data(bundled_service):
    d = bundled_service.digest()
    newest = bundled_service.store.counts()["last"]
    assert d.period.contains(newest) and d.period.since == "2021-09-13"
    assert {s.published for i in d.items for s in i.sources} == {newest}


@pytest.mark.parametrize("topic", ["Huawei", "TikTok", "Alibaba"])
def test_a_name_topic_keeps_only_items_about_it(bundled_service, topic):
    d = bundled_service.digest(topic=topic)
    assert d.topic == topic and d.topic_mode == "name"
    assert d.items
    mentions = mention_matcher(topic)
    for item in d.items:
        assert all(mentions(s) for s in item.sentences), item
        assert all(mentions(p.text) for p in bundled_service.store.passages(item.passage_ids))
    # without the topic, the same span has items that are not about it
    plain = bundled_service.digest("all", items=10)
    assert any(not any(mentions(s) for s in i.sentences) for i in plain.items)


def test_huawei_digest_finds_each_huawei_story(bundled_service):
    d = bundled_service.digest(topic="Huawei")
    stored = [p for p in bundled_service.store.passages() if mention_matcher("Huawei")(p.text)]
    assert len(d.items) == len(stored) == d.passages == 3
    assert {s.published for i in d.items for s in i.sources} == {p.published for p in stored}
    assert all("huawei" not in i.label.lower().split(" · ") for i in d.items)  # the label says more


def test_a_topic_the_corpus_never_names_is_matched_by_meaning(bundled_service, encoder):
    d = bundled_service.digest(topic="electric cars")
    assert d.topic_mode == "meaning" and d.items
    floor = bundled_service.settings.digest_topic_floor
    q = encoder.encode_query("electric cars")[0]
    for item in d.items:
        vecs = bundled_service.ensure_ready().vectors(list(item.passage_ids))
        assert (vecs @ q >= floor).all()


def test_empty_period_says_what_the_corpus_covers(bundled_service):
    d = bundled_service.digest("month:2022-01")
    assert d.empty and d.items == ()
    assert d.note == "no roundups between 2022-01-01 and 2022-01-31; the corpus covers 2013-09-29 to 2021-09-18"
    assert d.to_dict()["items"] == [] and d.to_dict()["note"] == d.note
    d = bundled_service.digest("year:2014", topic="Huawei")
    assert d.note == ('no roundups about "Huawei" between 2014-01-01 and 2014-12-31; '
                      "the corpus covers 2013-09-29 to 2021-09-18")
    d = bundled_service.digest(topic="quantum teleportation of cats")
    assert d.empty and d.topic_mode == "meaning"


def test_json_shape(bundled_service):
    out = bundled_service.digest("year:2019").to_dict()
    assert out["period"]["since"] == "2019-01-01" and out["period"]["until"] == "2019-12-31"
    item = out["items"][0]
    assert set(item) == {"label", "sentences", "sources"}
    assert isinstance(item["sentences"], list) and 1 <= len(item["sentences"]) <= 2
    assert set(item["sources"][0]) == {"title", "url", "published"}
    json.dumps(out)


def test_items_count_and_bad_arguments(bundled_service):
    assert len(bundled_service.digest("all", items=3).items) == 3
    assert len(bundled_service.digest("all", items=1).items) == 1
    for bad in (0, 11, -1):
        with pytest.raises(DigestError, match="between 1 and 10"):
            bundled_service.digest("all", items=bad)
    for topic, fragment in (("", "empty"), ("   ", "empty"), ("x" * 101, "limit is 100"), ("???", "no letters")):
        with pytest.raises(DigestError, match=fragment):
            bundled_service.digest(topic=topic)
    with pytest.raises(PeriodError, match="unknown period"):
        bundled_service.digest("last tuesday")
    with pytest.raises(PeriodError, match="not both"):
        bundled_service.digest("latest", since="2019-01-01")


def test_deterministic_in_process_and_across_services(bundled_service, make_service):
    args = [("all", None), (None, "TikTok")]
    first = [bundled_service.digest(p, topic=t).to_dict() for p, t in args]
    assert first == [bundled_service.digest(p, topic=t).to_dict() for p, t in args]
    other = make_service()
    assert first == [other.digest(p, topic=t).to_dict() for p, t in args]


def test_a_repeated_digest_encodes_no_sentence_again(bundled_service):
    bundled_service.digest("year:2014")
    encoded = bundled_service.sentence_vectors.encoded
    assert encoded > 0
    again = bundled_service.digest("year:2014")
    assert bundled_service.sentence_vectors.encoded == encoded
    assert again.items


def test_deterministic_across_processes(bundled_service, tmp_path):
    expected = bundled_service.digest("year:2019").to_dict()
    proc = subprocess.run([sys.executable, "-m", "bot", "digest", "--period", "year:2019", "--json",
                           "--data-dir", str(bundled_service.settings.data_dir)], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                            "TRANSFORMERS_OFFLINE": "1", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected


# -- the parts, on hand-made passages -----------------------------------------------------

def _p(aid: str, text: str, published: str = "2022-03-01", position: int = 0, section: str | None = None) -> Passage:
    return Passage(passage_id(aid, text), aid, position, section, text, f"Roundup {aid}",
                   f"https://example.com/{aid}", published, "Test Weekly")


def test_a_story_told_by_two_roundups_is_quoted_once_and_cites_both(encoder):
    a = _p("a", "Xiaomi opened its first flagship store in Madrid, selling phones and scooters to European "
                "shoppers who queued overnight.")
    b = _p("b", "Xiaomi has opened its first flagship shop in Madrid, where European shoppers queued overnight "
                "to buy its phones and scooters.", "2022-03-02")
    c = _p("c", "Baidu began testing driverless taxis without safety drivers on public roads in Wuhan, "
                "a first for a Chinese robotaxi operator.")
    d = _p("d", "Meituan raised fees for restaurants in several large cities while its riders delivered a "
                "record number of orders during the spring festival.")
    passages = [a, b, c, d]
    vectors = encoder.encode([p.text for p in passages])
    period = Period("2022-03-01", "2022-03-07", "a week")
    digest = summarise(passages, vectors, encoder.encode_queries, period, options=DigestOptions(items=4))
    quoted = [s for i in digest.items for s in i.sentences]
    assert sum("Madrid" in s for s in quoted) == 1
    madrid = next(i for i in digest.items if any("Madrid" in s for s in i.sentences))
    assert {s.url for s in madrid.sources} == {a.url, b.url}
    assert "Xiaomi" in madrid.label
    assert len(digest.items) == 3


def test_passages_outside_the_period_are_ignored(encoder):
    inside = _p("in", "Pinduoduo reported a jump in quarterly revenue as shoppers in smaller cities spent more.")
    outside = _p("out", "Alibaba cut prices of its cloud computing products for customers across Asia.", "2021-01-01")
    vectors = encoder.encode([inside.text, outside.text])
    d = summarise([inside, outside], vectors, encoder.encode_queries, Period("2022-01-01", "2022-12-31", "2022"))
    assert [s.url for i in d.items for s in i.sources] == [inside.url]


def test_cluster_count_and_labels_are_stable(encoder):
    assert [cluster_count(n, 5) for n in (0, 1, 3, 5, 20, 64, 500)] == [0, 1, 3, 5, 6, 11, 32]
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    first = cluster_labels(x, 6, seed=3)
    assert len(set(first.tolist())) <= 6
    assert (first == cluster_labels(x.copy(), 6, seed=3)).all()
    assert (cluster_labels(x, 40) == np.arange(40)).all()


def test_duplicate_weights_count_copies_across_articles_only():
    v = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    w = duplicate_weights(v, ["a", "b", "c", "c"], 0.9)
    assert w.tolist() == [0.5, 0.5, 1.0, 1.0]  # c's two passages are one article's, not copies
