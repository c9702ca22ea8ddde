"""/digest show|schedule|unschedule and /trend: cited summaries on demand and every week, and a chart.

`/digest` is a command group because Discord does not let a command with subcommands also be
run on its own: the on-demand digest is `/digest show`. The weekly post runs on an hourly
`tasks.loop`; which weeks were posted lives in SQLite (bot/digest_schedule.py), so a restart
neither loses a due post nor repeats one.
"""
from __future__ import annotations

import io
import logging
from datetime import datetime, time, timezone

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot import render
from bot.app import RoundupBot, send_ephemeral
from bot.charts import chart_filename
from bot.digest_schedule import WEEKDAYS, DigestSchedules, Schedule, due, next_post
from bot.service import guild_scope
from digests.periods import PERIOD_HELP, PeriodError, parse_period, week_key
from digests.summary import DigestError, check_topic

log = logging.getLogger(__name__)

HOURS = [time(hour=h, tzinfo=timezone.utc) for h in range(24)]  # the loop ticks on every hour, UTC
WEEKDAY_CHOICES = [app_commands.Choice(name=d, value=i) for i, d in enumerate(WEEKDAYS)]


def check_period(text: str | None) -> None:
    """Refuse an unreadable period before deferring (so the error can stay private)."""
    if text:
        parse_period(text, newest="2000-01-03", oldest="2000-01-03")


