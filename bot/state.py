"""The bot's own state beside the corpus: answers given, feedback, per-guild channel settings."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from corpus.store import Store, utcnow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bot_answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL,
    since TEXT,
    until TEXT,
    passage_ids TEXT NOT NULL,
    shown INTEGER NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER,
    user_id INTEGER NOT NULL,
    message_id INTEGER,
    thread_id INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bot_answers_message ON bot_answers(message_id);
CREATE INDEX IF NOT EXISTS bot_answers_thread ON bot_answers(thread_id);
CREATE TABLE IF NOT EXISTS bot_feedback (
    answer_id INTEGER NOT NULL REFERENCES bot_answers(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL,
    question TEXT NOT NULL,
    passage_ids TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
CREATE TABLE IF NOT EXISTS bot_channel_settings (
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    mentions_enabled INTEGER NOT NULL DEFAULT 1,
    updated_by INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
"""

# Step 2 (issues 12 and 14): every question kept with its scores, feedback reasons, auto-answer
# channels and the moderator hand-off channel.
_ADDED_COLUMNS = {
    "bot_answers": {
        "answered": "INTEGER NOT NULL DEFAULT 1",
        "scores": "TEXT",  # JSON: the relevance of each passage shown
        "confidence": "REAL",
        "context": "TEXT",  # the bounded context a follow-up was searched with
        "via": "TEXT",  # slash | mention | auto | dm
        "handed_off_at": "TEXT",  # when a member passed the question to the moderators
    },
    "bot_feedback": {"reason": "TEXT", "detail": "TEXT", "scores": "TEXT"},
    "bot_channel_settings": {"autoanswer": "INTEGER NOT NULL DEFAULT 0"},
}
_STEP_2 = """
CREATE TABLE IF NOT EXISTS bot_guild_settings (
    guild_id INTEGER PRIMARY KEY,
    handoff_channel_id INTEGER,
    updated_by INTEGER,
    updated_at TEXT NOT NULL
);
""" + "\n".join(
    f"ALTER TABLE {table} ADD COLUMN {name} {decl};" for table, cols in _ADDED_COLUMNS.items()
    for name, decl in cols.items())

STEPS = (_SCHEMA, _STEP_2)

REASONS = {"wrong": "Wrong answer", "outdated": "Outdated", "not_covered": "Not covered", "other": "Other"}


# Member data kept by the bot (README, "Personal data"): table, member-id column, time column.
# A table added later with member ids or questions must be listed here, so `forget` and
# retention reach it.
PERSONAL: tuple[tuple[str, str, str], ...] = (
    ("bot_feedback", "user_id", "at"),
    ("bot_answers", "user_id", "created_at"),
)
# Who changed a server's settings (feeds, alerts, schedules, channels): forgotten, the setting kept.
ATTRIBUTION: tuple[tuple[str, str], ...] = (
    ("bot_channel_settings", "updated_by"), ("bot_guild_settings", "updated_by"), ("alerts", "created_by"),
    ("guild_feeds", "added_by"), ("digest_schedules", "created_by"),
)


@dataclass(frozen=True)
class AnswerRecord:
    id: int
    question: str
    since: str | None
    until: str | None
    passage_ids: list[int]
    shown: int
    user_id: int
    message_id: int | None
    thread_id: int | None
    answered: bool = True
    scores: list[float] = field(default_factory=list)
    guild_id: int | None = None
    channel_id: int | None = None
    context: str | None = None


