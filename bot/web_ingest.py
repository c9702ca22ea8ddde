"""Ingest from the web: fetch on the event loop, then dedup, store and embed in a thread.

Each source URL (a feed or an article page) is collected by `corpus.feeds.collect`, then
committed on its own in named stages: duplicates of stored stories are left out (`dedup`), the
rest goes to the sink's `ingest_articles` (`store_kept`), the source is logged when nothing was
stored (`log_source`), and only then are feed entries marked done (`record_entries`) and
validators kept for the next conditional GET (`keep_validators`). A bad URL never stops the
others; every failure is reported per URL (in the report and in the ingest log).

Articles belong to owners (corpus.store): each URL's are its `owners` (the servers following
a feed), SHARED when none are given; the original of a republished copy goes to them too.

This module never imports the service: it writes through an `ArticleSink` (the service is one),
whose `write_lock` is the one place writes are serialised, across threads and processes.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp.abc import AbstractResolver

from bot.reports import IngestReport, SourceReport
from corpus.dedup import DuplicateIndex
from corpus.feeds import EventCallback, Fetched, FeedState, SourceResult, UrlFailure, collect
from corpus.fetch import FetchConfig, Fetcher, ValidatorCache
from corpus.model import Article
from corpus.store import SHARED, Store

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class ArticleSink(Protocol):
    """Where web articles go: the store to dedup against, and the ingest that embeds them."""

    @property
    def store(self) -> Store: ...

    def ensure_ready(self, on_progress: Progress | None = None) -> object: ...

    def ingest_articles(self, articles: list[Article], *, origin: str,
                        on_progress: Progress | None = None, owners: Iterable[int] = (SHARED,)) -> IngestReport: ...

    def write_lock(self) -> AbstractContextManager[None]:
        """Held across the duplicate check and the store, so two sources carrying the same story
        in one run (or a CLI ingest beside the bot) see each other's writes. Re-entrant."""
        ...


async def ingest_urls(sink: ArticleSink, urls: list[str], session: "aiohttp.ClientSession | None" = None,
                      *, config: FetchConfig, force: bool = False, on_event: EventCallback | None = None,
                      on_progress: Progress | None = None,
                      resolver: AbstractResolver | None = None,
                      owners: Mapping[str, Iterable[int]] | None = None) -> IngestReport:
    """`owners`: whose articles each URL's are (the servers following a feed); SHARED if not given."""
    start = time.perf_counter()
    store = await asyncio.to_thread(lambda: sink.store)
    state, cache = await asyncio.to_thread(lambda: (FeedState(store), ValidatorCache(store)))
    report = IngestReport()
    urls = list(dict.fromkeys(u.strip() for u in urls if u.strip()))

    loop = asyncio.get_running_loop()
    refresh_end = loop.time() + config.refresh_deadline if config.refresh_deadline > 0 else None

    async with Fetcher(config, session=session, cache=cache, resolver=resolver) as fetcher:
        async def one(url: str) -> tuple[SourceReport, int, int]:
            src = await collect_bounded(url, fetcher, state, config, refresh_end, force=force, on_event=on_event)
            return await asyncio.to_thread(commit_source, sink, src, state, cache, on_progress,
                                           tuple((owners or {}).get(url, (SHARED,))))

        for source, embedded, removed in await asyncio.gather(*(one(u) for u in urls)):
            report.sources.append(source)
            report.embedded += embedded
            report.removed += removed
        log.info("web ingest of %d URLs: %d HTTP requests", len(urls), fetcher.requests)
    report.elapsed_s = time.perf_counter() - start
    return report


async def collect_bounded(url: str, fetcher: Fetcher, state: FeedState, config: FetchConfig,
                          refresh_end: float | None, *, force: bool,
                          on_event: EventCallback | None) -> SourceResult:
    """`collect`, given up on at the per-source deadline or the end of the refresh, whichever comes
    first: a slow host costs at most that, and the refresh (and the write lock after it) moves on.
    Entries not stored are not marked done, so the next refresh tries them again."""
    limits = [config.source_deadline] if config.source_deadline > 0 else []
    if refresh_end is not None:
        limits.append(max(0.0, refresh_end - asyncio.get_running_loop().time()))
    limit = min(limits) if limits else None
    try:
        async with asyncio.timeout(limit):
            return await collect(url, fetcher, state, force=force, on_event=on_event)
    except TimeoutError:
        which = ("the refresh deadline" if limit is not None and limit < config.source_deadline
                 else f"the {config.source_deadline:g}s deadline per source")
        src = SourceResult(url)
        src.failures.append(UrlFailure(url, f"gave up: {which} passed", None, "timeout"))
        log.warning("%s: gave up, %s passed", url, which)
        if on_event is not None:
            on_event("done", url, src)
        return src


@dataclass
class Commit:
    """One source on its way into the store: its report, and what the stages decided."""

    src: SourceResult
    out: SourceReport
    kept: list[Article] = field(default_factory=list)
    copies: set[str] = field(default_factory=set)  # article ids skipped as republished copies
    originals: list[str] = field(default_factory=list)  # urls of the stored stories they copy
    owners: tuple[int, ...] = (SHARED,)
    embedded: int = 0
    removed: int = 0


