"""Answers and corpus facts as Discord embeds, always inside Discord's limits."""
from __future__ import annotations

import re

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


_USER_MENTION_RE = re.compile(r"<@[!&]?\d+>|<#\d+>|<a?:\w+:\d+>|<t:\d+(?::\w)?>|<id:\w+>")
_MASKED_LINK_RE = re.compile(r"\[([^\]]*)\]\(\s*<?[^)\s>]*>?(?:\s+\"[^\"]*\")?\s*\)")
_EVERYONE_RE = re.compile(r"@(everyone|here)\b")  # shown as nothing: echoing it invites copy-paste pings

QUOTE_MAX = 300  # a supporting passage is a short quote, not the whole paragraph
SOURCE_TITLE_MAX = 100


def clean_question(text: str) -> str:
    """The question as shown back: no mentions, channel links, emoji tags or masked links (their text stays)."""
    text = _MASKED_LINK_RE.sub(lambda m: m.group(1), text or "")
    text = _USER_MENTION_RE.sub(" ", text)
    text = _EVERYONE_RE.sub(" ", text)
    return " ".join(text.split()) or "(your question)"


def _same_article_keys(hit: Hit) -> tuple:
    p = hit.passage
    return (("id", p.article_id), ("url", p.url.strip().rstrip("/").lower()),
            ("title", " ".join(p.title.casefold().split()), p.published))


def citations(hits: list[Hit]) -> tuple[list[int], list[Hit]]:
    """Each hit's citation number, and the articles in order of first use: one number per article.

    Two stored copies of one roundup (same link, or same title and date) are one article to a reader.
    """
    numbers: dict[tuple, int] = {}
    articles: list[Hit] = []
    out = []
    for hit in hits:
        keys = _same_article_keys(hit)
        n = next((numbers[k] for k in keys if k in numbers), None)
        if n is None:
            articles.append(hit)
            n = len(articles)
        for k in keys:
            numbers.setdefault(k, n)
        out.append(n)
    return out, articles


def source_line(n: int, hit: Hit, title_max: int = SOURCE_TITLE_MAX) -> str:
    """`[n] Title · outlet · date`, the title a link that does not unfurl."""
    p = hit.passage
    title = link(p.title, p.url, title_max) if len(p.url) <= 300 else md(clip(p.title, title_max))
    return " · ".join(x for x in (f"**[{n}]** {title}", md(clip(p.source, 60)) if p.source else None,
                                  p.published) if x)


def sources_value(articles: list[Hit]) -> str:
    """The Sources field; titles shrink until every article fits in one field."""
    for title_max in (SOURCE_TITLE_MAX, 60, 30):
        value = "\n".join(source_line(n, h, title_max) for n, h in enumerate(articles, 1))
        if len(value) <= FIELD_VALUE_MAX:
            return value
    return clip("\n".join(f"**[{n}]** {md(clip(h.passage.title, 40))} · {h.passage.published}"
                          for n, h in enumerate(articles, 1)), FIELD_VALUE_MAX)


def quote(hit: Hit, limit: int = QUOTE_MAX) -> str:
    """A supporting passage as a short quote: its best sentence, or the start of the passage."""
    text = hit.best_sentence or hit.passage.text
    return md(clip(" ".join(text.split()), limit))


def tidy_notes(notes: list[str]) -> list[str]:
    """Each note once, and in "read 'a' as A, 'a' as A" each reading once (a name typed 300 times)."""
    out = []
    for note in dict.fromkeys(notes):
        if note.startswith("read "):
            note = "read " + ", ".join(dict.fromkeys(re.split(r", (?=')", note[5:])))
        out.append(note)
    return out


def answer_footer(answer: Answer, *, articles: int, passages: int, follow_up_of: str | None = None) -> str:
    """Small print: how the question was read, what the answer rests on."""
    parts = [f"{passages} passage{'s' * (passages != 1)} from {articles} roundup{'s' * (articles != 1)}"
             f" · {answer.elapsed_ms:.0f} ms"]
    if answer.confidence is not None:
        parts[0] += f" · confidence {answer.confidence:.0%}"
    if answer.notes:
        parts.insert(0, clip("; ".join(tidy_notes(answer.notes)), 300))
    if follow_up_of:
        parts.insert(0, clip(f"Follow-up to: {clean_question(follow_up_of)}", 200))
    return clip("\n".join(parts), FOOTER_MAX)


