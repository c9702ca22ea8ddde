"""The real bot through SimCord: /ask, buttons, mentions, follow-ups, limits and failures."""
from __future__ import annotations

import asyncio
import logging
import time

import discord
import pytest

from bot.app import SORRY
from bot_helpers import button_id, buttons, callbacks, last_with_embed

TIKTOK = "Where does TikTok say it keeps American users' data?"

# question -> a word the cited passage must contain, and the article it must come from
SAMPLES = [
    (TIKTOK, "Singapore", "TikTok stumbles"),
    ("Why did Tencent stop streaming NBA preseason games?", "NBA", "Tencent and the NBA"),
    ("How many cloud staff is Alibaba hiring?", "5,000", "Alibaba to add 5,000 staff"),
    ("What did Beijing tell platforms about blocking each other's links?", "link", "walled gardens"),
    ("Why were crypto miners told to leave Sichuan?", "Sichuan", "Blockheads"),
    ("What did Evergrande buy for its electric car push?", "Evergrande", "Evergrande Buys"),
]


@pytest.fixture
def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("china-tech")
    alice = guild.add_member(simcord_env.create_user("alice"))
    bob = guild.add_member(simcord_env.create_user("bob"))
    return simcord_env, guild, channel, alice, bob


def sent_bodies(env):
    return [r.json for r in env.http_requests if r.method in {"POST", "PATCH"} and isinstance(r.json, dict)
            and ("content" in r.json or "embeds" in r.json or "data" in r.json)]


@pytest.mark.parametrize("question, word, title", SAMPLES)
async def test_ask_cites_the_right_article_and_defers_first(world, question, word, title):
    env, _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question=question)
    assert callbacks(env)[0] == 5, "the bot must defer before retrieving"
    embed = result.response.embeds[0]
    assert embed.title == question
    assert word.lower() in embed.description.lower()
    sources = next(f for f in embed.fields if f.name == "Sources").value
    assert embed.description.startswith("**") and "[1]" in embed.description
    assert title in sources.splitlines()[0] and sources.startswith("**[1]**")
    assert "](<http" in sources  # masked links that don't unfurl
    assert len(embed) <= 6000 and len(embed.description) <= 4096
    assert all(len(f.value) <= 1024 for f in embed.fields)
    emojis = [(b.get("emoji") or {}).get("name") for b in buttons(result.response)]
    assert "👍" in emojis and "👎" in emojis


async def test_best_sentence_is_bold(world):
    env, _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question=TIKTOK)
    desc = result.response.embeds[0].description
    bold = desc.split("**")[1]
    assert "Singapore" in bold


async def test_more_results_and_feedback_buttons(world):
    env, _, channel, alice, bob = world
    result = await alice.slash(channel, "ask", question="Huawei smartphone shipments", results=2)
    message = result.response
    more = await bob.click(message, label="More results")
    assert more.ephemeral
    shown = {f.value for f in message.embeds[0].fields}
    extra = more.response.embeds[0].description
    assert extra and extra not in shown and "**3.**" in extra

    up = await alice.click(message, custom_id=button_id(message, emoji="👍"))
    assert up.ephemeral and "Thanks" in up.response.content
    down_id = button_id(message, emoji="👎")
    shown = await bob.click(message, custom_id=down_id)
    await bob.submit_modal(shown, {"reason": ["outdated"]})
    shown = await alice.click(message, custom_id=down_id)  # alice changes her mind: one vote per member
    await alice.submit_modal(shown, {"reason": ["wrong"], "detail": "it cites 2019 numbers"})
    rows = env.bot.state.feedback()
    votes = {r["user_id"]: r["vote"] for r in rows}
    assert votes == {alice.id: -1, bob.id: -1}
    assert all(r["question"] == "Huawei smartphone shipments" for r in rows)
    assert all(len(__import__("json").loads(r["passage_ids"])) == 2 for r in rows)


async def test_buttons_survive_a_restart(world, fresh_bot):
    env, _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question=TIKTOK)
    await env.restart_bot(fresh_bot())
    more = await alice.click(result.response, label="More results")
    assert more.ephemeral and more.response.embeds


