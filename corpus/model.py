"""The corpus's value types: articles as read, passages as stored and cited."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    heading: str | None
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Article:
    """One roundup as read from a source, before cleaning and splitting."""

    id: str
    title: str
    url: str
    published: str | None  # YYYY-MM-DD
    sections: tuple[Section, ...]
    source: str | None = None
    date_estimated: bool = False

    def paragraph_count(self) -> int:
        return sum(len(s.paragraphs) for s in self.sections)


@dataclass(frozen=True)
class Passage:
    """A citable paragraph (or part of one) with everything needed to show its source."""

    id: int
    article_id: str
    position: int
    section: str | None
    text: str
    title: str
    url: str
    published: str | None
    source: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def hex_id(self) -> str:
        return f"{self.id:016x}"


def passage_id(article_key: str, text: str) -> int:
    """Stable 63-bit id from the article and the passage text.

    Position is left out on purpose: a paragraph inserted earlier in an article must not
    change (and so re-embed) every paragraph after it. 63 bits keep it a positive int64,
    which is what both SQLite rowids and FAISS ids are.
    """
    digest = hashlib.blake2b(f"{article_key}\x1f{text}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def article_id_for_url(url: str) -> str:
    return "u-" + hashlib.blake2b(url.encode("utf-8"), digest_size=8).hexdigest()
