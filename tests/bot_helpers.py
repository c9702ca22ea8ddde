"""Helpers shared by the SimCord bot tests: embeds printed as text, buttons, limits."""
from __future__ import annotations

import re

import discord

from bot import render


def show(embed: discord.Embed, label: str = "") -> str:
    """Print the embed the way a member reads it (pytest -s or a failing test shows the transcript)."""
    text = render.embed_text(embed)
    print(f"\n----- {label} -----\n{text}\n-----")
    return text


def assert_fits(embed: discord.Embed) -> None:
    assert len(embed) <= 6000
    assert len(embed.title or "") <= 256 and len(embed.description or "") <= 4096
    assert len(embed.fields) <= 25
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
    assert len((embed.footer.text if embed.footer else None) or "") <= 2048


def buttons(message) -> list[dict]:
    out = []
    for row in message.components:
        children = row["components"] if isinstance(row, dict) else [c.to_dict() for c in row.children]
        out.extend(children)
    return out


def button_id(message, *, label=None, emoji=None) -> str:
    for b in buttons(message):
        if (label and b.get("label") == label) or (emoji and (b.get("emoji") or {}).get("name") == emoji):
            return b["custom_id"]
    raise AssertionError(f"no button {label or emoji}")


def sources(embed: discord.Embed) -> list[str]:
    return next(f for f in embed.fields if f.name == "Sources").value.splitlines()


def cited_numbers(text: str) -> list[int]:
    """Citation markers like `[2]` in the answer text (not the `**[n]**` of the Sources list)."""
    return [int(n) for n in re.findall(r"(?<!\*)\[(\d+)\](?!\()", text)]


def last_with_embed(channel) -> discord.Message:
    return next(m for m in reversed(channel.history()) if m.embeds)


def callbacks(env) -> list[int]:
    return [r.json["type"] for r in env.http_requests
            if r.method == "POST" and r.path.endswith("/callback") and isinstance(r.json, dict)]