async def test_mention_gets_a_reply_with_a_thread_for_follow_ups(world):
    env, _, channel, alice, _ = world
    me = env.bot.user
    await alice.send(channel, f"<@{me.id}> {TIKTOK}")
    reply = last_with_embed(channel)
    assert reply.author.id == me.id
    assert "Singapore" in reply.embeds[0].description
    assert reply.reference is not None
    threads = channel.threads
    assert len(threads) == 1
    await alice.send(threads[0], "and what about its acquisition of Musical.ly?")
    follow = last_with_embed(threads[0])
    assert follow.author.id == me.id
    assert "Musical.ly" in follow.embeds[0].description + "".join(f.value for f in follow.embeds[0].fields)
    assert "Follow-up to" in follow.embeds[0].footer.text


async def test_reply_to_an_answer_is_a_follow_up_without_mention(world):
    env, _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question="What is Huawei's smartphone shipment record?")
    answer_msg = result.response
    await alice.send(channel, "what about in 2018?", reply_to=answer_msg)
    follow = last_with_embed(channel)
    assert follow.author.id == env.bot.user.id
    assert "Follow-up to: What is Huawei" in follow.embeds[0].footer.text
    assert "Huawei" in follow.embeds[0].description
    # a plain message with no mention and no reply is left alone
    before = len(channel.history())
    await alice.send(channel, "huawei is interesting")
    assert len(channel.history()) == before + 1


async def test_question_with_everyone_and_role_mentions_pings_no_one(world):
    env, guild, channel, alice, _ = world
    role = guild.create_role("Traders")
    question = f"@everyone <@&{role.id}> <@{alice.id}> what did TikTok say about Singapore?"
    await alice.slash(channel, "ask", question=question)
    await alice.send(channel, f"<@{env.bot.user.id}> {question}")
    bodies = [b for b in sent_bodies(env) if "embeds" in b or "content" in b or "data" in b]
    assert bodies
    checked = 0
    for body in bodies:
        payload = body.get("data", body) if isinstance(body.get("data"), dict) else body
        allowed = payload.get("allowed_mentions")
        if allowed is None:
            continue  # interaction callbacks without content
        assert allowed.get("parse") == [] and not allowed.get("users") and not allowed.get("roles")
        assert not allowed.get("replied_user")
        checked += 1
    assert checked >= 2  # the /ask follow-up and the mention reply


async def test_unanswerable_question_gets_the_not_found_reply(world):
    env, _, channel, alice, _ = world
    result = await alice.slash(channel, "ask", question="What is a good banana bread recipe?")
    embed = result.response.embeds[0]
    assert "isn't in the roundups" in embed.description
    assert "2013-09-29" in embed.description and "2021-09-18" in embed.description
    assert not result.response.components  # no buttons on a non-answer


async def test_bad_dates_and_blank_questions_are_refused_privately(world):
    env, _, channel, alice, _ = world
    r = await alice.slash(channel, "ask", question="Huawei", since="last year")
    assert r.ephemeral and "since" in r.response.content
    r = await alice.slash(channel, "ask", question="   ")
    assert r.ephemeral and "empty" in r.response.content


async def test_injected_rest_failure_on_the_follow_up_falls_back_to_text(world, caplog):
    env, _, channel, alice, _ = world
    env.inject_error("POST", "/webhooks/*", status=500, times=1)
    with caplog.at_level(logging.WARNING):
        result = await alice.slash(channel, "ask", question=TIKTOK)
    assert "trying a plain message" in caplog.text
    msg = result.followups[-1] if result.followups else result.response
    assert "Singapore" in msg.content and not msg.embeds


async def test_injected_rest_failures_on_answer_and_fallback_end_in_a_short_error(world, caplog):
    env, _, channel, alice, _ = world
    env.inject_error("POST", "/webhooks/*", status=500, times=2)
    with caplog.at_level(logging.ERROR):
        result = await alice.slash(channel, "ask", question=TIKTOK)
    assert "command /ask failed" in caplog.text
    assert any("injected by test" in str(e) for e in env.errors)  # logged, not lost
    msg = result.followups[-1] if result.followups else result.response
    assert msg.content == SORRY


