"""/feeds list|add|remove|refresh for members with Manage Server, and the background refresh.

Every `refresh_hours` a `tasks.loop` reads every feed any server follows (plus the operator's
`feeds` setting) through `RoundupService.ingest_urls` on the bot's event loop and session.
One lock keeps refreshes from overlapping: a scheduled round that finds the previous one (or
a manual /feeds refresh) still running is skipped, and logged as such.
"""
from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot import render
from bot.app import RoundupBot, send_ephemeral
from bot.guild_feeds import MAX_FEEDS_PER_GUILD, GuildFeeds
from bot.reports import IngestReport
from corpus.feeds import FeedError, probe_feed
from corpus.fetch import FetchError, Fetcher
from corpus.store import utcnow

log = logging.getLogger(__name__)


def refresh_embed(report: IngestReport) -> discord.Embed:
    t = report.totals()
    embed = discord.Embed(title="Feeds refreshed", colour=render.COLOUR, description=(
        f"Read **{len(report.sources)}** feeds: **{t['articles_added']}** new articles, "
        f"{t['articles_updated']} updated, {t['duplicates_skipped']} republished copies skipped, "
        f"{len(report.errors)} errors."))
    lines = []
    for src in report.sources:
        mark = {"ok": "✅", "partial": "⚠️", "failed": "❌"}[src.status]
        what = ("not modified" if src.http_status == 304 else
                f"{src.added} new, {src.updated} updated" + (f", {src.duplicates} copies" if src.duplicates else ""))
        line = f"{mark} <{src.source}>: {what}"
        if src.errors:
            line += f"\n  {render.md(render.clip(src.errors[0], 200))}"
        lines.append(line)
    if lines:
        embed.add_field(name="Feeds", value=render.clip("\n".join(lines), render.FIELD_VALUE_MAX), inline=False)
    return render.fit(embed)


