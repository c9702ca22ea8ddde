"""Background upkeep: the indexes caught up with the store, and member data past retention deleted.

Questions never embed (bot/service.py answers from the last published snapshot), so passages a
killed ingest left out, or that a CLI ingest beside the bot added, are indexed here: once right
after start, then whenever the store's generation moves. Retention runs daily (README,
"Personal data"). Both run in threads outside the retrieval slots, so questions keep flowing.
"""
from __future__ import annotations

import asyncio
import logging

from discord.ext import commands, tasks

from bot.app import RoundupBot

log = logging.getLogger(__name__)

CATCH_UP_EVERY_S = 60.0


class UpkeepCog(commands.Cog):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        bot.service.background_catch_up = True

    async def cog_load(self) -> None:
        self.catch_up.start()
        self.retention.start()

    async def cog_unload(self) -> None:
        self.catch_up.cancel()
        self.retention.cancel()

    @tasks.loop(seconds=CATCH_UP_EVERY_S)
    async def catch_up(self) -> None:
        service = self.bot.service
        try:
            await asyncio.to_thread(service.snapshot)  # the saved indexes first (shared with setup_hook's load)
            if await asyncio.to_thread(service.needs_catch_up):
                await asyncio.to_thread(service.ensure_ready)
        except Exception:  # the next round tries again; questions keep the last snapshot meanwhile
            log.exception("catching the indexes up with the store failed")

    @tasks.loop(hours=24)
    async def retention(self) -> None:
        days = self.bot.settings.retention_days
        try:
            deleted = await asyncio.to_thread(self.bot.state.expire, days)
        except Exception:
            log.exception("deleting member data past retention failed")
            return
        if any(deleted.values()):
            log.info("retention: deleted %s (older than %d days)", deleted, days)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(UpkeepCog(bot))
