"""/feeds list|add|remove|refresh|backfill|import|export for members with Manage Server, and the
background refresh.

Every `refresh_hours` a `tasks.loop` reads every feed any server follows (plus the operator's
`feeds` setting) through `RoundupService.ingest_urls` on the bot's event loop and session.
One lock keeps refreshes from overlapping: a scheduled round that finds the previous one (or
a manual /feeds refresh) still running is skipped, and logged as such. What a server's feeds
and backfills bring belongs to that server (bot/guild_feeds.py); once something new is stored
the topic alerts are checked.

`/feeds backfill` reads a column's archive (bot/backfill.py), one per server at a time, with
one status message edited as it goes, at most every `backfill_status_seconds`.
"""
from __future__ import annotations

import asyncio
import io
import logging
import time

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot import render
from bot.app import RoundupBot, send_ephemeral, start_every
from bot.backfill import BackfillReport, backfill, crawl_config
from bot.guild_feeds import MAX_FEEDS_PER_GUILD, GuildFeeds
from bot.reports import IngestReport
from corpus.crawl import CrawlError, CrawlEvent
from corpus.feeds import FeedError, probe_feed
from corpus.fetch import FetchError, Fetcher
from corpus.opml import MAX_OPML_BYTES, OpmlError, export_opml, parse_opml
from corpus.store import SHARED, utcnow

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
        embed.add_field(name="Also read for every server (the operator's)",
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
        self.backfills: dict[int, str] = {}  # guild -> the URL it is backfilling
        super().__init__()

    async def cog_load(self) -> None:
        start_every(self.refresh_loop, hours=self.bot.settings.refresh_hours)

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
            owners = await self.bot.run_blocking(self._owners, urls)
            report = await self.bot.service.ingest_urls(urls, self.bot.session, owners=owners)
            await self.bot.run_blocking(self._record, report, started)
            self.last_report = report
        if report.totals()["articles_added"] or report.totals()["articles_updated"]:
            await self.check_alerts()
        return report

    def _owners(self, urls: list[str]) -> dict[str, tuple[int, ...]]:
        """Each feed's articles belong to every server following it (blocking); those already
        read before a server followed it are its own from now on too."""
        owners = {u: self.feeds.owners(u, self.bot.settings.feeds) for u in urls}
        for url, who in owners.items():
            self.feeds.grant_read(url, who)
        return owners

    async def check_alerts(self) -> None:
        cog = self.bot.get_cog("Alerts")
        if cog is not None:
            await cog.check()

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
        shared = [r["url"] for r in await self.bot.run_blocking(self.feeds.for_guild, SHARED)]
        operator = tuple(dict.fromkeys([*self.bot.settings.feeds, *shared]))
        await interaction.response.send_message(
            embed=list_embed(rows, operator=operator, hours=self.bot.settings.refresh_hours), ephemeral=True)

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


    # -- archives and feed lists ---------------------------------------------------------------

    @app_commands.command(name="backfill", description="Read a column's archive: a listing page or sitemap")
    @app_commands.describe(url="A tag or category page, or a sitemap", since="Only articles since (YYYY-MM-DD)",
                           max_pages="Listing or sitemap pages to read this run (default from the settings)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def backfill_cmd(self, interaction: discord.Interaction[RoundupBot], url: app_commands.Range[str, 8, 2000],
                           since: str | None = None, max_pages: app_commands.Range[int, 1, 1000] | None = None) -> None:
        guild = interaction.guild_id
        if guild in self.backfills:
            await send_ephemeral(interaction, f"A backfill of <{self.backfills[guild]}> is already running here.")
            return
        try:
            config = crawl_config(self.bot.settings, max_pages=max_pages, since=since)
        except CrawlError as exc:
            await send_ephemeral(interaction, render.md(str(exc)))
            return
        url = url.strip()
        self.backfills[guild] = url
        try:
            await interaction.response.send_message(f"Backfilling <{url}>: starting…", ephemeral=True)
            status = StatusMessage(interaction, url, self.bot.settings.backfill_status_seconds)
            try:
                report = await backfill(self.bot.service, url, self.bot.session, config=config, owners=(guild,),
                                        fetch=self.bot.settings.fetch, on_event=status.update)
            except (CrawlError, FetchError) as exc:
                await status.finish(f"I couldn't backfill <{url}>: {render.md(str(exc))}")
                return
            await status.finish(backfill_text(report))
            log.info("guild %s: backfill of %s by %s: %d added", guild, url, interaction.user.id, report.added)
        finally:
            self.backfills.pop(guild, None)
        if report.added or report.updated:
            await self.check_alerts()  # only roundups of the last few days can fire: never the history

    @app_commands.command(name="import", description="Follow every feed of an OPML file from a feed reader")
    @app_commands.describe(file="An .opml file exported from Feedly, Inoreader, NetNewsWire, Miniflux…")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def import_opml(self, interaction: discord.Interaction[RoundupBot], file: discord.Attachment) -> None:
        if file.size > MAX_OPML_BYTES:
            await send_ephemeral(interaction, f"That file is {file.size:,} bytes; an OPML list may be at most "
                                              f"{MAX_OPML_BYTES:,}.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            feeds = parse_opml(await file.read())
        except (OpmlError, discord.HTTPException) as exc:
            await interaction.followup.send(f"I couldn't read that file: {render.md(str(exc))}", ephemeral=True)
            return
        added, already, over = await self.bot.run_blocking(self.feeds.import_feeds, interaction.guild_id, feeds,
                                                           by=interaction.user.id)
        log.info("guild %s: OPML import by %s: %d added, %d already, %d over the limit", interaction.guild_id,
                 interaction.user.id, len(added), len(already), len(over))
        text = f"Imported **{len(added)}** feeds ({len(already)} already followed)."
        if over:
            text += f" {len(over)} left out: a server follows at most {MAX_FEEDS_PER_GUILD} feeds."
        hours = self.bot.settings.refresh_hours
        text += (f" They are read on the next refresh (every {hours:g} hours); `/feeds refresh` reads them now."
                 if hours > 0 else " `/feeds refresh` reads them.")
        await interaction.followup.send(text, ephemeral=True)

    @app_commands.command(name="export", description="This server's feeds as an OPML file for a feed reader")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def export(self, interaction: discord.Interaction[RoundupBot]) -> None:
        feeds = await self.bot.run_blocking(self.feeds.export, interaction.guild_id)
        if not feeds:
            await send_ephemeral(interaction, "This server follows no feeds yet.")
            return
        title = f"Roundup Bot feeds: {interaction.guild.name}" if interaction.guild else "Roundup Bot feeds"
        data = export_opml(feeds, title=title).encode("utf-8")
        await interaction.response.send_message(
            f"{len(feeds)} feeds.", file=discord.File(io.BytesIO(data), filename="roundup-feeds.opml"),
            ephemeral=True)


class Throttle:
    """True at most once every `every` seconds (the first call only after `every` has passed)."""

    def __init__(self, every: float, clock=time.monotonic):
        self.every, self.clock = every, clock
        self.last = clock()

    def due(self) -> bool:
        now = self.clock()
        if now - self.last < self.every:
            return False
        self.last = now
        return True


class StatusMessage:
    """One ephemeral status message, edited as a backfill goes: at most once every `every` seconds
    (Discord rate-limits edits), and always once at the end."""

    def __init__(self, interaction: discord.Interaction, url: str, every: float):
        self.interaction, self.url = interaction, url
        self.throttle = Throttle(every)
        self.task: asyncio.Task | None = None

    def update(self, event: CrawlEvent) -> None:
        if (self.task is not None and not self.task.done()) or not self.throttle.due():
            return
        p = event.progress
        text = (f"Backfilling <{self.url}>: {p.pages} listing pages read, {p.found} articles found, "
                f"{p.fetched} fetched, {p.skipped} already here, {p.failed} failed…")
        self.task = asyncio.get_running_loop().create_task(self._edit(text))

    async def _edit(self, text: str) -> None:
        try:
            await self.interaction.edit_original_response(content=text)
        except discord.HTTPException as exc:  # an expired token after 15 minutes: the end still gets said
            log.info("backfill status edit failed: %s", exc)

    async def finish(self, text: str) -> None:
        if self.task is not None:
            await self.task
        try:
            await self.interaction.edit_original_response(content=render.clip(text, 2000))
        except discord.HTTPException:
            await self.interaction.followup.send(render.clip(text, 2000), ephemeral=True)


def backfill_text(report: BackfillReport) -> str:
    p = report.progress
    text = (f"Backfill of <{report.url}> done: **{report.added}** new articles, {report.updated} updated, "
            f"{report.duplicates} republished copies skipped, {p.skipped} already here"
            + (f" ({report.granted} of them now this server's too)" if report.granted else "")
            + f"; {p.pages} listing pages read, {p.blocked} disallowed by robots.txt, {p.failed} failed.")
    if p.pages >= 1 and report.errors:
        text += "\n" + "\n".join(f"• {render.md(render.clip(e, 180))}" for e in report.errors[:5])
    return text


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Feeds(bot))
