"""Per-server corpora, removal and the sample switch at the store and service level (real model,
FAISS, BM25 and SQLite)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from bot.alerts import Alerts, due_matches
from bot.service import ServiceError
from corpus.model import Article, Section
from corpus.passages import split_article
from corpus.store import SAMPLE, SHARED, Store
from digests.alerts import match_alert
from embeddings.index import VectorIndex
from embeddings.sentence_index import SENTENCES_FILE, SentenceIndex
from embeddings.sparse import SparseIndex

A, B = 1111, 2222
QUILL = ("Quillmark Robotics, a Shenzhen maker of warehouse robots, raised 90 million dollars led by Hillhouse "
         "to build a second factory for its shelf-climbing picking robots.")
ORCHID = ("Orchidlane Foods opened a chain of unstaffed noodle kiosks in Chengdu metro stations, where diners "
          "pay by scanning their palms at the counter.")


def _article(aid: str, text: str, published: str = "2020-03-02", source: str = "Server feed") -> Article:
    return Article(id=aid, title=f"Roundup {aid}", url=f"https://example.org/{aid}", published=published,
                   sections=(Section("News", (text,)),), source=source)


def test_store_owners_shared_once_and_released_one_at_a_time(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    art = _article("q1", QUILL)
    passages = split_article(art)
    assert store.upsert_article(art, passages, owners=(A,)).status == "added"
    gen = store.generation()
    # the second server adds the same article: stored once, now owned by both, visibility changed
    assert store.upsert_article(art, passages, owners=(B,)).status == "unchanged"
    assert store.generation() > gen
    assert store.owners("q1") == {A, B}
    assert store.counts()["articles"] == 1
    ids = {p.id for p in passages}
    assert store.visible_passage_ids({SHARED, A}) == ids
    assert store.visible_passage_ids({SHARED}) == set()
    assert store.counts({SHARED})["articles"] == 0 and store.counts({B})["passages"] == len(passages)

    assert store.remove_articles(["q1"], owner=A) == (0, 0)  # B still holds it
    assert store.owners("q1") == {B} and store.visible_passage_ids({A}) == set()
    assert store.remove_articles(["q1"], owner=B) == (1, len(passages))
    assert store.counts()["articles"] == 0
    assert store.execute("SELECT COUNT(*) FROM article_owners")[0][0] == 0


def test_a_store_from_before_owners_migrates_to_them(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    a, b = _article("old1", QUILL), _article("old2", ORCHID)
    store.upsert_article(a, split_article(a), origin="/srv/app/corpus/data/sample.jsonl")
    store.upsert_article(b, split_article(b), origin="/home/me/roundups.jsonl")
    store.execute("DROP TABLE article_owners")  # as a version-2 store (before owners) had it
    store.execute("PRAGMA user_version = 2")
    store.close()
    store = Store(tmp_path / "s.sqlite3")
    assert store.owners("old1") == {SAMPLE} and store.owners("old2") == {SHARED}


def _one_index_count(svc) -> dict:
    s = svc.settings
    index, reason = VectorIndex.load(s.index_dir, model=s.encoder.identity, dim=svc.encoder.dim,
                                     index_type=s.index_type, embed_format="section+text/v1")
    sparse, sreason = SparseIndex.load(s.index_dir)
    sentences, _ = SentenceIndex.load(s.index_dir / SENTENCES_FILE, model=s.encoder.identity,
                                      embed_format=f"section+text/v1+{s.sentence_vectors}")
    assert reason is None and sreason is None
    return {"store": len(svc.store.passage_ids()), "faiss": len(index), "bm25": len(sparse),
            "sentences": len(sentences), "ids_equal": set(index.ids().tolist()) == svc.store.passage_ids()}


def test_servers_see_shared_plus_their_own(make_service, bundled_copy):
    svc = make_service(bundled_copy)
    svc.ingest_articles([_article("quill", QUILL)], origin="https://feeds.example.org/a.xml", owners=(A,))
    svc.ingest_articles([_article("orchid", ORCHID)], origin="https://feeds.example.org/b.xml", owners=(B,))
    q = "How much did Quillmark Robotics raise for its warehouse robots?"

    def urls(guild):
        return [h.passage.article_id for h in svc.ask(q, guild=guild, k=10).hits]

    assert urls(A)[0] == "quill"
    assert "quill" not in urls(B) and "quill" not in urls(SHARED)
    assert "quill" in urls(None)  # the operator sees everything
    assert not svc.ask(q, guild=B).answered

    # digests, trends and status follow the same line
    dig_b = svc.digest("all", topic="noodle kiosks", guild=B)
    dig_a = svc.digest("all", topic="noodle kiosks", guild=A)
    cited = lambda d: {s.url.rsplit("/", 1)[-1] for item in d.items for s in item.sources}  # noqa: E731
    assert "orchid" in cited(dig_b) and "orchid" not in cited(dig_a)
    assert svc.trend("Quillmark", chart=False, guild=A).total == 1
    assert svc.trend("Quillmark", chart=False, guild=B).total == 0
    st_a, st_dm = svc.status(guild=A), svc.status(guild=SHARED)
    assert st_a["articles"] == st_dm["articles"] + 1
    assert st_a["owned"]["articles"] == 1 and st_a["owned"]["sources"] == [{"source": "Server feed", "articles": 1}]
    assert all(s["source"] != "Server feed" for s in st_dm["sources"])


def test_remove_keeps_every_index_in_step_and_answers_never_cite_it(make_service, bundled_copy):
    svc = make_service(bundled_copy)
    svc.ingest_articles([_article("quill", QUILL), _article("orchid", ORCHID)], origin="https://f.example.org/x",
                        owners=(A,))
    svc.ingest_articles([_article("quill", QUILL)], origin="https://f.example.org/y", owners=(B,))
    before = _one_index_count(svc)
    q = "How much did Quillmark Robotics raise for its warehouse robots?"
    quill_ids = {h.passage.id for h in svc.ask(q, guild=A).hits if h.passage.article_id == "quill"}
    assert quill_ids

    dry = svc.remove(url="https://example.org/quill", dry_run=True)
    assert [r["id"] for r in dry.articles] == ["quill"] and dry.articles[0]["owners"] == [A, B]
    assert _one_index_count(svc) == before

    # server A lets go: B's copy stays, A no longer sees it
    mine = svc.remove(url="https://example.org/quill", guild=A)
    assert mine.deleted == 0 and _one_index_count(svc) == before
    assert all(h.passage.article_id != "quill" for h in svc.ask(q, guild=A, k=10).hits)
    assert svc.ask(q, guild=B).hits[0].passage.article_id == "quill"
    # a server cannot remove what it does not own (orchid is A's), nor the shared corpus
    assert svc.remove(url="https://example.org/orchid", guild=B).articles == []
    assert svc.remove(before="2030-01-01", guild=B, dry_run=True).articles[0]["id"] == "quill"
    assert len(svc.remove(before="2030-01-01", guild=B, dry_run=True).articles) == 1
    last = svc.remove(source="server FEED", guild=B)  # any case
    assert [r["id"] for r in last.articles] == ["quill"] and last.deleted == 1
    after = _one_index_count(svc)
    assert after["store"] == after["faiss"] == after["bm25"] == after["sentences"] and after["ids_equal"]
    assert after["store"] == before["store"] - 1  # quill is gone for good now (orchid stays with A)
    for guild in (None, A, B, SHARED):
        assert not {h.passage.id for h in svc.ask(q, guild=guild, k=10).hits} & quill_ids

    gone = svc.remove(before="2019-01-01")  # the operator, by date: sample roundups from 2018 and before
    assert gone.deleted and all(r["published"] < "2019-01-01" for r in gone.articles)
    counts = _one_index_count(svc)
    assert counts["store"] == counts["faiss"] == counts["bm25"] == counts["sentences"] and counts["ids_equal"]


def test_remove_needs_a_filter_and_a_real_date(make_service, bundled_copy):
    svc = make_service(bundled_copy)
    with pytest.raises(ServiceError, match="--url, --source or --before"):
        svc.remove()
    with pytest.raises(ServiceError, match="YYYY-MM-DD"):
        svc.remove(before="last tuesday")


def test_sample_switched_off_hides_it(make_service, bundled_copy, tmp_path):
    svc = make_service(bundled_copy, sample=False)
    q = "Where does TikTok say it keeps American users' data?"
    assert not svc.ask(q, guild=A).hits and not svc.ask(q).hits
    assert svc.status(guild=A)["articles"] == 0
    svc.ingest_articles([_article("quill", QUILL)], origin="https://f.example.org/x", owners=(A,))
    assert svc.ask("Quillmark Robotics funding", guild=A).hits[0].passage.article_id == "quill"
    empty = make_service(tmp_path / "empty", sample=False)
    assert empty.status()["articles"] == 0
    empty.ensure_ready()
    assert empty.store.counts()["articles"] == 0  # an empty data dir stays empty


def test_match_alert_one_per_roundup_by_name_or_meaning():
    from corpus.model import Passage

    def p(pid, aid, text, published="2026-11-30"):
        return Passage(pid, aid, 0, None, text, "t", "u", published)

    ps = [p(1, "x", "Huawei shipped phones"), p(2, "x", "Huawei opened a lab"), p(3, "y", "Tencent games")]
    vecs = np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32)
    hits = match_alert(ps, vecs, query=np.array([1, 0]), matcher=lambda t: "Huawei" in t, floor=0.5)
    assert [(m.passage.id, round(m.score, 2)) for m in hits] == [(1, 1.0)]
    by_meaning = match_alert(ps, vecs, query=np.array([0, 1]), matcher=None, floor=0.7)
    assert sorted(m.passage.id for m in by_meaning) == [2, 3]


def test_alert_due_only_for_new_recent_visible_roundups_and_claimed_once(make_service, bundled_copy):
    svc = make_service(bundled_copy)
    alerts = Alerts(svc.store)
    alert = alerts.add(A, 42, "Quillmark", by=7)
    assert alerts.add(A, 42, "Quillmark", by=7) is None
    today = date.today().isoformat()
    svc.ingest_articles([_article("old-quill", QUILL.replace("90", "20"), published="2019-05-01")],
                        origin="https://f.example.org/archive", owners=(A,))
    svc.ingest_articles([_article("other-quill", QUILL.replace("90", "70"), published=today)],
                        origin="https://f.example.org/b", owners=(B,))
    svc.ingest_articles([_article("new-orchid", ORCHID, published=today)], origin="https://f.example.org/a",
                        owners=(A,))
    assert due_matches(svc, alerts, alert, today=date.today()) == []  # history, another server's, unrelated
    svc.ingest_articles([_article("new-quill", QUILL, published=today)], origin="https://f.example.org/a",
                        owners=(A,))
    due = due_matches(svc, alerts, alert, today=date.today())
    assert [m.passage.article_id for m in due] == ["new-quill"]
    assert alerts.claim(alert.id, "new-quill", due[0].passage.id)
    assert not alerts.claim(alert.id, "new-quill", due[0].passage.id)
    assert due_matches(svc, alerts, alert, today=date.today()) == []


def test_latest_means_the_newest_roundup_the_server_sees(make_service, bundled_copy):
    svc = make_service(bundled_copy)
    svc.ingest_articles([_article("quill", QUILL, published="2024-05-10")], origin="https://f.example.org/x",
                        owners=(A,))
    assert str(svc.retriever(A).anchor) == "2024-05-10"
    assert str(svc.retriever(B).anchor) == "2021-09-18"  # the sample's newest: A's roundup is not B's "latest"
    assert svc.period(guild=B).since < "2021-09-19" and svc.period(guild=A).since > "2024-05-01"
