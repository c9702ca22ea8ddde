"""Which feeds each Discord server follows (SQLite, beside the corpus; blocking, call from a thread).

The corpus itself is shared: a feed one server adds feeds every server's answers. Removing a
feed stops future refreshes only; articles already read stay in the corpus.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from corpus.store import Store, utcnow

MAX_FEEDS_PER_GUILD = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS guild_feeds (
    guild_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    title TEXT,
    added_by INTEGER,
    added_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, url)
);
CREATE TABLE IF NOT EXISTS feed_refreshes (
    url TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    added INTEGER NOT NULL DEFAULT 0,
    detail TEXT
);
"""


class GuildFeeds:
    def __init__(self, store: Store):
        self.store = store
        store.migrate("guild_feeds", (_SCHEMA,))  # append a step to change these tables

    def add(self, guild_id: int, url: str, *, title: str | None, by: int | None) -> bool:
        """False if the server already follows it."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO guild_feeds(guild_id, url, title, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
                (guild_id, url, title, by, utcnow()))
            return cur.rowcount == 1

    def remove(self, guild_id: int, url: str) -> bool:
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM guild_feeds WHERE guild_id = ? AND url = ?",
                                (guild_id, url)).rowcount == 1

    def count(self, guild_id: int) -> int:
        return self.store.execute("SELECT COUNT(*) FROM guild_feeds WHERE guild_id = ?", (guild_id,))[0][0]

    def for_guild(self, guild_id: int) -> list[sqlite3.Row]:
        return self.store.execute(
            """SELECT g.url, g.title, g.added_at, r.at AS refreshed_at, r.status, r.added, r.detail
               FROM guild_feeds g LEFT JOIN feed_refreshes r ON r.url = g.url
               WHERE g.guild_id = ? ORDER BY g.added_at, g.url""", (guild_id,))

    def all_urls(self, extra: Iterable[str] = ()) -> list[str]:
        """Every feed to refresh: all servers' plus the operator's (settings), each once."""
        urls = [r[0] for r in self.store.execute("SELECT DISTINCT url FROM guild_feeds ORDER BY url")]
        return list(dict.fromkeys([*extra, *urls]))

    def note_refresh(self, url: str, status: str, added: int, detail: str | None) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO feed_refreshes(url, at, status, added, detail) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(url) DO UPDATE SET at=excluded.at, status=excluded.status, added=excluded.added,
                     detail=excluded.detail""", (url, utcnow(), status, added, detail))

    def titles_since(self, origin: str, since: str) -> list[str]:
        """Titles of the articles a feed added or changed since `since` (for the refresh log)."""
        rows = self.store.execute("SELECT title FROM articles WHERE origin = ? AND ingested_at >= ? ORDER BY title",
                                  (origin, since))
        return [r[0] for r in rows]
