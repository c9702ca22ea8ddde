"""Size limits on what one source may put in the store, and the cut that enforces them.

A roundup is a few thousand words. A file with an 85,000-word paragraph (or a 60 MB JSON
line) is a mistake or an attack; left unbounded it becomes hundreds of passages that take
minutes to embed and crowd every answer. So articles are cut, with a one-line note, and
files above a size are refused before they are read.
"""
from __future__ import annotations

from dataclasses import replace

from .model import Article, Section

# Characters of paragraph text kept per article: about 30,000 English words, 10x a long roundup.
MAX_ARTICLE_CHARS = 200_000
# Bytes a source file may have; bigger files are refused unread.
MAX_FILE_BYTES = 64 * 1024 * 1024
# Characters per passage: a passage over this (one "word" of 5,000 letters) is cut hard.
MAX_PASSAGE_CHARS = 3_000
# Passages per article, a backstop for text of many tiny words that stays under MAX_ARTICLE_CHARS.
MAX_PASSAGES = 400


def article_chars(article: Article) -> int:
    return sum(len(p) for s in article.sections for p in s.paragraphs)


def _cut_at_space(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at the last space if one is near the end."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return head[:space].rstrip() if space > limit * 0.8 else head


def cap_article(article: Article, max_chars: int = MAX_ARTICLE_CHARS) -> tuple[Article, str | None]:
    """`article` with paragraph text cut to `max_chars` in order, and a note if anything was cut.

    Whole paragraphs are kept until the budget runs out; the one that crosses it is cut at a
    space. The note is one line, for the read result's errors.
    """
    total = article_chars(article)
    if total <= max_chars:
        return article, None
    budget = max_chars
    sections: list[Section] = []
    for section in article.sections:
        kept: list[str] = []
        for paragraph in section.paragraphs:
            if budget <= 0:
                break
            text = _cut_at_space(paragraph, budget)
            if text:
                kept.append(text)
            budget -= len(paragraph)
        if kept:
            sections.append(Section(section.heading, tuple(kept)))
        if budget <= 0:
            break
    note = (f"article {article.id!r} cut to its first {max_chars:,} characters of {total:,} "
            f"(the limit per article); the rest is not stored")
    return replace(article, sections=tuple(sections)), note
