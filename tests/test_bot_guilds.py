"""Per-server corpora through SimCord: two servers, each with its own feed articles, never see each
other's in /ask, mentions, /digest, /trend or /sources; /sources remove; topic alerts; OPML."""
from __future__ import annotations

import asyncio
from datetime import date

import discord
import pytest

from corpus.model import Article, Section

QUILL = ("Quillmark Robotics, a Shenzhen maker of warehouse robots, raised 90 million dollars led by Hillhouse "
         "to build a second factory for its shelf-climbing picking robots.")
ORCHID = ("Orchidlane Foods opened a chain of unstaffed noodle kiosks in Chengdu metro stations, where diners "
          "pay by scanning their palms at the counter.")
ASK_QUILL = "How much did Quillmark Robotics raise for its warehouse robots?"


def article(aid: str, text: str, published: str = "2021-09-10") -> Article:
    return Article(id=aid, title=f"Server roundup {aid}", url=f"https://feeds.example.org/{aid}",
                   published=published, sections=(Section("News", (text,)),), source="Server feed")


async def give(env, guild, *articles: Article) -> None:
    """Articles as a server's own feed would bring them."""
    await asyncio.to_thread(env.bot.service.ingest_articles, list(articles),
                            origin="https://feeds.example.org/rss", owners=(guild.id,))


class Place:
    def __init__(self, env, name):
        self.guild = env.create_guild()
        self.channel = self.guild.create_text_channel("china-tech")
        self.alerts = self.guild.create_text_channel("alerts")
        mods = self.guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
        self.member = self.guild.add_member(env.create_user(f"{name}-member"))
        self.mod = self.guild.add_member(env.create_user(f"{name}-mod"), roles=[mods])


@pytest.fixture
def two(simcord_env):
    return simcord_env, Place(simcord_env, "one"), Place(simcord_env, "two")


def text_of(messages) -> str:
    out = []
    for m in messages:
        out.append(m.content or "")
        for e in m.embeds:
            out += [e.title or "", e.description or "", *(f"{f.name} {f.value}" for f in e.fields)]
    return "\n".join(out)


def reply_text(result) -> str:
    return text_of([result.response, *result.followups])


async def test_a_servers_feed_articles_stay_in_that_server(two):
    env, one, other = two
    await give(env, one.guild, article("quill", QUILL))
    await give(env, other.guild, article("orchid", ORCHID))

    mine = await one.member.slash(one.channel, "ask", question=ASK_QUILL)
    assert "Quillmark" in reply_text(mine) and "feeds.example.org/quill" in reply_text(mine)
    theirs = await other.member.slash(other.channel, "ask", question=ASK_QUILL)
    assert "maker of warehouse robots" not in reply_text(theirs) and "feeds.example.org/quill" not in reply_text(theirs)

    # mentions answer from the same corpus as /ask in that server
    await other.member.send(other.channel, f"<@{env.bot.user.id}> {ASK_QUILL}")
    assert "feeds.example.org/quill" not in text_of(other.channel.history())
    await one.member.send(one.channel, f"<@{env.bot.user.id}> {ASK_QUILL}")
    assert "feeds.example.org/quill" in text_of(one.channel.history()[-3:])

    # a digest and a trend of everything on the name
    d_other = await other.member.slash(other.channel, "digest show", period="all", topic="Quillmark")
    d_one = await one.member.slash(one.channel, "digest show", period="all", topic="Quillmark")
    assert "feeds.example.org/quill" in reply_text(d_one)
    assert "feeds.example.org/quill" not in reply_text(d_other) and "maker of warehouse" not in reply_text(d_other)
    d_mine = await other.member.slash(other.channel, "digest show", period="2021-09-01..2021-09-30")
    assert "feeds.example.org/orchid" in reply_text(d_mine) and "quill" not in reply_text(d_mine)
    t_other = await other.member.slash(other.channel, "trend", name="Quillmark")
    t_one = await one.member.slash(one.channel, "trend", name="Quillmark")
    assert not t_other.response.attachments and t_one.response.attachments
    assert "Quillmark" in reply_text(t_one)

    tl_one = await one.member.slash(one.channel, "timeline", name="Quillmark")
    tl_other = await other.member.slash(other.channel, "timeline", name="Quillmark")
    assert "feeds.example.org/quill" in reply_text(tl_one)
    assert "feeds.example.org/quill" not in reply_text(tl_other) and "warehouse" not in reply_text(tl_other)

    s_one = reply_text(await one.member.slash(one.channel, "sources show"))
    s_other = reply_text(await other.member.slash(other.channel, "sources show"))
    assert "**13** roundups" in s_one and "**13** roundups" in s_other  # 12 sample + its own one
    assert "Server feed: 1" in s_one and "Server feed: 1" in s_other

    # DMs see the shared corpus only
    await one.member.send_dm(ASK_QUILL)
    dms = one.member.user.dm_channel.history()
    assert len(dms) == 2 and dms[-1].author.id == env.bot.user.id  # answered (from the shared corpus)
    assert "feeds.example.org/quill" not in text_of(dms)


