"""Feedback on answers (👍 counts, 👎 asks what was wrong) and the hand-off of refused questions
to a server's moderators. Persistent buttons: the custom id carries the answer, so they work
after a restart. Every callback is guarded: a failure ends in a short private error."""
from __future__ import annotations

import logging

import discord

from bot import render
from bot.app import AnswerButton, RoundupBot, guarded, send_ephemeral
from bot.state import REASONS, AnswerRecord

log = logging.getLogger(__name__)

DETAIL_MAX = 300


class FeedbackModal(discord.ui.Modal, title="What was wrong with the answer?"):
    reason = discord.ui.Label(
        text="What was wrong?",
        component=discord.ui.Select(custom_id="reason", placeholder="Choose one",
                                    options=[discord.SelectOption(label=v, value=k) for k, v in REASONS.items()]),
    )
    detail = discord.ui.Label(
        text="Anything else? (optional)",
        component=discord.ui.TextInput(custom_id="detail", style=discord.TextStyle.paragraph, required=False,
                                       max_length=DETAIL_MAX, placeholder="e.g. the deal closed in 2021"),
    )

    def __init__(self, record: AnswerRecord):
        super().__init__(timeout=600)
        self.record = record

    @guarded
    async def on_submit(self, interaction: discord.Interaction[RoundupBot]) -> None:
        bot = interaction.client
        choice = self.reason.component.values[0] if self.reason.component.values else "other"
        detail = self.detail.component.value or None
        await bot.run_blocking(bot.state.record_feedback, self.record, interaction.user.id, -1,
                               reason=choice, detail=detail)
        await send_ephemeral(interaction, "Thanks, noted: that helps improve the answers.")

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        log.error("feedback form failed", exc_info=error)
        await send_ephemeral(interaction, "Sorry, I couldn't save that; please try again.")


class Feedback(discord.ui.DynamicItem[discord.ui.Button], template=r"roundup:fb:(?P<answer>\d+):(?P<vote>up|down)"):
    """👍 counts at once; 👎 opens a short form. One vote per member per answer: a new one replaces it."""

    def __init__(self, answer_id: int, vote: str):
        super().__init__(discord.ui.Button(emoji="👍" if vote == "up" else "👎", style=discord.ButtonStyle.secondary,
                                           custom_id=f"roundup:fb:{answer_id}:{vote}"))
        self.answer_id = answer_id
        self.vote = vote

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["answer"]), match["vote"])

    @guarded
    async def callback(self, interaction: discord.Interaction[RoundupBot]) -> None:
        bot = interaction.client
        record = await bot.run_blocking(bot.state.answer, self.answer_id)
        if record is None:
            await send_ephemeral(interaction, "I no longer have that answer.")
            return
        if self.vote == "down":
            await interaction.response.send_modal(FeedbackModal(record))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # a write may wait behind an ingest
        await bot.run_blocking(bot.state.record_feedback, record, interaction.user.id, 1)
        await send_ephemeral(interaction, "Thanks! Glad it helped.")


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


class HandOff(AnswerButton, discord.ui.DynamicItem[discord.ui.Button], template=r"roundup:handoff:(?P<answer>\d+)"):
    """On a refusal: post the question in the server's moderator channel, linked, pinging no one."""

    kind, label, emoji = "handoff", "Ask a moderator", "🙋"

    @guarded
    async def callback(self, interaction: discord.Interaction[RoundupBot]) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)  # the post may take a retry or two
        record = await bot.run_blocking(bot.state.answer, self.answer_id)
        target_id = await bot.run_blocking(bot.state.handoff_channel, interaction.guild_id)
        channel = interaction.guild.get_channel(target_id) if (interaction.guild and target_id) else None
        if record is None or channel is None:
            await send_ephemeral(interaction, "This server has no moderator channel set any more.")
            return
        if not await bot.run_blocking(bot.state.claim_handoff, record.id):
            await send_ephemeral(interaction, f"Already passed on to the moderators in {channel.mention}.")
            return
        try:
            await self._post(interaction, record, channel)
        except Exception:
            await bot.run_blocking(bot.state.release_handoff, record.id)  # a later click may try again
            raise
        await send_ephemeral(interaction, f"Passed on to the moderators in {channel.mention}.")

    @staticmethod
    async def _post(interaction: discord.Interaction, record: AnswerRecord, channel) -> None:
        source = interaction.message
        original = source.reference.message_id if source and source.reference else (source.id if source else None)
        link = jump_url(interaction.guild_id, source.channel.id, original) if original else None
        embed = discord.Embed(title="A question the roundups could not answer", colour=render.NOT_FOUND_COLOUR,
                              description=render.md(render.clip(render.clean_question(record.question), 1500)))
        if link:
            embed.add_field(name="Where", value=f"[original message](<{link}>)")
        await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