async def test_cooldown_triggers_and_resets(world):
    env, _, channel, alice, bob = world
    for _ in range(3):
        r = await alice.slash(channel, "ask", question="Huawei shipments")
        assert not r.ephemeral
    r = await alice.slash(channel, "ask", question="Huawei shipments")
    assert r.ephemeral and "ask again in" in r.response.content
    r = await bob.slash(channel, "ask", question="Huawei shipments")  # per member
    assert not r.ephemeral
    await env.advance_time(11)
    r = await alice.slash(channel, "ask", question="Huawei shipments")
    assert not r.ephemeral


async def test_config_needs_manage_server_and_turns_mentions_off(world):
    env, guild, channel, alice, bob = world
    with pytest.raises(Exception):
        await alice.slash(channel, "config mentions", enabled=False)
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    mod = guild.add_member(env.create_user("mod"), roles=[mods])
    r = await mod.slash(channel, "config mentions", enabled=False)
    assert r.ephemeral and "no longer answer" in r.response.content
    before = len(channel.history())
    await bob.send(channel, f"<@{env.bot.user.id}> {TIKTOK}")
    assert len(channel.history()) == before + 1  # only bob's message
    r = await bob.slash(channel, "ask", question=TIKTOK)  # slash still works
    assert "Singapore" in r.response.embeds[0].description
    await mod.slash(channel, "config mentions", enabled=True)
    await bob.send(channel, f"<@{env.bot.user.id}> {TIKTOK}")
    assert "Singapore" in last_with_embed(channel).embeds[0].description


async def test_sources_and_help(world):
    env, _, channel, alice, _ = world
    r = await alice.slash(channel, "sources show")
    text = r.response.embeds[0].description
    assert "12" in text and "2013-09-29" in text and "2021-09-18" in text
    r = await alice.slash(channel, "help")
    try_field = next(f for f in r.response.embeds[0].fields if f.name == "Try").value
    assert try_field.count("•") == 3


async def test_slow_retrieval_stays_deferred_and_others_are_served(world):
    """A deliberately slow retrieval: deferred at once, and another member is served meanwhile."""
    env, _, channel, alice, bob = world
    bot = env.bot
    gate = asyncio.Event()
    real_run_blocking = bot.run_blocking

    async def run_blocking(fn, *args, **kwargs):
        if args and isinstance(args[0], str) and args[0].startswith("slow "):
            async def slow():
                await gate.wait()  # the slow retrieval: pending until the test lets it go
                return await real_run_blocking(fn, args[0][5:], *args[1:], **kwargs)
            # Tell the simulator this wait is deliberate, so other members may act meanwhile.
            return await env.external_wait(slow(), reason="deliberately slow retrieval")
        return await real_run_blocking(fn, *args, **kwargs)

    bot.run_blocking = run_blocking
    slow = await alice.slash(channel, "ask", question=f"slow {TIKTOK}")
    assert callbacks(env)[0] == 5 and slow.deferred  # 'thinking' shown before any retrieval ran
    fast = await bob.slash(channel, "ask", question="Huawei smartphone shipments")
    assert "Huawei" in fast.response.embeds[0].description  # served while alice's retrieval waits
    assert slow.deferred
    gate.set()
    await env.settle()
    assert not slow.deferred
    assert "Singapore" in slow.response.embeds[0].description


async def test_blocking_retrieval_runs_off_the_event_loop(world):
    """While a retrieval blocks its worker thread for a second, the event loop keeps running."""
    env, _, channel, alice, _ = world
    bot = env.bot
    real_ask = bot.service.ask

    def blocking_ask(question, **kw):
        time.sleep(1.0)  # a slow model or disk: blocks the thread it runs in
        return real_ask(question, **kw)

    bot.service.ask = blocking_ask
    ticks = 0

    async def heartbeat():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    try:
        result = await alice.slash(channel, "ask", question=TIKTOK)
    finally:
        beat.cancel()
    assert "Singapore" in result.response.embeds[0].description
    assert ticks >= 10, f"the event loop was blocked during retrieval ({ticks} ticks in ~1 s)"
