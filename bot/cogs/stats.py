"""/stats: questions per day, answered share, feedback and the gaps in the roundups (Manage Server)."""
from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import RoundupBot, send_ephemeral
from bot.cogs.ask import parse_day
from bot.stats import collect
from embeddings.search import QuestionError

log = logging.getLogger(__name__)


class StatsCog(commands.Cog, name="Stats"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot

    @app_commands.command(name="stats", description="Questions, answers, feedback and unanswered questions here")
    @app_commands.describe(since="Only questions on or after this date (YYYY-MM-DD)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def stats(self, interaction: discord.Interaction[RoundupBot], since: str | None = None) -> None:
        try:
            since = parse_day(since, "since")
        except QuestionError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        stats = await self.bot.run_blocking(collect, self.bot.service, guild_id=interaction.guild_id, since=since)
        await interaction.followup.send(embed=render.stats_embed(stats), ephemeral=True)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(StatsCog(bot))