async def test_sources_remove_takes_out_only_this_servers_claim(two):
    env, one, other = two
    await give(env, one.guild, article("quill", QUILL))
    await give(env, other.guild, article("quill", QUILL))  # the same article from both servers' feeds
    await give(env, one.guild, article("orchid", ORCHID))

    denied = await one.member.slash(one.channel, "sources remove", url="https://feeds.example.org/quill")
    assert denied.ephemeral and "Manage Server" in reply_text(denied)
    assert any(isinstance(e, discord.app_commands.MissingPermissions) for e in env.errors)  # refused, on purpose
    dry = await one.mod.slash(one.channel, "sources remove", url="https://feeds.example.org/quill")
    assert "would be removed" in reply_text(dry) and "Server roundup quill" in reply_text(dry)
    assert "Quillmark" in reply_text(await one.member.slash(one.channel, "ask", question=ASK_QUILL))

    done = await one.mod.slash(one.channel, "sources remove", url="https://feeds.example.org/quill", confirm=True)
    assert "Removed **1**" in reply_text(done)
    assert "feeds.example.org/quill" not in reply_text(await one.member.slash(one.channel, "ask", question=ASK_QUILL))
    assert "feeds.example.org/quill" in reply_text(await other.member.slash(other.channel, "ask", question=ASK_QUILL))
    # the shared sample is not a server's to remove
    sample = await one.mod.slash(one.channel, "sources remove", before="2019-01-01", confirm=True)
    assert "owns no articles" in reply_text(sample)
    assert env.bot.service.store.counts()["articles"] == 12 + 2


@pytest.mark.simcord(settle_timeout=20)
async def test_alert_fires_once_for_a_new_matching_roundup(two, fresh_bot):
    env, one, other = two
    minutes = env.bot.settings.alert_minutes
    assert env.bot.get_cog("Alerts") is not None  # the feed refresh and backfills find it by this name
    assert "alerts" not in one.member.available_commands(one.channel)  # Manage Server only
    ok = await one.mod.slash(one.channel, "alerts add", topic="Quillmark", channel=one.alerts)
    assert "Alert #" in reply_text(ok)
    await other.mod.slash(other.channel, "alerts add", topic="Quillmark", channel=other.alerts)
    today = date.today().isoformat()

    await give(env, one.guild, article("history", QUILL.replace("90", "15"), published="2019-06-01"))  # backfill
    await give(env, one.guild, article("orchid-new", ORCHID, published=today))  # unrelated
    await env.advance_time(minutes * 60 + 1)
    assert one.alerts.history() == [] and other.alerts.history() == []

    await give(env, one.guild, article("quill-new", QUILL, published=today))
    await env.advance_time(minutes * 60 + 1)
    posts = one.alerts.history()
    assert len(posts) == 1
    body = text_of(posts)
    assert "Quillmark" in body and "(<https://feeds.example.org/quill-new>)" in body
    assert other.alerts.history() == []  # the other server never sees server one's article

    await env.advance_time(minutes * 60 + 1)
    await env.restart_bot(fresh_bot())
    await env.advance_time(3 * minutes * 60)
    assert len(one.alerts.history()) == 1

    listed = reply_text(await one.mod.slash(one.channel, "alerts list"))
    assert "Quillmark" in listed and str(one.alerts.id) in listed


async def test_opml_import_then_export_gives_the_same_list(two):
    env, one, _ = two
    opml = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Inoreader subscriptions</title></head><body>
  <outline text="China" title="China">
    <outline text="Tech" title="Tech">
      <outline type="rss" text="Roundup A" title="Roundup A" xmlUrl="https://a.example.org/feed/" htmlUrl="https://a.example.org/"/>
    </outline>
    <outline type="rss" text="Roundup B" xmlUrl="https://b.example.org/rss.xml"/>
  </outline>
  <outline type="rss" text="Roundup C" title="Roundup C" xmlUrl="https://c.example.org/atom.xml"/>
</body></opml>"""
    r = await one.mod.slash(one.channel, "feeds import", file=("subscriptions.opml", opml))
    assert "Imported **3** feeds" in reply_text(r)
    again = await one.mod.slash(one.channel, "feeds import", file=("subscriptions.opml", opml))
    assert "Imported **0** feeds (3 already followed)" in reply_text(again)
    bad = await one.mod.slash(one.channel, "feeds import", file=("x.opml", b"<opml><body><outline"))
    assert "couldn't read that file" in reply_text(bad)

    out = await one.mod.slash(one.channel, "feeds export")
    attachment = out.response.attachments[0]
    data = await attachment.read()
    from corpus.opml import parse_opml

    assert parse_opml(data) == parse_opml(opml)


async def test_timeline_names_and_trends_keep_to_the_servers_corpus(two):
    """/timeline's name suggestions and /trend's "no roundup mentions" come from what the server
    sees: another server's articles neither suggest a name nor make it known."""
    env, one, other = two
    await give(env, one.guild, article("pdd", "Pinduoduo said Quillmark Robotics will run its new warehouse in "
                                              "Shenzhen, where orders for farm produce doubled this year."))
    mine = await one.member.autocomplete(one.channel, "timeline", "name", "pindu")
    theirs = await other.member.autocomplete(other.channel, "timeline", "name", "pindu")
    assert [c["name"] for c in mine] == ["Pinduoduo"] and theirs == []

    t_one = await one.member.slash(one.channel, "trend", name="Quillmark")
    t_other = await other.member.slash(other.channel, "trend", name="Quillmark")
    assert t_one.response.attachments
    assert t_other.ephemeral and 'no roundup mentions "Quillmark"' in t_other.response.content
    tl_other = await other.member.slash(other.channel, "timeline", name="Pinduoduo")
    assert "feeds.example.org/pdd" not in reply_text(tl_other)
