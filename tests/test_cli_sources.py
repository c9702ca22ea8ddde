"""`roundup-bot ingest --crawl`, `feeds import/export`, `remove` and `--guild` through the CLI:
in-process where the process does not matter, in a subprocess for the SIGKILL mid-removal."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive_site import COLUMN, archive, archive_server  # noqa: F401
from bot.cli import main
from corpus.model import article_id_for_url
from corpus.opml import parse_opml
from embeddings.sentence_index import SENTENCES_FILE, SentenceIndex
from embeddings.sparse import SparseIndex

ROOT = Path(__file__).resolve().parents[1]
TIKTOK = "Where does TikTok say it keeps American users' data?"


def run_json(capsys, *args) -> tuple[int, dict]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_crawl_backfills_the_archive_and_a_second_run_fetches_nothing_new(data_env, archive, monkeypatch, capsys):
    monkeypatch.setenv("ROUNDUP_ALLOWED_PRIVATE_HOSTS", f"127.0.0.1:{archive.port}")
    monkeypatch.setenv("ROUNDUP_CRAWL_DELAY", "0.01")
    monkeypatch.setenv("ROUNDUP_FETCH_RETRIES", "0")
    monkeypatch.setenv("ROUNDUP_AUTO_INGEST_BUNDLED", "0")  # the archive reuses the sample's text
    url = archive.url(COLUMN)
    code, first = run_json(capsys, "ingest", "--crawl", url, "--guild", "7")
    assert code == 0
    n = len(archive.roundups())
    assert first["added"] + first["duplicates"] == n and first["progress"]["pages"] >= 3
    assert not [p for p in archive.paths() if p.startswith("/members/")]  # robots.txt-disallowed: never asked
    articles = {r["path"] for r in archive.roundups()}
    before = len(archive.hits)

    code, second = run_json(capsys, "ingest", "--crawl", url, "--guild", "7")
    assert code == 0
    assert second["added"] == 0 and second["progress"]["fetched"] == 0
    assert not [h.path for h in archive.hits[before:] if h.path in articles]  # no article page again

    _, st = run_json(capsys, "status", "--guild", "7")
    assert st["owned"]["articles"] == first["added"]
    _, other = run_json(capsys, "status", "--guild", "8")
    assert other["owned"]["articles"] == 0 and other["articles"] == 0
    _, mine = run_json(capsys, "ask", "China Roundup issue", "--guild", "7")
    _, theirs = run_json(capsys, "ask", "China Roundup issue", "--guild", "8")
    assert any(h["url"].startswith(archive.base) for h in mine["results"])
    assert not any(h["url"].startswith(archive.base) for h in theirs["results"])


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Feedly subscriptions</title><dateCreated>Mon, 02 Jun 2025 10:00:00 GMT</dateCreated></head>
  <body>
    <outline text="China" title="China">
      <outline text="Weekly" title="Weekly">
        <outline type="rss" text="China Roundup" title="China Roundup" xmlUrl="https://news.example.org/tag/china-roundup/feed/" htmlUrl="https://news.example.org/tag/china-roundup/"/>
        <outline type="rss" text="Tech Briefing" xmlUrl="https://briefing.example.com/rss.xml"/>
      </outline>
      <outline type="rss" text="Blockheads" title="Blockheads" xmlUrl="https://chain.example.net/atom.xml"/>
    </outline>
    <outline type="rss" text="Asia Tech Review" title="Asia Tech Review" xmlUrl="https://review.example.org/feed"/>
  </body>
</opml>
"""


@pytest.mark.parametrize("guild", [[], ["--guild", "42"]])
def test_opml_import_then_export_through_the_cli_round_trips(data_env, tmp_path, capsys, guild):
    src = tmp_path / "feedly.opml"
    src.write_text(OPML, encoding="utf-8")
    code, imported = run_json(capsys, "feeds", "import", str(src), *guild)
    assert code == 0 and len(imported["added"]) == 4 and imported["already"] == []
    code, again = run_json(capsys, "feeds", "import", str(src), *guild)
    assert again["added"] == [] and len(again["already"]) == 4
    out = tmp_path / "export.opml"
    assert main(["feeds", "export", "-o", str(out), *guild]) == 0
    assert parse_opml(out.read_bytes()) == parse_opml(OPML)
    _, listed = run_json(capsys, "feeds", "list", *guild)
    assert [f["url"] for f in listed["feeds"]] == [f.url for f in parse_opml(OPML)]
    _, other = run_json(capsys, "feeds", "list", "--guild", "43")
    assert other["feeds"] == []


