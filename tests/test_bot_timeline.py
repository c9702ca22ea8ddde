"""/timeline and `roundup-bot timeline`: one line per roundup in date order, names through the
alias table, pages with buttons past ten entries, and an honest empty result with suggestions."""
from __future__ import annotations

import asyncio
import json
import re
from datetime import date, timedelta

import pytest

from bot.cli import main
from bot_helpers import assert_fits, buttons, show

pytestmark = pytest.mark.simcord(settle_timeout=60)

CITIES = ["Beijing", "Shanghai", "Shenzhen", "Chengdu", "Wuhan", "Hangzhou", "Nanjing", "Xi'an", "Tianjin",
          "Chongqing", "Suzhou", "Qingdao", "Dalian"]


def meituan_roundups(path):
    """Thirteen weekly roundups that each mention Meituan once, to page through."""
    lines = []
    start = date(2022, 1, 3)
    for n, city in enumerate(CITIES):
        day = (start + timedelta(days=7 * n)).isoformat()
        lines.append(json.dumps({
            "id": f"test-{day}", "title": f"Test weekly roundup {n + 1}", "url": f"https://example.org/weekly/{day}",
            "published": day, "source": "Test Weekly",
            "sections": [{"heading": "Delivery", "paragraphs": [
                f"Meituan opened {n + 2} new drone delivery stations in {city} in the week to {day}, "
                f"the company said.", f"Rival Ele.me did not comment on the {city} expansion."]}]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("china-tech")
    alice = guild.add_member(simcord_env.create_user("alice"))
    return simcord_env, guild, channel, alice


def dates_of(embed) -> list[str]:
    return re.findall(r"^\*\*(\d{4}-\d{2}-\d{2})\*\*", embed.description, flags=re.M)


async def test_timeline_lists_roundups_in_date_order(world):
    env, _, channel, alice = world
    result = await alice.slash(channel, "timeline", name="Tencent")
    embed = result.response.embeds[0]
    show(embed, "/timeline Tencent")
    assert_fits(embed)
    days = dates_of(embed)
    assert len(days) >= 3 and days == sorted(days)
    assert all("](<http" in line for line in embed.description.splitlines())  # each line links its roundup
    assert all("Tencent" in line for line in embed.description.splitlines())  # the sentence that names it
    assert not result.response.components  # one page: no buttons


async def test_since_and_until_narrow_the_timeline(world):
    env, _, channel, alice = world
    result = await alice.slash(channel, "timeline", name="Tencent", since="2019-01-01", until="2020-12-31")
    days = dates_of(result.response.embeds[0])
    assert days and all("2019-01-01" <= d <= "2020-12-31" for d in days)
    bad = await alice.slash(channel, "timeline", name="Tencent", since="last spring")
    assert bad.ephemeral and "since" in bad.response.content


@pytest.mark.parametrize("typed, name", [("华为", "Huawei"), ("ant group", "Ant Group"), ("tencnet", "Tencent")])
async def test_names_go_through_the_alias_table(world, typed, name):
    env, _, channel, alice = world
    result = await alice.slash(channel, "timeline", name=typed)
    embed = result.response.embeds[0]
    show(embed, f"/timeline {typed}")
    assert embed.title == f"Timeline: {name}"
    assert dates_of(embed)
    if typed.lower() != name.lower():
        assert f"read {typed!r} as {name}" in embed.footer.text


async def test_an_unknown_name_says_so_and_suggests_known_names(world):
    env, _, channel, alice = world
    result = await alice.slash(channel, "timeline", name="pdd")
    embed = result.response.embeds[0]
    show(embed, "/timeline pdd")
    assert "don't mention **Pinduoduo**" in embed.description
    suggested = re.findall(r"`([^`]+)`", embed.description)
    known = env.bot.service.known_names()
    assert suggested and all(s in known for s in suggested)
    result = await alice.slash(channel, "timeline", name="Tencnt")  # a near miss suggests the name itself
    assert "Tencent" in result.response.embeds[0].description


async def test_more_than_ten_roundups_page_with_buttons(world, tmp_path):
    env, _, channel, alice = world
    report = await asyncio.to_thread(env.bot.service.ingest, [meituan_roundups(tmp_path / "meituan.jsonl")])
    assert report.ok
    result = await alice.slash(channel, "timeline", name="Meituan")
    message = result.response
    first = message.embeds[0]
    show(first, "/timeline Meituan, page 1")
    assert len(dates_of(first)) == 10 and first.footer.text.startswith("Page 1/2")
    labels = {b["label"]: b.get("disabled", False) for b in buttons(message)}
    assert labels == {"Previous": True, "Next": False}
    nxt = await alice.click(message, label="Next")
    assert nxt.acknowledged
    page2 = nxt.response.embeds[0]
    show(page2, "/timeline Meituan, page 2")
    assert page2.footer.text.startswith("Page 2/2")
    days = dates_of(first) + dates_of(page2)
    assert len(days) == 13 and days == sorted(days)
    prev = await alice.click(message, label="Previous")
    assert prev.response.embeds[0].footer.text.startswith("Page 1/2")


async def test_timeline_pages_survive_a_restart(world, tmp_path, fresh_bot):
    env, _, channel, alice = world
    await asyncio.to_thread(env.bot.service.ingest, [meituan_roundups(tmp_path / "meituan.jsonl")])
    message = (await alice.slash(channel, "timeline", name="meituan", since="2022-01-01")).response
    await env.restart_bot(fresh_bot())
    page2 = (await alice.click(message, label="Next")).response.embeds[0]
    assert page2.footer.text.startswith("Page 2/2") and len(dates_of(page2)) == 3


def test_cli_timeline(tmp_path, monkeypatch, capsys, encoder):
    monkeypatch.setenv("ROUNDUP_DATA_DIR", str(tmp_path / "data"))
    assert main(["timeline", "腾讯", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "Tencent" and len(out["entries"]) >= 3
    days = [e["published"] for e in out["entries"]]
    assert days == sorted(days)
    assert all(e["url"].startswith("http") and "Tencent" in e["sentence"] for e in out["entries"])
    assert main(["timeline", "pdd"]) == 1
    text = capsys.readouterr().out
    print(text)
    assert "don't mention Pinduoduo" in text and "Names they do cover" in text
