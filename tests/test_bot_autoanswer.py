"""Auto-answer channels: a question posted without a mention is answered in a thread (text
channels) or in its post (forums); non-questions are left alone; off by default; follow-ups work."""
from __future__ import annotations

import discord
import pytest
from simcord.builders import ChannelHandle

from bot.questions import is_chatter, reads_as_question
from bot_helpers import last_with_embed, show

pytestmark = pytest.mark.simcord(settle_timeout=60)

TIKTOK = "Where does TikTok say it keeps American users' data?"


@pytest.fixture
def world(simcord_env):
    env = simcord_env
    guild = env.create_guild()
    qa = guild.create_text_channel("ask-here")
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user("admin"), roles=[mods])
    alice = guild.add_member(env.create_user("alice"))
    return env, guild, qa, admin, alice


def bot_messages(env, channel) -> list[discord.Message]:
    return [m for m in channel.history() if m.author.id == env.bot.user.id]


async def test_autoanswer_is_off_by_default_and_needs_manage_server(world):
    env, guild, qa, admin, alice = world
    await alice.send(qa, TIKTOK)
    assert bot_messages(env, qa) == [] and qa.threads == []
    with pytest.raises(Exception):
        await alice.slash(qa, "config autoanswer", channel=qa, enabled="on")
    assert not env.bot.state.autoanswer_enabled(guild.id, qa.id)


async def test_a_question_in_an_autoanswer_channel_is_answered_in_a_thread(world):
    env, guild, qa, admin, alice = world
    r = await admin.slash(qa, "config autoanswer", channel=qa, enabled="on")
    assert r.ephemeral and "thread" in r.response.content
    shown = await admin.slash(qa, "config show")
    assert f"Auto-answer: <#{qa.id}>" in shown.response.content and "hand-off: off" in shown.response.content
    question = await alice.send(qa, TIKTOK)
    (thread,) = qa.threads
    answer = last_with_embed(thread)
    show(answer.embeds[0], "auto-answer in a thread")
    assert answer.author.id == env.bot.user.id and "Singapore" in answer.embeds[0].description
    assert f"<@{alice.id}>" not in (answer.content or "")  # no mention
    posts = [x for x in env.http_requests if x.method == "POST" and x.path == f"/channels/{thread.id}/messages"]
    assert posts and posts[-1].json["allowed_mentions"]["parse"] == []
    assert thread.id == question.id  # the thread hangs on the member's own message

    before = len(qa.history())
    await alice.send(qa, "thanks!")  # not a question: ignored
    await alice.send(qa, "lol that's wild")
    assert len(qa.history()) == before + 2 and len(qa.threads) == 1

    await alice.send(thread, "and what about its acquisition of Musical.ly?")  # follow-up, no mention
    follow = last_with_embed(thread)
    show(follow.embeds[0], "follow-up in the auto-answer thread")
    assert follow.id != answer.id and "Musical.ly" in follow.embeds[0].description
    before = len(thread.history())
    await alice.send(thread, "thanks!")  # chatter in the thread is not answered either
    assert len(thread.history()) == before + 1

    await admin.slash(qa, "config autoanswer", channel=qa, enabled="off")
    await alice.send(qa, "Why did Tencent stop streaming NBA games?")
    assert len(qa.threads) == 1


async def test_a_forum_post_that_asks_is_answered_in_the_post(world):
    env, guild, qa, admin, alice = world
    forum = guild.create_forum_channel("questions")
    r = await admin.slash(qa, "config autoanswer", channel=forum, enabled="on")
    assert "posts" in r.response.content and env.bot.state.autoanswer_enabled(guild.id, forum.id)
    thread = env.backend.create_thread(forum.id, "TikTok data", alice.id, broadcast=False)
    env.backend.announce_thread_create(thread)
    post = ChannelHandle(env, guild, thread)
    await alice.send(post, TIKTOK)
    answer = last_with_embed(post)
    show(answer.embeds[0], "auto-answer in a forum post")
    assert answer.author.id == env.bot.user.id and "Singapore" in answer.embeds[0].description
    await alice.send(post, "Why did Tencent stop streaming NBA preseason games?")  # a follow-up in the post
    assert "NBA" in last_with_embed(post).embeds[0].description
    other = env.backend.create_thread(forum.id, "Thanks all", alice.id, broadcast=False)
    env.backend.announce_thread_create(other)
    quiet = ChannelHandle(env, guild, other)
    await alice.send(quiet, "thanks!")
    assert bot_messages(env, quiet) == []


@pytest.mark.parametrize("text, question", [
    ("thanks!", False), ("lol", False), ("ok?", False), ("https://example.com/x?", False),
    ("Where does TikTok keep its data?", True), ("what did huawei ship in 2019", True),
    ("Tencent NBA deal details?", True), ("华为去年卖了多少手机？", True), ("good morning everyone", False),
])
def test_reads_as_question(text, question):
    assert reads_as_question(text) is question


def test_chatter():
    assert is_chatter("thanks!") and is_chatter("ok cool") and not is_chatter("and Alibaba?")
    assert not is_chatter("what about 2018?")
