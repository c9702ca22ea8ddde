"""web_ingest.commit_source in stages, each run alone on a real store (no network, no model),
and the service's write lock: the one place writes are serialised, re-entrant in its thread."""
from __future__ import annotations

import threading

from bot import web_ingest as wi
from corpus.dedup import DuplicateIndex
from corpus.feeds import FeedEntry, FeedState, Fetched, SourceResult, UrlFailure
from corpus.fetch import FetchResult, ValidatorCache, Validators
from corpus.model import Article, Section
from corpus.passages import split_article
from corpus.store import Store

FEED = "https://example.com/feed.xml"
STORY = ("Huawei said on Tuesday that its new foldable phone would go on sale in Shenzhen next month, "
         "priced well above the rival models Samsung launched in the spring across Asian markets.")
OTHER = ("Alibaba reported quarterly revenue growth in its cloud unit as more retailers moved their "
         "online shops onto its servers ahead of the Singles Day shopping festival in November.")


def _article(aid: str, *paragraphs: str) -> Article:
    return Article(id=aid, title=f"Story {aid}", url=f"https://example.com/{aid}", published="2020-03-02",
                   sections=(Section("News", paragraphs),), source="Test")


def _entry(key: str) -> FeedEntry:
    return FeedEntry(key=key, link=f"https://example.com/{key}", title=key, published="2020-03-02", version="v1")


def _page(url: str, etag: str) -> FetchResult:
    return FetchResult(url=url, final_url=url, status=200, headers={"ETag": etag})


def _parts(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    return store, FeedState(store), ValidatorCache(store)


def _outcomes(store):
    return {r["entry_key"]: r["outcome"] for r in store.execute("SELECT entry_key, outcome FROM feed_entries")}


def test_start_commit_counts_failures_and_unchanged():
    src = SourceResult(FEED, kind="feed", fetched=[Fetched(None, "old"), Fetched(_article("n", STORY), "n")],
                       failures=[UrlFailure("https://example.com/e1", "HTTP 404 Not Found", 404)])
    commit = wi.start_commit(src)
    assert commit.out.errors == ["https://example.com/e1: HTTP 404 Not Found"]
    assert commit.out.unchanged == 1 and commit.out.kind == "feed"


def test_note_failures_logs_entry_pages_not_the_source(tmp_path):
    store, state, _ = _parts(tmp_path)
    src = SourceResult(FEED, kind="feed", title="Feed", failures=[
        UrlFailure("https://example.com/e1", "HTTP 404 Not Found", 404), UrlFailure(FEED, "timed out")])
    wi.note_failures(wi.start_commit(src), store, state)
    assert state.kind_of(FEED) == "feed"
    rows = store.execute("SELECT source, status, detail FROM ingest_log")
    assert [tuple(r) for r in rows] == [("https://example.com/e1", "failed", "404 HTTP 404 Not Found")]


def test_dedup_skips_a_copy_and_keeps_the_new(tmp_path):
    store, _, _ = _parts(tmp_path)
    stored = _article("orig", STORY)
    store.upsert_article(stored, split_article(stored))
    copy, fresh = _article("copy", STORY), _article("fresh", OTHER)
    src = SourceResult(FEED, kind="feed", fetched=[Fetched(copy, "copy"), Fetched(fresh, "fresh")])
    commit = wi.start_commit(src)
    wi.dedup(commit, src.fetched, DuplicateIndex(store))
    assert commit.copies == {"copy"} and [a.id for a in commit.kept] == ["fresh"]
    assert commit.out.duplicates == 1
    assert "a republished copy of https://example.com/orig" in commit.out.notes[0]


def test_log_source_uses_the_one_status(tmp_path):
    store, _, _ = _parts(tmp_path)
    failed = wi.start_commit(SourceResult(FEED, kind="unknown", failures=[UrlFailure(FEED, "timed out")]))
    wi.log_source(failed, store)
    unchanged = wi.start_commit(SourceResult(FEED, kind="feed", fetched=[Fetched(None, "a")]))
    wi.log_source(unchanged, store)
    rows = store.execute("SELECT status, articles_skipped, detail FROM ingest_log ORDER BY id")
    assert [tuple(r) for r in rows] == [("failed", 0, "- timed out"), ("ok", 1, None)]
    assert (failed.out.status, unchanged.out.status) == ("failed", "ok")


def test_record_entries_marks_stored_duplicate_and_failed(tmp_path):
    store, state, cache = _parts(tmp_path)
    page = _page("https://example.com/a", '"a1"')
    src = SourceResult(FEED, kind="feed", fetched=[
        Fetched(_article("a", OTHER), "a", entry=_entry("a"), page=page), Fetched(None, "b", entry=_entry("b"))],
        failed_entries=[_entry("c")])
    commit = wi.start_commit(src)
    commit.copies.add("b")
    wi.record_entries(commit, state, cache)
    assert _outcomes(store) == {"a": "stored", "b": "duplicate", "c": "failed"}
    assert cache.get("https://example.com/a") == Validators('"a1"', None)


def test_keep_validators_only_when_every_entry_settled(tmp_path):
    _, _, cache = _parts(tmp_path)
    response = _page(FEED, '"f1"')
    wi.keep_validators(SourceResult(FEED, kind="feed", response=response), cache)
    assert cache.get(FEED) == Validators('"f1"', None)
    wi.keep_validators(SourceResult(FEED, kind="feed", response=response,
                                    failures=[UrlFailure("https://example.com/e", "timed out")]), cache)
    assert cache.get(FEED) is None  # a 304 next time would hide the failed entry


def test_write_lock_is_reentrant_and_excludes_other_threads(make_service):
    svc = make_service(auto_ingest_bundled=False)
    entered = threading.Event()

    def other():
        with svc.write_lock():
            entered.set()

    with svc.write_lock():
        with svc.write_lock():  # a web commit holds it, then ingest_articles takes it again
            pass
        t = threading.Thread(target=other)
        t.start()
        assert not entered.wait(0.3)
    assert entered.wait(5)
    t.join()


def test_commit_source_stores_through_the_service(make_service):
    svc = make_service(auto_ingest_bundled=False)
    state, cache = FeedState(svc.store), ValidatorCache(svc.store)
    src = SourceResult(FEED, kind="feed", fetched=[Fetched(_article("a", OTHER), "a", entry=_entry("a"))])
    out, embedded, removed = wi.commit_source(svc, src, state, cache)
    assert (out.added, out.status, embedded, removed) == (1, "ok", 1, 0)
    assert _outcomes(svc.store) == {"a": "stored"}
    assert svc.store.last_ingest()["source"] == FEED


def test_web_ingest_does_not_import_the_service():
    import subprocess
    import sys

    code = "import sys, bot.web_ingest; sys.exit('bot.service' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
