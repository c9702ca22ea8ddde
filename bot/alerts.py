"""Topic alerts, per server, kept in SQLite beside the corpus (blocking; call from a thread).

An alert is a topic and a channel. Each roundup it fires for is claimed in `alert_posts`
before the post is sent, so a restart (or a second check racing the first) never posts the
same roundup twice for one alert.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from corpus.store import Store, owned_by, utcnow

if TYPE_CHECKING:
    from bot.service import RoundupService
    from digests.alerts import AlertMatch

MAX_ALERTS_PER_GUILD = 25

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    created_by INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (guild_id, channel_id, topic)
);
CREATE TABLE IF NOT EXISTS alert_posts (
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    article_id TEXT NOT NULL,
    passage_id INTEGER,
    message_id INTEGER,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (alert_id, article_id)
);
"""


@dataclass(frozen=True)
class Alert:
    id: int
    guild_id: int
    channel_id: int
    topic: str
    created_at: str


def _alert(r: sqlite3.Row) -> Alert:
    return Alert(r["id"], r["guild_id"], r["channel_id"], r["topic"], r["created_at"])


class Alerts:
    def __init__(self, store: Store):
        self.store = store
        store.migrate("alerts", (_SCHEMA,))  # append a step to change these tables

    def add(self, guild_id: int, channel_id: int, topic: str, *, by: int | None) -> Alert | None:
        """None if this server already has that alert in that channel."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO alerts(guild_id, channel_id, topic, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
                (guild_id, channel_id, topic, by, utcnow()))
            if cur.rowcount != 1:
                return None
            return _alert(conn.execute("SELECT * FROM alerts WHERE id = ?", (cur.lastrowid,)).fetchone())

    def remove(self, guild_id: int, alert_id: int) -> bool:
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM alerts WHERE guild_id = ? AND id = ?", (guild_id, alert_id)).rowcount == 1

    def count(self, guild_id: int) -> int:
        return self.store.execute("SELECT COUNT(*) FROM alerts WHERE guild_id = ?", (guild_id,))[0][0]

    def for_guild(self, guild_id: int) -> list[Alert]:
        return [_alert(r) for r in self.store.execute("SELECT * FROM alerts WHERE guild_id = ? ORDER BY id", (guild_id,))]

    def all(self) -> list[Alert]:
        return [_alert(r) for r in self.store.execute("SELECT * FROM alerts ORDER BY id")]

    def candidate_passages(self, alert: Alert, *, published_since: str, owners: Collection[int] | None) -> list[int]:
        """Passages of roundups stored since the alert was made, published on or after
        `published_since` (no backfilled history), that the server sees and the alert has not
        fired for yet."""
        sql = """SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id
                 WHERE a.published >= ? AND a.ingested_at >= ?
                   AND NOT EXISTS (SELECT 1 FROM alert_posts x WHERE x.alert_id = ? AND x.article_id = a.id)"""
        params: list = [published_since, alert.created_at, alert.id]
        if owners is not None:
            clause, owner_params = owned_by("a.id", owners)
            sql += " AND " + clause
            params += owner_params
        return [r[0] for r in self.store.execute(sql + " ORDER BY a.published, p.id", params)]

    def claim(self, alert_id: int, article_id: str, passage_id: int) -> bool:
        """Take this roundup for this alert; False if it was already taken (posted or posting)."""
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is None:
                return False  # removed meanwhile
            return conn.execute(
                "INSERT OR IGNORE INTO alert_posts(alert_id, article_id, passage_id, claimed_at) VALUES (?, ?, ?, ?)",
                (alert_id, article_id, passage_id, utcnow())).rowcount == 1

    def posted(self, alert_id: int, article_id: str, message_id: int) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE alert_posts SET message_id = ? WHERE alert_id = ? AND article_id = ?",
                         (message_id, alert_id, article_id))

    def release(self, alert_id: int, article_id: str) -> None:
        """A post that failed for a passing reason (Discord 5xx) may be tried again."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM alert_posts WHERE alert_id = ? AND article_id = ? AND message_id IS NULL",
                         (alert_id, article_id))

    def posts(self, alert_id: int) -> list[sqlite3.Row]:
        return self.store.execute("SELECT * FROM alert_posts WHERE alert_id = ? ORDER BY claimed_at", (alert_id,))


def due_matches(service: "RoundupService", alerts: Alerts, alert: Alert, *, today: date) -> list["AlertMatch"]:
    """What `alert` should post now: new roundups its server sees, published in the last
    `alert_recent_days`, not yet posted for it, about its topic (best passage of each)."""
    since = (today - timedelta(days=service.settings.alert_recent_days)).isoformat()
    ids = alerts.candidate_passages(alert, published_since=since, owners=service.scope_owners(alert.guild_id))
    return service.alert_matches(alert.topic, ids, alert.guild_id)