def answer_embed(answer: Answer, *, shown: int = 3, follow_up_of: str | None = None) -> discord.Embed:
    """The bold answer sentence, up to two short supporting quotes, then each article once."""
    hits = answer.hits[:shown]
    numbers, articles = citations(hits)
    embed = discord.Embed(title=clip(clean_question(answer.question), TITLE_MAX), colour=COLOUR)
    best = hits[0]
    lead = best.best_sentence or best.passage.text
    lines = [f"**{md(clip(' '.join(lead.split()), 1500))}** [{numbers[0]}]"]
    for n, hit in zip(numbers[1:], hits[1:]):
        lines.append(f"> {quote(hit)} [{n}]")
    embed.description = clip("\n\n".join(lines), DESCRIPTION_MAX)
    embed.add_field(name="Sources", value=sources_value(articles), inline=False)
    embed.set_footer(text=answer_footer(answer, articles=len(articles), passages=len(hits),
                                        follow_up_of=follow_up_of))
    return fit(embed)


def embed_text(embed: discord.Embed) -> str:
    """An embed as plain text, the way a member reads it (tests print it in their transcript)."""
    out = []
    if embed.title:
        out.append(f"# {embed.title}")
    if embed.description:
        out.append(embed.description)
    for f in embed.fields:
        out.append(f"## {f.name}\n{f.value}")
    if embed.footer and embed.footer.text:
        out.append(f"-- {embed.footer.text}")
    return "\n".join(out)


def more_embed(answer: Answer, *, start: int) -> discord.Embed:
    embed = discord.Embed(title=clip(f"More on: {clean_question(answer.question)}", TITLE_MAX), colour=COLOUR)
    lines = []
    for n, hit in enumerate(answer.hits, start):
        q = hit.passage
        lines.append(f"**{n}.** {emphasise(hit, 500)}\n{link(q.title, q.url)} · {_where(hit)}")
    embed.description = clip("\n\n".join(lines) or "No more passages above the relevance floor.", DESCRIPTION_MAX)
    return fit(embed)


def not_found_embed(answer: Answer, *, first: str | None, last: str | None) -> discord.Embed:
    """An honest 'not in the roundups', pointing at what the corpus does cover nearby."""
    embed = discord.Embed(title=clip(clean_question(answer.question), TITLE_MAX), colour=NOT_FOUND_COLOUR)
    lines = ["That isn't in the roundups I have, so I won't guess."]
    lines += [f"_{md(clip(note, 300))}_" for note in tidy_notes(answer.notes)[:2]]  # e.g. "nothing from November 2020"
    near = []
    seen: set[str] = set()
    for hit in answer.hits:
        label = hit.passage.section or hit.passage.title
        if label in seen:
            continue
        seen.add(label)
        near.append(f"• {md(clip(label, 100))} ({hit.passage.published})")
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
    """A period named by its dates gets them once, in the title ("the week 2021-09-13 to
    2021-09-19 (latest)"); one named by words ("2019", "all roundups") keeps them for the description."""
    about = f" on {digest.topic}" if digest.topic else ""
    return clip(f"Digest{about}: {_period_name(digest)}", TITLE_MAX)


def _period_name(digest: Digest) -> str:
    period = digest.period
    return period.heading if period.since in period.label or period.until in period.label else period.label


