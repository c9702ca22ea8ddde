"""/help: how to ask the bot, with example questions it can answer here (/sources lives in sources.py)."""
from __future__ import annotations

import asyncio
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
        self._refreshing: dict[int, asyncio.Task] = {}

    def _held_examples(self, scope: int) -> tuple[list[str], bool]:
        """(the examples for `scope`, whether they are from an older corpus generation). Made here
        only the first time: asking the candidates and counting the names the corpus mentions take
        about 2 s at 100k passages, and every ingest moves the generation."""
        generation = self.bot.service.store.generation()
        held = self._examples.get(scope)
        if held is None:
            return self._refresh(scope, generation), False
        return held[1], held[0] != generation

    def _refresh(self, scope: int, generation: int | None = None) -> list[str]:
        service = self.bot.service
        generation = service.store.generation() if generation is None else generation
        if len(self._examples) > 1000:
            self._examples.clear()
        examples = example_questions(service, guild=scope)
        self._examples[scope] = (generation, examples)
        return examples

    def _refresh_later(self, scope: int) -> None:
        """Examples from an older corpus generation are shown at once and made anew in the
        background: a new roundup seldom makes an old example unanswerable, and the next /help
        shows the new ones."""
        if scope in self._refreshing and not self._refreshing[scope].done():
            return
        self._refreshing = {k: t for k, t in self._refreshing.items() if not t.done()}  # one per running refresh

        async def refresh() -> None:
            try:
                await self.bot.run_blocking(self._refresh, scope)
            except Exception:
                log.exception("refreshing the /help examples failed")

        self._refreshing[scope] = asyncio.create_task(refresh(), name=f"help-examples-{scope}")

    async def cog_unload(self) -> None:
        for task in self._refreshing.values():
            task.cancel()

    @app_commands.command(name="help", description="How to ask Roundup Bot questions")
    async def help(self, interaction: discord.Interaction[RoundupBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # the first examples may take a moment
        # The examples are checked by asking them: only once the model and indexes have loaded
        # (until then /help answers at once, without them).
        examples: list[str] = []
        if self.bot.indexes_ready:
            scope = guild_scope(interaction.guild_id)
            examples, stale = await self.bot.run_blocking(self._held_examples, scope)
            if stale:
                self._refresh_later(scope)
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
