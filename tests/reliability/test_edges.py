"""Issue 12, points 5 and 6: inputs at the edges, data at rest, personal data, logging.

Invalid UTF-8 and lone surrogates in questions (argv, stdin), a batch with one bad line, a binary
token file, Discord unreachable at start, `forget --user`, retention, file modes, escape sequences
on the terminal, and one log line per event.
"""
from __future__ import annotations

import io
import json
import logging
import os
import stat
from datetime import datetime, timedelta, timezone

import discord
import pytest
from rich.console import Console

from bot.cli import apply_retention, configure_logging, main
from bot.console import print_ingest
from bot.reports import IngestReport, SourceReport
from bot.settings import Settings
from bot.state import BotState
from corpus.store import Store

TIKTOK = "Where does TikTok say it keeps American users' data?"


@pytest.fixture
def cli(monkeypatch, bundled_copy):
    for key in list(os.environ):
        if key.startswith(("ROUNDUP_", "DISCORD_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ROUNDUP_DATA_DIR", str(bundled_copy))
    return bundled_copy


class _Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


def test_invalid_utf8_in_an_argv_question_is_replaced(cli, capsys):
    # what Python makes of the bytes b"\xff\xfe" in argv: lone surrogates (surrogateescape)
    question = "Where does TikTok keep \udcff\udcfe American users' data?\ud800"
    assert main(["ask", question, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answered"] and "\ufffd" in out["question"]
    assert "Singapore" in json.dumps(out["results"])


def test_a_batch_with_bad_lines_answers_the_rest_with_one_error_line(cli, capsys, monkeypatch):
    lines = [TIKTOK.encode(), b"How many smartphones did Huawei \xff\xfe ship?", b"x" * 1500,
             b"\x1b[31m\x07", b"Why did Tencent stop streaming NBA games?"]
    monkeypatch.setattr("sys.stdin", _Stdin(b"\n".join(lines) + b"\n"))
    assert main(["ask", "-", "--json"]) == 1  # one question failed
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4  # the control-only line is blank once cleaned: skipped like an empty one
    errors = [r for r in rows if "error" in r]
    assert len(errors) == 1 and "1500 characters" in errors[0]["error"]
    answered = [r for r in rows if "error" not in r]
    assert [r["answered"] for r in answered] == [True, True, True]
    assert "\ufffd" in answered[1]["question"]


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
                                     b"MTIz.abc.def\nsecond line", b"tok\x1b]0;x\x07en"])
def test_a_bad_token_file_is_one_line(cli, tmp_path, monkeypatch, capsys, content):
    token_file = tmp_path / "token"
    token_file.write_bytes(content)
    monkeypatch.setenv("DISCORD_TOKEN_FILE", str(token_file))
    assert main(["serve"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not hold a Discord token" in err
    assert "\x1b" not in err


def test_discord_unreachable_at_start_is_one_line(cli, monkeypatch, capsys):
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.abc.def")
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")  # nothing listens
    assert main(["serve"]) != 0
    err = capsys.readouterr().err.strip()
    assert "cannot reach Discord" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("roundup-bot: error")]) == 1


def _state(data_dir) -> tuple[Store, BotState]:
    store = Store(data_dir / "roundup.sqlite3")
    return store, BotState(store)


def _answer(state: BotState, user: int, question: str) -> int:
    return state.record_answer(question=question, since=None, until=None, passage_ids=[1, 2], shown=2,
                               user_id=user, guild_id=5, channel_id=6)


def test_forget_deletes_one_members_data(cli, capsys):
    store, state = _state(cli)
    mine, theirs = _answer(state, 111, "my question"), _answer(state, 222, "their question")
    state.record_feedback(state.answer(theirs), 111, 1)  # 111's vote on 222's answer
    state.record_feedback(state.answer(mine), 222, -1)  # 222's vote on 111's question (holds its text)
    state.set_mentions(5, 6, False, by=111)
    store.close()
    assert main(["forget", "--user", "111", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"]["bot_answers"] == 1
    store, state = _state(cli)
    try:
        rows = store.execute("SELECT * FROM bot_answers")
        assert [r["user_id"] for r in rows] == [222]
        assert store.execute("SELECT COUNT(*) FROM bot_feedback")[0][0] == 0
        assert store.execute("SELECT updated_by FROM bot_channel_settings")[0][0] is None
    finally:
        store.close()
    raw = b"".join(p.read_bytes() for p in cli.glob("roundup.sqlite3*") if p.is_file())
    assert b"my question" not in raw and b"their question" in raw  # gone from the file, not just the table
    with pytest.raises(SystemExit) as exit_:
        main(["forget", "--user", "abc"])
    assert exit_.value.code == 2


def test_retention_deletes_what_is_older_than_the_setting(cli, capsys):
    store, state = _state(cli)
    old, new = _answer(state, 1, "old question"), _answer(state, 2, "new question")
    state.record_feedback(state.answer(new), 3, 1)
    long_ago = (datetime.now(timezone.utc) - timedelta(days=91)).replace(microsecond=0).isoformat()
    store.execute("UPDATE bot_answers SET created_at = ? WHERE id = ?", (long_ago, old))
    store.close()
    apply_retention(Settings.load(env={}, data_dir=cli, retention_days=0))  # 0 keeps everything
    store, state = _state(cli)
    assert store.execute("SELECT COUNT(*) FROM bot_answers")[0][0] == 2
    store.close()
    assert main(["status", "--json"]) == 0  # any command applies the default, 90 days
    store, state = _state(cli)
    try:
        assert [r["question"] for r in store.execute("SELECT question FROM bot_answers")] == ["new question"]
        assert store.execute("SELECT COUNT(*) FROM bot_feedback")[0][0] == 1
    finally:
        store.close()


def _modes(root) -> dict[str, int]:
    out = {".": stat.S_IMODE(os.stat(root).st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.stat(p).st_mode)
    return out


def test_data_directory_is_0700_and_its_files_0600(make_service, tmp_path):
    old = os.umask(0o022)  # as a default shell would have it
    try:
        svc = make_service(tmp_path / "private" / "data")
        svc.ask(TIKTOK)  # bundled sample ingested: store, WAL, every index part
        modes = _modes(svc.settings.data_dir)
        assert {"roundup.sqlite3", "roundup.sqlite3-wal", "index.faiss", "sentences/seg-000001.npy", "sparse/ids.npy"} <= set(modes)
        dirs = {k for k in modes if os.path.isdir(svc.settings.data_dir / k)}
        assert all(modes[k] == 0o700 for k in dirs), modes
        assert all(modes[k] == 0o600 for k in set(modes) - dirs), modes
        open_svc = make_service(tmp_path / "open" / "data", private_files=False, auto_ingest_bundled=False)
        open_svc.store.counts()
        assert _modes(open_svc.settings.data_dir)["."] == 0o755
    finally:
        os.umask(old)


def test_terminal_output_has_no_escape_sequences():
    report = IngestReport()
    report.sources.append(SourceReport("evil\x1b]0;pwned\x07.txt", errors=["bad \x1b[2J\x9b31m line"],
                                       notes=["note \x1b[31mred"]))
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    print_ingest(console, report)
    text = console.file.getvalue()
    assert "evil" in text and "pwned" not in text.replace("pwned.txt", "")
    assert not any(ch in text for ch in "\x1b\x07\x9b")


def test_one_log_line_per_event_and_tracebacks_only_at_debug_or_for_bugs(capsys):
    root = logging.getLogger()
    try:
        configure_logging(0, "WARNING")
        configure_logging(0, "WARNING")  # a second call replaces, never adds
        logging.getLogger("discord.gateway").warning("gateway \x1b[31mhiccup")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bot.web_ingest").warning("feed failed", exc_info=True)
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2, err
        assert "hiccup" in err[0] and "\x1b" not in err[0]
        assert "feed failed (ValueError: boom)" in err[1]
        try:
            raise KeyError("bug")
        except KeyError:
            logging.getLogger("bot.app").exception("event failed")  # a real bug keeps its traceback
        assert "Traceback" in capsys.readouterr().err
        configure_logging(2, "WARNING")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bot.web_ingest").warning("feed failed", exc_info=True)
        assert "Traceback" in capsys.readouterr().err
    finally:
        for h in [h for h in root.handlers if getattr(h, "roundup", False)]:
            root.removeHandler(h)
