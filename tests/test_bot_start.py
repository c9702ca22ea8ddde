"""The bot is ready before its model and indexes are: /help and /sources answer at once, and a
question asked meanwhile is deferred and answered once they have loaded (SimCord)."""
from __future__ import annotations

import asyncio

from simcord import Env

from bot.app import create_bot
from bot.service import RoundupService

TIKTOK = "Where does TikTok say it keeps American users' data?"


async def test_help_answers_before_the_model_and_a_question_waits_for_it(bot_settings, encoder):
    service = RoundupService(bot_settings, encoder=encoder)
    bot = create_bot(bot_settings, service=service)
    gate = asyncio.Event()
    real_load = bot.load_indexes
    env = Env(bot)

    async def held_load():
        # The load is held until the test lets it go (declared to the simulator as deliberate).
        await env.external_wait(gate.wait(), reason="model load held by the test")
        await real_load()

    bot.load_indexes = held_load
    await env.start()
    try:
        guild = env.create_guild()
        channel = guild.create_text_channel("china-tech")
        alice = guild.add_member(env.create_user("alice"))
        r = await alice.slash(channel, "help")
        assert r.response.embeds and not bot.indexes_ready  # answered while the load is held
        r = await alice.slash(channel, "sources show")
        assert "2013-09-29" in r.response.embeds[0].description and not bot.indexes_ready
        asked = await alice.slash(channel, "ask", question=TIKTOK)
        assert asked.deferred and not bot.indexes_ready  # 'thinking' while the model loads
        gate.set()
        await env.settle()
        assert bot.indexes_ready and service.current() is not None
        assert not asked.deferred and "Singapore" in asked.response.embeds[0].description
    finally:
        await env.shutdown()
        if bot.session is not None and not bot.session.closed:
            await bot.session.close()
        service.close()
