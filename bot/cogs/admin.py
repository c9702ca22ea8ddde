"""/config: per-channel mention answering and auto-answer, and the moderator hand-off channel (Manage Server)."""
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

    @app_commands.command(name="autoanswer",
                          description="Answer every question posted in a channel or forum, without a mention")
    @app_commands.describe(channel="A text channel or a forum", enabled="on or off")
    @app_commands.choices(enabled=[app_commands.Choice(name="on", value="on"),
                                   app_commands.Choice(name="off", value="off")])
    @app_commands.checks.has_permissions(manage_guild=True)
    async def autoanswer(self, interaction: discord.Interaction[RoundupBot],
                         channel: discord.TextChannel | discord.ForumChannel, enabled: str) -> None:
        on = enabled == "on"
        await self.bot.run_blocking(self.bot.state.set_autoanswer, interaction.guild_id, channel.id, on,
                                    by=interaction.user.id)
        log.info("guild %s: autoanswer %s in channel %s by %s", interaction.guild_id, on, channel.id,
                 interaction.user.id)
        what = "posts" if isinstance(channel, discord.ForumChannel) else "messages"
        text = (f"I'll answer new {what} in {channel.mention} that read as questions, each in a thread."
                if on else f"I'll only answer mentions and /ask in {channel.mention}.")
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="handoff",
                          description="Where refused questions go when a member clicks 'Ask a moderator'")
    @app_commands.describe(channel="The moderators' channel (leave empty to turn the button off)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def handoff(self, interaction: discord.Interaction[RoundupBot],
                      channel: discord.TextChannel | None = None) -> None:
        await self.bot.run_blocking(self.bot.state.set_handoff_channel, interaction.guild_id,
                                    channel.id if channel else None, by=interaction.user.id)
        text = (f"Questions the roundups can't answer get an \"Ask a moderator\" button posting to {channel.mention}."
                if channel else "The \"Ask a moderator\" button is off.")
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="show", description="Show this server's bot settings")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def show(self, interaction: discord.Interaction[RoundupBot]) -> None:
        state = self.bot.state
        off = await self.bot.run_blocking(state.disabled_channels, interaction.guild_id)
        auto = await self.bot.run_blocking(state.autoanswer_channels, interaction.guild_id)
        handoff = await self.bot.run_blocking(state.handoff_channel, interaction.guild_id)
        listed = ", ".join(f"<#{c}>" for c in off) or "none"
        await interaction.response.send_message(
            f"Mention answering is on everywhere except: {listed}.\n"
            f"Auto-answer: {', '.join(f'<#{c}>' for c in auto) or 'off everywhere'}.\n"
            f"Moderator hand-off: {f'<#{handoff}>' if handoff else 'off'}.", ephemeral=True)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Config(bot))
