"""Answers and corpus facts as Discord embeds, always inside Discord's limits."""
from __future__ import annotations

import discord

from digests.summary import Digest
from digests.trend import Trend
from embeddings.search import Answer, Hit

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
TOTAL_MAX = 6000
MAX_FIELDS = 25

COLOUR = discord.Colour(0xE8513A)  # roundup red
NOT_FOUND_COLOUR = discord.Colour(0x8A8F98)


def clip(text: str, limit: int) -> str:
    """Cut at a word boundary and mark the cut; never exceed `limit` characters."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def md(text: str) -> str:
    """Corpus text shown verbatim: Markdown in it must not restyle the answer."""
    return discord.utils.escape_markdown(text)


def link(title: str, url: str, limit: int = 200) -> str:
    """A masked link whose preview does not unfurl; brackets in the title would break the mask."""
    label = clip(title.replace("[", "(").replace("]", ")"), limit)
    return f"[{md(label)}](<{url}>)"


def _where(hit: Hit) -> str:
    p = hit.passage
    return " · ".join(x for x in (p.published, md(p.section) if p.section else None) if x)


def emphasise(hit: Hit, limit: int) -> str:
    """The passage with its best-matching sentence in bold; a long one keeps that sentence whole."""
    text, best = hit.passage.text, hit.best_sentence
    if not best or best not in text:
        return md(clip(text, limit))
    before, after = text.split(best, 1)
    if len(text) + 4 <= limit:
        return f"{md(before)}**{md(best)}**{md(after)}"
    lead = "… " if before.strip() else ""
    room = limit - len(best) - 6 - len(lead)
    if room < 0:
        return f"**{md(clip(best, limit - 4))}**"
    tail = " " + md(clip(after, room)) if after.strip() and room > 20 else ""
    return f"{lead}**{md(best)}**{tail}"


def answer_embed(answer: Answer, *, shown: int = 3, follow_up_of: str | None = None) -> discord.Embed:
    hits = answer.hits[:shown]
    best = hits[0]
    embed = discord.Embed(title=clip(answer.question, TITLE_MAX), colour=COLOUR)
    p = best.passage
    body = emphasise(best, 3000)
    embed.description = clip(
        f"{body}\n\n**[1]** {link(p.title, p.url)}\n{_where(best)}", DESCRIPTION_MAX
    )
    for n, hit in enumerate(hits[1:], 2):
        q = hit.passage
        value = f"{emphasise(hit, 700)}\n**[{n}]** {link(q.title, q.url)} · {_where(hit)}"
        embed.add_field(name=clip(f"{n}. {q.section or q.title}", FIELD_NAME_MAX), value=clip(value, FIELD_VALUE_MAX),
                        inline=False)
    sources = "\n".join(f"**[{n}]** {link(h.passage.title, h.passage.url, 120)} ({h.passage.published})"
                        for n, h in enumerate(hits, 1))
    embed.add_field(name="Sources", value=clip(sources, FIELD_VALUE_MAX), inline=False)
    footer = f"{len(hits)} passage{'s' if len(hits) != 1 else ''} from the roundups · {answer.elapsed_ms:.0f} ms"
    if answer.confidence is not None:
        footer += f" · confidence {answer.confidence:.0%}"
    if follow_up_of:
        footer = clip(f"Follow-up to: {follow_up_of}", 200) + " · " + footer
    embed.set_footer(text=clip(footer, FOOTER_MAX))
    return fit(embed)


def more_embed(answer: Answer, *, start: int) -> discord.Embed:
    embed = discord.Embed(title=clip(f"More on: {answer.question}", TITLE_MAX), colour=COLOUR)
    lines = []
    for n, hit in enumerate(answer.hits, start):
        q = hit.passage
        lines.append(f"**{n}.** {emphasise(hit, 500)}\n{link(q.title, q.url)} · {_where(hit)}")
    embed.description = clip("\n\n".join(lines) or "No more passages above the relevance floor.", DESCRIPTION_MAX)
    return fit(embed)


def not_found_embed(answer: Answer, *, first: str | None, last: str | None) -> discord.Embed:
    """An honest 'not in the roundups', pointing at what the corpus does cover nearby."""
    embed = discord.Embed(title=clip(answer.question, TITLE_MAX), colour=NOT_FOUND_COLOUR)
    lines = ["That isn't in the roundups I have, so I won't guess."]
    lines += [f"_{md(note)}_" for note in answer.notes[:2]]  # e.g. "nothing from November 2020"
    near = []
    seen: set[str] = set()
    for hit in answer.hits:
        label = hit.passage.section or hit.passage.title
        if label in seen:
            continue
        seen.add(label)
        near.append(f"• {md(label)} ({hit.passage.published})")
        if len(near) == 3:
            break
    if near:
        lines.append("\nThe nearest topics they do cover:\n" + "\n".join(near))
    if first and last:
        lines.append(f"\nThe roundups cover **{first}** to **{last}**. Try `/sources` to see what's there.")
    embed.description = clip("\n".join(lines), DESCRIPTION_MAX)
    return fit(embed)


def fit(embed: discord.Embed) -> discord.Embed:
    """Trim fields, then the description, until the whole embed is within 6,000 characters."""
    while len(embed) > TOTAL_MAX and len(embed.fields) > 1:
        embed.remove_field(len(embed.fields) - 2)  # keep the Sources field, drop the last passage
    if len(embed) > TOTAL_MAX and embed.description:
        over = len(embed) - TOTAL_MAX
        embed.description = clip(embed.description, max(100, len(embed.description) - over - 10))
    return embed


# -- digests and trends -------------------------------------------------------------------------

DIGEST_FOOTER = "Every line is quoted from the roundups it cites."


def _digest_title(digest: Digest) -> str:
    about = f" on {digest.topic}" if digest.topic else ""
    return clip(f"Digest{about}: {digest.period.label}", TITLE_MAX)


def digest_embed(digest: Digest) -> discord.Embed:
    """One embed: an item per field (bold label, its sentences, its sources), inside every limit.

    Each item gets an equal share of the 6,000-character budget; sources are kept whole and the
    sentences are clipped at a word if an item is too long for its share.
    """
    span = f"{digest.period.since} to {digest.period.until}"
    if digest.empty:
        embed = discord.Embed(title=_digest_title(digest), colour=NOT_FOUND_COLOUR,
                              description=clip(md(digest.note or "Nothing to show."), DESCRIPTION_MAX))
        return fit(embed)
    embed = discord.Embed(title=_digest_title(digest), colour=COLOUR)
    embed.description = clip(
        f"{span} · {digest.passages} passage{'s' * (digest.passages != 1)} from "
        f"{digest.articles} roundup{'s' * (digest.articles != 1)}", DESCRIPTION_MAX)
    embed.set_footer(text=DIGEST_FOOTER)
    items = digest.items[:MAX_FIELDS]
    share = (TOTAL_MAX - len(embed) - 50) // max(1, len(items))
    for n, item in enumerate(items, 1):
        name = clip(f"{n}. {item.label}", FIELD_NAME_MAX)
        room = min(FIELD_VALUE_MAX, share - len(name))
        sources = " · ".join(f"{link(s.title, s.url, 70)} ({s.published})" for s in item.sources)
        sources = clip(sources, max(60, room // 2))
        text = md(" ".join(item.sentences))
        body = clip(text, max(40, room - len(sources) - 1))
        embed.add_field(name=name, value=clip(f"{body}\n{sources}", FIELD_VALUE_MAX), inline=False)
    return fit(embed)


def trend_embed(trend: Trend, *, image: str | None = None) -> discord.Embed:
    """The chart as the embed image, the numbers and the peak months' headlines as text."""
    verb = "mention" if trend.mode == "name" else "are about"
    embed = discord.Embed(title=clip(f"Trend: {trend.name}", TITLE_MAX), colour=COLOUR)
    active = sum(1 for _, n in trend.months if n)
    lines = [f"{trend.total} roundup passage{'s' * (trend.total != 1)} {verb} it, in {active} of "
             f"{len(trend.months)} months."]
    for p in trend.peaks:
        heads = "\n".join(f"• {link(h.title, h.url, 90)} ({h.published})" for h in p.headlines)
        lines.append(f"\n**{p.month}** ({p.count}):\n{heads}")
    embed.description = clip("\n".join(lines), DESCRIPTION_MAX)
    if image:
        embed.set_image(url=f"attachment://{image}")
    return fit(embed)
