"""What an ingest did, per source and in total: shared by the service, web ingest, CLI and cogs.

The status of a source ("failed" | "partial" | "ok") is decided here and nowhere else, so the
ingest log, the terminal report and the Discord embed always agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["failed", "partial", "ok"]


@dataclass
class SourceReport:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages_added: int = 0
    errors: list[str] = field(default_factory=list)
    kind: str = "file"  # file | feed | page | unknown (a URL that could not be fetched)
    http_status: int | None = None
    duplicates: int = 0  # web articles skipped as republished copies of stored ones
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Errors and nothing read at all; a source that also stored or re-read articles is partial."""
        return bool(self.errors) and not (self.added or self.updated or self.unchanged)

    @property
    def status(self) -> Status:
        if self.failed:
            return "failed"
        return "partial" if self.errors else "ok"


@dataclass
class IngestReport:
    sources: list[SourceReport] = field(default_factory=list)
    embedded: int = 0
    removed: int = 0
    elapsed_s: float = 0.0

    @property
    def errors(self) -> list[str]:
        return [e for s in self.sources for e in s.errors]

    @property
    def ok(self) -> bool:
        return not self.errors

    def totals(self) -> dict:
        return {
            "articles_added": sum(s.added for s in self.sources),
            "articles_updated": sum(s.updated for s in self.sources),
            "articles_unchanged": sum(s.unchanged for s in self.sources),
            "passages_added": sum(s.passages_added for s in self.sources),
            "passages_embedded": self.embedded,
            "duplicates_skipped": sum(s.duplicates for s in self.sources),
            "errors": len(self.errors),
        }

    @classmethod
    def merged(cls, reports: list["IngestReport"]) -> "IngestReport":
        """Several runs (files, then URLs) as one report."""
        out = cls()
        for r in reports:
            out.sources.extend(r.sources)
            out.embedded += r.embedded
            out.removed += r.removed
            out.elapsed_s += r.elapsed_s
        return out


@dataclass
class RemovalReport:
    """What `remove` matched and did (or, in a dry run, would do)."""

    articles: list[dict]  # id, title, url, published, source, passages, owners
    dry_run: bool = False
    guild: int | None = None
    deleted: int = 0  # articles gone from the store (the rest only lost this server's claim)
    passages: int = 0
    vectors_removed: int = 0

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def removal_row(r) -> dict:
    """One `Store.find_articles` row as a report entry."""
    owners = sorted(int(o) for o in (r["owners"] or "").split(",") if o)
    return {"id": r["id"], "title": r["title"], "url": r["url"], "published": r["published"],
            "source": r["source"], "passages": r["passages"], "owners": owners}
