"""Every Discord path ends in an answer or a short private error (issue 12): failing services
behind each button and the feedback form, failed sends on mentions, follow-ups and fallbacks,
bounded follow-up context, and mention spam met with a single ⏳."""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote

import discord
import pytest

from bot import render
from bot.app import SORRY
from bot_helpers import button_id, last_with_embed, show
from test_bot_timeline import meituan_roundups

pytestmark = pytest.mark.simcord(settle_timeout=60)

TIKTOK = "Where does TikTok say it keeps American users' data?"


@pytest.fixture
def world(simcord_env):
    env = simcord_env
    guild = env.create_guild()
    channel = guild.create_text_channel("china-tech")
    mods_channel = guild.create_text_channel("mods")
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user("admin"), roles=[mods])
    alice = guild.add_member(env.create_user("alice"))
    bob = guild.add_member(env.create_user("bob"))
    return env, guild, channel, mods_channel, admin, alice, bob


def boom(*args, **kwargs):
    raise RuntimeError("service down (injected by test)")


def private_error(result) -> None:
    """The member got a short private message, and the interaction was acknowledged."""
    assert result.acknowledged
    msg = result.followups[-1] if result.followups else result.response
    assert msg is not None and msg.ephemeral and msg.content == SORRY and len(msg.content) < 200


async def test_more_results_with_a_failing_service(world, caplog):
    env, _, channel, _, _, alice, bob = world
    message = (await alice.slash(channel, "ask", question="Huawei smartphone shipments", results=2)).response
    env.bot.service.ask = boom
    with caplog.at_level(logging.ERROR):
        result = await bob.click(message, label="More results")
    private_error(result)
    assert "MoreResults.callback failed" in caplog.text


async def test_feedback_buttons_and_form_with_a_failing_store(world):
    env, _, channel, _, _, alice, bob = world
    message = (await alice.slash(channel, "ask", question=TIKTOK)).response
    real_record, real_answer = env.bot.state.record_feedback, env.bot.state.answer
    env.bot.state.record_feedback = boom
    private_error(await bob.click(message, custom_id=button_id(message, emoji="👍")))
    form = await bob.click(message, custom_id=button_id(message, emoji="👎"))  # the form still opens
    assert form.modal is not None
    private_error(await bob.submit_modal(form, {"reason": ["wrong"], "detail": "x"}))
    env.bot.state.answer = boom
    private_error(await bob.click(message, custom_id=button_id(message, emoji="👎")))
    env.bot.state.record_feedback, env.bot.state.answer = real_record, real_answer
    ok = await bob.click(message, custom_id=button_id(message, emoji="👍"))
    assert ok.response.content.startswith("Thanks")


async def test_hand_off_with_a_failing_service(world):
    env, _, channel, mods_channel, admin, alice, _ = world
    await admin.slash(channel, "config handoff", channel=mods_channel)
    refusal = (await alice.slash(channel, "ask", question="What is a good banana bread recipe?")).response
    env.bot.state.handoff_channel = boom
    private_error(await alice.click(refusal, label="Ask a moderator"))
    assert mods_channel.history() == []


async def test_hand_off_post_failing_in_discord(world):
    env, _, channel, mods_channel, admin, alice, _ = world
    await admin.slash(channel, "config handoff", channel=mods_channel)
    refusal = (await alice.slash(channel, "ask", question="What is a good banana bread recipe?")).response
    env.inject_error("POST", f"/channels/{mods_channel.id}/messages", status=500, times=1)
    private_error(await alice.click(refusal, label="Ask a moderator"))
    assert mods_channel.history() == []


async def test_timeline_page_button_failing(world, tmp_path, monkeypatch):
    env, _, channel, _, _, alice, _ = world
    await asyncio.to_thread(env.bot.service.ingest, [meituan_roundups(tmp_path / "m.jsonl")])
    message = (await alice.slash(channel, "timeline", name="Meituan")).response
    real = env.bot.service.timeline
    env.bot.service.timeline = boom
    private_error(await alice.click(message, label="Next"))
    env.bot.service.timeline = real
    monkeypatch.setattr(render, "timeline_embed", boom)
    private_error(await alice.click(message, label="Next"))


async def test_a_failed_mention_reply_falls_back_to_one_plain_message(world, caplog):
    env, _, channel, _, _, alice, _ = world
    env.inject_error("POST", f"/channels/{channel.id}/messages", status=500, times=1)
    with caplog.at_level(logging.WARNING):
        await alice.send(channel, f"<@{env.bot.user.id}> {TIKTOK}")
    plain = [m for m in channel.history() if m.author.id == env.bot.user.id
             and m.type in (discord.MessageType.default, discord.MessageType.reply)]
    assert len(plain) == 1 and not plain[0].embeds
    print(plain[0].content)
    assert "Singapore" in plain[0].content and "Sources" in plain[0].content
    assert "trying a plain message" in caplog.text


