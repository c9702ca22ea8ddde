"""/help: how to ask the bot, with example questions from the corpus (/sources lives in sources.py)."""
from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import RoundupBot
from bot.service import guild_scope

log = logging.getLogger(__name__)


def example_questions(store, n: int = 3, owners=None) -> list[str]:
    """Questions drawn from the corpus's own section headings, newest roundups first; of the
    articles `owners` hold when given (what this server sees)."""
    visible = ""
    params: list = []
    if owners is not None:
        owners = sorted(owners)
        visible = (" AND EXISTS (SELECT 1 FROM article_owners o WHERE o.article_id = a.id AND o.owner IN "
                   f"({','.join('?' * len(owners))}))")
        params = owners
    rows = store.execute(
        f"""SELECT p.section, a.published FROM passages p JOIN articles a ON a.id = p.article_id
           WHERE p.section IS NOT NULL AND length(p.section) BETWEEN 8 AND 60{visible}
           GROUP BY a.id ORDER BY a.published DESC LIMIT ?""", (*params, n))
    return [f"What happened with {r['section'].rstrip('.')}?" for r in rows]


class Info(commands.Cog):
    def __init__(self, bot: RoundupBot):
        self.bot = bot

    @app_commands.command(name="help", description="How to ask Roundup Bot questions")
    async def help(self, interaction: discord.Interaction[RoundupBot]) -> None:
        owners = await self.bot.run_blocking(self.bot.service.scope_owners, guild_scope(interaction.guild_id))
        examples = await self.bot.run_blocking(example_questions, self.bot.service.store, owners=owners)
        me = self.bot.user.mention if self.bot.user else "@Roundup Bot"
        embed = discord.Embed(title="Roundup Bot", colour=render.COLOUR, description=(
            "I answer questions about Chinese tech (ByteDance, Tencent, Alibaba, Huawei, regulation, funding...) "
            "from weekly China-tech roundups, quoting the passages and linking their sources. If the roundups "
            "don't cover something, I say so rather than guess."))
        embed.add_field(name="Ask", value=(
            "`/ask question:` with optional `since`/`until` dates (YYYY-MM-DD) and `results`.\n"
            f"Or mention me: {me} who bought Musical.ly?\n"
            "Reply to my answer (or write in its thread) to follow up without mentioning me."), inline=False)
        embed.add_field(name="Other commands", value=(
            "`/digest show`: a cited summary of the newest roundup week (or a period/topic)\n"
            "`/digest schedule`: post one every week (Manage Server)\n"
            "`/trend`: a chart of how often the roundups mention a name\n"
            "`/sources show`: what I know here; `/sources remove`: take this server's own articles out\n"
            "`/config`: mention answering per channel (Manage Server)\n"
            "`/feeds`: the feeds and archives I read for this server, OPML import/export (Manage Server)\n"
            "`/alerts`: post new roundups about a topic in a channel (Manage Server)"), inline=False)
        if examples:
            embed.add_field(name="Try", value="\n".join(f"• {render.md(q)}" for q in examples), inline=False)
        await interaction.response.send_message(embed=render.fit(embed), ephemeral=True)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Info(bot))