def digest_embed(digest: Digest) -> discord.Embed:
    """One embed: an item per field (bold label, its sentences, its sources), inside every limit.

    Each item gets an equal share of the 6,000-character budget; sources are kept whole and the
    sentences are clipped at a word if an item is too long for its share.
    """
    dated = digest.period.since in _period_name(digest)
    span = "" if dated else f"{digest.period.since} to {digest.period.until} · "
    if digest.empty:
        embed = discord.Embed(title=_digest_title(digest), colour=NOT_FOUND_COLOUR,
                              description=clip(md(digest.note or "Nothing to show."), DESCRIPTION_MAX))
        return fit(embed)
    embed = discord.Embed(title=_digest_title(digest), colour=COLOUR)
    embed.description = clip(
        f"{span}{digest.passages} passage{'s' * (digest.passages != 1)} from "
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


# -- timelines --------------------------------------------------------------------------------

def timeline_line(entry, sentence_max: int, title_max: int) -> str:
    return f"**{entry.published}** {md(clip(entry.sentence, sentence_max))} · {link(entry.title, entry.url, title_max)}"


def timeline_embed(timeline, page: int = 0) -> discord.Embed:
    """One line per roundup (date, the sentence about the name, its link), ten to a page."""
    span = " ".join(x for x in (f"from {timeline.since}" if timeline.since else "",
                                f"to {timeline.until}" if timeline.until else "") if x)
    embed = discord.Embed(title=clip(f"Timeline: {clean_question(timeline.name)}", TITLE_MAX), colour=COLOUR)
    if not timeline.entries:
        embed.colour = NOT_FOUND_COLOUR
        lines = [f"The roundups I have don't mention **{md(clip(clean_question(timeline.name), 100))}**"
                 f"{' ' + span if span else ''}."]
        if timeline.suggestions:
            lines.append("Names they do cover: " + ", ".join(f"`{md(s)}`" for s in timeline.suggestions))
        embed.description = clip("\n".join(lines), DESCRIPTION_MAX)
        return fit(embed)
    entries = timeline.page(page)
    for sentence_max, title_max in ((300, 80), (200, 60), (120, 40), (60, 25)):
        description = "\n".join(timeline_line(e, sentence_max, title_max) for e in entries)
        if len(description) <= DESCRIPTION_MAX - 100:
            break
    embed.description = clip(description, DESCRIPTION_MAX)
    n = len(timeline.entries)
    notes = [f"{n} roundup{'s' * (n != 1)} mention it{' ' + span if span else ''}"]
    if timeline.pages > 1:
        notes.insert(0, f"Page {page + 1}/{timeline.pages}")
    if timeline.asked.lower() != timeline.name.lower():
        notes.append(f"read {clean_question(timeline.asked)!r} as {clean_question(timeline.name)}")
    embed.set_footer(text=clip(" · ".join(notes), FOOTER_MAX))
    return fit(embed)


# -- /stats -----------------------------------------------------------------------------------

def stats_embed(stats, *, days: int = 14) -> discord.Embed:
    """Questions, answered share, votes with reasons, and what the roundups don't cover yet."""
    from bot.state import REASONS

    embed = discord.Embed(title="Questions and feedback", colour=COLOUR)
    share = f"{stats.answered_share:.0%}" if stats.answered_share is not None else "n/a"
    conf = f"{stats.median_confidence:.2f}" if stats.median_confidence is not None else "n/a"
    embed.description = (f"**{stats.asked}** questions, **{stats.answered}** answered ({share}); "
                         f"median confidence {conf}.")
    if stats.days:
        lines = [f"`{d}` {a} asked, {n} answered" for d, a, n in stats.days[-days:]]
        embed.add_field(name="Per day", value=clip("\n".join(lines), FIELD_VALUE_MAX), inline=False)
    votes = [f"👍 {stats.up} · 👎 {stats.down}"]
    if stats.reasons:
        votes.append(", ".join(f"{REASONS.get(k, k)}: {v}" for k, v in stats.reasons.most_common()))
    votes += [f"> {md(clip(clean_question(d), 150))}" for d in stats.details[-3:]]
    embed.add_field(name="Feedback", value=clip("\n".join(votes), FIELD_VALUE_MAX), inline=False)
    if stats.gaps:
        lines = [f"• {md(clip(clean_question(g.question), 150))}" + (f" (×{g.count})" if g.count > 1 else "")
                 for g in stats.gaps]
        embed.add_field(name="Not covered yet (unanswered questions)", value=clip("\n".join(lines), FIELD_VALUE_MAX),
                        inline=False)
    return fit(embed)
