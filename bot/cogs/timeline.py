"""/timeline: what the roundups said about a company, person or topic, roundup by roundup."""
from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import RoundupBot, guarded, send_ephemeral
from bot.cogs.ask import parse_day
from bot.service import ServiceError, guild_scope
from bot.timeline import Timeline
from embeddings.search import QuestionError

log = logging.getLogger(__name__)


class TimelinePage(discord.ui.DynamicItem[discord.ui.Button],
                   template=r"roundup:tl:(?P<dir>prev|next):(?P<page>\d+):(?P<since>[0-9-]*):(?P<until>[0-9-]*):(?P<name>.+)"):
    """◀/▶ past ten roundups. Persistent: the custom id carries the name, dates and target page,
    so the buttons work after a restart; the click re-reads the timeline (cached sentence vectors)."""

    def __init__(self, direction: str, page: int, name: str, since: str | None, until: str | None,
                 *, disabled: bool = False):
        custom_id = f"roundup:tl:{direction}:{page}:{since or ''}:{until or ''}:{name}"
        prev = direction == "prev"
        super().__init__(discord.ui.Button(label="Previous" if prev else "Next", emoji="◀️" if prev else "▶️",
                                           style=discord.ButtonStyle.secondary, custom_id=custom_id,
                                           disabled=disabled))
        self.page, self.name, self.since, self.until = page, name, since, until

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(match["dir"], int(match["page"]), match["name"], match["since"] or None, match["until"] or None)

    @guarded
    async def callback(self, interaction: discord.Interaction[RoundupBot]) -> None:
        bot = interaction.client
        await interaction.response.defer()  # acknowledged at once; the page follows
        tl = await bot.run_blocking(bot.service.timeline, self.name, since=self.since, until=self.until,
                                    guild=guild_scope(interaction.guild_id))
        page = max(0, min(self.page, tl.pages - 1))
        kwargs = {"embed": render.timeline_embed(tl, page)}
        view = pages_view(tl, page)
        if view is not None:
            kwargs["view"] = view
        await interaction.edit_original_response(**kwargs)


def pages_view(tl: Timeline, page: int = 0) -> discord.ui.View | None:
    """Previous/Next for a timeline longer than a page; None when it fits on one (or the name is
    too long for a button id: then the first page is all that is shown)."""
    if tl.pages <= 1:
        return None
    name = tl.asked if len(tl.asked) <= 50 else tl.name
    if len(f"roundup:tl:next:{tl.pages}:{tl.since or ''}:{tl.until or ''}:{name}") > 100:
        log.info("timeline name too long for page buttons: %r", name[:60])
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(TimelinePage("prev", max(0, page - 1), name, tl.since, tl.until, disabled=page == 0))
    view.add_item(TimelinePage("next", min(tl.pages - 1, page + 1), name, tl.since, tl.until,
                               disabled=page >= tl.pages - 1))
    return view


class TimelineCog(commands.Cog, name="Timeline"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(TimelinePage)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(TimelinePage)

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
            tl = await self.bot.run_blocking(self.bot.service.timeline, name, since=since, until=until,
                                             guild=guild_scope(interaction.guild_id))
        except (ServiceError, ValueError) as exc:  # a bad name: one line, privately
            await send_ephemeral(interaction, str(exc))  # fills the "thinking..." reply
            return
        kwargs = {"embed": render.timeline_embed(tl)}
        view = pages_view(tl)
        if view is not None:
            kwargs["view"] = view
        await interaction.followup.send(**kwargs)

    @timeline.autocomplete("name")
    async def _names(self, interaction: discord.Interaction[RoundupBot], current: str) -> list[app_commands.Choice]:
        try:
            known = await self.bot.run_blocking(self.bot.service.known_names, guild_scope(interaction.guild_id))
        except Exception:
            log.warning("timeline name suggestions failed", exc_info=True)
            return []
        typed = current.lower().strip()
        names = [n for n, _ in known.most_common() if not typed or typed in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(TimelineCog(bot))
