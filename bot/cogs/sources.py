"""/sources show|remove: what this server's corpus holds, and taking its own articles out.

`/sources` is a group because Discord does not let a command with subcommands also run on its
own (as with `/digest show`). `show` counts the corpus the server sees: the shared roundups
plus its own (from its feeds and backfills). `remove` (Manage Server) only ever touches the
server's own articles: an article another server or the shared corpus also holds stays there.
"""
from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import RoundupBot, send_ephemeral
from bot.service import RemovalReport, ServiceError, guild_scope

log = logging.getLogger(__name__)

LISTED = 15


def sources_embed(st: dict) -> discord.Embed:
    embed = discord.Embed(title="What I know", colour=render.COLOUR)
    embed.description = (f"**{st['articles']}** roundups split into **{st['passages']}** passages, "
                         f"from **{st['first_published'] or '-'}** to **{st['last_published'] or '-'}**.")
    srcs = "\n".join(f"• {render.md(s['source'])}: {s['articles']}" for s in st["sources"]) or "none yet"
    embed.add_field(name="Sources", value=render.clip(srcs, render.FIELD_VALUE_MAX), inline=False)
    owned = st.get("owned")
    if owned is not None and st.get("guild"):
        embed.add_field(name="This server's own (from its feeds and backfills)",
                        value=f"{owned['articles']} roundups, {owned['passages']} passages", inline=False)
    last = st["last_ingest"]
    if last:
        embed.add_field(name="Last update", value=f"{last['at'][:16].replace('T', ' ')} UTC", inline=True)
    embed.add_field(name="Model", value=render.clip(st["model"], 200), inline=True)
    return render.fit(embed)


def removal_text(report: RemovalReport) -> str:
    n = len(report.articles)
    lines = [f"• {render.link(r['title'], r['url'], 90)} ({r['published'] or 'undated'})"
             for r in report.articles[:LISTED]]
    if n > LISTED:
        lines.append(f"… and {n - LISTED} more")
    listing = "\n".join(lines)
    if report.dry_run:
        return (f"**{n}** of this server's articles would be removed:\n{listing}\n"
                "Run the command again with `confirm: True` to remove them.")
    kept = n - report.deleted
    tail = (f" {kept} stay in the corpus because another server or the shared roundups also hold them "
            "(this server no longer sees them unless they are shared).") if kept else ""
    return f"Removed **{n}** articles from this server ({report.passages} passages deleted).{tail}\n{listing}"


class Sources(commands.GroupCog, group_name="sources", group_description="What the bot knows in this server"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        super().__init__()

    @app_commands.command(name="show", description="What the bot knows here: roundups, dates and sources")
    async def show(self, interaction: discord.Interaction[RoundupBot]) -> None:
        st = await self.bot.run_blocking(self.bot.service.status, guild_scope(interaction.guild_id))
        await interaction.response.send_message(embed=sources_embed(st), ephemeral=True)

    @app_commands.command(name="remove", description="Take this server's own articles out (Manage Server)")
    @app_commands.describe(url="An article's address, or a feed or page it came from",
                           source="A source name, as /sources show lists it",
                           before="Articles published before this date (YYYY-MM-DD)",
                           confirm="False (default): only list what would go")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction[RoundupBot], url: str | None = None,
                     source: str | None = None, before: str | None = None, confirm: bool = False) -> None:
        if interaction.guild_id is None:  # never the operator's removal-for-everyone from a DM
            await send_ephemeral(interaction, "That only works in a server.")
            return
        if not (url or source or before):
            await send_ephemeral(interaction, "Say what to remove: `url`, `source` or `before`.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            report = await self.bot.run_blocking(self.bot.service.remove, url=url, source=source, before=before,
                                                 guild=interaction.guild_id, dry_run=not confirm)
        except ServiceError as exc:
            await interaction.followup.send(render.md(str(exc)), ephemeral=True)
            return
        if not report.articles:
            await interaction.followup.send(
                "This server owns no articles matching that. Only articles from this server's own feeds and "
                "backfills can be removed here.", ephemeral=True)
            return
        if confirm:
            log.info("guild %s: %d articles removed by %s (%d deleted)", interaction.guild_id,
                     len(report.articles), interaction.user.id, report.deleted)
        await interaction.followup.send(render.clip(removal_text(report), 2000), ephemeral=True)

    @remove.autocomplete("source")
    async def _source_choices(self, interaction: discord.Interaction[RoundupBot], current: str):
        rows = await self.bot.run_blocking(self.bot.service.store.sources, {interaction.guild_id})
        current = current.lower()
        return [app_commands.Choice(name=render.clip(f"{s} ({n})", 100), value=s[:100])
                for s, n in rows if current in s.lower()][:25]


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Sources(bot))
