"""/ask, @mentions and follow-ups: questions in, cited roundup passages out."""
from __future__ import annotations

import logging
import re
from datetime import date

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import SORRY, RoundupBot, send_ephemeral
from bot.ratelimit import Cooldowns
from bot.service import guild_scope
from bot.state import AnswerRecord
from embeddings.search import Answer, QuestionError, check_question

log = logging.getLogger(__name__)

SHOWN = 3  # passages in the answer embed; "More results" shows the next ones
MORE = 5


def parse_day(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise QuestionError(f"`{name}` must be a date like 2020-06-15") from None


class MoreResults(discord.ui.DynamicItem[discord.ui.Button], template=r"roundup:more:(?P<answer>\d+)"):
    """Persistent: the custom id carries the answer, so the button still works after a restart."""

    def __init__(self, answer_id: int):
        super().__init__(discord.ui.Button(label="More results", emoji="🔎", style=discord.ButtonStyle.secondary,
                                           custom_id=f"roundup:more:{answer_id}"))
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["answer"]))

    async def callback(self, interaction: discord.Interaction[RoundupBot]) -> None:
        bot = interaction.client
        record = await bot.run_blocking(bot.state.answer, self.answer_id)
        if record is None:
            await send_ephemeral(interaction, "I no longer have that answer; ask again with /ask.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        answer = await bot.run_blocking(bot.service.ask, record.question, k=MORE, since=record.since,
                                        until=record.until, offset=record.shown,
                                        guild=guild_scope(interaction.guild_id))
        if not answer.answered or not answer.hits:
            await interaction.followup.send("That's everything the roundups have on it.", ephemeral=True)
            return
        await interaction.followup.send(embed=render.more_embed(answer, start=record.shown + 1), ephemeral=True)


class Feedback(discord.ui.DynamicItem[discord.ui.Button], template=r"roundup:fb:(?P<answer>\d+):(?P<vote>up|down)"):
    def __init__(self, answer_id: int, vote: str):
        super().__init__(discord.ui.Button(emoji="👍" if vote == "up" else "👎", style=discord.ButtonStyle.secondary,
                                           custom_id=f"roundup:fb:{answer_id}:{vote}"))
        self.answer_id = answer_id
        self.vote = vote

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["answer"]), match["vote"])

    async def callback(self, interaction: discord.Interaction[RoundupBot]) -> None:
        bot = interaction.client
        record = await bot.run_blocking(bot.state.answer, self.answer_id)
        if record is None:
            await send_ephemeral(interaction, "I no longer have that answer.")
            return
        await bot.run_blocking(bot.state.record_feedback, record, interaction.user.id, 1 if self.vote == "up" else -1)
        thanks = "Thanks! Glad it helped." if self.vote == "up" else "Thanks, noted: that helps improve the answers."
        await send_ephemeral(interaction, thanks)


def answer_view(answer_id: int, *, more: bool) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if more:
        view.add_item(MoreResults(answer_id))
    view.add_item(Feedback(answer_id, "up"))
    view.add_item(Feedback(answer_id, "down"))
    return view


