"""/digest and /trend through SimCord on the real bot, model, FAISS and SQLite; the weekly post on
simulated time, across a restart."""
from __future__ import annotations

import io
from datetime import timedelta

import discord
import pytest
from PIL import Image

from bot_helpers import assert_fits, callbacks
from corpus.mentions import mention_matcher
from corpus.model import Article, Section

# The digest encodes sentences the first time it meets a passage: allow for a busy machine.
pytestmark = pytest.mark.simcord(settle_timeout=120)


@pytest.fixture
def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("china-tech")
    news = guild.create_text_channel("weekly-news")
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    alice = guild.add_member(simcord_env.create_user("alice"))
    admin = guild.add_member(simcord_env.create_user("admin"), roles=[mods])
    return simcord_env, guild, channel, news, alice, admin


def digest_posts(channel) -> list[discord.Message]:
    return [m for m in channel.history() if m.embeds and (m.embeds[0].title or "").startswith("Digest")]


async def test_digest_show_renders_one_cited_embed(world):
    env, _, channel, _, alice, _ = world
    result = await alice.slash(channel, "digest show", period="year:2019")
    assert callbacks(env)[0] == 5, "the bot must defer before summarising"
    embed = result.response.embeds[0]
    assert_fits(embed)
    assert embed.title == "Digest: 2019"
    assert len(embed.fields) == 5
    for field in embed.fields:
        assert "](<http" in field.value  # every item cites its roundup, as a link that does not unfurl
        assert "2019-" in field.value
    assert "2019-01-01 to 2019-12-31" in embed.description


@pytest.mark.parametrize("period", ["all", "latest", "month:2020-06", "2014-01-01..2014-12-31"])
async def test_digest_embeds_fit_with_the_most_items(world, period):
    env, _, channel, _, alice, _ = world
    result = await alice.slash(channel, "digest show", period=period, items=10)
    embed = result.response.embeds[0]
    assert_fits(embed)
    assert embed.fields


async def test_topic_digest_in_discord_is_only_about_the_topic(world, bot_settings):
    env, _, channel, _, alice, _ = world
    result = await alice.slash(channel, "digest show", topic="Huawei")
    embed = result.response.embeds[0]
    assert embed.title == "Digest on Huawei: all roundups"
    assert embed.fields
    mentions = mention_matcher("Huawei")
    for field in embed.fields:
        assert mentions(field.value.split("\n")[0]), field.value


async def test_empty_period_and_bad_input(world):
    env, _, channel, _, alice, _ = world
    empty = await alice.slash(channel, "digest show", period="month:2022-01")
    desc = empty.response.embeds[0].description
    assert desc == "no roundups between 2022-01-01 and 2022-01-31; the corpus covers 2013-09-29 to 2021-09-18"
    before = len(callbacks(env))
    bad = await alice.slash(channel, "digest show", period="next week")
    assert bad.ephemeral and callbacks(env)[before:] == [4]  # answered privately, never deferred
    assert "unknown period 'next week'" in bad.response.content


async def test_trend_attaches_a_png_chart(world):
    env, _, channel, _, alice, _ = world
    result = await alice.slash(channel, "trend", name="TikTok")
    msg = result.response
    assert len(msg.attachments) == 1
    attachment = msg.attachments[0]
    assert attachment.filename == "trend-tiktok.png"
    data = await attachment.read()
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        assert img.width >= 600 and img.height >= 300
    embed = msg.embeds[0]
    assert_fits(embed)
    assert embed.image.url == "attachment://trend-tiktok.png"
    assert "**2019-11** (10)" in embed.description  # the peak month and its headline
    assert "TikTok stumbles" in embed.description


@pytest.mark.parametrize("name", ["Zorblatt Dynamics", "zxqvbn corp"])
async def test_trend_of_an_unknown_name_says_so_privately_without_a_chart(world, name):
    """A name neither the alias table nor the corpus knows is not meaning-matched into a chart."""
    env, _, channel, _, alice, _ = world
    result = await alice.slash(channel, "trend", name=name)
    assert result.ephemeral and not result.response.attachments and not result.response.embeds
    content = result.response.content
    assert f'no roundup mentions "{name}"' in content and "2013-09-29 to 2021-09-18" in content
    assert len(content.splitlines()) == 1
    assert not [m for m in channel.history() if m.attachments]  # nothing public was posted


async def test_trend_reads_a_typo_of_a_known_name(world):
    env, _, channel, _, alice, _ = world
    result = await alice.slash(channel, "trend", name="huwaei")
    assert result.response.attachments and result.response.embeds[0].title == "Trend: Huawei"


async def test_schedule_needs_manage_server(world):
    env, guild, channel, news, alice, admin = world
    denied = await alice.slash(channel, "digest schedule", channel=news, weekday=4)
    assert denied.ephemeral and "Manage Server" in denied.response.content
    assert any(isinstance(e, discord.app_commands.MissingPermissions) for e in env.errors)  # refused, on purpose
    assert env.bot.get_cog("Digest").schedules.get(guild.id) is None
    ok = await admin.slash(channel, "digest schedule", channel=news, weekday=4, hour=9)
    assert ok.ephemeral and "Fridays at 09:00 UTC" in ok.response.content
    saved = env.bot.get_cog("Digest").schedules.get(guild.id)
    assert (saved.channel_id, saved.weekday, saved.hour) == (news.id, 4, 9)
    gone = await admin.slash(channel, "digest unschedule")
    assert "off" in gone.response.content
    assert env.bot.get_cog("Digest").schedules.get(guild.id) is None


