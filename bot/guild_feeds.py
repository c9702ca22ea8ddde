"""Which feeds each Discord server follows (SQLite, beside the corpus; blocking, call from a thread).

The articles a server's feeds bring belong to that server (corpus.store owners): other
servers never see them. Guild id 0 (SHARED) holds the operator's own feeds (`roundup-bot
feeds add`), read for everyone. A feed two servers follow is read once and its articles
belong to both; a server that starts following a feed another already reads gains the
articles read so far at once. Removing a feed stops future refreshes only; articles already
read stay (`/sources remove` takes them out).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from corpus.feeds import FeedState
from corpus.opml import OpmlFeed
from corpus.store import SHARED, Store, utcnow

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

# Step 2: where a feed sat in the OPML list it was imported from, for export.
_OUTLINES = """
CREATE TABLE IF NOT EXISTS guild_feed_outlines (
    guild_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    folder TEXT,
    html_url TEXT,
    PRIMARY KEY (guild_id, url)
);
"""


class GuildFeeds:
    def __init__(self, store: Store):
        self.store = store
        store.migrate("guild_feeds", (_SCHEMA, _OUTLINES))  # append a step to change these tables
        FeedState(store)  # its feed_entries say which articles a feed already brought

    def add(self, guild_id: int, url: str, *, title: str | None, by: int | None, folder: str | None = None,
            html_url: str | None = None) -> bool:
        """False if the server already follows it. Articles already read from it become the server's."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO guild_feeds(guild_id, url, title, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
                (guild_id, url, title, by, utcnow()))
            added = cur.rowcount == 1
            if added and (folder or html_url):
                conn.execute("""INSERT INTO guild_feed_outlines(guild_id, url, folder, html_url) VALUES (?, ?, ?, ?)
                                ON CONFLICT(guild_id, url) DO UPDATE SET folder = excluded.folder,
                                  html_url = excluded.html_url""", (guild_id, url, folder, html_url))
        if added:
            self.grant_read(url, (guild_id,))
        return added

    def import_feeds(self, guild_id: int, feeds: Iterable[OpmlFeed], *, by: int | None,
                     limit: int | None = MAX_FEEDS_PER_GUILD) -> tuple[list[str], list[str], list[str]]:
        """Follow every feed of an OPML list: (added, already followed, left out over `limit`)."""
        added, already, over = [], [], []
        count = self.count(guild_id)
        for feed in feeds:
            if limit is not None and count >= limit:
                over.append(feed.url)
                continue
            if self.add(guild_id, feed.url, title=feed.title, by=by, folder=feed.folder, html_url=feed.html_url):
                added.append(feed.url)
                count += 1
            else:
                already.append(feed.url)
        return added, already, over

    def export(self, guild_id: int) -> list[OpmlFeed]:
        rows = self.store.execute(
            """SELECT g.url, g.title, o.folder, o.html_url FROM guild_feeds g
               LEFT JOIN guild_feed_outlines o ON o.guild_id = g.guild_id AND o.url = g.url
               WHERE g.guild_id = ? ORDER BY g.rowid""", (guild_id,))
        return [OpmlFeed(r["url"], r["title"], r["folder"], r["html_url"]) for r in rows]

    def owners(self, url: str, operator: Iterable[str] = ()) -> tuple[int, ...]:
        """Whose articles a feed's are: every server following it; SHARED when the operator reads
        it (settings or `feeds add`) or nobody follows it (a URL given to `ingest`)."""
        owners = {r[0] for r in self.store.execute("SELECT guild_id FROM guild_feeds WHERE url = ?", (url,))}
        if url in set(operator) or not owners:
            owners.add(SHARED)
        return tuple(sorted(owners))

    def grant_read(self, url: str, owners: Iterable[int]) -> int:
        """Articles already read from feed `url` go to `owners` too."""
        ids = [r[0] for r in self.store.execute(
            "SELECT article_id FROM feed_entries WHERE feed_url = ? AND outcome = 'stored' AND article_id IS NOT NULL",
            (url,))]
        return sum(self.store.grant(ids, owner) for owner in owners) if ids else 0

    def remove(self, guild_id: int, url: str) -> bool:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM guild_feed_outlines WHERE guild_id = ? AND url = ?", (guild_id, url))
            return conn.execute("DELETE FROM guild_feeds WHERE guild_id = ? AND url = ?",
                                (guild_id, url)).rowcount == 1

    def count(self, guild_id: int) -> int:
        return self.store.execute("SELECT COUNT(*) FROM guild_feeds WHERE guild_id = ?", (guild_id,))[0][0]

    def for_guild(self, guild_id: int) -> list[sqlite3.Row]:
        return self.store.execute(
            """SELECT g.url, g.title, g.added_at, r.at AS refreshed_at, r.status, r.added, r.detail
               FROM guild_feeds g LEFT JOIN feed_refreshes r ON r.url = g.url
               WHERE g.guild_id = ? ORDER BY g.rowid""", (guild_id,))

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
