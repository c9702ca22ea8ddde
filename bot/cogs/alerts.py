"""/alerts add|list|remove (Manage Server) and the check that posts new roundups about a topic.

A `tasks.loop` every `alert_minutes` (and the feed refresh and backfills, once they stored
something) runs `check`: for each alert, the new roundups its server sees that were published
in the last `alert_recent_days` and are about the topic (as `/digest topic:` reads it), best
passage of each, cited. Each (alert, roundup) is claimed in SQLite before posting: at most one
post per roundup per alert, none twice after a restart, none for backfilled history.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot import render
from bot.alerts import MAX_ALERTS_PER_GUILD, Alert, Alerts, due_matches
from bot.app import RoundupBot, send_ephemeral, start_every
from digests.alerts import AlertMatch
from digests.summary import DigestError, check_topic

log = logging.getLogger(__name__)

POSTS_PER_CHECK = 5  # per alert; more wait for the next check, so a big refresh does not flood a channel


def alert_embed(alert: Alert, match: AlertMatch) -> discord.Embed:
    p = match.passage
    embed = discord.Embed(title=render.clip(f"New in the roundups: {alert.topic}", render.TITLE_MAX),
                          colour=render.COLOUR, description=render.md(render.clip(p.text, 1500)))
    where = " · ".join(x for x in (p.published, render.md(p.source) if p.source else None) if x)
    embed.add_field(name="Source", value=render.clip(f"{render.link(p.title, p.url)}\n{where}",
                                                     render.FIELD_VALUE_MAX), inline=False)
    embed.set_footer(text=f"Alert #{alert.id} · /alerts remove stops it")
    return render.fit(embed)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AlertsCog(commands.GroupCog, name="Alerts", group_name="alerts",
                group_description="Post new roundups about a topic in a channel"):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        self.alerts = Alerts(bot.service.store)
        self.lock = asyncio.Lock()
        super().__init__()

    async def cog_load(self) -> None:
        start_every(self.loop, minutes=self.bot.settings.alert_minutes)

    async def cog_unload(self) -> None:
        self.loop.cancel()

    # -- the check ----------------------------------------------------------------------------

    @tasks.loop(minutes=10.0)
    async def loop(self) -> None:
        try:
            await self.check()
        except Exception:  # an unhandled error would stop the loop for good
            log.exception("alert check failed")

    @loop.before_loop
    async def _before(self) -> None:
        await self.bot.wait_until_ready()

    async def check(self) -> int:
        """Post what every alert has due; returns how many posts were made."""
        async with self.lock:
            posted = 0
            for alert in await self.bot.run_blocking(self.alerts.all):
                try:
                    posted += await self._check_one(alert)
                except Exception:  # one alert's failure must not stop the others
                    log.exception("alert %s (guild %s) failed", alert.id, alert.guild_id)
            return posted

    async def _check_one(self, alert: Alert) -> int:
        today = datetime.now(timezone.utc).date()
        matches = await self.bot.run_blocking(due_matches, self.bot.service, self.alerts, alert, today=today)
        posted = 0
        for match in matches[:POSTS_PER_CHECK]:
            p = match.passage
            if not await self.bot.run_blocking(self.alerts.claim, alert.id, p.article_id, p.id):
                continue
            try:
                channel = self.bot.get_channel(alert.channel_id) or await self.bot.fetch_channel(alert.channel_id)
                message = await channel.send(embed=alert_embed(alert, match))
            except (discord.Forbidden, discord.NotFound) as exc:
                # a deleted channel or a lost permission will not fix itself: keep the claim
                log.warning("alert %s: cannot post in %s: %s", alert.id, alert.channel_id, exc)
                continue
            except discord.HTTPException as exc:
                log.warning("alert %s: post failed (%s); will retry", alert.id, exc)
                await self.bot.run_blocking(self.alerts.release, alert.id, p.article_id)
                continue
            await self.bot.run_blocking(self.alerts.posted, alert.id, p.article_id, message.id)
            log.info("alert %s (guild %s, %r): posted %s", alert.id, alert.guild_id, alert.topic, p.url)
            posted += 1
        return posted

    # -- commands -----------------------------------------------------------------------------

    @app_commands.command(name="add", description="Post new roundups about a topic in a channel (Manage Server)")
    @app_commands.describe(topic="A company, product or subject, e.g. Huawei or chip export controls",
                           channel="Where to post them")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def add(self, interaction: discord.Interaction[RoundupBot], topic: app_commands.Range[str, 1, 100],
                  channel: discord.TextChannel) -> None:
        try:
            topic = check_topic(topic) or ""
        except DigestError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        me = interaction.guild.me if interaction.guild else None
        if me is not None and not channel.permissions_for(me).send_messages:
            await send_ephemeral(interaction, f"I can't send messages in {channel.mention}; pick another channel "
                                              "or give me Send Messages there.")
            return
        if await self.bot.run_blocking(self.alerts.count, interaction.guild_id) >= MAX_ALERTS_PER_GUILD:
            await send_ephemeral(interaction, f"This server already has {MAX_ALERTS_PER_GUILD} alerts; remove one "
                                              "with `/alerts remove` first.")
            return
        alert = await self.bot.run_blocking(self.alerts.add, interaction.guild_id, channel.id, topic,
                                            by=interaction.user.id)
        if alert is None:
            await send_ephemeral(interaction, f"{channel.mention} already gets alerts about **{render.md(topic)}**.")
            return
        log.info("guild %s: alert %s on %r in %s by %s", interaction.guild_id, alert.id, topic, channel.id,
                 interaction.user.id)
        await send_ephemeral(interaction, (
            f"Alert #{alert.id}: new roundups about **{render.md(topic)}** will be posted in {channel.mention}, "
            f"one post per roundup (only roundups published in the last "
            f"{self.bot.settings.alert_recent_days:g} days, never backfilled history)."))

    @app_commands.command(name="list", description="This server's topic alerts")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def list_alerts(self, interaction: discord.Interaction[RoundupBot]) -> None:
        alerts = await self.bot.run_blocking(self.alerts.for_guild, interaction.guild_id)
        embed = discord.Embed(title="Topic alerts", colour=render.COLOUR)
        embed.description = render.clip("\n".join(
            f"#{a.id} **{render.md(a.topic)}** in <#{a.channel_id}> (since {a.created_at[:10]})" for a in alerts
        ), render.DESCRIPTION_MAX) if alerts else "None yet. Add one with `/alerts add topic: channel:`."
        await interaction.response.send_message(embed=render.fit(embed), ephemeral=True)

    @app_commands.command(name="remove", description="Stop a topic alert")
    @app_commands.describe(alert="The alert's number, as shown by /alerts list")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction[RoundupBot], alert: int) -> None:
        if not await self.bot.run_blocking(self.alerts.remove, interaction.guild_id, alert):
            await send_ephemeral(interaction, f"This server has no alert #{alert}; see `/alerts list`.")
            return
        log.info("guild %s: alert %s removed by %s", interaction.guild_id, alert, interaction.user.id)
        await send_ephemeral(interaction, f"Alert #{alert} removed.")

    @remove.autocomplete("alert")
    async def _remove_choices(self, interaction: discord.Interaction[RoundupBot], current: str):
        alerts = await self.bot.run_blocking(self.alerts.for_guild, interaction.guild_id)
        current = current.lower()
        return [app_commands.Choice(name=render.clip(f"#{a.id} {a.topic}", 100), value=a.id)
                for a in alerts if current in f"#{a.id} {a.topic}".lower()][:25]


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(AlertsCog(bot))
