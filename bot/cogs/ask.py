"""/ask, @mentions, follow-ups and auto-answer channels: questions in, cited roundup passages out."""
from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import date

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.app import SORRY, AnswerButton, RoundupBot, guarded, send_ephemeral
from bot.cogs.feedback import Feedback, HandOff
from bot.questions import follow_up_query, is_chatter, reads_as_question
from bot.ratelimit import Cooldowns
from bot.service import guild_scope
from bot.state import AnswerRecord
from embeddings.search import Answer, QuestionError, check_question

log = logging.getLogger(__name__)

SHOWN = 3  # passages in the answer embed; "More results" shows the next ones
MORE = 5
WAIT_EMOJI = "⏳"


def parse_day(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise QuestionError(f"`{name}` must be a date like 2020-06-15") from None


class MoreResults(AnswerButton, discord.ui.DynamicItem[discord.ui.Button], template=r"roundup:more:(?P<answer>\d+)"):
    """The next passages, privately; persistent like every answer button."""

    kind, label, emoji = "more", "More results", "🔎"

    @guarded
    async def callback(self, interaction: discord.Interaction[RoundupBot]) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before any work
        record = await bot.run_blocking(bot.state.answer, self.answer_id)
        if record is None:
            await send_ephemeral(interaction, "I no longer have that answer; ask again with /ask.")
            return
        query = follow_up_query(record.question, record.context)
        answer = await bot.run_blocking(bot.service.ask, query, k=MORE, since=record.since,
                                        until=record.until, offset=record.shown,
                                        guild=guild_scope(interaction.guild_id))
        answer.question = record.question
        if not answer.answered or not answer.hits:
            await interaction.followup.send("That's everything the roundups have on it.", ephemeral=True)
            return
        await interaction.followup.send(embed=render.more_embed(answer, start=record.shown + 1), ephemeral=True)


def answer_view(answer_id: int, *, more: bool) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if more:
        view.add_item(MoreResults(answer_id))
    view.add_item(Feedback(answer_id, "up"))
    view.add_item(Feedback(answer_id, "down"))
    return view


def refusal_view(answer_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(HandOff(answer_id))
    return view


@contextlib.asynccontextmanager
async def typing(channel: discord.abc.Messageable):
    """"Roundup Bot is typing..." while retrieving, if Discord lets us; a failure there costs no answer."""
    indicator = channel.typing()
    try:
        await indicator.__aenter__()
    except discord.HTTPException as exc:
        log.info("typing indicator failed (%s); answering anyway", exc.status)
        indicator = None
    try:
        yield
    finally:
        if indicator is not None:
            await indicator.__aexit__(None, None, None)


@dataclass
class Reply:
    """A rendered answer: the embed, its buttons, and the stored record they refer to."""

    embed: discord.Embed
    view: discord.ui.View | None
    answer_id: int | None
    answered: bool

    def kwargs(self) -> dict:
        out: dict = {"embed": self.embed}
        if self.view is not None:
            out["view"] = self.view
        return out


class Ask(commands.Cog):
    def __init__(self, bot: RoundupBot):
        self.bot = bot
        s = bot.settings
        # per member, shared by /ask, mentions, follow-ups and auto-answers (and so the threads they open)
        self.cooldowns = Cooldowns(s.cooldown_rate, s.cooldown_per)
        self._waiting: dict[int, float] = {}  # member -> when the ⏳ was shown (once per window)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(MoreResults, Feedback, HandOff)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(MoreResults, Feedback, HandOff)

    def retry_after(self, user_id: int) -> float | None:
        return self.cooldowns.hit(user_id)

    # -- the shared answering path --------------------------------------------------------

    async def answer(self, question: str, *, user_id: int, guild_id: int | None, channel_id: int | None,
                     since: str | None = None, until: str | None = None, shown: int = SHOWN,
                     context: AnswerRecord | None = None, via: str = "slash") -> Reply:
        """Retrieve off the loop and render. A follow-up searches with the new text plus a bounded
        context from the earlier answer; the record keeps only what the member typed."""
        question = check_question(question)  # the 1,000-character limit is on what the member typed
        ctx_text = None
        if context:
            since, until = since or context.since, until or context.until
            ctx_text = render.clip(" ".join(filter(None, [context.question, context.context])), 300)
        query = follow_up_query(question, ctx_text)
        answer: Answer = await self.bot.run_blocking(self.bot.service.ask, query, k=shown + 1, since=since,
                                                     until=until, guild=guild_scope(guild_id))
        answer.question = question
        hits = answer.hits[:shown] if answer.answered else []
        answer_id = await self.bot.run_blocking(
            self.bot.state.record_answer, question=question, since=since, until=until,
            passage_ids=[h.passage.id for h in hits], shown=len(hits), user_id=user_id, guild_id=guild_id,
            channel_id=channel_id, answered=answer.answered,
            scores=[h.relevance if h.relevance is not None else h.score for h in hits],
            confidence=getattr(answer, "confidence", None), context=ctx_text, via=via)
        if not answer.answered:
            counts = await self.bot.run_blocking(self.bot.service.store.counts,
                                                 self.bot.service.scope_owners(guild_scope(guild_id)))
            embed = render.not_found_embed(answer, first=counts["first"], last=counts["last"])
            handoff = await self.bot.run_blocking(self.bot.state.handoff_channel, guild_id)
            return Reply(embed, refusal_view(answer_id) if handoff else None, answer_id, False)
        embed = render.answer_embed(answer, shown=shown, follow_up_of=context.question if context else None)
        return Reply(embed, answer_view(answer_id, more=len(answer.hits) > shown), answer_id, True)

    # -- /ask ----------------------------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask the China tech roundups a question")
    @app_commands.describe(question="Your question, e.g. Where does TikTok keep American users' data?",
                           since="Only roundups on or after this date (YYYY-MM-DD)",
                           until="Only roundups on or before this date (YYYY-MM-DD)",
                           results="How many passages to show (1-3, default 3)")
    async def ask(self, interaction: discord.Interaction[RoundupBot], question: app_commands.Range[str, 1, 1000],
                  since: str | None = None, until: str | None = None,
                  results: app_commands.Range[int, 1, 3] = SHOWN) -> None:
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
        reply = await self.answer(question, user_id=interaction.user.id, guild_id=interaction.guild_id,
                                  channel_id=interaction.channel_id, since=since, until=until,
                                  shown=min(results, SHOWN))
        try:
            message = await interaction.followup.send(**reply.kwargs(), wait=True)
        except discord.HTTPException as exc:  # discord.py's own retries are spent: the answer as text, once
            log.warning("sending an /ask answer failed (%s %s); trying a plain message", exc.status, exc.code)
            message = await interaction.followup.send(render.clip(render.embed_text(reply.embed), 1900), wait=True)
        await self.bot.run_blocking(self.bot.state.attach_message, reply.answer_id, message_id=message.id)

    # -- mentions, replies, threads and auto-answer channels -------------------------------------

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
        if isinstance(message.channel, discord.Thread):
            # the bot's own threads, and members' threads it answered in (auto-answer forum posts)
            return await self.bot.run_blocking(self.bot.state.answer_for_thread, message.channel.id)
        return None

    async def _auto_target(self, message: discord.Message) -> str | None:
        """'channel' or 'forum' when this unmentioned message should be auto-answered, else None."""
        if message.guild is None or not reads_as_question(message.content):
            return None
        channel = message.channel
        if isinstance(channel, discord.TextChannel):
            on = await self.bot.run_blocking(self.bot.state.autoanswer_enabled, message.guild.id, channel.id)
            return "channel" if on else None
        if isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.ForumChannel):
            if channel.owner_id != message.author.id:
                return None  # the post itself, by whoever opened it; replies to others are theirs
            on = await self.bot.run_blocking(self.bot.state.autoanswer_enabled, message.guild.id, channel.parent_id)
            return "forum" if on else None
        return None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return
        try:
            await self._on_message(message)
        except Exception:  # a broken store or a bug: whoever addressed the bot still hears back
            log.exception("handling a message failed")
            if self.bot.user in message.mentions or message.guild is None:
                await self._send(message, content=SORRY)

    async def _on_message(self, message: discord.Message) -> None:
        mentioned = self.bot.user in message.mentions and not message.mention_everyone
        context = None
        if message.reference is not None or isinstance(message.channel, discord.Thread):
            context = await self._context_for(message)
        auto = None if (mentioned or context or message.guild is None) else await self._auto_target(message)
        if not (mentioned or context or auto or message.guild is None):
            return
        if message.guild is not None and not auto:
            channel_id = getattr(message.channel, "parent_id", None) or message.channel.id
            enabled = await self.bot.run_blocking(self.bot.state.mentions_enabled, message.guild.id, channel_id)
            if not enabled:
                return
        question = self._strip_mentions(message.content)
        if not mentioned and is_chatter(question):
            return  # "thanks!" in an answer's thread or a DM is not a question
        if not question:
            await self._send(message, content="Ask me about Chinese tech, e.g. *Where does TikTok keep American "
                                              "users' data?* or use `/ask`.")
            return
        if self.retry_after(message.author.id):
            await self._hourglass(message)
            return
        await self._answer_message(message, question, context=context, auto=auto)

    async def _hourglass(self, message: discord.Message) -> None:
        """Over the cooldown: one ⏳ per member per window instead of an answer (no reply, no thread)."""
        now = self.cooldowns.now()
        if now - self._waiting.get(message.author.id, -1e9) < self.cooldowns.per:
            return
        self._waiting[message.author.id] = now
        if len(self._waiting) > 10_000:  # forget windows long past
            self._waiting = {k: t for k, t in self._waiting.items() if now - t < self.cooldowns.per}
        try:
            await message.add_reaction(WAIT_EMOJI)
        except discord.HTTPException as exc:
            log.info("could not react %s to a throttled message (%s)", WAIT_EMOJI, exc.status)

    async def _answer_message(self, message: discord.Message, question: str, *, context: AnswerRecord | None,
                              auto: str | None) -> None:
        via = auto and "auto" or ("dm" if message.guild is None else "mention")
        try:
            async with typing(message.channel):
                reply = await self.answer(
                    question, user_id=message.author.id, guild_id=message.guild.id if message.guild else None,
                    channel_id=message.channel.id, context=context, via=via)
        except QuestionError as exc:
            await self._send(message, content=str(exc))
            return
        except Exception:
            log.exception("answering a message failed")
            await self._send(message, content=SORRY)
            return
        if auto == "channel":
            await self._answer_in_new_thread(message, question, reply)
            return
        sent = await self._send(message, reply=reply)
        if sent is None:
            return
        thread_id = message.channel.id if auto == "forum" else None
        if context is None and auto is None and reply.answered and isinstance(message.channel, discord.TextChannel):
            thread_id = await self._open_thread(sent, question)
        await self.bot.run_blocking(self.bot.state.attach_message, reply.answer_id, message_id=sent.id,
                                    thread_id=thread_id)

    async def _open_thread(self, message: discord.Message, question: str) -> int | None:
        try:  # follow-ups go in a thread on the answer, keeping the channel tidy
            thread = await message.create_thread(name=render.clip(f"Q: {render.clean_question(question)}", 90),
                                                 auto_archive_duration=1440)
            return thread.id
        except discord.HTTPException as exc:
            log.info("could not start a thread for an answer (%s); replies still work", exc.status)
            return None

    async def _answer_in_new_thread(self, message: discord.Message, question: str, reply: Reply) -> None:
        """Auto-answer in a text channel: a thread on the question, the answer inside, no mention."""
        thread_id = await self._open_thread(message, question)
        thread = message.channel.get_thread(thread_id) if thread_id else None
        if thread is None:
            sent = await self._send(message, reply=reply)  # no thread allowed: reply in place
        else:
            sent = await self._send(message, reply=reply, where=thread)
        if sent is not None:
            await self.bot.run_blocking(self.bot.state.attach_message, reply.answer_id, message_id=sent.id,
                                        thread_id=thread_id)

    async def _send(self, message: discord.Message, *, reply: Reply | None = None, content: str | None = None,
                    where: discord.abc.Messageable | None = None) -> discord.Message | None:
        """Send, and if Discord still fails after discord.py's own retries, one plain-text fallback."""
        kwargs = reply.kwargs() if reply else {"content": content}
        try:
            if where is not None:
                return await where.send(**kwargs)
            return await message.reply(**kwargs, mention_author=False)
        except discord.HTTPException as exc:
            log.warning("sending an answer failed (%s %s); trying a plain message", exc.status, exc.code)
        text = render.clip(render.embed_text(reply.embed), 1900) if reply else (content or SORRY)
        try:
            return await (where or message.channel).send(content=text)
        except discord.HTTPException as exc:
            log.error("the plain fallback failed too (%s %s); the member got no answer", exc.status, exc.code)
            return None


async def setup(bot: RoundupBot) -> None:
    await bot.add_cog(Ask(bot))