def new_roundup(day: str) -> Article:
    text = ("Xiaomi opened its first flagship store in Madrid that week, selling phones, scooters and smart home "
            "gadgets to European shoppers who had queued overnight for launch discounts.")
    return Article(id=f"test-{day}", title=f"Test roundup {day}", url=f"https://example.com/{day}", published=day,
                   sections=(Section("Xiaomi in Europe", (text,)),), source="Test Weekly")


async def test_weekly_post_once_a_week_even_across_a_restart(world, fresh_bot):
    env, guild, channel, news, _, admin = world
    start = env.now()
    assert start.weekday() == 3  # the simulation starts on a Thursday
    await admin.slash(channel, "digest schedule", channel=news, weekday=4, hour=9)  # Fridays 09:00 UTC

    await env.advance_time(timedelta(days=1, hours=8, minutes=30).total_seconds())  # Friday 08:30
    assert digest_posts(news) == []
    await env.advance_time(3600)  # Friday 09:30: the 09:00 tick posted
    posts = digest_posts(news)
    assert len(posts) == 1
    embed = posts[0].embeds[0]
    assert_fits(embed)
    assert embed.title == "Digest: the week 2021-09-13 to 2021-09-19 (latest)"
    assert "2021-09-13" not in embed.description  # each date said once

    await env.advance_time(6 * 3600)  # more ticks the same day: nothing more
    assert len(digest_posts(news)) == 1

    await env.restart_bot(fresh_bot())
    await env.advance_time(2 * 86400)  # the weekend, after a restart: still one post
    assert len(digest_posts(news)) == 1
    assert env.bot.get_cog("Digest").schedules.get(guild.id).last_week == "2026-W01"

    # The next Friday comes with no new roundups: nothing to post, and no repeat of the old digest.
    await env.advance_time(5 * 86400)  # Friday 2026-01-09, ~17:30
    assert len(digest_posts(news)) == 1

    # A new roundup arrives; the Friday after, it is posted, once.
    env.bot.service.ingest_articles([new_roundup("2026-01-12")], origin="test")
    await env.advance_time(7 * 86400)
    posts = digest_posts(news)
    assert len(posts) == 2
    assert posts[-1].embeds[0].title == "Digest: the week 2026-01-12 to 2026-01-18 (latest)"
    assert "Madrid" in posts[-1].embeds[0].fields[0].value
    await env.advance_time(86400)
    assert len(digest_posts(news)) == 2


async def test_a_restart_before_the_slot_still_posts_that_week(world, fresh_bot):
    env, guild, channel, news, _, admin = world
    await admin.slash(channel, "digest schedule", channel=news, weekday=4, hour=9)
    await env.advance_time(12 * 3600)  # Thursday noon
    await env.restart_bot(fresh_bot())
    await env.advance_time(24 * 3600)  # Friday noon
    assert len(digest_posts(news)) == 1


async def test_a_failed_post_falls_back_to_text_and_is_posted_once(world):
    """discord.py retries 429/5xx itself; after its final failure the digest goes out once as text."""
    env, guild, channel, news, _, admin = world
    await admin.slash(channel, "digest schedule", channel=news, weekday=4, hour=9)
    env.inject_error("POST", f"/channels/{news.id}/messages", status=500, times=1)
    await env.advance_time(timedelta(days=1, hours=9, minutes=30).total_seconds())  # Friday 09:30
    texts = [m for m in news.history() if not m.embeds and m.content.startswith("**Weekly roundup digest**")]
    assert len(texts) == 1 and "Digest" in texts[0].content and "](<http" in texts[0].content
    await env.advance_time(3 * 3600)
    assert digest_posts(news) == [] and len(news.history()) == 1  # posted, so not again this week


async def test_a_post_that_fails_twice_is_retried_next_hour_and_posted_once(world):
    env, guild, channel, news, _, admin = world
    await admin.slash(channel, "digest schedule", channel=news, weekday=4, hour=9)
    env.inject_error("POST", f"/channels/{news.id}/messages", status=500, times=2)  # the embed and its fallback
    await env.advance_time(timedelta(days=1, hours=9, minutes=30).total_seconds())  # Friday 09:30
    assert news.history() == []
    await env.advance_time(3600)  # the 10:00 tick retries
    assert len(digest_posts(news)) == 1
    await env.advance_time(3 * 3600)
    assert len(digest_posts(news)) == 1


async def test_scheduling_after_this_weeks_slot_waits_for_next_week(world):
    env, guild, channel, news, _, admin = world
    result = await admin.slash(channel, "digest schedule", channel=news, weekday=0, hour=0)  # Monday 00:00
    assert "Monday 2026-01-05 00:00 UTC" in result.response.content  # this week's Monday is gone
    await env.advance_time(2 * 86400)  # Thursday -> Saturday: Monday's slot has passed this week
    assert digest_posts(news) == []
    await env.advance_time(2 * 86400 + 3600)  # Monday 2026-01-05 01:00
    assert len(digest_posts(news)) == 1


async def test_an_error_after_the_public_defer_reaches_the_member(world, monkeypatch):
    """After a public defer the "thinking..." reply becomes the one-line error: deleting it first
    would make Discord refuse the follow-up (Unknown Message) and the member would see nothing."""
    from digests.summary import DigestError

    env, _, channel, _, alice, _ = world

    def fails(*args, **kwargs):
        raise DigestError("nothing to summarise there")

    monkeypatch.setattr(env.bot.service, "digest", fails)
    result = await alice.slash(channel, "digest show", period="latest")
    assert callbacks(env)[0] == 5
    assert result.response is not None and result.response.content == "nothing to summarise there"
    assert not result.response.embeds
    assert not [r for r in env.http_requests if r.method == "DELETE" and r.path.endswith("/messages/@original")]