def list_embed(rows, *, operator: tuple[str, ...], hours: float) -> discord.Embed:
    embed = discord.Embed(title="Feeds this server follows", colour=render.COLOUR)
    if not rows:
        embed.description = "None yet. Add one with `/feeds add url:`."
    else:
        lines = []
        for r in rows:
            last = (f"last read {r['refreshed_at'][:16].replace('T', ' ')} UTC: {r['status']}, {r['added']} new"
                    if r["refreshed_at"] else "not read yet")
            lines.append(f"• {render.link(r['title'] or r['url'], r['url'], 120)}\n  {last}")
        embed.description = render.clip("\n".join(lines), render.DESCRIPTION_MAX)
    if operator:
        embed.add_field(name="Also read for every server (bot settings)",
                        value=render.clip("\n".join(f"• <{u}>" for u in operator), render.FIELD_VALUE_MAX),
                        inline=False)
    every = f"every {hours:g} hours" if hours > 0 else "only on /feeds refresh (scheduled refresh is off)"
    embed.set_footer(text=f"Feeds are read {every}.")
    return render.fit(embed)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Feeds(commands.GroupCog, group_name="feeds", group_description="Web feeds that keep the roundups current"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        self.feeds = GuildFeeds(bot.service.store)
        self.refresh_lock = asyncio.Lock()
        self.last_report: IngestReport | None = None
        super().__init__()

    async def cog_load(self) -> None:
        hours = self.bot.settings.refresh_hours
        if hours > 0:
            self.refresh_loop.change_interval(hours=hours)
            self.refresh_loop.start()

    async def cog_unload(self) -> None:
        self.refresh_loop.cancel()

    # -- the refresh -------------------------------------------------------------------------

    @tasks.loop(hours=6.0)
    async def refresh_loop(self) -> None:
        if self.refresh_lock.locked():
            log.info("scheduled feed refresh skipped: the previous refresh is still running")
            return
        try:
            await self.refresh()
        except Exception:  # an unhandled error would stop the loop for good
            log.exception("scheduled feed refresh failed")

    @refresh_loop.before_loop
    async def _before_refresh(self) -> None:
        await self.bot.wait_until_ready()  # the first round runs once connected, then every interval

    async def refresh(self, guild_id: int | None = None) -> IngestReport | None:
        """Read the feeds (one server's, or all of them); None if there are none."""
        async with self.refresh_lock:
            if guild_id is None:
                urls = await self.bot.run_blocking(self.feeds.all_urls, self.bot.settings.feeds)
            else:
                urls = [r["url"] for r in await self.bot.run_blocking(self.feeds.for_guild, guild_id)]
            if not urls:
                log.debug("feed refresh: no feeds to read")
                return None
            started = utcnow()
            log.info("feed refresh: reading %d feeds", len(urls))
            report = await self.bot.service.ingest_urls(urls, self.bot.session)
            await self.bot.run_blocking(self._record, report, started)
            self.last_report = report
            return report

    def _record(self, report: IngestReport, started: str) -> None:
        """Keep each feed's outcome for /feeds list and log what was added (blocking)."""
        for src in report.sources:
            status = src.status
            self.feeds.note_refresh(src.source, status, src.added, "; ".join(src.errors)[:500] or None)
            titles = self.feeds.titles_since(src.source, started) if (src.added or src.updated) else []
            log.log(logging.WARNING if src.errors else logging.INFO,
                    "feed %s: %s, %d added, %d updated, %d copies skipped%s%s", src.source, status, src.added,
                    src.updated, src.duplicates, f": {'; '.join(titles)}" if titles else "",
                    f" (errors: {'; '.join(src.errors)})" if src.errors else "")
        t = report.totals()
        log.info("feed refresh done: %d feeds, %d articles added, %d updated, %d passages embedded, %d errors "
                 "in %.1fs", len(report.sources), t["articles_added"], t["articles_updated"],
                 t["passages_embedded"], t["errors"], report.elapsed_s)

    # -- commands ----------------------------------------------------------------------------

    @app_commands.command(name="list", description="The feeds this server follows")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def list_feeds(self, interaction: discord.Interaction[RoundupBot]) -> None:
        rows = await self.bot.run_blocking(self.feeds.for_guild, interaction.guild_id)
        await interaction.response.send_message(
            embed=list_embed(rows, operator=self.bot.settings.feeds, hours=self.bot.settings.refresh_hours),
            ephemeral=True)

    @app_commands.command(name="add", description="Follow an RSS or Atom feed (fetched once now to check it)")
    @app_commands.describe(url="The feed's address, http or https")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def add(self, interaction: discord.Interaction[RoundupBot], url: app_commands.Range[str, 8, 2000]) -> None:
        url = url.strip()
        if await self.bot.run_blocking(self.feeds.count, interaction.guild_id) >= MAX_FEEDS_PER_GUILD:
            await send_ephemeral(interaction, f"This server already follows {MAX_FEEDS_PER_GUILD} feeds; "
                                              "remove one with `/feeds remove` first.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            async with Fetcher(self.bot.settings.fetch, session=self.bot.session) as fetcher:
                feed = await probe_feed(url, fetcher)
        except (FetchError, FeedError) as exc:
            await interaction.followup.send(f"I couldn't add <{url}>: {render.md(str(exc))}", ephemeral=True)
            return
        added = await self.bot.run_blocking(self.feeds.add, interaction.guild_id, url, title=feed.title,
                                            by=interaction.user.id)
        name = render.md(render.clip(feed.title or url, 200))
        if not added:
            await interaction.followup.send(f"This server already follows **{name}**.", ephemeral=True)
            return
        log.info("guild %s: feed %s added by %s", interaction.guild_id, url, interaction.user.id)
        hours = self.bot.settings.refresh_hours
        when = f"on the next refresh (every {hours:g} hours)" if hours > 0 else "on the next /feeds refresh"
        await interaction.followup.send(
            f"Now following **{name}** ({len(feed.entries)} entries). Its articles are read {when}; "
            "`/feeds refresh` reads them now.", ephemeral=True)

    @app_commands.command(name="remove", description="Stop following a feed (articles already read stay)")
    @app_commands.describe(url="The feed's address, as shown by /feeds list")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction[RoundupBot], url: str) -> None:
        url = url.strip()
        rows = await self.bot.run_blocking(self.feeds.for_guild, interaction.guild_id)
        # autocomplete values are cut at 100 characters: a unique prefix names a longer URL
        matches = [r["url"] for r in rows if r["url"] == url] or [r["url"] for r in rows if r["url"].startswith(url)]
        if len(matches) != 1 or not await self.bot.run_blocking(self.feeds.remove, interaction.guild_id, matches[0]):
            await send_ephemeral(interaction, f"This server doesn't follow <{url}>; see `/feeds list`.")
            return
        log.info("guild %s: feed %s removed by %s", interaction.guild_id, matches[0], interaction.user.id)
        await send_ephemeral(interaction, f"Stopped following <{matches[0]}>. Articles already read stay in "
                                          "the roundups.")

    @remove.autocomplete("url")
    async def _remove_choices(self, interaction: discord.Interaction[RoundupBot], current: str):
        rows = await self.bot.run_blocking(self.feeds.for_guild, interaction.guild_id)
        current = current.lower()
        return [app_commands.Choice(name=render.clip(r["title"] or r["url"], 100), value=r["url"][:100])
                for r in rows if current in r["url"].lower() or current in (r["title"] or "").lower()][:25]

    @app_commands.command(name="refresh", description="Read this server's feeds now")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def refresh_now(self, interaction: discord.Interaction[RoundupBot]) -> None:
        if self.refresh_lock.locked():
            await send_ephemeral(interaction, "A refresh is already running; `/feeds list` shows its results "
                                              "when it is done.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.refresh(interaction.guild_id)
        if report is None:
            await interaction.followup.send("This server follows no feeds yet: add one with `/feeds add`.",
                                            ephemeral=True)
            return
        await interaction.followup.send(embed=refresh_embed(report), ephemeral=True)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Feeds(bot))
