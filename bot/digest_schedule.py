"""Weekly digest schedules, one per guild, kept in SQLite beside the corpus.

The "never twice" rule lives in the database, not in memory: a post first claims its ISO week
with one conditional UPDATE, so a restart, a second process or a retried tick cannot post the
same week again. A crash between the claim and the post loses that week's post rather than
doubling it. When a post fails for a reason worth retrying (Discord 5xx), the claim is undone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from corpus.store import Store, utcnow
from digests.periods import week_key

log = logging.getLogger(__name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digest_schedules (
    guild_id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    hour INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    last_week TEXT,          -- ISO week (2026-W02) of the last post: never twice in one week
    last_period TEXT,        -- first day of the roundup week last posted: never the same digest twice
    last_error TEXT,
    created_by INTEGER,
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Schedule:
    guild_id: int
    channel_id: int
    weekday: int  # 0 = Monday
    hour: int  # UTC
    last_week: str | None = None
    last_period: str | None = None

    def describe(self) -> str:
        return f"{WEEKDAYS[self.weekday]}s at {self.hour:02d}:00 UTC"


def slot_passed(weekday: int, hour: int, now: datetime) -> bool:
    """Has this week's (weekday, hour) slot come? Weeks run Monday to Sunday, in UTC."""
    return (now.weekday(), now.hour) >= (weekday, hour)


def due(schedule: Schedule, now: datetime) -> bool:
    """Post now: the slot has come this week and nothing was posted this week yet.

    A bot that was down at the slot posts at its first tick after coming back, same week only.
    """
    return slot_passed(schedule.weekday, schedule.hour, now) and schedule.last_week != week_key(now.date())


def next_post(schedule: Schedule, now: datetime) -> datetime:
    """When the next post is expected (for the confirmation message)."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    slot = monday + timedelta(days=schedule.weekday, hours=schedule.hour)
    if due(schedule, now):
        return now
    if slot <= now or schedule.last_week == week_key(now.date()):
        slot += timedelta(days=7)
    return slot


class DigestSchedules:
    def __init__(self, store: Store):
        self.store = store
        store.migrate("digest_schedules", (_SCHEMA,))  # append a step to change these tables

    def all(self) -> list[Schedule]:
        return [_row(r) for r in self.store.execute("SELECT * FROM digest_schedules ORDER BY guild_id")]

    def get(self, guild_id: int) -> Schedule | None:
        rows = self.store.execute("SELECT * FROM digest_schedules WHERE guild_id = ?", (guild_id,))
        return _row(rows[0]) if rows else None

    def set(self, guild_id: int, channel_id: int, weekday: int, hour: int, *, by: int, now: datetime) -> Schedule:
        """Create or change a guild's schedule. A slot already past this week starts next week,
        and a week already posted stays posted: rescheduling never causes a second post."""
        if not 0 <= weekday <= 6 or not 0 <= hour <= 23:
            raise ValueError("weekday must be 0-6 and hour 0-23")
        this_week = week_key(now.date())
        with self.store.transaction() as conn:
            row = conn.execute("SELECT last_week FROM digest_schedules WHERE guild_id = ?", (guild_id,)).fetchone()
            last_week = row["last_week"] if row else None
            if slot_passed(weekday, hour, now) and last_week != this_week:
                last_week = this_week
            conn.execute(
                """INSERT INTO digest_schedules(guild_id, channel_id, weekday, hour, last_week, created_by, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(guild_id) DO UPDATE SET channel_id = excluded.channel_id, weekday = excluded.weekday,
                     hour = excluded.hour, last_week = excluded.last_week, created_by = excluded.created_by,
                     updated_at = excluded.updated_at, last_error = NULL""",
                (guild_id, channel_id, weekday, hour, last_week, by, utcnow()),
            )
        return self.get(guild_id)  # type: ignore[return-value]

    def remove(self, guild_id: int) -> bool:
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM digest_schedules WHERE guild_id = ?", (guild_id,)).rowcount > 0

    def claim(self, guild_id: int, week: str) -> tuple[bool, str | None]:
        """Take `week` for this guild's post: (False, _) if it is already taken or the schedule is
        gone, else (True, the previous last_week) for `release`."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT last_week FROM digest_schedules WHERE guild_id = ?", (guild_id,)).fetchone()
            if row is None or row["last_week"] == week:
                return False, None
            conn.execute("UPDATE digest_schedules SET last_week = ? WHERE guild_id = ?", (week, guild_id))
            return True, row["last_week"]

    def release(self, guild_id: int, week: str, previous: str | None, error: str) -> None:
        """Undo a claim after a post that failed for a passing reason: the next tick retries."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE digest_schedules SET last_week = ?, last_error = ? WHERE guild_id = ? AND last_week = ?",
                         (previous, error[:500], guild_id, week))

    def posted(self, guild_id: int, period_since: str | None, error: str | None = None) -> None:
        with self.store.transaction() as conn:
            if period_since is not None:
                conn.execute("UPDATE digest_schedules SET last_period = ?, last_error = NULL WHERE guild_id = ?",
                             (period_since, guild_id))
            if error is not None:
                conn.execute("UPDATE digest_schedules SET last_error = ? WHERE guild_id = ?", (error[:500], guild_id))


def _row(r) -> Schedule:
    return Schedule(r["guild_id"], r["channel_id"], r["weekday"], r["hour"], r["last_week"], r["last_period"])
