"""`roundup-bot serve`: run the Discord bot with a token from the environment or a file."""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import discord

from bot.settings import Settings
from corpus.errors import RoundupError

log = logging.getLogger(__name__)

NO_TOKEN = (
    "no Discord token: set DISCORD_TOKEN (or DISCORD_TOKEN_FILE, a file holding it). To get one, create an "
    "application at https://discord.com/developers/applications, add a Bot, enable the Message Content intent, "
    "copy its token, and invite it with the bot and applications.commands scopes (see README)."
)


class TokenError(RoundupError):
    pass


def read_token(settings: Settings, env=None) -> str:
    """DISCORD_TOKEN, else the file named by DISCORD_TOKEN_FILE or the token_file setting."""
    env = os.environ if env is None else env
    token = env.get("DISCORD_TOKEN", "").strip()
    if token:
        return token
    path = env.get("DISCORD_TOKEN_FILE") or (str(settings.token_file) if settings.token_file else "")
    if path:
        try:
            token = Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise TokenError(f"cannot read the token file {path}: {exc.strerror}") from None
        if token:
            return token
        raise TokenError(f"the token file {path} is empty")
    raise TokenError(NO_TOKEN)


async def _run(settings: Settings, token: str, *, dev_guild: int | None, force_sync: bool) -> None:
    from bot.app import create_bot

    bot = create_bot(settings, dev_guild=dev_guild)
    if force_sync:
        bot.sync_commands = False
        orig = bot.setup_hook

        async def setup_hook() -> None:
            await orig()
            await bot.sync_tree(force=True)

        bot.setup_hook = setup_hook  # type: ignore[method-assign]
    async with bot:
        await bot.start(token)


def serve(settings: Settings, *, dev_guild: int | None = None, force_sync: bool = False) -> int:
    token = read_token(settings)
    discord.utils.setup_logging(level=logging.INFO, root=False)
    try:
        asyncio.run(_run(settings, token, dev_guild=dev_guild, force_sync=force_sync))
    except discord.LoginFailure:
        raise TokenError("Discord rejected the token; reset it in the developer portal and try again") from None
    except discord.PrivilegedIntentsRequired:
        raise TokenError("enable the Message Content intent for the bot in the developer portal") from None
    except KeyboardInterrupt:
        pass
    return 0
