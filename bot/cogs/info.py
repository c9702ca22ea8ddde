"""/help: how to ask the bot, with example questions it can answer here (/sources lives in sources.py)."""
from __future__ import annotations

import logging
from datetime import date

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import RoundupBot
from bot.service import guild_scope
from corpus.mentions import mention_matcher
from corpus.store import owned_by

log = logging.getLogger(__name__)


def example_questions(service, n: int = 3, guild: int | None = None) -> list[str]:
    """Questions about what the corpus really covers: its most mentioned companies and a name from
    the newest roundup `guild` sees, each kept only if asking it there gets an answer. Never built
    from headings."""
    known = service.known_names(guild)
    if not known:
        return []
    companies = [f"What's the latest on {name}?" for name, _ in known.most_common(6)]
    recent = []
    owners = service.scope_owners(guild)
    visible, params = "", []
    if owners is not None:
        visible, params = owned_by("articles.id", owners)
        visible = " AND " + visible
    rows = service.store.execute("SELECT id, published FROM articles WHERE published IS NOT NULL"
                                 f"{visible} ORDER BY published DESC LIMIT 1", params)
    if rows:
        text = " ".join(r["text"] for r in service.store.execute(
            "SELECT coalesce(section, '') || ' ' || text AS text FROM passages WHERE article_id = ?", (rows[0]["id"],)))
        month = date.fromisoformat(rows[0]["published"]).strftime("%B %Y")
        named = [name for name in known if mention_matcher(name)(text)]
        named.sort(key=lambda name: (known[name], name))  # the rarest name is what that roundup was about
        recent = [f"What happened with {name} in {month}?" for name in named[:3]]
    out: list[str] = []
    for pool, want in ((companies, n - 1 if recent else n), (recent, 1), (companies, n)):
        for q in pool:
            if len(out) >= n or sum(q2 in pool for q2 in out) >= want:
                break
            if q not in out and _answered(service, q, guild):
                out.append(q)
    return out


def _answered(service, question: str, guild: int | None = None) -> bool:
    try:
        return service.ask(question, k=1, guild=guild).answered
    except Exception:  # an example that cannot be asked is simply not shown
        log.warning("help example %r could not be asked", question, exc_info=True)
        return False


class Info(commands.Cog):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        self._examples: dict[int, tuple[int, list[str]]] = {}  # scope -> (corpus generation, questions)

    def _cached_examples(self, scope: int) -> list[str]:
        """Asking the candidates costs a few retrievals: done once per corpus generation and server."""
        service = self.bot.service
        generation = service.store.generation()
        held = self._examples.get(scope)
        if held is None or held[0] != generation:
            if len(self._examples) > 1000:
                self._examples.clear()
            held = self._examples[scope] = (generation, example_questions(service, guild=scope))
        return held[1]

    @app_commands.command(name="help", description="How to ask Roundup Bot questions")
    async def help(self, interaction: discord.Interaction[RoundupBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # the examples may take a moment
        # The examples are checked by asking them: only once the model and indexes have loaded
        # (until then /help answers at once, without them).
        examples = (await self.bot.run_blocking(self._cached_examples, guild_scope(interaction.guild_id))
                    if self.bot.indexes_ready else [])
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
            "`/timeline`: what the roundups said about a name, roundup by roundup\n"
            "`/sources show`: what I know here; `/sources remove`: take this server's own articles out\n"
            "`/stats`: questions, feedback and gaps (Manage Server)\n"
            "`/config`: mentions, auto-answer channels, moderator hand-off (Manage Server)\n"
            "`/feeds`: the feeds and archives I read for this server, OPML import/export (Manage Server)\n"
            "`/alerts`: post new roundups about a topic in a channel (Manage Server)"), inline=False)
        if examples:
            embed.add_field(name="Try", value="\n".join(f"• {render.md(q)}" for q in examples), inline=False)
        embed.set_footer(text="Under an answer: 👍 if it helped, 👎 to say what was wrong.")
        await interaction.followup.send(embed=render.fit(embed), ephemeral=True)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Info(bot))