def test_bad_opml_is_one_line_and_changes_nothing(data_env, tmp_path, capsys):
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body><outline text='x'", encoding="utf-8")
    assert main(["feeds", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err
    assert main(["feeds", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["feeds"] == []


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUNDUP_", "DISCORD_"))}
    env.update(ROUNDUP_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def _run(args, data_dir):
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=_env(data_dir),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)


def _counts(data: Path) -> dict:
    from bot.settings import Settings

    s = Settings.load(env={}, data_dir=data)
    manifest = json.loads((data / "index.json").read_text())
    sparse, _ = SparseIndex.load(data)
    sentences, _ = SentenceIndex.load(data / SENTENCES_FILE, model=s.encoder.identity,
                                      embed_format=f"section+text/v1+{s.sentence_vectors}")
    with sqlite3.connect(data / "roundup.sqlite3") as conn:
        store = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    return {"store": store, "faiss": manifest["count"], "bm25": len(sparse), "sentences": len(sentences)}


def test_sigkill_mid_removal_leaves_everything_in_step_after_the_next_command(bundled_copy):
    data = bundled_copy
    before = _counts(data)
    assert len(set(before.values())) == 1
    dry = _run(["remove", "--before", "2019-01-01", "--dry-run", "--json"], data)
    assert dry.returncode == 0, dry.stderr
    doomed = json.loads(dry.stdout)["articles"]
    assert len(doomed) == 4 and _counts(data) == before

    proc = subprocess.Popen([sys.executable, "-m", "bot", "remove", "--before", "2019-01-01"], cwd=ROOT,
                            env=_env(data), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    left = 12
    while time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(data / "roundup.sqlite3") as conn:
            left = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        if left < 12:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "remove finished before it could be killed"
    assert left == 8
    mid = _counts(data)
    assert mid["store"] < mid["faiss"]  # killed between the store and the indexes

    ask = _run(["ask", "--json", "Where did Tencent stop streaming NBA games?"], data)
    assert ask.returncode == 0, ask.stderr
    assert not {h["url"] for h in json.loads(ask.stdout)["results"]} & {a["url"] for a in doomed}
    # questions never write (issue 12); the next writing command brings the indexes in step
    finish = _run(["ingest"], data)
    assert finish.returncode == 0, finish.stderr
    after = _counts(data)
    assert after["store"] == after["faiss"] == after["bm25"] == after["sentences"] < before["store"]
    st = json.loads(_run(["status", "--json"], data).stdout)
    assert st["articles"] == 8 and st["index"]["vectors"] == st["passages"] == after["store"]


def test_crawl_killed_half_way_completes_on_the_next_run_without_duplicates(tmp_path, archive):
    data = tmp_path / "data"
    env = {**_env(data), "ROUNDUP_ALLOWED_PRIVATE_HOSTS": f"127.0.0.1:{archive.port}", "ROUNDUP_CRAWL_DELAY": "0.05",
           "ROUNDUP_FETCH_RETRIES": "0", "ROUNDUP_AUTO_INGEST_BUNDLED": "0"}
    url = archive.url(COLUMN)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "ingest", "--crawl", url], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = data / "roundup.sqlite3"
    deadline, stored = time.monotonic() + 180, 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    stored = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            except sqlite3.OperationalError:  # the schema not made yet
                stored = 0
        if stored:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the crawl finished before it could be killed"
    assert stored
    with sqlite3.connect(db) as conn:
        before_kill = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]

    again = subprocess.run([sys.executable, "-m", "bot", "ingest", "--crawl", url, "--json"], cwd=ROOT, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT url) FROM articles").fetchone()
    assert total == distinct == before_kill + report["added"]
    assert report["progress"]["skipped"] >= before_kill  # what was stored is not fetched again
    with sqlite3.connect(db) as conn:  # every roundup is now stored or known as a copy of a stored one
        rows = conn.execute("SELECT url, state FROM crawl_articles").fetchall()
        ids = {r[0] for r in conn.execute("SELECT id FROM articles")}
    settled = {u for u, state in rows if state == "duplicate" or article_id_for_url(u) in ids}
    assert {archive.url(r["path"]) for r in archive.roundups()} <= settled
    third = subprocess.run([sys.executable, "-m", "bot", "ingest", "--crawl", url, "--json"], cwd=ROOT, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert json.loads(third.stdout)["progress"]["fetched"] == 0

