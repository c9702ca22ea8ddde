"""Backfill a column's archive into the corpus: `corpus.crawl.Backfill` on the event loop,
deduplicating, storing and embedding each batch in a thread.

Articles a backfill brings belong to its `owners` (the server that asked, or SHARED for the
operator). One already stored (by another server's backfill, or a feed) is not fetched
again, but its new owner is added at the end, as is the original of a republished copy: the
server sees everything its backfill covered either way.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractResolver

from bot.web_ingest import ArticleSink
from corpus.crawl import Backfill, CrawlConfig, CrawlEvent, CrawlProgress, CrawlState, run_backfill
from corpus.dedup import DuplicateIndex
from corpus.feeds import Fetched
from corpus.fetch import FetchConfig, Fetcher, ValidatorCache
from corpus.model import article_id_for_url

if TYPE_CHECKING:
    import aiohttp

    from bot.settings import Settings
    from corpus.store import Store

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    url: str
    progress: CrawlProgress = field(default_factory=CrawlProgress)
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    granted: int = 0  # articles already stored that the owners gained
    embedded: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def crawl_config(s: "Settings", *, max_pages: int | None = None, since: str | None = None,
                 newest_first: bool = False) -> CrawlConfig:
    return CrawlConfig(max_pages=max_pages or s.crawl_max_pages, since=since, newest_first=newest_first,
                       delay=s.crawl_delay)


async def backfill(service: ArticleSink, url: str, session: "aiohttp.ClientSession | None" = None, *,
                   config: CrawlConfig, fetch: FetchConfig, owners: Iterable[int], batch: int = 10,
                   on_event: Callable[[CrawlEvent], None] | None = None,
                   resolver: AbstractResolver | None = None) -> BackfillReport:
    """One backfill run; raises CrawlError when the start URL cannot be crawled at all."""
    start = time.perf_counter()
    owners = tuple(owners)
    report = BackfillReport(url)
    store = await asyncio.to_thread(lambda: service.store)
    state, cache = await asyncio.to_thread(lambda: (CrawlState(store), ValidatorCache(store)))

    async def commit(fetched: list[Fetched]) -> list[str]:
        return await asyncio.to_thread(commit_batch, service, url, fetched, owners, report)

    async with Fetcher(fetch, session=session, cache=cache, resolver=resolver) as fetcher:
        run = Backfill(url, fetcher, state, config)

        def seen(event: CrawlEvent) -> None:
            if event.kind == "failed" and event.failure is not None:
                report.errors.append(event.failure.line())
            if on_event is not None:
                on_event(event)

        report.progress = await run_backfill(run, commit, batch=batch, on_event=seen)
    report.granted += await asyncio.to_thread(grant_crawled, store, url, owners, config.since_date())
    report.elapsed_s = time.perf_counter() - start
    log.info("backfill %s: %d added, %d updated, %d copies, %d granted, %d errors in %.1fs", url, report.added,
             report.updated, report.duplicates, report.granted, len(report.errors), report.elapsed_s)
    return report


def commit_batch(service: ArticleSink, origin: str, fetched: list[Fetched], owners: tuple[int, ...],
                 report: BackfillReport) -> list[str]:
    """Store one batch (blocking): copies of stored stories are left out (their originals go to
    `owners`), the rest stored and embedded. Returns each article's outcome for `settle`."""
    with service.write_lock():
        service.ensure_ready()  # the bundled corpus first, so copies of it are seen as such
        store = service.store
        articles = [f.article for f in fetched if f.article is not None]
        outcomes = DuplicateIndex(store).filter_articles(articles)
        kept, originals, result = [], [], []
        for outcome in outcomes:
            if outcome.is_copy:
                report.duplicates += 1
                originals.append(outcome.duplicate_of)
                result.append("duplicate")
            else:
                kept.append(outcome.article)
                result.append("stored")
        if kept:
            ingest = service.ingest_articles(kept, origin=origin, owners=owners)
            src = ingest.sources[0]
            report.added += src.added
            report.updated += src.updated
            report.embedded += ingest.embedded
            report.errors.extend(src.errors)
        if originals:
            report.granted += sum(store.grant_urls(originals, owner) for owner in owners)
    return result


def grant_crawled(store: "Store", crawl_url: str, owners: Iterable[int], since: str | None = None) -> int:
    """Every stored article this crawl has listed (fetched this run or earlier, by any server,
    or stored by a feed) goes to `owners`; with `since`, only those published since then."""
    ids = [r["article_id"] or article_id_for_url(r["url"]) for r in store.execute(
        "SELECT url, article_id FROM crawl_articles WHERE crawl = ? AND state != 'duplicate'", (crawl_url,))]
    if since:
        present: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            present += [r[0] for r in store.execute(
                f"SELECT id FROM articles WHERE id IN ({','.join('?' * len(chunk))}) AND published >= ?",
                [*chunk, since])]
        ids = present
    return sum(store.grant(ids, owner) for owner in owners)
