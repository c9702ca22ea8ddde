"""`roundup-bot serve`: run the Discord bot with a token from the environment or a file."""
from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import discord

from bot.settings import Settings
from corpus.errors import RoundupError
from corpus.text import fix_surrogates, strip_controls

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
        token = _token_from_file(path)
        if token:
            return token
        raise TokenError(f"the token file {shown(path)} is empty")
    raise TokenError(NO_TOKEN)


MAX_TOKEN_FILE = 4096


def shown(path: str) -> str:
    """A path fit for one line of a terminal (no escape sequences, no broken characters)."""
    return strip_controls(fix_surrogates(str(path)), keep="")


def _token_from_file(path: str) -> str:
    """The token in a file: printable ASCII, one line; anything else is one clear error."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise TokenError(f"cannot read the token file {shown(path)}: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_FILE:
        raise TokenError(f"the token file {shown(path)} is too large to hold a Discord token")
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenError(f"the token file {shown(path)} does not hold a Discord token (binary or not ASCII)") from None
    if any(not ch.isprintable() or ch.isspace() for ch in token):
        raise TokenError(f"the token file {shown(path)} does not hold a Discord token (more than one word or "
                         "control characters)")
    return token


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
    # discord.py's lines go through the one handler the CLI set up (its own would print each twice)
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLogger().level))
    try:
        asyncio.run(_run(settings, token, dev_guild=dev_guild, force_sync=force_sync))
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError) as exc:
        raise TokenError(f"cannot reach Discord ({type(exc).__name__}: {str(exc)[:160] or 'no detail'}); "
                         "check the network and try again") from None
    except discord.GatewayNotFound:
        raise TokenError("cannot reach Discord's gateway; check the network and try again") from None
    except discord.HTTPException as exc:
        raise TokenError(f"Discord refused to start the bot (HTTP {exc.status}); try again later") from None
    except discord.LoginFailure:
        raise TokenError("Discord rejected the token; reset it in the developer portal and try again") from None
    except discord.PrivilegedIntentsRequired:
        raise TokenError("enable the Message Content intent for the bot in the developer portal") from None
    except KeyboardInterrupt:
        pass
    return 0
