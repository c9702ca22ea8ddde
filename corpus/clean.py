"""Strip what republished pages add around a roundup, so only the article's prose is indexed.

Scraped and republished copies end in comment forms, share bars and "Source link" lines,
and are often cut off mid-sentence. Left in, these become passages that match every
query about "sources" or "comments" and get cited as if they were news.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace

from .model import Article, Section, article_id_for_url
from .text import fix_surrogates, normalize_text, sentence_spans, strip_controls
from .urls import strip_tracking

log = logging.getLogger(__name__)

# Longest line (in characters) that can still be furniture. Patterns with a free-text tail
# ("Tags: ...", "Read more: <headline>") would otherwise swallow real prose.
MAX_FURNITURE_CHARS = 160

_SOCIAL = r"(?:facebook|twitter|x|linkedin|whatsapp|telegram|reddit|pinterest|tumblr|email|e-mail|pocket|flipboard|messenger|print)"

_FURNITURE_PATTERNS = [
    # source / attribution lines of republishers
    r"source link",
    r"(?:original|article) source",
    r"read (?:the )?(?:original|full) (?:article|story)(?: here| at .*| on .*)?",
    # comment forms
    r"please enter your (?:comment|name|email(?: address)?)(?: here)?!?",
    r"you have entered an incorrect email address!?",
    r"leave a (?:reply|comment)(?: cancel reply)?",
    r"cancel reply",
    r"(?:post|submit) (?:a )?comment",
    r"(?:no|\d+) comments?(?: yet)?",
    r"comments?(?: \(\d+\))?",
    r"save my name,? email,? and website in this browser for the next time i comment\.?",
    r"notify me of (?:follow-up comments|new posts|new comments)(?: by email| via email)?\.?",
    r"your email address will not be published\.?(?: required fields are marked \*?)?",
    r"required fields are marked \*?",
    r"this site uses akismet to reduce spam\..*",
    r"log ?in to (?:reply|comment)",
    # sharing
    r"share(?: this| this article| this story| this post| the article)?:?",
    rf"share (?:on|via|to) {_SOCIAL}",
    rf"share on {_SOCIAL}(?: share on {_SOCIAL})*",
    rf"click to (?:share|email|print)(?: on {_SOCIAL}| this)?(?: \(opens in new window\))?",
    # a bare row of share buttons; two or more, since one name can be a real heading
    rf"{_SOCIAL}(?:[ ,|/]+{_SOCIAL}){{1,12}}",
    r"(?:tweet|pin it|email|print|like this:?|like loading\.*|loading\.*)",
    # navigation and recommendations
    r"read more(?::? .{0,120})?",
    r"continue reading(?:.{0,80})?",
    r"(?:see|view) (?:more|all)(?: .{0,60})?",
    r"(?:related|related posts|related articles|related stories|related news|related content)(?::.*)?",
    r"you (?:may|might) (?:also )?(?:like|enjoy)(?::.*)?",
    r"(?:more|also) (?:from|on) (?:this author|our site|the web|this site).*",
    r"also read:.*",
    r"recommended(?: for you| stories| articles)?:?",
    r"(?:popular|trending|latest|recent) (?:posts|articles|stories|news)(?::.*)?",
    r"(?:previous|next) (?:article|post|story)(?::.*)?",
    r"back to top",
    r"skip to (?:main )?content",
    # subscriptions and ads
    r"(?:subscribe|sign up)(?: now| here| today)?"
    r"(?: (?:to|for) (?:our|the|a|this) .{0,40}?(?:newsletter|mailing list|updates|alerts|digest)s?)?[.!]?",
    r"follow us(?: on .*)?",
    r"advertisement|advertising|sponsored(?: content)?|ad|ads by .*",
    # tags, categories, credits, legal
    r"(?:tags?|tagged(?: with)?|filed under|categories|category|posted in|topics?):.*",
    r"(?:image|photo|picture|featured image) credits?:.*",
    r"(?:\(c\)|©|copyright)\s*(?:©\s*)?(?:\d{4}|by\b).*",
    r".{0,80}all rights reserved\.?",
    r"[\u0394\u2206]",  # the hidden anti-spam field of WordPress comment forms
]
_FURNITURE_RE = re.compile(
    r"(?:" + "|".join(f"(?:{p})" for p in _FURNITURE_PATTERNS) + r")", re.IGNORECASE
)
_TRIM_RE = re.compile(r"^[\s\-\u2013\u2014|•·*>#]+|[\s\-\u2013\u2014|•·*]+$")
_HAS_WORD_RE = re.compile(r"\w")

# A trailing fragment: text cut off with an ellipsis, maybe followed by closing punctuation.
_ELLIPSIS_END_RE = re.compile(r"(?:\.\.\.|\u2026|\[\.\.\.\]|\[\u2026\])[\s\"')\]]*$")


def is_furniture(line: str) -> bool:
    """True if a whole (short) line is page furniture rather than article prose.

    Patterns must match the entire line, so prose that merely mentions "read more" or a
    source is kept. Lines with no letters or digits at all (separators, "Δ") count too.
    """
    text = normalize_text(line)
    if not text:
        return False
    if not _HAS_WORD_RE.search(text):
        return True
    if len(text) > MAX_FURNITURE_CHARS:
        return False
    text = _TRIM_RE.sub("", text)
    return bool(_FURNITURE_RE.fullmatch(text))


def _clean_paragraph(paragraph: str) -> str:
    """Drop furniture lines inside a paragraph, then normalise what is left."""
    lines = paragraph.splitlines() or [paragraph]
    kept = [ln for ln in lines if ln.strip() and not is_furniture(ln)]
    return normalize_text(" ".join(kept))


def _trim_trailing_fragment(paragraph: str) -> str:
    """Cut a final sentence that stops in an ellipsis; '' if the whole paragraph is one."""
    if not _ELLIPSIS_END_RE.search(paragraph):
        return paragraph
    spans = sentence_spans(paragraph)
    if len(spans) <= 1:
        return ""
    return paragraph[: spans[-2][1]]


def _clean_field(value: str) -> str:
    """An id or url without controls, escape sequences or lone surrogates (but not normalised)."""
    return strip_controls(fix_surrogates(value), keep="").strip()


def _cleaned_sections(article: Article) -> list[tuple[str | None, list[str]]]:
    """Normalised sections; furniture headings dropped (their prose joins the previous section)."""
    sections: list[tuple[str | None, list[str]]] = []
    for section in article.sections:
        heading = normalize_text(section.heading) if section.heading else None
        paragraphs = [p for p in (_clean_paragraph(p) for p in section.paragraphs) if p]
        if heading and is_furniture(heading):
            # "Related posts", "Leave a Reply"... : not a real section. Keep any prose under
            # it with the previous section rather than lose it.
            log.debug("dropping furniture heading %r in %s", heading, article.id)
            if sections:
                sections[-1][1].extend(paragraphs)
                continue
            heading = None
        sections.append((heading or None, paragraphs))
    return sections


def _trim_ending(sections: list[tuple[str | None, list[str]]], article_id: str) -> None:
    """The cut-off fragment can only be at the very end of the article."""
    while sections and not sections[-1][1]:
        sections.pop()
    if sections:
        paragraphs = sections[-1][1]
        trimmed = _trim_trailing_fragment(paragraphs[-1])
        if trimmed != paragraphs[-1]:
            log.debug("trimmed trailing fragment in %s", article_id)
            if trimmed:
                paragraphs[-1] = trimmed
            else:
                paragraphs.pop()


def _unique_sections(sections: list[tuple[str | None, list[str]]], title: str) -> list[Section]:
    """Repeated paragraphs dropped across the whole article, case-insensitively."""
    seen: set[str] = set()
    out: list[Section] = []
    for heading, paragraphs in sections:
        kept = []
        for p in paragraphs:
            key = p.casefold()
            if key in seen:
                continue
            seen.add(key)
            kept.append(p)
        if not kept:
            continue
        if not out and heading and heading.casefold() == title.casefold():
            heading = None  # a page's H1 repeated as the first section's heading
        out.append(Section(heading=heading, paragraphs=tuple(kept)))
    return out


def clean_article(article: Article) -> Article:
    """Remove furniture, a cut-off ending, empty and repeated paragraphs; normalise text.

    Every stored field passes through here, so control characters and escape sequences go
    too (`normalize_text` for text, `strip_controls` for the id and url).

    Duplicates are compared case-insensitively across the whole article, because
    republishers repeat the lede or a pull quote.
    """
    sections = _cleaned_sections(article)
    _trim_ending(sections, article.id)
    title = normalize_text(article.title)
    url = strip_tracking(_clean_field(article.url))
    out = _unique_sections(sections, title)
    return replace(
        article,
        id=_clean_field(article.id) or article_id_for_url(url),
        url=url,
        title=title,
        source=normalize_text(article.source) if article.source else article.source,
        sections=tuple(out),
    )
