"""The bot's own state beside the corpus: answers given, feedback, per-guild channel settings."""
from __future__ import annotations

import json
from dataclasses import dataclass

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


class BotState:
    def __init__(self, store: Store):
        self.store = store
        store.migrate("bot_state", (_SCHEMA,))  # append a step to change these tables

    # -- answers: what follow-ups and buttons refer back to ---------------------------------

    def record_answer(self, *, question: str, since: str | None, until: str | None, passage_ids: list[int],
                      shown: int, user_id: int, guild_id: int | None, channel_id: int | None) -> int:
        with self.store.transaction() as conn:
            cur = conn.execute(
                """INSERT INTO bot_answers(question, since, until, passage_ids, shown, guild_id, channel_id,
                                           user_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (question, since, until, json.dumps(passage_ids), shown, guild_id, channel_id, user_id, utcnow()),
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
                            r["shown"], r["user_id"], r["message_id"], r["thread_id"])

    # -- feedback ---------------------------------------------------------------------------

    def record_feedback(self, answer: AnswerRecord, user_id: int, vote: int) -> None:
        """One vote per member per answer; voting again changes it."""
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO bot_feedback(answer_id, user_id, vote, question, passage_ids, at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(answer_id, user_id) DO UPDATE SET vote = excluded.vote, at = excluded.at""",
                (answer.id, user_id, vote, answer.question, json.dumps(answer.passage_ids[:answer.shown]), utcnow()),
            )

    def feedback(self) -> list[dict]:
        return [dict(r) for r in self.store.execute("SELECT * FROM bot_feedback ORDER BY at")]

    # -- per-channel settings -----------------------------------------------------------------

    def mentions_enabled(self, guild_id: int | None, channel_id: int) -> bool:
        if guild_id is None:
            return True  # DMs
        rows = self.store.execute(
            "SELECT mentions_enabled FROM bot_channel_settings WHERE guild_id = ? AND channel_id = ?",
            (guild_id, channel_id),
        )
        return bool(rows[0][0]) if rows else True

    def set_mentions(self, guild_id: int, channel_id: int, enabled: bool, *, by: int) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO bot_channel_settings(guild_id, channel_id, mentions_enabled, updated_by, updated_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(guild_id, channel_id) DO UPDATE SET mentions_enabled = excluded.mentions_enabled,
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
                (guild_id, channel_id, int(enabled), by, utcnow()),
            )

    def disabled_channels(self, guild_id: int) -> list[int]:
        rows = self.store.execute(
            "SELECT channel_id FROM bot_channel_settings WHERE guild_id = ? AND mentions_enabled = 0", (guild_id,)
        )
        return [r[0] for r in rows]
