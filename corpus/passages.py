"""Split a cleaned article into citable passages of a size the embedding model can take.

A passage is normally one paragraph: roundup paragraphs are each one news item, which is
the unit an answer cites. Very short paragraphs carry too little context to retrieve well
and are merged with a neighbour; very long ones would be truncated by the model's
256-word-piece window, so they are cut at sentence boundaries.
"""
from __future__ import annotations

import logging
import math

from .limits import MAX_PASSAGE_CHARS, MAX_PASSAGES
from .model import Article, Passage, passage_id
from .text import sentence_spans, word_count, word_spans

log = logging.getLogger(__name__)


def _merge_short(paragraphs: tuple[str, ...], min_words: int) -> list[str]:
    """Merge paragraphs under `min_words` into the next one (the last into the previous).

    A section whose only paragraph is short keeps it as it is.
    """
    merged: list[str] = []
    pending: str | None = None
    for p in paragraphs:
        text = p if pending is None else f"{pending} {p}"
        pending = None
        if word_count(text) < min_words:
            pending = text
        else:
            merged.append(text)
    if pending is not None:
        if merged:
            merged[-1] = f"{merged[-1]} {pending}"
        else:
            merged.append(pending)
    return merged


def _greedy_pack(sizes: list[int], cap: int) -> list[int]:
    """End indices of chunks filled greedily up to `cap` words each."""
    ends: list[int] = []
    total = 0
    for i, n in enumerate(sizes):
        if total and total + n > cap:
            ends.append(i)
            total = 0
        total += n
    ends.append(len(sizes))
    return ends


def _word_pieces(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Spans cutting one over-long sentence text[start:end] at word boundaries, balanced."""
    spans = word_spans(text[start:end])
    size = math.ceil(len(spans) / math.ceil(len(spans) / max_words))
    return [
        (start + group[0][0], start + group[-1][1])
        for group in (spans[k : k + size] for k in range(0, len(spans), size))
    ]


def _split_long(text: str, max_words: int) -> list[str]:
    """Cut a paragraph over `max_words` at sentence boundaries into balanced chunks.

    The chunk count is the fewest that fit; among those, the largest chunk is made as
    small as possible (binary search on the cap), so no chunk is a one-sentence stub.
    Chunks are slices of the original text, so CJK text gains no spaces.
    """
    if word_count(text) <= max_words:
        return [text]
    units: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        if word_count(text[a:b]) > max_words:
            units.extend(_word_pieces(text, a, b, max_words))
        else:
            units.append((a, b))
    sizes = [word_count(text[a:b]) for a, b in units]
    chunks_needed = len(_greedy_pack(sizes, max_words))
    lo, hi = max(max(sizes), math.ceil(sum(sizes) / chunks_needed)), max_words
    while lo < hi:
        mid = (lo + hi) // 2
        if len(_greedy_pack(sizes, mid)) <= chunks_needed:
            hi = mid
        else:
            lo = mid + 1
    chunks = []
    start = 0
    for end in _greedy_pack(sizes, lo):
        chunks.append(text[units[start][0] : units[end - 1][1]])
        start = end
    return chunks


def _cap_chars(chunks: list[str], max_chars: int) -> list[str]:
    """Chunks over `max_chars` (a "word" thousands of letters long) cut hard into pieces."""
    if all(len(c) <= max_chars for c in chunks):
        return chunks
    return [c[k : k + max_chars] for c in chunks for k in range(0, len(c), max_chars)]


def split_article(article: Article, *, min_words: int = 12, max_words: int = 180,
                  max_chars: int = MAX_PASSAGE_CHARS, max_passages: int = MAX_PASSAGES) -> list[Passage]:
    """Passages of `article` in order, positions 0..n-1, ids stable under edits elsewhere.

    Ids hash only the article id and the passage text, so inserting a paragraph does not
    change its neighbours' ids. Identical passage texts within an article are kept once.
    No passage is longer than `max_chars`, and only the first `max_passages` are returned
    (readers cap article size first, with a note; this is the backstop).
    """
    if max_words < 1 or min_words < 0 or min_words > max_words:
        raise ValueError(f"need 0 <= min_words <= max_words and max_words >= 1, got {min_words}, {max_words}")
    passages: list[Passage] = []
    seen: set[int] = set()
    for section in article.sections:
        for paragraph in _merge_short(section.paragraphs, min_words):
            for text in _cap_chars(_split_long(paragraph, max_words), max_chars):
                if len(passages) >= max_passages:
                    log.warning("article %s: only its first %d passages are kept", article.id, max_passages)
                    return passages
                pid = passage_id(article.id, text)
                if pid in seen:
                    continue
                seen.add(pid)
                passages.append(
                    Passage(
                        id=pid,
                        article_id=article.id,
                        position=len(passages),
                        section=section.heading,
                        text=text,
                        title=article.title,
                        url=article.url,
                        published=article.published,
                        source=article.source,
                    )
                )
    return passages
