"""Ingest from the web: fetch on the event loop, then dedup, store and embed in a thread.

Each source URL (a feed or an article page) is collected by `corpus.feeds.collect`, then
committed on its own: duplicates of stored stories are left out, the rest goes through
`RoundupService.ingest_articles`, and only then are feed entries marked done and validators
kept for the next conditional GET. A bad URL never stops the others; every failure is
reported per URL (in the report and in the ingest log).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractResolver

from bot.settings import Settings
from corpus.dedup import DuplicateIndex
from corpus.feeds import EventCallback, FeedState, SourceResult, collect
from corpus.fetch import FetchConfig, Fetcher, ValidatorCache
from corpus.store import SHARED

if TYPE_CHECKING:
    import aiohttp

    from bot.service import IngestReport, RoundupService, SourceReport

log = logging.getLogger(__name__)

# One commit at a time in this process: the duplicate check and the store must see each other's
# writes, or two feeds carrying the same story in one run would both store it.
_COMMIT_LOCK = threading.Lock()


def fetch_config(settings: Settings) -> FetchConfig:
    return FetchConfig(
        user_agent=settings.user_agent, max_body_bytes=settings.max_body_bytes,
        connect_timeout=min(settings.fetch_connect_timeout, settings.fetch_timeout),
        total_timeout=settings.fetch_timeout, retries=settings.fetch_retries, backoff=settings.fetch_backoff,
        backoff_max=settings.fetch_backoff_max, retry_after_max=settings.fetch_retry_after_max,
        concurrency=settings.fetch_concurrency, per_host=settings.fetch_per_host, keepalive=settings.fetch_keepalive,
        allow_private=settings.allow_private_urls, allowed_hosts=frozenset(settings.allowed_private_hosts),
    )


async def ingest_urls(service: "RoundupService", urls: list[str], session: "aiohttp.ClientSession | None" = None,
                      *, force: bool = False, on_event: EventCallback | None = None,
                      on_progress: Callable[[int, int], None] | None = None,
                      resolver: AbstractResolver | None = None,
                      owners: Mapping[str, Iterable[int]] | None = None) -> "IngestReport":
    """`owners`: whose articles each URL's are (the servers following a feed); SHARED if not given."""
    from bot.service import IngestReport

    start = time.perf_counter()
    store = await asyncio.to_thread(lambda: service.store)
    state, cache = await asyncio.to_thread(lambda: (FeedState(store), ValidatorCache(store)))
    report = IngestReport()
    urls = list(dict.fromkeys(u.strip() for u in urls if u.strip()))

    async with Fetcher(fetch_config(service.settings), session=session, cache=cache, resolver=resolver) as fetcher:
        async def one(url: str) -> tuple["SourceReport", int, int]:
            src = await collect(url, fetcher, state, force=force, on_event=on_event)
            return await asyncio.to_thread(commit_source, service, src, state, cache, on_progress,
                                           tuple((owners or {}).get(url, (SHARED,))))

        for source, embedded, removed in await asyncio.gather(*(one(u) for u in urls)):
            report.sources.append(source)
            report.embedded += embedded
            report.removed += removed
        log.info("web ingest of %d URLs: %d HTTP requests", len(urls), fetcher.requests)
    report.elapsed_s = time.perf_counter() - start
    return report


def commit_source(service: "RoundupService", src: SourceResult, state: FeedState, cache: ValidatorCache,
                  on_progress: Callable[[int, int], None] | None = None,
                  owners: tuple[int, ...] = (SHARED,)) -> tuple["SourceReport", int, int]:
    """Store what one source yielded for `owners`; blocking. Returns (report, passages embedded,
    removed). The original of a republished copy goes to `owners` too, so they see the story."""
    from bot.service import SourceReport

    with _COMMIT_LOCK:
        store = service.store
        out = SourceReport(src.url, kind=src.kind, http_status=src.status, notes=list(src.notes))
        if src.kind in ("feed", "page"):
            state.note_source(src.url, src.kind, src.title)
        for failure in src.failures:
            out.errors.append(failure.line())
            if failure.url != src.url:  # an entry's page; the source's own failure is in its row below
                store.log_ingest(failure.url, "failed", detail=failure.detail())
        out.unchanged = sum(1 for f in src.fetched if f.article is None)

        to_store = [f for f in src.fetched if f.article is not None]
        embedded = removed = 0
        copies: set[str] = set()
        kept: list = []
        if to_store:
            service.ensure_ready(on_progress)  # the bundled corpus first, so copies of it are seen as such
            outcomes = DuplicateIndex(store).filter_articles([f.article for f in to_store])
            for fetched, outcome in zip(to_store, outcomes):
                if outcome.is_copy:
                    copies.add(fetched.article_id)
                    out.duplicates += 1
                    out.notes.append(f"{fetched.article.url}: a republished copy of {outcome.duplicate_of}; "
                                     "not stored again")
                    for owner in owners:
                        store.grant_urls([outcome.duplicate_of], owner)
                    continue
                if outcome.dropped:
                    out.notes.append(f"{fetched.article.url}: {outcome.dropped} paragraphs already stored from "
                                     f"{outcome.duplicate_of} left out")
                kept.append(outcome.article)
            if kept:
                result = service.ingest_articles(kept, origin=src.url, on_progress=on_progress, owners=owners)
                stored = result.sources[0]
                out.added, out.updated = stored.added, stored.updated
                out.unchanged += stored.unchanged
                out.passages_added = stored.passages_added
                out.errors.extend(stored.errors)
                embedded, removed = result.embedded, result.removed
        if not kept:  # ingest_articles logged the source otherwise
            status = "failed" if out.failed else ("partial" if out.errors else "ok")
            own = next((f for f in src.failures if f.url == src.url), None)
            detail = own.detail() if own else "; ".join(out.notes)[:2000] or None
            store.log_ingest(src.url, status, skipped=out.unchanged, detail=detail)

        for fetched in src.fetched:
            if fetched.entry is not None:
                outcome_name = "duplicate" if fetched.article_id in copies else "stored"
                state.record(src.url, fetched.entry, outcome_name, fetched.article_id)
            if fetched.page is not None:
                cache.put(fetched.page.url, fetched.page.validators)
        for entry in src.failed_entries:
            state.record(src.url, entry, "failed")
        # The feed's validators only once every entry is settled: an entry that failed must be
        # retried next time, which a 304 for the feed would prevent.
        if src.response is not None and src.kind == "feed":
            if src.failures:
                cache.forget(src.url)
            else:
                cache.put(src.url, src.response.validators)
    level = logging.WARNING if out.errors else logging.INFO
    log.log(level, "%s %s: %d added, %d updated, %d unchanged, %d copies, %d errors", src.kind, src.url,
            out.added, out.updated, out.unchanged, out.duplicates, len(out.errors))
    return out, embedded, removed
