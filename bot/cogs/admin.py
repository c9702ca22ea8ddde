"""/config: per-channel control of mention answering, for members with Manage Server."""
from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import RoundupBot

log = logging.getLogger(__name__)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Config(commands.GroupCog, group_name="config", group_description="Bot settings for this server"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        super().__init__()

    @app_commands.command(name="mentions", description="Turn answering @mentions on or off in a channel")
    @app_commands.describe(enabled="Answer mentions there?", channel="The channel (default: this one)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def mentions(self, interaction: discord.Interaction[RoundupBot], enabled: bool,
                       channel: discord.TextChannel | None = None) -> None:
        target = channel or interaction.channel
        await self.bot.run_blocking(self.bot.state.set_mentions, interaction.guild_id, target.id, enabled,
                                    by=interaction.user.id)
        state = "answer" if enabled else "no longer answer"
        log.info("guild %s: mentions %s in channel %s by %s", interaction.guild_id, enabled, target.id,
                 interaction.user.id)
        await interaction.response.send_message(f"I'll {state} mentions in {target.mention}. "
                                                "Slash commands keep working everywhere.", ephemeral=True)

    @app_commands.command(name="show", description="Show this server's bot settings")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def show(self, interaction: discord.Interaction[RoundupBot]) -> None:
        off = await self.bot.run_blocking(self.bot.state.disabled_channels, interaction.guild_id)
        listed = ", ".join(f"<#{c}>" for c in off) or "none"
        await interaction.response.send_message(f"Mention answering is on everywhere except: {listed}.",
                                                ephemeral=True)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Config(bot))