def commit_source(sink: ArticleSink, src: SourceResult, state: FeedState, cache: ValidatorCache,
                  on_progress: Progress | None = None, owners: tuple[int, ...] = (SHARED,)
                  ) -> tuple[SourceReport, int, int]:
    """Store what one source yielded for `owners`; blocking. Returns (report, passages embedded, removed)."""
    commit = start_commit(src)
    commit.owners = owners
    with sink.write_lock():
        store = sink.store
        note_failures(commit, store, state)
        to_store = [f for f in src.fetched if f.article is not None]
        if to_store:
            sink.ensure_ready(on_progress)  # the bundled corpus first, so copies of it are seen as such
            dedup(commit, to_store, DuplicateIndex(store))
            for owner in owners:  # the story a copy repeats is one these owners now see
                store.grant_urls(commit.originals, owner)
        if commit.kept:
            store_kept(commit, sink, on_progress)
        else:  # ingest_articles logged the source otherwise
            log_source(commit, store)
        record_entries(commit, state, cache)
        keep_validators(src, cache)
    out = commit.out
    log.log(logging.WARNING if out.errors else logging.INFO,
            "%s %s: %d added, %d updated, %d unchanged, %d copies, %d errors", src.kind, src.url,
            out.added, out.updated, out.unchanged, out.duplicates, len(out.errors))
    return out, commit.embedded, commit.removed


def start_commit(src: SourceResult) -> Commit:
    out = SourceReport(src.url, kind=src.kind, http_status=src.status, notes=list(src.notes))
    out.errors.extend(f.line() for f in src.failures)
    out.unchanged = sum(1 for f in src.fetched if f.article is None)
    return Commit(src, out)


def note_failures(commit: Commit, store: Store, state: FeedState) -> None:
    """Remember the source's kind and title, and log each failed entry page on its own row."""
    src = commit.src
    if src.kind in ("feed", "page"):
        state.note_source(src.url, src.kind, src.title)
    for failure in src.failures:
        if failure.url != src.url:  # an entry's page; the source's own failure is in its row (log_source)
            store.log_ingest(failure.url, "failed", detail=failure.detail())


def dedup(commit: Commit, to_store: list[Fetched], index: DuplicateIndex) -> None:
    """Leave out republished copies of stored stories, and paragraphs already stored elsewhere."""
    out = commit.out
    outcomes = index.filter_articles([f.article for f in to_store])
    for fetched, outcome in zip(to_store, outcomes):
        if outcome.is_copy:
            commit.copies.add(fetched.article_id)
            out.duplicates += 1
            out.notes.append(f"{fetched.article.url}: a republished copy of {outcome.duplicate_of}; "
                             "not stored again")
            if outcome.duplicate_of:
                commit.originals.append(outcome.duplicate_of)
            continue
        if outcome.dropped:
            out.notes.append(f"{fetched.article.url}: {outcome.dropped} paragraphs already stored from "
                             f"{outcome.duplicate_of} left out")
        commit.kept.append(outcome.article)


def store_kept(commit: Commit, sink: ArticleSink, on_progress: Progress | None = None) -> None:
    """Store and embed the kept articles; the sink logs the source in the ingest log."""
    result = sink.ingest_articles(commit.kept, origin=commit.src.url, on_progress=on_progress, owners=commit.owners)
    stored, out = result.sources[0], commit.out
    out.added, out.updated = stored.added, stored.updated
    out.unchanged += stored.unchanged
    out.passages_added = stored.passages_added
    out.errors.extend(stored.errors)
    commit.embedded, commit.removed = result.embedded, result.removed


def log_source(commit: Commit, store: Store) -> None:
    """The source's own ingest-log row when nothing was stored (failed, unchanged or all copies)."""
    src, out = commit.src, commit.out
    own = next((f for f in src.failures if f.url == src.url), None)
    detail = own.detail() if own else "; ".join(out.notes)[:2000] or None
    store.log_ingest(src.url, out.status, skipped=out.unchanged, detail=detail)


def record_entries(commit: Commit, state: FeedState, cache: ValidatorCache) -> None:
    """Mark feed entries done (stored, duplicate or failed) and keep each page's validators."""
    src = commit.src
    for fetched in src.fetched:
        if fetched.entry is not None:
            outcome = "duplicate" if fetched.article_id in commit.copies else "stored"
            state.record(src.url, fetched.entry, outcome, fetched.article_id)
        if fetched.page is not None:
            cache.put(fetched.page.url, fetched.page.validators)
    for entry in src.failed_entries:
        state.record(src.url, entry, "failed")


def keep_validators(src: SourceResult, cache: ValidatorCache) -> None:
    """The feed's validators only once every entry is settled: an entry that failed must be
    retried next time, which a 304 for the feed would prevent."""
    if src.response is not None and src.kind == "feed":
        if src.failures:
            cache.forget(src.url)
        else:
            cache.put(src.url, src.response.validators)