class Digest(commands.GroupCog, group_name="digest", group_description="Cited summaries of the roundups"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        self.schedules = DigestSchedules(bot.service.store)
        self._schedules: dict[int, Schedule] = {}  # in memory, so an hourly tick with nothing due costs nothing
        super().__init__()

    async def cog_load(self) -> None:
        await self._reload()
        self.weekly.start()

    async def cog_unload(self) -> None:
        self.weekly.cancel()

    async def _reload(self) -> None:
        self._schedules = {s.guild_id: s for s in await self.bot.run_blocking(self.schedules.all)}

    # -- on demand ---------------------------------------------------------------------------

    @app_commands.command(name="show", description="A cited summary of the newest roundup week, a period or a topic")
    @app_commands.describe(period="latest (default), week:YYYY-MM-DD, month:YYYY-MM, year:YYYY, all, or A..B",
                           topic="Only what is about this company or subject, e.g. Huawei",
                           items="How many items (1-10, default 5)")
    @app_commands.checks.cooldown(3, 60.0, key=lambda i: i.user.id)
    async def show(self, interaction: discord.Interaction[RoundupBot], period: str | None = None,
                   topic: app_commands.Range[str, 1, 100] | None = None,
                   items: app_commands.Range[int, 1, 10] | None = None) -> None:
        try:
            check_period(period)
            check_topic(topic)
        except (PeriodError, DigestError) as exc:
            hint = "" if PERIOD_HELP in str(exc) else f"\nPeriods: {PERIOD_HELP}."
            await send_ephemeral(interaction, f"{exc}{hint}")
            return
        await interaction.response.defer(thinking=True)
        try:
            digest = await self.bot.run_blocking(self.bot.service.digest, period, topic=topic, items=items,
                                                 guild=guild_scope(interaction.guild_id))
        except (PeriodError, DigestError) as exc:
            await send_ephemeral(interaction, str(exc))  # fills the "thinking..." reply
            return
        await interaction.followup.send(embed=render.digest_embed(digest))

    # -- weekly posts --------------------------------------------------------------------------

    @app_commands.command(name="schedule", description="Post a digest in a channel every week (Manage Server)")
    @app_commands.describe(channel="Where to post", weekday="Which day (UTC)", hour="Hour of the day, UTC (default 9)")
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def schedule(self, interaction: discord.Interaction[RoundupBot], channel: discord.TextChannel,
                       weekday: app_commands.Choice[int], hour: app_commands.Range[int, 0, 23] | None = None) -> None:
        if interaction.guild is None:
            await send_ephemeral(interaction, "That only works in a server.")
            return
        me = interaction.guild.me
        if me is not None and not channel.permissions_for(me).send_messages:
            await send_ephemeral(interaction, f"I can't send messages in {channel.mention}; pick another channel "
                                              "or give me Send Messages there.")
            return
        now = discord.utils.utcnow()
        hour = self.bot.settings.digest_post_hour if hour is None else hour
        saved = await self.bot.run_blocking(self.schedules.set, interaction.guild_id, channel.id, weekday.value,
                                            hour, by=interaction.user.id, now=now)
        self._schedules[saved.guild_id] = saved
        log.info("guild %s: weekly digest in %s, %s, by %s", interaction.guild_id, channel.id, saved.describe(),
                 interaction.user.id)
        when = next_post(saved, now)
        await send_ephemeral(
            interaction,
            f"A digest of the newest roundup week will be posted in {channel.mention} on {saved.describe()}; "
            f"next: {when:%A %Y-%m-%d %H:%M} UTC ({discord.utils.format_dt(when, 'R')}). "
            "Weeks without new roundups are skipped. "
            "`/digest unschedule` stops it.")

    @app_commands.command(name="unschedule", description="Stop the weekly digest in this server (Manage Server)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def unschedule(self, interaction: discord.Interaction[RoundupBot]) -> None:
        if interaction.guild is None:
            await send_ephemeral(interaction, "That only works in a server.")
            return
        removed = await self.bot.run_blocking(self.schedules.remove, interaction.guild_id)
        self._schedules.pop(interaction.guild_id, None)
        log.info("guild %s: weekly digest removed by %s", interaction.guild_id, interaction.user.id)
        await send_ephemeral(interaction, "The weekly digest is off." if removed else
                             "There was no weekly digest scheduled here.")

    @tasks.loop(time=HOURS)
    async def weekly(self) -> None:
        now = discord.utils.utcnow()
        if not any(due(s, now) for s in self._schedules.values()):
            return
        await self._reload()  # the database has the final word on what was posted
        for schedule in list(self._schedules.values()):
            if due(schedule, now):
                try:
                    await self.post(schedule, now)
                except Exception:  # one guild's failure must not stop the others or the loop
                    log.exception("weekly digest for guild %s failed", schedule.guild_id)
        await self._reload()

    @weekly.before_loop
    async def _before_weekly(self) -> None:
        await self.bot.wait_until_ready()

    async def post(self, schedule: Schedule, now: datetime) -> bool:
        """Claim the week, then post the newest roundup week's digest unless it was posted before."""
        week = week_key(now.date())
        claimed, previous = await self.bot.run_blocking(self.schedules.claim, schedule.guild_id, week)
        if not claimed:
            return False
        try:
            digest = await self.bot.run_blocking(self.bot.service.digest, "latest", guild=schedule.guild_id)
            if digest.empty or (schedule.last_period and digest.period.since <= schedule.last_period):
                log.info("guild %s: no new roundups since the last weekly digest; skipping %s",
                         schedule.guild_id, week)
                return False
            channel = self.bot.get_channel(schedule.channel_id) or await self.bot.fetch_channel(schedule.channel_id)
            embed = render.digest_embed(digest)
            try:
                await channel.send(content="**Weekly roundup digest**", embed=embed)
            except discord.HTTPException as exc:
                if isinstance(exc, (discord.Forbidden, discord.NotFound)):
                    raise
                # discord.py already retried 429/5xx; one plain-text fallback before giving the hour up
                log.warning("guild %s: weekly digest embed failed (%s); posting it as text", schedule.guild_id,
                            exc.status)
                text = render.clip("**Weekly roundup digest**\n" + render.embed_text(embed), 2000)
                await channel.send(content=text)
        except (discord.Forbidden, discord.NotFound) as exc:
            # A deleted channel or lost permission will not fix itself within the hour: keep the claim.
            log.warning("guild %s: cannot post the weekly digest in %s: %s", schedule.guild_id,
                        schedule.channel_id, exc)
            await self.bot.run_blocking(self.schedules.posted, schedule.guild_id, None, f"{exc}")
            return False
        except discord.HTTPException as exc:
            log.warning("guild %s: weekly digest failed (%s); will retry", schedule.guild_id, exc)
            await self.bot.run_blocking(self.schedules.release, schedule.guild_id, week, previous, f"{exc}")
            return False
        await self.bot.run_blocking(self.schedules.posted, schedule.guild_id, digest.period.since)
        log.info("guild %s: weekly digest for %s posted", schedule.guild_id, digest.period.label)
        return True


class Trend(commands.Cog):
    def __init__(self, bot: RoundupBot):
        self.bot = bot

    @app_commands.command(name="trend", description="A chart of how often the roundups mention a company or topic")
    @app_commands.describe(name="A company, product or subject, e.g. Huawei")
    @app_commands.checks.cooldown(3, 60.0, key=lambda i: i.user.id)
    async def trend(self, interaction: discord.Interaction[RoundupBot], name: app_commands.Range[str, 1, 100]) -> None:
        try:
            check_topic(name)
        except DigestError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        guild = guild_scope(interaction.guild_id)
        if self.bot.service.current() is not None:  # indexes loaded: a name nothing knows is refused privately
            _, refusal = await self.bot.run_blocking(self.bot.service.trend_name, name, guild)
            if refusal:
                await send_ephemeral(interaction, render.md(refusal))
                return
        await interaction.response.defer(thinking=True)
        trend = await self.bot.run_blocking(self.bot.service.trend, name, guild=guild)
        if not trend.total or trend.png is None:
            await interaction.followup.send(render.md(trend.note or "Nothing to chart."))
            return
        filename = chart_filename(trend.name)
        await interaction.followup.send(embed=render.trend_embed(trend, image=filename),
                                        file=discord.File(io.BytesIO(trend.png), filename=filename))


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Digest(bot))
    await bot.add_cog(Trend(bot))
