"""The pure parts behind /timeline and /stats: names, entries, suggestions, grouping, counts."""
from __future__ import annotations

from collections import Counter

import numpy as np

from bot.stats import compute, gaps, group_similar
from bot.timeline import PAGE, Timeline, TimelineEntry, build_entries, canonical_name, suggest
from corpus.aliases import default_table
from corpus.mentions import mention_matcher
from corpus.model import Passage
from corpus.text import split_sentences


def passage(n: int, article: str, text: str, *, title: str = "T", url: str | None = None,
            published: str = "2020-01-01") -> Passage:
    return Passage(n, article, 0, None, text, title, url or f"https://e.org/{article}", published)


def test_canonical_names_through_the_alias_table():
    aliases = default_table()
    assert canonical_name("华为", aliases) == "Huawei"
    assert canonical_name("ant group", aliases) == "Ant Group"
    assert canonical_name("PDD", aliases) == "Pinduoduo"
    assert canonical_name("huwaei", aliases) == "Huawei"  # a typo away
    assert canonical_name("drone delivery", aliases) == "drone delivery"  # not a name: kept as typed


def test_entries_one_per_roundup_in_date_order_copies_merged(encoder):
    ps = [
        passage(1, "b", "Unrelated news. Huawei shipped 240 million phones.", published="2020-02-01", title="B"),
        passage(2, "a", "In contrast to Huawei, others slowed. Huawei opened a lab in Paris.", published="2019-05-01",
                title="A"),
        passage(3, "a-copy", "Huawei opened a research lab in Paris.", published="2019-05-01", title="a"),  # a copy
        passage(4, "c", "Nothing about it here.", published="2018-01-01"),
    ]

    def split(group):
        out = []
        for p in group:
            sents = split_sentences(p.text)
            out.append((sents, encoder.encode_queries(sents)))
        return out

    entries = build_entries(ps, split, encoder.encode_query("Huawei")[0], mention_matcher("Huawei"))
    assert [e.published for e in entries] == ["2019-05-01", "2020-02-01"]
    assert entries[0].sentence == "Huawei opened a lab in Paris."  # opens with the name: about it
    assert entries[1].sentence == "Huawei shipped 240 million phones."


def test_pages_and_suggestions():
    tl = Timeline("X", "x", [TimelineEntry(f"2020-01-{i:02d}", "s", "t", "u") for i in range(1, 24)])
    assert tl.pages == 3 and len(tl.page(0)) == PAGE and len(tl.page(2)) == 3
    known = Counter({"Tencent": 6, "Alibaba": 8, "Xiaomi": 4})
    assert suggest("Tencnt", known) == ["Tencent"]
    assert suggest("zzzz", known) == ["Alibaba", "Tencent", "Xiaomi"]  # nothing close: the best known


def test_unanswered_questions_group_by_meaning(encoder):
    qs = ["What is a good banana bread recipe?", "Who won the 1998 world cup?", "How do I bake banana bread?",
          "banana bread recipe please"]
    out = gaps(qs, encoder.encode_queries)
    assert out[0].count == 3 and "banana" in out[0].question
    assert out[1].question == "Who won the 1998 world cup?" and out[1].count == 1
    v = np.eye(3, dtype=np.float32)
    assert group_similar(v) == [[0], [1], [2]]


def test_compute_counts_days_shares_votes_and_reasons():
    questions = [
        {"question": "a?", "answered": 1, "confidence": 0.8, "created_at": "2026-01-01T10:00:00"},
        {"question": "b?", "answered": 0, "confidence": None, "created_at": "2026-01-01T11:00:00"},
        {"question": "c?", "answered": 1, "confidence": 0.4, "created_at": "2026-01-02T09:00:00"},
    ]
    feedback = [{"vote": 1, "reason": None, "detail": None}, {"vote": -1, "reason": "outdated", "detail": "old"},
                {"vote": -1, "reason": "outdated", "detail": None}]
    s = compute(questions, feedback)
    assert s.days == [("2026-01-01", 2, 1), ("2026-01-02", 1, 1)]
    assert (s.asked, s.answered, round(s.answered_share, 3)) == (3, 2, 0.667)
    assert abs(s.median_confidence - 0.6) < 1e-9
    assert (s.up, s.down, s.reasons["outdated"], s.details) == (1, 2, 2, ["old"])
    assert [g.question for g in s.gaps] == ["b?"]
    assert s.csv().splitlines() == ["date,questions,answered,answered_share", "2026-01-01,2,1,0.500",
                                    "2026-01-02,1,1,1.000"]
    empty = compute([], [])
    assert empty.answered_share is None and empty.median_confidence is None and empty.gaps == []


def test_a_timeline_reads_the_sentence_vectors_kept_at_ingest(bundled_service):
    """At 100k passages encoding every roundup's sentences took 42 s for one name: the timeline reads
    the vectors kept at ingest, and encodes only a passage without them (here, one never stored)."""
    import dataclasses

    from bot.timeline import kept_sentence_vectors

    vectors = bundled_service.sentence_vectors
    before = vectors.encoded
    timeline = bundled_service.timeline("Tencent")
    assert len(timeline.entries) >= 3 and vectors.encoded == before  # no sentence sent to the model
    snap = bundled_service.snapshot()
    stored = [p for p in bundled_service.store.passages() if "Tencent" in p.text][:3]
    new = dataclasses.replace(stored[0], id=10**9)  # not in the sentence index
    got = kept_sentence_vectors(snap.sentences, vectors.many, [*stored, new])
    assert vectors.encoded > before  # only the new passage was encoded
    for p, (sentences, vecs) in zip([*stored, new], got):
        assert len(sentences) == len(vecs) >= 1
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=0.02)
    for p, (_, vecs) in zip(stored, got):
        assert np.array_equal(vecs, snap.sentences.get(p.id))
    live = vectors.many([stored[0]])[0][1]  # the same sentences encoded alone: close in meaning
    assert (np.sum(live * got[0][1], axis=1) > 0.8).all()
