"""/timeline: what the roundups said about a company, person or topic, roundup by roundup."""
from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import RoundupBot, guarded, send_ephemeral
from bot.cogs.ask import parse_day
from bot.service import ServiceError
from bot.timeline import Timeline
from embeddings.search import QuestionError

log = logging.getLogger(__name__)


class TimelinePages(discord.ui.View):
    """Previous/Next past ten entries. Not persistent: after 15 minutes the buttons go quiet."""

    def __init__(self, timeline: Timeline):
        super().__init__(timeout=900)
        self.timeline = timeline
        self.page = 0
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.timeline.pages - 1

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, self.timeline.pages - 1))
        self._sync()
        await interaction.response.edit_message(embed=render.timeline_embed(self.timeline, self.page), view=self)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    @guarded
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    @guarded
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page + 1)


class TimelineCog(commands.Cog, name="Timeline"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot

    @app_commands.command(name="timeline", description="What the roundups said about a name, roundup by roundup")
    @app_commands.describe(name="A company, person or topic, e.g. Huawei, 华为 or ant group",
                           since="Only roundups on or after this date (YYYY-MM-DD)",
                           until="Only roundups on or before this date (YYYY-MM-DD)")
    async def timeline(self, interaction: discord.Interaction[RoundupBot], name: app_commands.Range[str, 1, 100],
                       since: str | None = None, until: str | None = None) -> None:
        try:
            since, until = parse_day(since, "since"), parse_day(until, "until")
        except QuestionError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        await interaction.response.defer(thinking=True)
        try:
            tl = await self.bot.run_blocking(self.bot.service.timeline, name, since=since, until=until)
        except (ServiceError, ValueError) as exc:  # a bad name: one line, privately
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        kwargs = {"embed": render.timeline_embed(tl)}
        if tl.pages > 1:
            kwargs["view"] = TimelinePages(tl)
        await interaction.followup.send(**kwargs)

    @timeline.autocomplete("name")
    async def _names(self, interaction: discord.Interaction[RoundupBot], current: str) -> list[app_commands.Choice]:
        try:
            known = await self.bot.run_blocking(self.bot.service.known_names)
        except Exception:
            log.warning("timeline name suggestions failed", exc_info=True)
            return []
        typed = current.lower().strip()
        names = [n for n, _ in known.most_common() if not typed or typed in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(TimelineCog(bot))