class BotState:
    def __init__(self, store: Store):
        self.store = store
        store.migrate("bot_state", STEPS)  # append a step to change these tables

    # -- answers: what follow-ups and buttons refer back to ---------------------------------

    def record_answer(self, *, question: str, since: str | None, until: str | None, passage_ids: list[int],
                      shown: int, user_id: int, guild_id: int | None, channel_id: int | None,
                      answered: bool = True, scores: list[float] | None = None, confidence: float | None = None,
                      context: str | None = None, via: str | None = None) -> int:
        """Every question is kept (refusals too): /stats counts them and the hand-off button needs them."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                """INSERT INTO bot_answers(question, since, until, passage_ids, shown, guild_id, channel_id,
                                           user_id, created_at, answered, scores, confidence, context, via)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (question, since, until, json.dumps(passage_ids), shown, guild_id, channel_id, user_id, utcnow(),
                 int(answered), json.dumps([round(s, 4) for s in scores or []]), confidence, context, via),
            )
            return int(cur.lastrowid)

    def attach_message(self, answer_id: int, *, message_id: int | None = None, thread_id: int | None = None) -> None:
        with self.store.transaction() as conn:
            if message_id is not None:
                conn.execute("UPDATE bot_answers SET message_id = ? WHERE id = ?", (message_id, answer_id))
            if thread_id is not None:
                conn.execute("UPDATE bot_answers SET thread_id = ? WHERE id = ?", (thread_id, answer_id))

    def answer(self, answer_id: int) -> AnswerRecord | None:
        return self._one("SELECT * FROM bot_answers WHERE id = ?", answer_id)

    def answer_for_message(self, message_id: int) -> AnswerRecord | None:
        return self._one("SELECT * FROM bot_answers WHERE message_id = ? ORDER BY id DESC LIMIT 1", message_id)

    def answer_for_thread(self, thread_id: int) -> AnswerRecord | None:
        return self._one("SELECT * FROM bot_answers WHERE thread_id = ? ORDER BY id LIMIT 1", thread_id)

    def _one(self, sql: str, *params) -> AnswerRecord | None:
        rows = self.store.execute(sql, params)
        if not rows:
            return None
        r = rows[0]
        return AnswerRecord(r["id"], r["question"], r["since"], r["until"], json.loads(r["passage_ids"]),
                            r["shown"], r["user_id"], r["message_id"], r["thread_id"], bool(r["answered"]),
                            json.loads(r["scores"] or "[]"), r["guild_id"], r["channel_id"], r["context"])

    # -- feedback ---------------------------------------------------------------------------

    def record_feedback(self, answer: AnswerRecord, user_id: int, vote: int, *, reason: str | None = None,
                        detail: str | None = None) -> None:
        """One vote per member per answer; voting again replaces it (reason and all).

        Stored with the question, the passages shown and their scores, so a 👎 can be traced.
        """
        if reason is not None and reason not in REASONS:
            raise ValueError(f"unknown feedback reason {reason!r}")
        detail = " ".join((detail or "").split())[:300] or None
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO bot_feedback(answer_id, user_id, vote, question, passage_ids, at, reason, detail, scores)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(answer_id, user_id) DO UPDATE SET vote = excluded.vote, at = excluded.at,
                     reason = excluded.reason, detail = excluded.detail""",
                (answer.id, user_id, vote, answer.question, json.dumps(answer.passage_ids[:answer.shown]), utcnow(),
                 reason, detail, json.dumps(answer.scores[:answer.shown])),
            )

    def feedback(self) -> list[dict]:
        return [dict(r) for r in self.store.execute("SELECT * FROM bot_feedback ORDER BY at")]

    # -- per-channel settings -----------------------------------------------------------------

    # Per-channel switches in bot_channel_settings; the column names are ours, never a member's.
    _FLAGS = {"mentions_enabled": True, "autoanswer": False}

    def _flag(self, column: str, guild_id: int | None, channel_id: int) -> bool:
        rows = self.store.execute(
            f"SELECT {column} FROM bot_channel_settings WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id))
        return bool(rows[0][0]) if rows else self._FLAGS[column]

    def _set_flag(self, column: str, guild_id: int, channel_id: int, enabled: bool, by: int) -> None:
        assert column in self._FLAGS
        with self.store.transaction() as conn:
            conn.execute(
                f"""INSERT INTO bot_channel_settings(guild_id, channel_id, {column}, updated_by, updated_at)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(guild_id, channel_id) DO UPDATE SET {column} = excluded.{column},
                      updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
                (guild_id, channel_id, int(enabled), by, utcnow()),
            )

    def _channels_with(self, column: str, value: bool, guild_id: int) -> list[int]:
        assert column in self._FLAGS
        rows = self.store.execute(
            f"SELECT channel_id FROM bot_channel_settings WHERE guild_id = ? AND {column} = ?", (guild_id, int(value)))
        return [r[0] for r in rows]

    def mentions_enabled(self, guild_id: int | None, channel_id: int) -> bool:
        return True if guild_id is None else self._flag("mentions_enabled", guild_id, channel_id)  # DMs: always

    def set_mentions(self, guild_id: int, channel_id: int, enabled: bool, *, by: int) -> None:
        self._set_flag("mentions_enabled", guild_id, channel_id, enabled, by)

    def disabled_channels(self, guild_id: int) -> list[int]:
        return self._channels_with("mentions_enabled", False, guild_id)

    # -- auto-answer channels and the moderator hand-off ------------------------------------------

    def autoanswer_enabled(self, guild_id: int | None, channel_id: int) -> bool:
        return False if guild_id is None else self._flag("autoanswer", guild_id, channel_id)

    def set_autoanswer(self, guild_id: int, channel_id: int, enabled: bool, *, by: int) -> None:
        self._set_flag("autoanswer", guild_id, channel_id, enabled, by)

    def autoanswer_channels(self, guild_id: int) -> list[int]:
        return self._channels_with("autoanswer", True, guild_id)

    def claim_handoff(self, answer_id: int) -> bool:
        """True the first time an answer is handed to the moderators; later clicks post nothing."""
        with self.store.transaction() as conn:
            cur = conn.execute("UPDATE bot_answers SET handed_off_at = ? WHERE id = ? AND handed_off_at IS NULL",
                               (utcnow(), answer_id))
            return cur.rowcount == 1

    def release_handoff(self, answer_id: int) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE bot_answers SET handed_off_at = NULL WHERE id = ?", (answer_id,))

    def handoff_channel(self, guild_id: int | None) -> int | None:
        if guild_id is None:
            return None
        rows = self.store.execute("SELECT handoff_channel_id FROM bot_guild_settings WHERE guild_id = ?", (guild_id,))
        return rows[0][0] if rows else None

    def set_handoff_channel(self, guild_id: int, channel_id: int | None, *, by: int) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO bot_guild_settings(guild_id, handoff_channel_id, updated_by, updated_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT(guild_id) DO UPDATE SET handoff_channel_id = excluded.handoff_channel_id,
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
                (guild_id, channel_id, by, utcnow()),
            )

    # -- what /stats reads ---------------------------------------------------------------------

    def questions(self, *, guild_id: int | None = None, since: str | None = None) -> list[dict]:
        """Every question asked (answers and refusals), oldest first, with its votes summed."""
        sql = """SELECT a.id, a.question, a.answered, a.confidence, a.created_at, a.guild_id,
                        COALESCE(SUM(f.vote = 1), 0) AS up, COALESCE(SUM(f.vote = -1), 0) AS down
                 FROM bot_answers a LEFT JOIN bot_feedback f ON f.answer_id = a.id"""
        where, params = _answers_where(guild_id, since)
        return [dict(r) for r in self.store.execute(sql + where + " GROUP BY a.id ORDER BY a.created_at, a.id", params)]

    def feedback_rows(self, *, guild_id: int | None = None, since: str | None = None) -> list[dict]:
        sql = "SELECT f.* FROM bot_feedback f JOIN bot_answers a ON a.id = f.answer_id"
        where, params = _answers_where(guild_id, since)
        return [dict(r) for r in self.store.execute(sql + where + " ORDER BY f.at", params)]


    # -- personal data: retention and erasure ------------------------------------------------------

    def forget_user(self, user_id: int) -> dict[str, int]:
        """Delete everything kept about one member (questions, answers, votes); rows per table.
        Freed pages are zeroed (secure_delete) and the WAL checkpointed, so the text is gone from the file."""
        out: dict[str, int] = {}
        self.store.execute("PRAGMA secure_delete = ON")
        with self.store.transaction() as conn:
            for table, user_col, _ in PERSONAL:
                out[table] = conn.execute(f"DELETE FROM {table} WHERE {user_col} = ?", (user_id,)).rowcount
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, col in ATTRIBUTION:
                if table in tables:  # a feature never used has no table
                    out[table] = conn.execute(f"UPDATE {table} SET {col} = NULL WHERE {col} = ?", (user_id,)).rowcount
        self.store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return out

    def expire(self, days: int, *, now: datetime | None = None) -> dict[str, int]:
        """Delete member data older than `days` (0: keep forever); rows per table."""
        if days <= 0:
            return {}
        cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).replace(microsecond=0).isoformat()
        out: dict[str, int] = {}
        with self.store.transaction() as conn:
            for table, _, at_col in PERSONAL:
                out[table] = conn.execute(f"DELETE FROM {table} WHERE {at_col} < ?", (cutoff,)).rowcount
        return out

def _answers_where(guild_id: int | None, since: str | None) -> tuple[str, list]:
    """The WHERE clause /stats filters answers (alias `a`) by: one server, asked since a day."""
    clauses, params = [], []
    if guild_id is not None:
        clauses.append("a.guild_id = ?")
        params.append(guild_id)
    if since:
        clauses.append("a.created_at >= ?")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
