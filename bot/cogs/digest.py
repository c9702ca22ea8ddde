"""/digest (interim): the lead passages of the newest roundup week, or of a period or topic.

The extractive summariser of the digest issue replaces this module.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import RoundupBot, send_ephemeral

log = logging.getLogger(__name__)


def week_of(store, period: str | None) -> tuple[str, str]:
    """`latest` (the newest week in the data, not the calendar) or a start date YYYY-MM-DD."""
    if period and period.strip().lower() != "latest":
        start = date.fromisoformat(period.strip())
    else:
        last = store.counts()["last"]
        if last is None:
            raise ValueError("the corpus is empty")
        start = date.fromisoformat(last) - timedelta(days=6)
    return start.isoformat(), (start + timedelta(days=6)).isoformat()


def lead_passages(svc, period: str | None, topic: str | None, n: int = 6):
    since, until = week_of(svc.store, period)
    if topic:
        answer = svc.ask(topic, k=n, since=since, until=until, with_best_sentence=False)
        return since, until, [h.passage for h in answer.hits] if answer.answered else []
    picked, seen = [], set()
    for p in svc.store.passages(svc.store.passage_ids_between(since, until)):
        key = (p.article_id, p.section)
        if key not in seen:
            seen.add(key)
            picked.append(p)
    return since, until, picked[:n]


class Digest(commands.Cog):
    def __init__(self, bot: RoundupBot):
        self.bot = bot

    @app_commands.command(name="digest", description="The newest roundup week at a glance (or a period/topic)")
    @app_commands.describe(period="latest (default) or a week's first day, YYYY-MM-DD", topic="Only this topic")
    async def digest(self, interaction: discord.Interaction[RoundupBot], period: str | None = None,
                     topic: str | None = None) -> None:
        await interaction.response.defer(thinking=True)
        try:
            since, until, passages = await self.bot.run_blocking(lead_passages, self.bot.service, period, topic)
        except ValueError:
            await send_ephemeral(interaction, "`period` must be `latest` or a date like 2021-09-12.")
            return
        embed = discord.Embed(title=render.clip(f"Digest {since} to {until}" + (f": {topic}" if topic else ""),
                                                render.TITLE_MAX), colour=render.COLOUR)
        if not passages:
            embed.description = f"No roundups between {since} and {until}" + (f" on {topic}." if topic else ".")
        else:
            embed.description = render.clip("\n".join(
                f"• {render.md(render.clip(p.text, 220))} {render.link(p.title, p.url, 60)}" for p in passages),
                render.DESCRIPTION_MAX)
        await interaction.followup.send(embed=render.fit(embed))


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Digest(bot))
