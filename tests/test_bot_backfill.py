"""/feeds backfill through SimCord against the local archive on 127.0.0.1: one status message,
edited at most every `backfill_status_seconds`, the articles the server's own."""
from __future__ import annotations

import discord
import pytest

from archive_site import COLUMN, archive_server  # noqa: F401
from bot.settings import Settings

STATUS_EVERY = 3.0


@pytest.fixture
def bot_settings(tmp_path, archive_server):
    archive_server.reset()
    return Settings.load(env={}, data_dir=tmp_path / "bf", auto_ingest_bundled=False, crawl_delay=0.02,
                         allowed_private_hosts=f"127.0.0.1:{archive_server.port}", fetch_retries=0,
                         backfill_status_seconds=STATUS_EVERY)


@pytest.mark.simcord(settle_timeout=120)
async def test_backfill_edits_one_status_message_and_the_articles_stay_in_the_server(simcord_env, archive_server):
    env = simcord_env
    one, two = env.create_guild(), env.create_guild()
    mods = one.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    channel, other = one.create_text_channel("news"), two.create_text_channel("news")
    mod = one.add_member(env.create_user("mod"), roles=[mods])
    member = two.add_member(env.create_user("member"))
    url = archive_server.url(COLUMN)

    result = await mod.slash(channel, "feeds backfill", url=url)
    assert result.ephemeral
    final = result.response.content
    assert final.startswith(f"Backfill of <{url}> done") and "disallowed by robots.txt" in final
    edits = [r for r in env.http_requests if r.method == "PATCH" and "/messages/@original" in r.path]
    # SimCord's clock stands still within one action, so the throttle lets only the final edit
    # through (unthrottled there would be one per article); test_status_throttle times it
    assert len(edits) == 1
    assert not [p for p in archive_server.paths() if p.startswith("/members/")]

    status = env.bot.service.status(one.id)
    assert status["owned"]["articles"] >= 10
    ask = await member.slash(other, "ask", question="China Roundup issue of the week")
    body = " ".join(e.description or "" for e in ask.response.embeds) + str(ask.response.embeds[0].fields)
    assert archive_server.base not in body


def test_status_throttle_lets_an_edit_through_at_most_every_interval():
    from bot.cogs.feeds import Throttle

    now = [100.0]
    throttle = Throttle(5.0, clock=lambda: now[0])
    seen = []
    for _ in range(100):  # an event every 0.25 s for 25 s
        now[0] += 0.25
        seen.append(throttle.due())
    assert sum(seen) == 5 and seen.index(True) == 19  # at 5 s, 10 s, ... 25 s
