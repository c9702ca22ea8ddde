"""The discord.py application: one Bot, one service, one aiohttp session, one cog per feature."""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.service import RoundupService
from bot.settings import Settings
from bot.state import BotState
from corpus.fetch import create_session

log = logging.getLogger(__name__)

T = TypeVar("T")

EXTENSIONS = (
    "bot.cogs.ask",
    "bot.cogs.info",
    "bot.cogs.digest",
    "bot.cogs.admin",
    "bot.cogs.feeds",
    "bot.cogs.timeline",
    "bot.cogs.stats",
    "bot.cogs.sources",
    "bot.cogs.alerts",
    "bot.cogs.upkeep",  # indexes caught up in the background, daily retention
)

# Service calls that need the model and indexes: they wait for the background load; the rest
# (/help, /sources, settings, feeds) run at once.
NEEDS_INDEXES = frozenset({"ask", "digest", "trend", "retriever", "topic", "snapshot"})

SORRY = "Something went wrong on my side; it has been logged. Please try again in a moment."


class RoundupBot(commands.Bot):
    def __init__(self, settings: Settings, service: RoundupService, *, sync_commands: bool = True,
                 dev_guild: int | None = None):
        intents = discord.Intents.default()
        intents.message_content = True  # mention questions are read from the message text
        super().__init__(
            command_prefix=commands.when_mentioned_or(),  # no prefix commands: mentions are questions
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.settings = settings
        self.service = service
        self.state = BotState(service.store)
        self.sync_commands = sync_commands
        self.dev_guild = dev_guild if dev_guild is not None else settings.dev_guild
        self.session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loading: asyncio.Task | None = None
        self.tree.on_error = self.on_app_command_error

    async def setup_hook(self) -> None:
        # The guarded session: the SSRF rules of corpus.fetch also hold at connect time (DNS rebinding).
        self.session = create_session(self.settings.fetch)
        self._slots = asyncio.Semaphore(max(1, self.settings.max_concurrent_retrievals))
        for ext in EXTENSIONS:
            await self.load_extension(ext)
        # Ready at once: the model and indexes load in the background; /help and /sources answer
        # meanwhile, and a question waits (deferred, "thinking") only for what it needs.
        self._loading = asyncio.create_task(self.load_indexes(), name="roundup-load-indexes")
        if self.sync_commands:
            await self.sync_tree()

    async def load_indexes(self) -> None:
        """The model and every index, in a thread of its own (not a retrieval slot)."""
        start = time.perf_counter()
        try:
            await asyncio.to_thread(self.service.snapshot)  # the saved indexes; the upkeep cog catches up
        except Exception:  # each question tries again and reports its own failure
            log.exception("loading the model and indexes failed")
            return
        log.info("model and indexes ready in %.1f s", time.perf_counter() - start)

    @property
    def indexes_ready(self) -> bool:
        return self._loading is not None and self._loading.done()

    async def wait_ready(self) -> None:
        if self._loading is not None and not self._loading.done():
            await asyncio.shield(self._loading)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        await super().close()

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Model, FAISS and SQLite work off the event loop, at most N at once: the heartbeat never waits."""
        assert self._slots is not None, "run_blocking before setup_hook"
        if getattr(fn, "__self__", None) is self.service and getattr(fn, "__name__", "") in NEEDS_INDEXES:
            await self.wait_ready()  # outside the slots: a waiting question blocks nobody
        async with self._slots:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    # -- command sync: only when the tree changed (Discord rate-limits syncs tightly) ----------

    def _tree_hash(self) -> str:
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands()]
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    async def sync_tree(self, *, force: bool = False) -> bool:
        digest = self._tree_hash()
        key = f"command_tree_hash:{self.application_id}"
        synced = False
        if force or self.state.store.get_meta(key) != digest:
            cmds = await self.tree.sync()
            self.state.store.set_meta(key, digest)
            log.info("synced %d global commands", len(cmds))
            synced = True
        if self.dev_guild:
            guild = discord.Object(id=self.dev_guild)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
            log.info("synced commands to dev guild %s", self.dev_guild)
        return synced

    # -- errors: members get a short message, the log gets the traceback ------------------------

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError):
        if isinstance(error, app_commands.CommandOnCooldown):
            msg = f"Easy there: you can ask again in {error.retry_after:.0f}s."
        elif isinstance(error, app_commands.MissingPermissions):
            msg = "You need the Manage Server permission for that."
        elif isinstance(error, app_commands.NoPrivateMessage):
            msg = "That only works in a server."
        elif isinstance(error, app_commands.CheckFailure):
            msg = str(error) or "You can't use that here."
        else:
            original = getattr(error, "original", error)
            name = interaction.command.qualified_name if interaction.command else "?"
            log.error("command /%s failed", name,
                      exc_info=(type(original), original, original.__traceback__))
            msg = SORRY
        await send_ephemeral(interaction, msg)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.error("event %s failed", event_method, exc_info=True)


def guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    """For button, select and modal callbacks: any failure ends in a short private error, never a
    spinner (only slash commands reach tree.on_error)."""

    @functools.wraps(callback)
    async def wrapper(self: Any, interaction: discord.Interaction, *args: Any, **kwargs: Any) -> None:
        try:
            await callback(self, interaction, *args, **kwargs)
        except Exception:
            log.exception("%s.%s failed", type(self).__name__, callback.__name__)
            await send_ephemeral(interaction, SORRY)

    return wrapper


def start_every(loop, **interval: float) -> None:
    """Start a feature's `tasks.loop` at its configured interval (e.g. `hours=6`); 0 switches it off."""
    if all(v > 0 for v in interval.values()):
        loop.change_interval(**interval)
        loop.start()


class AnswerButton:
    """Mixin for persistent buttons about one stored answer: the custom id `roundup:<kind>:<answer id>`
    carries it, so the button still works after a restart. Subclasses also derive from
    `discord.ui.DynamicItem[discord.ui.Button]` with a template capturing `answer`."""

    kind = ""
    label: str | None = None
    emoji = ""

    def __init__(self, answer_id: int):
        super().__init__(discord.ui.Button(label=self.label, emoji=self.emoji, style=discord.ButtonStyle.secondary,
                                           custom_id=f"roundup:{self.kind}:{answer_id}"))
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["answer"]))


async def send_ephemeral(interaction: discord.Interaction, content: str, **kwargs: Any) -> None:
    """Reply privately whether or not the interaction was already answered; never raise.

    After a public `defer(thinking=True)` the first follow-up fills the "thinking..." reply whatever
    its flags (and one sent after deleting that reply is refused, Unknown Message): so a late error
    becomes that reply itself, and the member always sees it."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True, **kwargs)
        else:
            await interaction.response.send_message(content, ephemeral=True, **kwargs)
    except discord.HTTPException as exc:
        log.error("could not tell the member about an error (%s %s)", exc.status, exc.code)


def create_bot(settings: Settings | None = None, *, service: RoundupService | None = None,
               **kwargs: Any) -> RoundupBot:
    """The real bot. With no arguments, settings come from the environment (ROUNDUP_* and the rest)."""
    settings = settings or Settings.load()
    service = service or RoundupService(settings)
    return RoundupBot(settings, service, **kwargs)
