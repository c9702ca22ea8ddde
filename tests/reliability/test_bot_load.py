"""Issue 12: 200 /ask from 20 members through the real bot on SimCord, none lost, nobody pinged."""
from __future__ import annotations

import pytest

QUESTIONS = ["Where does TikTok say it keeps American users' data?",
             "Why did Tencent stop streaming NBA preseason games?",
             "How many cloud staff is Alibaba hiring?",
             "Why were crypto miners told to leave Sichuan?",
             "What did Evergrande buy for its electric car push?"]
ROUNDS = 10  # each member asks once a round; the clock moves past the cooldown between rounds


@pytest.mark.simcord(settle_timeout=120)
async def test_200_asks_from_20_members_none_lost(simcord_env):
    env = simcord_env
    await env.bot.tree.sync()
    guild = env.create_guild()
    channel = guild.create_text_channel("china-tech")
    members = [guild.add_member(env.create_user(f"member{n}")) for n in range(20)]
    results = []
    for r in range(ROUNDS):
        for n, m in enumerate(members):  # SimCord runs one operation at a time
            results.append(await m.slash(channel, "ask", question=QUESTIONS[(r + n) % len(QUESTIONS)]))
        await env.advance_time(11)
    assert len(results) == 200
    answered = [res for res in results if res.response is not None and res.response.embeds
                and not res.ephemeral]
    assert len(answered) == 200, [res.response.content if res.response else None
                                  for res in results if res not in answered][:5]
    assert all(not res.deferred for res in results)  # no "thinking..." left behind
    for req in env.http_requests:
        if isinstance(req.json, dict) and "allowed_mentions" in req.json:
            assert not req.json["allowed_mentions"].get("parse")


@pytest.mark.simcord(settle_timeout=120)
async def test_the_bot_indexes_what_the_store_has_in_the_background(simcord_env, tmp_path):
    """Passages stored without vectors (a killed ingest, a CLI ingest beside the bot) are indexed
    by the upkeep task, not inside a question; questions meanwhile answer from the last snapshot."""
    import asyncio

    from conftest import FACTS, write_corpus
    from corpus.readers import read_file

    env = simcord_env
    await env.bot.tree.sync()
    service = env.bot.service
    before = len(service.snapshot().index)
    corpus = write_corpus(tmp_path / "late.jsonl", articles=1, paragraphs=2)

    def store_only():
        with service.write_lock():
            service._store_articles(str(corpus), read_file(corpus).articles)

    await asyncio.to_thread(store_only)
    guild = env.create_guild()
    channel = guild.create_text_channel("news")
    member = guild.add_member(env.create_user("carol"))
    r = await member.slash(channel, "ask", question=QUESTIONS[0])
    assert r.response.embeds and len(service.snapshot().index) == before  # answered, nothing embedded
    await env.advance_time(61)  # the upkeep loop's next round
    await env.settle()
    assert len(service.snapshot().index) == service.store.counts()["passages"] > before
    r = await member.slash(channel, "ask", question=FACTS["quasar"][1])
    assert "Quasar" in r.response.embeds[0].description


@pytest.mark.simcord(settle_timeout=60)
async def test_the_daily_job_deletes_member_data_past_retention(simcord_env):
    from datetime import datetime, timedelta, timezone

    env = simcord_env
    state = env.bot.state
    old = state.record_answer(question="an old question", since=None, until=None, passage_ids=[1], shown=1,
                              user_id=7, guild_id=1, channel_id=2)
    new = state.record_answer(question="a new question", since=None, until=None, passage_ids=[1], shown=1,
                              user_id=8, guild_id=1, channel_id=2)
    long_ago = (datetime.now(timezone.utc) - timedelta(days=91)).replace(microsecond=0).isoformat()
    state.store.execute("UPDATE bot_answers SET created_at = ? WHERE id = ?", (long_ago, old))
    await env.advance_time(24 * 3600 + 1)  # the retention loop's next day
    await env.settle()
    assert state.answer(old) is None and state.answer(new) is not None
