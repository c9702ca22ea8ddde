"""`--guild` on the CLI's corpus commands: timeline and trend see what that Discord server sees
(the shared corpus, the sample and its own articles), as `ask --guild` does; stats counts its members."""
from __future__ import annotations

import json

import pytest

from bot.cli import main

OWN = {"id": "g42-week-1", "title": "Server 42 weekly", "url": "https://example.org/g42/week-1",
       "published": "2021-09-10", "source": "Server 42 feed",
       "sections": [{"heading": "Robots", "paragraphs": [
           "Quillmark Robotics, a Shenzhen maker of warehouse robots, raised 90 million dollars to build "
           "a second factory for its shelf-climbing picking robots."]}]}


@pytest.fixture
def data_dir(bundled_copy, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("ROUNDUP_DATA_DIR", raising=False)
    source = tmp_path / "own.jsonl"
    source.write_text(json.dumps(OWN) + "\n", encoding="utf-8")
    assert main(["ingest", str(source), "--guild", "42", "--data-dir", str(bundled_copy)]) == 0
    capsys.readouterr()
    return str(bundled_copy)


def test_timeline_takes_a_guild(data_dir, capsys):
    assert main(["timeline", "Quillmark Robotics", "--guild", "42", "--json", "--data-dir", data_dir]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [e["url"] for e in entries] == [OWN["url"]]
    assert main(["timeline", "Quillmark Robotics", "--guild", "43", "--json", "--data-dir", data_dir]) == 1
    assert json.loads(capsys.readouterr().out)["entries"] == []
    assert main(["timeline", "Quillmark Robotics", "--json", "--data-dir", data_dir]) == 0  # the operator: all
    capsys.readouterr()
    assert main(["timeline", "Huawei", "--guild", "43", "--json", "--data-dir", data_dir]) == 0  # shared + sample
    assert len(json.loads(capsys.readouterr().out)["entries"]) >= 2


def test_trend_guild_scope_hides_another_servers_words(data_dir, capsys, tmp_path):
    out = str(tmp_path / "q.png")
    assert main(["trend", "Quillmark", "--guild", "42", "--out", out, "--json", "--data-dir", data_dir]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 1
    assert main(["trend", "Quillmark", "--guild", "43", "--out", out, "--json", "--data-dir", data_dir]) == 1
    assert json.loads(capsys.readouterr().out)["note"].startswith('no roundup mentions "Quillmark"')


@pytest.mark.parametrize("command", [["stats"], ["timeline", "Huawei"]])
@pytest.mark.parametrize("bad", ["0", "-5", "abc"])
def test_guild_ids_are_checked_alike(command, bad, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main([*command, "--guild", bad, "--data-dir", str(tmp_path / "d")])
    assert info.value.code == 2 and "server id" in capsys.readouterr().err
