"""The SQLite store: idempotent upserts, replaced passages, cascades, the ingest log."""
from __future__ import annotations

import sqlite3

from corpus.model import Article, Passage, Section, passage_id
from corpus.store import Store


def _article(texts, *, aid="a1", title="China Roundup: test"):
    return Article(id=aid, title=title, url=f"https://example.com/{aid}", published="2020-01-05",
                   sections=(Section("Heading", tuple(texts)),), source="Test")


def _passages(article):
    out = []
    for n, t in enumerate(article.sections[0].paragraphs):
        out.append(Passage(passage_id(article.id, t), article.id, n, "Heading", t, article.title, article.url,
                           article.published, article.source))
    return out


def test_upsert_is_idempotent_and_replaces_changed_passages(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    a = _article(["one two three", "four five six"])
    r = store.upsert_article(a, _passages(a))
    assert (r.status, r.passages_added) == ("added", 2)
    gen = store.generation()
    assert store.upsert_article(a, _passages(a)).status == "unchanged"
    assert store.generation() == gen

    b = _article(["one two three", "seven eight nine"])
    r = store.upsert_article(b, _passages(b))
    assert (r.status, r.passages_added, r.passages_removed) == ("updated", 1, 1)
    assert store.generation() > gen
    assert [p.text for p in store.passages()] == ["one two three", "seven eight nine"]
    assert store.counts()["passages"] == 2


def test_delete_cascades_and_date_filter(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    a = _article(["alpha beta"], aid="a")
    b = Article(id="b", title="t", url="https://e.com/b", published="2021-06-01",
                sections=(Section(None, ("gamma delta",)),))
    store.upsert_article(a, _passages(a))
    pb = [Passage(passage_id("b", "gamma delta"), "b", 0, None, "gamma delta", "t", b.url, b.published)]
    store.upsert_article(b, pb)
    assert store.passage_ids_between("2021-01-01", None) == [pb[0].id]
    assert store.passage_ids_between(None, "2020-12-31") == [_passages(a)[0].id]
    assert store.delete_article("a") == 1
    assert store.passage_ids() == {pb[0].id}


def test_ingest_log_and_meta(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    assert store.last_ingest() is None
    store.log_ingest("file.jsonl", "ok", added=2, passages=5)
    last = store.last_ingest()
    assert (last["source"], last["articles_added"], last["passages_added"]) == ("file.jsonl", 2, 5)
    store.set_json("k", {"x": 1})
    assert store.get_json("k") == {"x": 1}


def test_store_uses_wal_and_survives_reopen(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    a = _article(["persisted text here"])
    store.upsert_article(a, _passages(a))
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0] == 1
