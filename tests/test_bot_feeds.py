"""/feeds and the background refresh, through SimCord, against the local site on 127.0.0.1."""
from __future__ import annotations

import asyncio
import logging

import discord
import pytest

from bot.settings import Settings
from local_site import EXTRA, local_site, rss_feed, site  # noqa: F401

# Fetching, parsing and embedding happen inside commands here; a loaded machine needs the room.
pytestmark = pytest.mark.simcord(settle_timeout=60)

SUBCOMMANDS = {"feeds list": {}, "feeds add": {"url": "https://example.com/feed.xml"},
               "feeds remove": {"url": "https://example.com/feed.xml"}, "feeds refresh": {}}


@pytest.fixture
def bot_settings(bundled_copy, local_site):
    """The conftest's bot settings, plus the local site as the one private host it may read."""
    return Settings.load(env={}, data_dir=bundled_copy, allowed_private_hosts=f"127.0.0.1:{local_site.port}",
                         fetch_retries=0, fetch_timeout=10.0, refresh_hours=6,
                         fetch_keepalive=0)  # no idle-connection timer for SimCord to wait out


@pytest.fixture
def world(simcord_env, site):
    env = simcord_env
    guild = env.create_guild()
    channel = guild.create_text_channel("china-tech")
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    mod = guild.add_member(env.create_user("mod"), roles=[mods])
    alice = guild.add_member(env.create_user("alice"))
    # a feed of stories the bundled corpus does not have, so a refresh has something to add
    site.overrides["/rss.xml"] = rss_feed(site.base, [EXTRA["flaky"], EXTRA["chain"]], title="Extra news")
    return env, guild, channel, mod, alice


def text(result) -> str:
    return result.response.content


async def test_feeds_need_manage_server(world, site):
    env, guild, channel, mod, alice = world
    assert not any(c.startswith("feeds") for c in alice.available_commands(channel))
    assert {"feeds list", "feeds add", "feeds remove", "feeds refresh"} <= set(mod.available_commands(channel))
    for name, options in SUBCOMMANDS.items():
        with pytest.raises(Exception, match="(?i)permission"):
            await alice.slash(channel, name, **options)
    assert site.requests == []  # nothing was fetched for her
    r = await mod.slash(channel, "feeds list")
    assert r.ephemeral and "None yet" in r.response.embeds[0].description


async def test_add_validates_then_list_and_remove(world, site):
    env, guild, channel, mod, _ = world
    feed = site.url("/rss.xml")
    r = await mod.slash(channel, "feeds add", url=feed)
    assert r.ephemeral and "Now following **Extra news** (2 entries)" in text(r)
    assert [x.status for x in site.seen("/rss.xml")] == [200]
    assert site.seen("/articles/") == []  # add only checks the feed; articles are read on refresh
    assert "already follows" in text(await mod.slash(channel, "feeds add", url=feed))

    for url, reason in [(site.url("/missing"), "HTTP 404 Not Found"), (site.url("/cp1252.html"), "not a feed"),
                        (site.url("/articles/extra-chain.html"), f"the page names its feed: {feed}"),
                        (site.url("/malformed.xml"), "malformed feed XML"),
                        ("ftp://example.com/feed.xml", "only http and https"),
                        (site.url("/redirect?to=http://10.9.8.7/feed"), "10.9.8.7 is a private address")]:
        r = await mod.slash(channel, "feeds add", url=url)
        assert r.ephemeral and "couldn't add" in text(r) and reason in text(r), (url, text(r))

    r = await mod.slash(channel, "feeds list")
    listed = r.response.embeds[0].description
    assert "Extra news" in listed and feed in listed and listed.count("•") == 1

    other = env.create_guild()
    other_channel = other.create_text_channel("general")
    other_mods = other.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    other_mod = other.add_member(env.create_user("othermod"), roles=[other_mods])
    r = await other_mod.slash(other_channel, "feeds list")
    assert "None yet" in r.response.embeds[0].description  # feeds are per server

    choices = await mod.autocomplete(channel, "feeds remove", "url", "rss")
    assert [c["value"] for c in choices] == [feed]
    r = await mod.slash(channel, "feeds remove", url=feed)
    assert "Stopped following" in text(r)
    assert "doesn't follow" in text(await mod.slash(channel, "feeds remove", url=feed))
    assert "None yet" in (await mod.slash(channel, "feeds list")).response.embeds[0].description


async def test_refresh_reads_the_feed_and_answers_cite_it(world, site):
    env, guild, channel, mod, alice = world
    await mod.slash(channel, "feeds add", url=site.url("/rss.xml"))
    r = await mod.slash(channel, "feeds refresh")
    embed = r.response.embeds[0]
    assert embed.title == "Feeds refreshed" and "**2** new articles" in embed.description
    r = await alice.slash(channel, "ask", question="Which platforms sell vegetables through community group buying?")
    answer = r.response.embeds[0]
    assert site.url("/articles/extra-flaky.html") in next(f for f in answer.fields if f.name == "Sources").value
    # a second refresh: the feed is unchanged, so one conditional request and nothing new
    site.clear_log()
    r = await mod.slash(channel, "feeds refresh")
    assert "**0** new articles" in r.response.embeds[0].description
    assert [x.status for x in site.requests] == [304]
    assert "last read" in (await mod.slash(channel, "feeds list")).response.embeds[0].description


async def test_background_refresh_every_n_hours_never_overlaps(world, site, caplog):
    env, guild, channel, mod, _ = world
    await mod.slash(channel, "feeds add", url=site.url("/rss.xml"))
    cog = env.bot.get_cog("Feeds")
    with caplog.at_level(logging.INFO, logger="bot.cogs.feeds"):
        await env.advance_time(6 * 3600 + 1)
        await env.settle()
    assert "feed refresh done: 1 feeds, 2 articles added" in caplog.text
    assert "Pinduoduo bets on community grocery" in caplog.text  # what it added, by title
    urls = {r["url"] for r in env.bot.service.store.articles()}
    assert site.url("/articles/extra-chain.html") in urls

    caplog.clear()
    site.clear_log()
    await cog.refresh_lock.acquire()  # a refresh still running when the next one is due
    try:
        with caplog.at_level(logging.INFO, logger="bot.cogs.feeds"):
            await env.advance_time(6 * 3600 + 1)
            await env.settle()
        assert "skipped: the previous refresh is still running" in caplog.text
        r = await mod.slash(channel, "feeds refresh")
        assert r.ephemeral and "already running" in text(r)
    finally:
        cog.refresh_lock.release()
    assert site.requests == []
    await asyncio.sleep(0)
