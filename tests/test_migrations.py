"""Schema migrations: a version-1 store (as the code before migrations made it) is brought up to
date with its rows intact; a store from newer code is refused in one line."""
from __future__ import annotations

import sqlite3

import pytest

from bot.state import STEPS, BotState
from corpus.dedup import DuplicateIndex
from corpus.feeds import FeedState
from corpus.fetch import ValidatorCache
from corpus.store import SCHEMA_VERSION, SHARED, Store, StoreError

# The store's schema exactly as version 1 wrote it (no user_version: it stayed 0).
V1_DDL = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, url TEXT NOT NULL, published TEXT, source TEXT,
    date_estimated INTEGER NOT NULL DEFAULT 0, fingerprint TEXT NOT NULL, origin TEXT, ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, section TEXT, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id, position);
CREATE TABLE IF NOT EXISTS ingest_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    articles_added INTEGER NOT NULL DEFAULT 0, articles_updated INTEGER NOT NULL DEFAULT 0,
    articles_skipped INTEGER NOT NULL DEFAULT 0, passages_added INTEGER NOT NULL DEFAULT 0, detail TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');
"""


@pytest.fixture
def v1_store(tmp_path):
    """A version-1 file with rows, built as that code built it (components added their DDL as is)."""
    path = tmp_path / "roundup.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    for ddl in (FeedState.DDL, ValidatorCache.DDL, DuplicateIndex.DDL):
        conn.executescript(ddl)
    conn.executescript("""
        INSERT INTO articles VALUES ('a1', 'Roundup', 'https://example.com/a1', '2020-01-05', 'Test', 0, 'fp',
                                     'file.jsonl', '2020-01-06T00:00:00+00:00');
        INSERT INTO passages VALUES (11, 'a1', 0, 'News', 'Huawei shipped a phone.');
        INSERT INTO ingest_log(at, source, status, articles_added) VALUES ('2020-01-06', 'file.jsonl', 'ok', 1);
        INSERT INTO meta VALUES ('generation', '7');
        INSERT INTO feed_entries(feed_url, entry_key, version, link, article_id, outcome, failures, seen_at)
            VALUES ('https://example.com/feed', 'e1', 'v1', 'https://example.com/a1', 'a1', 'stored', 0, '2020');
    """)
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    return path


def test_version_1_store_is_migrated_and_keeps_its_rows(v1_store):
    store = Store(v1_store)
    assert store.schema_version() == SCHEMA_VERSION == 4
    names = {r[0] for r in store.execute("SELECT name FROM sqlite_master")}
    assert {"schema_versions", "ingest_log_source", "passage_changes"} <= names  # steps 2 and 4 ran
    assert store.owners("a1") == {SHARED}  # step 3: articles from before owners are shared
    assert store.get_meta("schema_version") is None  # user_version is the one record now
    assert [p.text for p in store.passages()] == ["Huawei shipped a phone."]
    assert store.generation() == 7 and store.last_ingest()["source"] == "file.jsonl"
    state = FeedState(store)  # the component's step 1 is a no-op on its existing table
    rows = store.execute("SELECT entry_key, outcome FROM feed_entries")
    assert [tuple(r) for r in rows] == [("e1", "stored")]
    assert dict(store.execute("SELECT component, version FROM schema_versions")) == {"feeds": 1}
    assert state.has_article("a1")
    store.close()
    again = Store(v1_store)  # reopening applies nothing
    assert again.schema_version() == SCHEMA_VERSION and [p.id for p in again.passages()] == [11]
    again.close()


def test_a_new_store_starts_at_the_latest_version(tmp_path):
    store = Store(tmp_path / "new.sqlite3")
    BotState(store)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.execute("SELECT version FROM schema_versions WHERE component = 'bot_state'")[0][0] == len(STEPS)
    store.close()


def test_bot_state_from_its_first_version_keeps_its_rows(tmp_path):
    """A database written before feedback reasons and auto-answer gains the columns, rows intact."""
    store = Store(tmp_path / "old.sqlite3")
    store.migrate("bot_state", STEPS[:1])
    store.execute("INSERT INTO bot_answers(question, passage_ids, shown, user_id, created_at) "
                  "VALUES ('old question', '[1]', 1, 7, '2026-01-01T00:00:00Z')")
    state = BotState(store)
    record = state.answer(1)
    assert record.question == "old question" and record.answered and record.scores == []
    state.record_feedback(record, 8, -1, reason="outdated", detail="x" * 400)
    (row,) = state.feedback()
    assert row["reason"] == "outdated" and len(row["detail"]) == 300
    assert not state.autoanswer_enabled(1, 2) and state.handoff_channel(1) is None
    store.close()


def test_component_steps_apply_in_order_once(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    steps = ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
             "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0"]
    assert store.migrate("notes", steps[:1]) == 1
    store.execute("INSERT INTO notes(body) VALUES ('kept')")
    assert store.migrate("notes", steps) == 2
    assert store.migrate("notes", steps) == 2  # a second ALTER would fail: it did not run again
    assert [tuple(r) for r in store.execute("SELECT body, pinned FROM notes")] == [("kept", 0)]
    store.close()


def test_a_failing_step_changes_nothing(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        store.migrate("broken", ["CREATE TABLE half (id INTEGER); INSERT INTO missing VALUES (1)"])
    assert not store.execute("SELECT 1 FROM sqlite_master WHERE name = 'half'")
    assert not store.execute("SELECT 1 FROM schema_versions WHERE component = 'broken'")
    assert store.counts()["articles"] == 0  # the connection is usable after the rollback
    store.close()


def test_a_newer_store_is_refused_in_one_line(tmp_path):
    path = tmp_path / "future.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError) as err:
        Store(path)
    msg = str(err.value)
    assert "\n" not in msg and f"schema version {SCHEMA_VERSION + 1}" in msg and "newer" in msg


def test_a_newer_component_is_refused(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    store.migrate("notes", ["CREATE TABLE notes (id INTEGER)", "CREATE TABLE more_notes (id INTEGER)"])
    with pytest.raises(StoreError, match="notes schema version 2, newer"):
        Store(tmp_path / "s.sqlite3").migrate("notes", ["CREATE TABLE notes (id INTEGER)"])
    store.close()