async def test_a_mention_reply_that_fails_twice_is_logged_once(world, caplog):
    env, _, channel, _, _, alice, _ = world
    env.inject_error("POST", f"/channels/{channel.id}/messages", status=503, times=2)
    with caplog.at_level(logging.WARNING):
        await alice.send(channel, f"<@{env.bot.user.id}> {TIKTOK}")
    assert [m for m in channel.history() if m.author.id == env.bot.user.id] == []
    assert caplog.text.count("the plain fallback failed too") == 1


async def test_a_failed_follow_up_reply_falls_back(world):
    env, _, channel, _, _, alice, _ = world
    first = (await alice.slash(channel, "ask", question="What is Huawei's smartphone shipment record?")).response
    env.inject_error("POST", f"/channels/{channel.id}/messages", status=429, times=1)
    await alice.send(channel, "what about in 2018?", reply_to=first)
    reply = [m for m in channel.history() if m.author.id == env.bot.user.id][-1]
    assert "Huawei" in reply.content and not reply.embeds


async def test_a_follow_up_is_bounded_and_the_limit_is_on_what_was_typed(world):
    env, _, channel, _, _, alice, bob = world
    long_q = ("Where does TikTok say it keeps American users' data, and is any of it stored outside the "
              "United States, for example in Singapore? ") * 7
    long_q = long_q[:800]
    first = (await alice.slash(channel, "ask", question=long_q)).response
    follow = ("And what did its owner ByteDance launch for offices that year, and where was it marketing "
              "that app to companies? ") * 3
    follow = follow[:300]
    await alice.send(channel, follow, reply_to=first)
    reply = last_with_embed(channel)
    show(reply.embeds[0], "follow-up to an 800-character question")
    assert "characters long" not in (reply.content or "") and reply.embeds[0].description.startswith("**")
    rows = env.bot.service.store.execute("SELECT question, context FROM bot_answers ORDER BY id")
    assert rows[-1]["question"] == " ".join(follow.split())  # what the member typed, not a join
    assert len(rows[-1]["context"]) <= 300
    for n in range(3):  # a chain of follow-ups does not grow
        await env.advance_time(11)
        await alice.send(channel, f"and in {2019 + n}?", reply_to=last_with_embed(channel))
    rows = env.bot.service.store.execute("SELECT question, context FROM bot_answers ORDER BY id")
    assert [r["question"] for r in rows[-3:]] == ["and in 2019?", "and in 2020?", "and in 2021?"]
    assert all(len(r["context"]) <= 300 for r in rows[-3:])
    await bob.send(channel, f"<@{env.bot.user.id}> " + "y" * 1001)  # the limit: what the member typed
    assert "1001 characters long" in channel.history()[-1].content


async def test_mention_spam_gets_one_hourglass_and_no_extra_threads(world):
    env, _, channel, _, _, alice, bob = world
    me = env.bot.user.id
    for n in range(12):
        await alice.send(channel, f"<@{me}> {TIKTOK} #{n}")
    answers = [m for m in channel.history() if m.author.id == me and m.embeds]
    assert len(answers) == env.bot.settings.cooldown_rate
    assert len(channel.threads) == env.bot.settings.cooldown_rate
    assert not [m for m in channel.history() if m.author.id == me and not m.embeds
                and m.type == discord.MessageType.reply]  # no "Easy there" replies
    reactions = [r for r in env.http_requests if r.method == "PUT" and "/reactions/" in r.path]
    assert len(reactions) == 1 and "⏳" in unquote(reactions[0].path)
    asked = await bob.send(channel, f"<@{me}> {TIKTOK}")  # others are unaffected
    assert last_with_embed(channel).reference.message_id == asked.id
    await env.advance_time(11)
    await alice.send(channel, f"<@{me}> Why did Tencent stop streaming NBA preseason games?")
    assert "NBA" in last_with_embed(channel).embeds[0].description


async def test_a_failing_typing_indicator_costs_no_answer(world):
    env, _, channel, _, _, alice, _ = world
    env.inject_error("POST", f"/channels/{channel.id}/typing", status=500, times=None)
    await alice.send(channel, f"<@{env.bot.user.id}> {TIKTOK}")
    assert "Singapore" in last_with_embed(channel).embeds[0].description


async def test_a_broken_store_still_answers_a_mention_with_a_short_error(world, caplog):
    env, _, channel, _, _, alice, _ = world
    env.bot.state.mentions_enabled = boom
    with caplog.at_level(logging.ERROR):
        await alice.send(channel, f"<@{env.bot.user.id}> {TIKTOK}")
    assert channel.history()[-1].content == SORRY
    assert "handling a message failed" in caplog.text
    before = len(channel.history())
    await alice.send(channel, "just chatting, no mention")  # not addressed to the bot: no reply
    assert len(channel.history()) == before + 1
