"""The `roundup-bot` command: in-process for speed, in subprocesses where the process itself matters."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
TIKTOK = "Where does TikTok say it keeps American users' data?"


def _env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUNDUP_", "DISCORD_"))}
    env.update(ROUNDUP_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def _run(args, data_dir, stdin=subprocess.DEVNULL, timeout=240, **extra):
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=_env(data_dir, **extra),
                          stdin=stdin, capture_output=True, text=True, timeout=timeout)


def test_ask_json_in_a_fresh_process_cites_singapore(tmp_path):
    proc = _run(["ask", "--json", TIKTOK], tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) >= {"question", "answered", "results", "elapsed_ms"}
    assert out["answered"] is True
    top = out["results"][0]
    assert set(top) >= {"id", "text", "title", "url", "published", "section", "score"}
    assert "Singapore" in top["text"] and top["url"].startswith("http")
    # The first run says what it does, in one line and a closing one, with no raw log records.
    lines = proc.stderr.splitlines()
    assert lines[0] == ("First run: indexing 12 bundled roundups into the search index "
                        "(loading the model, then embedding)..."), proc.stderr
    assert re.fullmatch(r"Indexed 12 bundled sample roundups \(\d+ passages\) in \d+\.\ds\.", lines[1]), proc.stderr
    assert len(lines) == 2 and "WARNING" not in proc.stderr and "INFO" not in proc.stderr
    again = _run(["ask", "--json", TIKTOK], tmp_path / "data")
    assert again.returncode == 0 and again.stderr == ""  # only the first run says anything


def test_chat_without_a_terminal_answers_the_demo_question(tmp_path):
    proc = _run(["chat"], tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    assert "Singapore" in proc.stdout and "http://" in proc.stdout


def test_data_dir_option_before_or_after_the_command(tmp_path, data_env, capsys):
    other = tmp_path / "elsewhere"
    assert main(["--data-dir", str(other), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == str(other)
    assert main(["status", "--json", "--data-dir", str(other)]) == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == str(other)


def test_batch_mode_answers_one_json_line_per_question(data_env, monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{TIKTOK}\n\nWhat did Huawei ship?\n{'x' * 1001}\n"))
    code = main(["ask", "--json", "-", "-k", "2"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert lines[0]["answered"] and len(lines[0]["results"]) <= 2
    assert "error" in lines[2] and "1000" in lines[2]["error"]
    assert code == 1


@pytest.mark.parametrize("argv, fragment", [
    (["ask", ""], "empty"),
    (["ask", "   "], "empty"),
    (["ask", "q" * 1001], "limit is 1000"),
    (["ask", "x", "--since", "2020-13-01"], "YYYY-MM-DD"),
    (["ask", "x", "-k", "0"], "between 1 and 50"),
])
def test_bad_input_gets_one_line_and_nonzero_exit(data_env, capsys, argv, fragment):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit, still one line
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert fragment in err and len(err.splitlines()) == 1


def test_missing_file_and_malformed_line(data_env, tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "missing.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "no such file" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n", encoding="utf-8")
    assert main(["ingest", "--json", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any(f"{bad}:1" in e for e in report["errors"])
    # the bundled corpus ingested on first use is still all there
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["articles"] == 12


def test_unwritable_data_dir_is_a_clear_error(tmp_path, data_env, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert main(["--data-dir", str(blocker / "data"), "ask", "Huawei"]) == 1
    err = capsys.readouterr().err.strip()
    assert "data directory" in err and len(err.splitlines()) == 1


def _big_jsonl(path: Path, n_articles: int) -> Path:
    words = ("Alibaba Tencent ByteDance Huawei Xiaomi Baidu Meituan Didi Pinduoduo JD regulators shipments "
             "funding quarter users growth market launch phones cloud payments video games chips").split()
    with path.open("w", encoding="utf-8") as fh:
        for a in range(n_articles):
            paras = []
            for p in range(6):
                body = " ".join(words[(a * 7 + p * 3 + i) % len(words)] for i in range(40))
                paras.append(f"Item {a}-{p}: {body}.")
            fh.write(json.dumps({"id": f"big-{a}", "title": f"Weekly {a}", "url": f"https://example.com/big/{a}",
                                 "published": "2022-02-01", "sections": [{"heading": "News", "paragraphs": paras}]})
                     + "\n")
    return path


def test_sigkill_during_ingest_leaves_a_usable_store_and_index(tmp_path):
    data = tmp_path / "data"
    assert _run(["ingest", "--json", str(ROOT / "corpus" / "data")], data).returncode == 0
    big = _big_jsonl(tmp_path / "big.jsonl", 100)  # 600 passages: several seconds of embedding
    proc = subprocess.Popen([sys.executable, "-m", "bot", "ingest", str(big)], cwd=ROOT, env=_env(data),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = data / "roundup.sqlite3"
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM articles WHERE id LIKE 'big-%'").fetchone()[0]
        if stored:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the embedding of 600 passages
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"
    assert stored

    ask = _run(["ask", "--json", TIKTOK], data)
    assert ask.returncode == 0, ask.stderr
    assert "Singapore" in json.loads(ask.stdout)["results"][0]["text"]

    again = _run(["ingest", "--json", str(big)], data)
    assert again.returncode == 0, again.stderr
    st = json.loads(_run(["status", "--json"], data).stdout)
    assert st["articles"] == 12 + 100
    assert st["index"]["vectors"] == st["passages"]


def test_a_refusal_says_why_in_one_line_with_the_question(data_env, capsys):
    """The refusal reads as English: why (the confidence it had), then the question, quoted once."""
    question = "How much did Zorblax Robotics raise in its Series B?"
    main(["ask", question])
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("Not found in the roundups: ") and first.endswith(f"Asked: {question}")
    assert "?." not in first and first.count(question) == 1