class Ask(commands.Cog):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        s = bot.settings
        self.cooldowns = Cooldowns(s.cooldown_rate, s.cooldown_per)  # per member, shared by /ask and mentions

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(MoreResults, Feedback)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(MoreResults, Feedback)

    def retry_after(self, user_id: int) -> float | None:
        return self.cooldowns.hit(user_id)

    # -- the shared answering path --------------------------------------------------------

    async def answer(self, question: str, *, user_id: int, guild_id: int | None, channel_id: int | None,
                     since: str | None = None, until: str | None = None, shown: int = SHOWN,
                     context: AnswerRecord | None = None) -> tuple[discord.Embed, discord.ui.View | None, int | None]:
        """Retrieve off the loop and render; follow-ups search with the earlier question as context."""
        query = f"{context.question} {question}" if context else question
        if context:
            since, until = since or context.since, until or context.until
        answer: Answer = await self.bot.run_blocking(self.bot.service.ask, query, k=shown + 1, since=since,
                                                     until=until, guild=guild_scope(guild_id))
        answer.question = question
        if not answer.answered:
            counts = await self.bot.run_blocking(self.bot.service.store.counts,
                                                 self.bot.service.scope_owners(guild_scope(guild_id)))
            return render.not_found_embed(answer, first=counts["first"], last=counts["last"]), None, None
        answer_id = await self.bot.run_blocking(
            self.bot.state.record_answer, question=query, since=since, until=until,
            passage_ids=[h.passage.id for h in answer.hits[:shown]], shown=min(shown, len(answer.hits)),
            user_id=user_id, guild_id=guild_id, channel_id=channel_id,
        )
        embed = render.answer_embed(answer, shown=shown, follow_up_of=context.question if context else None)
        return embed, answer_view(answer_id, more=len(answer.hits) > shown), answer_id

    # -- /ask ----------------------------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask the China tech roundups a question")
    @app_commands.describe(question="Your question, e.g. Where does TikTok keep American users' data?",
                           since="Only roundups on or after this date (YYYY-MM-DD)",
                           until="Only roundups on or before this date (YYYY-MM-DD)",
                           results="How many passages to show (1-5, default 3)")
    async def ask(self, interaction: discord.Interaction[RoundupBot], question: app_commands.Range[str, 1, 1000],
                  since: str | None = None, until: str | None = None,
                  results: app_commands.Range[int, 1, 5] = SHOWN) -> None:
        retry = self.retry_after(interaction.user.id)
        if retry:
            await send_ephemeral(interaction, f"Easy there: you can ask again in {retry:.0f}s.")
            return
        try:  # refuse bad input privately, before deferring makes the reply public
            check_question(question)
            since, until = parse_day(since, "since"), parse_day(until, "until")
        except QuestionError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        await interaction.response.defer(thinking=True)  # Discord wants an answer within 3 s
        embed, view, answer_id = await self.answer(
            question, user_id=interaction.user.id, guild_id=interaction.guild_id,
            channel_id=interaction.channel_id, since=since, until=until, shown=results)
        kwargs = {"embed": embed, "wait": True}
        if view is not None:
            kwargs["view"] = view
        message = await interaction.followup.send(**kwargs)
        if answer_id is not None:
            await self.bot.run_blocking(self.bot.state.attach_message, answer_id, message_id=message.id)

    # -- mentions, replies and threads ---------------------------------------------------------

    def _strip_mentions(self, text: str) -> str:
        me = self.bot.user.id
        return " ".join(re.sub(rf"<@!?{me}>", " ", text).split())

    async def _context_for(self, message: discord.Message) -> AnswerRecord | None:
        """The earlier answer this message follows up on: a reply to it, or a message in its thread."""
        me = self.bot.user
        ref = message.reference
        if ref is not None and ref.message_id:
            resolved = ref.resolved if isinstance(ref.resolved, discord.Message) else None
            if resolved is None or resolved.author.id == me.id:
                record = await self.bot.run_blocking(self.bot.state.answer_for_message, ref.message_id)
                if record is not None:
                    return record
        channel = message.channel
        if isinstance(channel, discord.Thread) and channel.owner_id == me.id:
            return await self.bot.run_blocking(self.bot.state.answer_for_thread, channel.id)
        return None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return
        mentioned = self.bot.user in message.mentions and not message.mention_everyone
        context = None
        if message.reference is not None or isinstance(message.channel, discord.Thread):
            context = await self._context_for(message)
        if not (mentioned or context or message.guild is None):
            return
        if message.guild is not None:
            channel_id = getattr(message.channel, "parent_id", None) or message.channel.id
            enabled = await self.bot.run_blocking(self.bot.state.mentions_enabled, message.guild.id, channel_id)
            if not enabled:
                return
        question = self._strip_mentions(message.content)
        if not question:
            await message.reply("Ask me about Chinese tech, e.g. *Where does TikTok keep American users' data?* "
                                "or use `/ask`.", mention_author=False)
            return
        retry = self.retry_after(message.author.id)
        if retry:
            await message.reply(f"Easy there: you can ask again in {retry:.0f}s.", mention_author=False,
                                delete_after=max(retry, 5))
            return
        try:
            async with message.channel.typing():
                embed, view, answer_id = await self.answer(
                    question, user_id=message.author.id, guild_id=message.guild.id if message.guild else None,
                    channel_id=message.channel.id, context=context)
        except QuestionError as exc:
            await message.reply(str(exc), mention_author=False)
            return
        except Exception:
            log.exception("answering a mention failed")
            await message.reply(SORRY, mention_author=False)
            return
        kwargs = {"embed": embed, "mention_author": False}
        if view is not None:
            kwargs["view"] = view
        reply = await message.reply(**kwargs)
        if answer_id is None:
            return
        thread_id = None
        if context is None and isinstance(message.channel, discord.TextChannel):
            try:  # follow-ups go in a thread on the answer, keeping the channel tidy
                thread = await reply.create_thread(name=render.clip(f"Q: {question}", 90), auto_archive_duration=1440)
                thread_id = thread.id
            except discord.HTTPException as exc:
                log.info("could not start a thread for an answer (%s); replies still work", exc.status)
        await self.bot.run_blocking(self.bot.state.attach_message, answer_id, message_id=reply.id, thread_id=thread_id)


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Ask(bot))
