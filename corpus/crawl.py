"""Backfill a column's archive: walk its listing pages or sitemaps, then fetch its article pages.

A feed only carries its last few items; a column's history sits behind its listing pages
(`/tag/china-roundup/page/7/`) or in the site's sitemaps. `Backfill` finds the article links
(corpus.listing, corpus.sitemaps) and fetches each article page through the guarded `Fetcher`,
extracting it with the same path as feed entries (`corpus.feeds.page_article`).

Polite: robots.txt is obeyed for every URL (a disallowed URL is never requested), one request
per `delay` seconds per host (longer if robots.txt asks), at most `max_pages` listing/sitemap
pages, paging stops once a listing page lists only articles older than `since`.

Resumable: what was found and what is done lives in SQLite (`CrawlState`). The caller stores
each article it is given and then calls `Backfill.settle`; an article already stored (or
settled) is never fetched again, an interrupted run picks up the articles still pending, and
listing pages are revalidated with conditional GET. A completed backfill, run again, stops
paging at the first page that lists nothing new.

Usage (the bot layer):

    backfill = Backfill(url, fetcher, CrawlState(store), CrawlConfig(since="2020-01-01"))
    async for event in backfill.events():
        if event.kind == "article":
            ...store event.fetched.article...
            await backfill.settle(event)           # or settle(event, "duplicate")
        show(event.progress)

or `await run_backfill(backfill, commit, batch=10, on_event=show)` to store in batches.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from .errors import RoundupError
from .feeds import Fetched, UrlFailure, looks_like_feed, page_article
from .urls import canonical_url
from .fetch import FetchError, FetchResult, Fetcher
from .listing import Listed, ListingPage, parse_listing, same_host, under_root
from .model import article_id_for_url
from .politeness import Pacer, RobotsRules
from .readers import CorpusError
from .sitemaps import SitemapError, looks_like_sitemap, parse_sitemap

if TYPE_CHECKING:
    from corpus.store import Store

log = logging.getLogger(__name__)

MAX_ARTICLE_FAILURES = 3  # an article page that failed this many runs is left alone


class CrawlError(RoundupError):
    """The start URL cannot be crawled at all; one line."""


@dataclass(frozen=True)
class CrawlConfig:
    max_pages: int = 50  # listing or sitemap pages requested per run
    max_articles: int | None = None  # article pages fetched per run (None: no limit)
    since: str | None = None  # YYYY-MM-DD: older articles are neither fetched nor paged to
    newest_first: bool = False  # default: oldest to newest
    delay: float = 1.0  # seconds between requests to one host (a robots.txt Crawl-delay may raise it)
    max_crawl_delay: float = 60.0
    max_sitemap_urls: int = 50_000
    force: bool = False  # no conditional GET; articles already done are still skipped if stored

    def __post_init__(self) -> None:
        if self.since:
            try:
                date.fromisoformat(self.since)
            except ValueError:
                raise CrawlError(f"since must be a date like 2020-01-31, not {self.since!r}") from None
        if self.max_pages < 1:
            raise CrawlError("max_pages must be at least 1")

    def since_date(self) -> str | None:
        return date.fromisoformat(self.since).isoformat() if self.since else None


@dataclass
class CrawlProgress:
    pages: int = 0  # listing/sitemap pages requested (304s included)
    pages_unchanged: int = 0  # of those, 304 Not Modified
    found: int = 0  # distinct article URLs found this run
    fetched: int = 0  # article pages fetched and extracted
    skipped: int = 0  # already stored or done
    old: int = 0  # older than `since`
    blocked: int = 0  # disallowed by robots.txt
    offsite: int = 0  # links to other hosts, left out
    failed: int = 0
    requests: int = 0  # HTTP requests sent by the fetcher (robots.txt and redirects included)


@dataclass
class CrawlEvent:
    """kind: page | article | failed | blocked | note | done."""

    kind: str
    url: str
    progress: CrawlProgress
    detail: str | None = None
    fetched: Fetched | None = None  # kind == "article": the page and its Article
    failure: UrlFailure | None = None  # kind == "failed"


def permanent(failure: UrlFailure) -> bool:
    """A failure that another try will not fix (a 404, a redirect loop, a page with no text):
    recorded as "gone" and not retried. Timeouts, 5xx, 408/429 and dropped connections are."""
    if failure.kind in ("redirects", "blocked", "too_large", "content"):
        return True
    return failure.kind == "http" and failure.status is not None and 400 <= failure.status < 500 \
        and failure.status not in (408, 429)


# --- state --------------------------------------------------------------------------------

class CrawlState:
    """Listing pages and article URLs per backfill (keyed by its start URL); blocking, use a thread."""

    DDL = """
    CREATE TABLE IF NOT EXISTS crawls (
        url TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE IF NOT EXISTS crawl_pages (
        crawl TEXT NOT NULL,
        url TEXT NOT NULL,
        kind TEXT NOT NULL,
        next_urls TEXT NOT NULL DEFAULT '[]',
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (crawl, url)
    );
    CREATE TABLE IF NOT EXISTS crawl_articles (
        crawl TEXT NOT NULL,
        url TEXT NOT NULL,
        page_url TEXT NOT NULL,
        seq INTEGER NOT NULL,
        listed_date TEXT,
        article_id TEXT,
        state TEXT NOT NULL DEFAULT 'pending',
        failures INTEGER NOT NULL DEFAULT 0,
        detail TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (crawl, url)
    );
    CREATE INDEX IF NOT EXISTS crawl_articles_page ON crawl_articles(crawl, page_url, seq);
    """

    def __init__(self, store: "Store"):
        self.store = store
        store.migrate("crawl", (self.DDL,))  # append a step to change these tables

    def crawl(self, url: str) -> dict | None:
        rows = self.store.execute("SELECT kind, complete, finished_at FROM crawls WHERE url = ?", (url,))
        return dict(rows[0]) if rows else None

    def begin(self, url: str, kind: str) -> None:
        from corpus.store import utcnow

        with self.store.transaction() as conn:
            # not complete until this run says so: a run killed half way must not leave a gap
            conn.execute("""INSERT INTO crawls(url, kind, started_at) VALUES (?, ?, ?)
                            ON CONFLICT(url) DO UPDATE SET kind=excluded.kind, started_at=excluded.started_at,
                              complete=0""", (url, kind, utcnow()))

    def finish_discovery(self, url: str, complete: bool) -> None:
        from corpus.store import utcnow

        with self.store.transaction() as conn:
            conn.execute("UPDATE crawls SET complete = ?, finished_at = ? WHERE url = ?",
                         (int(complete), utcnow(), url))

    def page(self, crawl: str, url: str) -> tuple[list[str], list[Listed]] | None:
        """(next URLs, articles) recorded for a page, or None if it was never read."""
        rows = self.store.execute("SELECT next_urls FROM crawl_pages WHERE crawl = ? AND url = ?", (crawl, url))
        if not rows:
            return None
        items = self.store.execute("SELECT url, listed_date FROM crawl_articles WHERE crawl = ? AND page_url = ? "
                                   "ORDER BY seq", (crawl, url))
        return json.loads(rows[0]["next_urls"]), [Listed(r["url"], r["listed_date"]) for r in items]

    def save_page(self, crawl: str, url: str, kind: str, next_urls: list[str], items: list[Listed]) -> int:
        """Record a page and what it lists; returns how many of its articles were not known before."""
        from corpus.store import utcnow

        now = utcnow()
        with self.store.transaction() as conn:
            conn.execute("""INSERT INTO crawl_pages(crawl, url, kind, next_urls, fetched_at) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT(crawl, url) DO UPDATE SET kind=excluded.kind, next_urls=excluded.next_urls,
                              fetched_at=excluded.fetched_at""", (crawl, url, kind, json.dumps(next_urls), now))
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM crawl_articles WHERE crawl = ?",
                               (crawl,)).fetchone()[0]
            new = 0
            for item in items:
                known = conn.execute("SELECT 1 FROM crawl_articles WHERE crawl = ? AND url = ?",
                                     (crawl, item.url)).fetchone()
                if known:
                    conn.execute("""UPDATE crawl_articles SET page_url = ?, listed_date = COALESCE(?, listed_date)
                                    WHERE crawl = ? AND url = ?""", (url, item.date, crawl, item.url))
                    continue
                seq += 1
                new += 1
                conn.execute("""INSERT INTO crawl_articles(crawl, url, page_url, seq, listed_date, updated_at)
                                VALUES (?, ?, ?, ?, ?, ?)""", (crawl, item.url, url, seq, item.date, now))
        return new

    def rows(self, crawl: str) -> dict[str, dict]:
        return {r["url"]: dict(r) for r in self.store.execute(
            "SELECT url, seq, listed_date, article_id, state, failures FROM crawl_articles WHERE crawl = ?",
            (crawl,))}

    def stored_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r["id"] for r in self.store.execute(f"SELECT id FROM articles WHERE id IN ({marks})", chunk))
        return found

    def record(self, crawl: str, url: str, outcome: str, *, article_id: str | None = None,
               detail: str | None = None, listed_date: str | None = None) -> None:
        """outcome: stored | duplicate | failed (counts up; retried next run) | gone (not retried) |
        pending (e.g. found to be older than `since`)."""
        from corpus.store import utcnow

        with self.store.transaction() as conn:
            conn.execute(
                """UPDATE crawl_articles SET state = ?, article_id = COALESCE(?, article_id), detail = ?,
                     failures = CASE WHEN ? = 'failed' THEN failures + 1 ELSE failures END,
                     listed_date = COALESCE(?, listed_date), updated_at = ? WHERE crawl = ? AND url = ?""",
                (outcome, article_id, detail, outcome, listed_date, utcnow(), crawl, url))


# --- the crawl ----------------------------------------------------------------------------

class Backfill:
    """One backfill run from a listing page or sitemap URL; see the module docstring.

    `clock` and `sleep` drive the per-host pace (tests pass fakes to check Crawl-delay).
    """

    def __init__(self, url: str, fetcher: Fetcher, state: CrawlState, config: CrawlConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep):
        self.url = canonical_url(url)
        self.fetcher = fetcher
        self.state = state
        self.config = config or CrawlConfig()
        self.pacer = Pacer(self.config.delay, clock=clock, sleep=sleep)
        self.robots = RobotsRules(fetcher, self.pacer, max_crawl_delay=self.config.max_crawl_delay)
        self.progress = CrawlProgress()
        self.kind = "unknown"  # listing | sitemap
        self.complete = False  # every listing/sitemap page was read (this run or, for 304s, before)
        self._found: dict[str, Listed] = {}
        self._requests0 = fetcher.requests
        self._was_complete = False
        self.site = self.url  # where the start URL landed after redirects: the host and path kept to

    def _event(self, kind: str, url: str, **kw) -> CrawlEvent:
        self.progress.requests = self.fetcher.requests - self._requests0
        return CrawlEvent(kind, url, replace(self.progress), **kw)

    def _blocked(self, url: str) -> CrawlEvent:
        self.progress.blocked += 1
        return self._event("blocked", url, detail="disallowed by robots.txt")

    def _page_failed(self, url: str, exc: FetchError) -> CrawlEvent:
        self.progress.failed += 1
        return self._event("failed", url, detail=exc.reason, failure=UrlFailure(url, exc.reason, exc.status, exc.kind))

    def _page_limit(self, url: str) -> CrawlEvent:
        return self._event("note", url, detail=f"stopped at the {self.config.max_pages}-page limit")

    async def _open(self, url: str, res: FetchResult | None, load) -> tuple[object, CrawlEvent | None]:
        """One listing or sitemap page through `load`: (what it holds, None), or (None, why not)."""
        if res is None and not await self.robots.allowed(url):
            return None, self._blocked(url)
        try:
            return await load(url, res), None
        except FetchError as exc:
            return None, self._page_failed(url, exc)

    async def _get(self, url: str, *, conditional: bool) -> FetchResult:
        async with self.pacer.slot(url):
            return await self.fetcher.fetch(url, conditional=conditional and not self.config.force)

    async def events(self) -> AsyncIterator[CrawlEvent]:
        """Pages walked, then articles fetched, then one "done"; CrawlError if the start URL is unusable."""
        first = await self._start()
        walk = self._walk_sitemaps(first) if self.kind == "sitemap" else self._walk_listing(first)
        async for event in walk:
            yield event
        await asyncio.to_thread(self.state.finish_discovery, self.url, self.complete)
        for note in self.robots.notes:
            yield self._event("note", self.url, detail=note)
        async for event in self._fetch_articles():
            yield event
        p = self.progress
        yield self._event("done", self.url, detail=(
            f"{p.pages} pages ({p.pages_unchanged} unchanged), {p.found} articles found, {p.fetched} fetched, "
            f"{p.skipped} already done, {p.old} older than since, {p.blocked} disallowed, {p.failed} failed"))

    async def settle(self, event: CrawlEvent, outcome: str = "stored") -> None:
        """Call once an article event's article is stored ("stored") or found to be a copy ("duplicate")."""
        fetched = event.fetched
        await asyncio.to_thread(self.state.record, self.url, event.url, outcome,
                                article_id=fetched.article_id if fetched else None)
        if outcome == "stored" and fetched is not None and fetched.page is not None:
            await self.fetcher.remember(fetched.page)

    async def _start(self) -> FetchResult:
        host = self.url.split("/", 3)[2] if "//" in self.url else self.url
        if not await self.robots.allowed(self.url):
            raise CrawlError(f"robots.txt of {host} disallows {self.url}"
                             + (f" ({self.robots.notes[-1]})" if self.robots.notes else ""))
        prior = await asyncio.to_thread(self.state.crawl, self.url)
        self._was_complete = bool(prior and prior["complete"])
        try:
            res = await self._get(self.url, conditional=prior is not None)
            if res.not_modified and prior is not None:
                self.kind = prior["kind"]
            else:
                if res.not_modified:
                    res = await self._get(self.url, conditional=False)
                self.kind = self._kind_of(res)
            self.site = canonical_url(res.final_url)
        except FetchError as exc:
            raise CrawlError(f"{self.url}: {exc.reason}") from None
        await asyncio.to_thread(self.state.begin, self.url, self.kind)
        return res

    @staticmethod
    def _kind_of(res: FetchResult) -> str:
        if looks_like_sitemap(res.body):
            return "sitemap"
        if looks_like_feed(res.body, res.content_type):
            raise CrawlError(f"{res.url} is a feed, which only carries its latest items; give the column's "
                             "listing page or the site's sitemap to backfill, or follow the feed instead")
        if "html" in res.content_type or b"<html" in res.body[:4096].lower():
            return "listing"
        raise CrawlError(f"{res.url} is neither a listing page nor a sitemap ({res.content_type or 'unknown type'})")

    def _add_found(self, items: tuple[Listed, ...] | list[Listed]) -> None:
        for item in items:
            if item.url not in self._found:
                self._found[item.url] = item
        self.progress.found = len(self._found)

    # -- listing pages -------------------------------------------------------------------

    async def _revalidate(self, url: str, res: FetchResult | None) -> tuple[FetchResult, tuple | None]:
        """A listing or sitemap page fetched conditionally: on 304, what the state kept of it."""
        if res is None:
            res = await self._get(url, conditional=True)
        self.progress.pages += 1
        if res.not_modified:
            known = await asyncio.to_thread(self.state.page, self.url, url)
            if known is not None:
                self.progress.pages_unchanged += 1
                return res, known
            res = await self._get(url, conditional=False)
        return res, None

    async def _listing(self, url: str, res: FetchResult | None) -> tuple[ListingPage, int]:
        """One listing page (replayed from the state on 304) and how many of its articles are new."""
        res, known = await self._revalidate(url, res)
        if known is not None:
            next_urls, items = known
            return ListingPage(tuple(items), next_urls[0] if next_urls else None), 0
        if not same_host(res.final_url, self.site):
            raise FetchError(f"redirected off-site to {res.final_url}", url=url)
        page = await asyncio.to_thread(parse_listing, res.text(), res.final_url)
        if page.next_url and not under_root(page.next_url, self.site):
            page = replace(page, next_url=None)
        new = await asyncio.to_thread(self.state.save_page, self.url, url, "listing",
                                      [page.next_url] if page.next_url else [], list(page.items))
        await self.fetcher.remember(res)
        return page, new

    async def _walk_listing(self, first: FetchResult) -> AsyncIterator[CrawlEvent]:
        since = self.config.since_date()
        url: str | None = self.url
        res: FetchResult | None = first
        seen: set[str] = set()
        while url is not None and url not in seen:
            if len(seen) >= self.config.max_pages:
                yield self._page_limit(url)
                return
            seen.add(url)
            loaded, problem = await self._open(url, res, self._listing)
            if problem is not None:
                yield problem
                return
            page, new = loaded
            res = None
            self.progress.offsite += page.offsite
            self._add_found(page.items)
            yield self._event("page", url, detail=f"{len(page.items)} articles listed, {new} new")
            if since and page.items and all(i.date and i.date < since for i in page.items):
                yield self._event("note", url, detail=f"every article on this page is older than {since}; "
                                                      "not paging further")
                return
            if self._was_complete and new == 0:
                self.complete = True  # everything further back was read by an earlier run
                return
            url = page.next_url
        self.complete = True

    # -- sitemaps ------------------------------------------------------------------------

    async def _sitemap(self, url: str, res: FetchResult | None) -> tuple[list[str], list[Listed]]:
        res, known = await self._revalidate(url, res)
        if known is not None:
            return known
        try:
            sm = await asyncio.to_thread(parse_sitemap, res.body, res.final_url,
                                         max_urls=self.config.max_sitemap_urls)
        except SitemapError as exc:
            raise FetchError(str(exc), url=url) from None
        if sm.truncated:
            log.warning("%s lists more than %d URLs; the rest are left out", url, self.config.max_sitemap_urls)
        children = [u for u in sm.children if same_host(u, self.site)]
        items = []
        for item in sm.items:
            if same_host(item.url, self.site):
                items.append(Listed(canonical_url(item.url), item.date))
            else:
                self.progress.offsite += 1
        await asyncio.to_thread(self.state.save_page, self.url, url, sm.kind, children, items)
        await self.fetcher.remember(res)
        return children, items

    async def _walk_sitemaps(self, first: FetchResult) -> AsyncIterator[CrawlEvent]:
        queue: list[tuple[str, FetchResult | None]] = [(self.url, first)]
        seen = {self.url}
        while queue:
            url, res = queue.pop(0)
            if self.progress.pages >= self.config.max_pages:
                yield self._page_limit(url)
                return
            loaded, problem = await self._open(url, res, self._sitemap)
            if problem is not None:
                yield problem
                continue
            children, items = loaded
            for child in children:
                if child not in seen:
                    seen.add(child)
                    queue.append((child, None))
            self._add_found(items)
            detail = f"{len(children)} sitemaps" if children else f"{len(items)} pages"
            yield self._event("page", url, detail=detail)
        self.complete = True

    # -- articles ------------------------------------------------------------------------

    def _ordered(self, rows: dict[str, dict]) -> list[str]:
        """This run's finds in listing order, then earlier runs' leftovers; by date when every
        URL has one (sitemaps: undated count as oldest); oldest first unless `newest_first`."""
        order = [u for u in self._found if u in rows]
        order += sorted((u for u in rows if u not in self._found), key=lambda u: rows[u]["seq"])
        dates = {u: rows[u]["listed_date"] for u in order}
        if self.kind == "sitemap" or all(dates.values()):
            order.sort(key=lambda u: dates[u] or "", reverse=True)
        return order if self.config.newest_first else order[::-1]

    async def _fetch_articles(self) -> AsyncIterator[CrawlEvent]:
        rows = await asyncio.to_thread(self.state.rows, self.url)
        ids = {u: article_id_for_url(u) for u in rows}
        present = await asyncio.to_thread(
            self.state.stored_ids, sorted(set(ids.values()) | {r["article_id"] for r in rows.values() if r["article_id"]}))
        since = self.config.since_date()
        budget = self.config.max_articles
        for url in self._ordered(rows):
            row = rows[url]
            if ids[url] in present or (row["state"] == "stored" and row["article_id"] in present) \
                    or row["state"] in ("duplicate", "gone") \
                    or (row["state"] == "failed" and row["failures"] >= MAX_ARTICLE_FAILURES):
                self.progress.skipped += 1
                continue
            if since and row["listed_date"] and row["listed_date"] < since:
                self.progress.old += 1
                continue
            if budget is not None and budget <= 0:
                yield self._event("note", url, detail=f"stopped at the {self.config.max_articles}-article limit")
                return
            if not await self.robots.allowed(url):
                yield self._blocked(url)
                continue
            if budget is not None:
                budget -= 1
            event = await self._article(url, since)
            if event is not None:
                yield event

    async def _article(self, url: str, since: str | None) -> CrawlEvent | None:
        """Fetch and extract one article page: an "article" or "failed" event, None if older than `since`."""
        try:
            res = await self._get(url, conditional=False)
            if not same_host(res.final_url, self.site):
                raise CorpusError(f"redirected off-site to {res.final_url}")
            article = await asyncio.to_thread(page_article, res.text(), url=canonical_url(res.final_url))
        except FetchError as exc:
            failure = UrlFailure(url, exc.reason, exc.status, exc.kind)
        except CorpusError as exc:
            failure = UrlFailure(url, str(exc), None, "content")
        else:
            if since and article.published and not article.date_estimated and article.published < since:
                await asyncio.to_thread(self.state.record, self.url, url, "pending", listed_date=article.published)
                self.progress.old += 1
                return None
            self.progress.fetched += 1
            return self._event("article", url, fetched=Fetched(article, article.id, page=res))
        self.progress.failed += 1
        outcome = "gone" if permanent(failure) else "failed"
        await asyncio.to_thread(self.state.record, self.url, url, outcome, detail=failure.reason)
        return self._event("failed", url, detail=failure.reason, failure=failure)


Commit = Callable[[list[Fetched]], Awaitable[list[str]]]


async def run_backfill(backfill: Backfill, commit: Commit, *, batch: int = 10,
                       on_event: Callable[[CrawlEvent], None] | None = None) -> CrawlProgress:
    """Drive a backfill for a caller that stores in batches.

    `commit` stores a batch of fetched articles and returns each one's outcome ("stored" or
    "duplicate"); only then are they settled, so an interruption loses nothing and repeats
    nothing already stored. `on_event` sees every event (for a progress display); an error in
    it is logged, never raised. Returns the last progress counts.
    """
    pending: list[CrawlEvent] = []

    async def flush() -> None:
        if pending:
            outcomes = await commit([e.fetched for e in pending if e.fetched is not None])
            for event, outcome in zip(pending, outcomes):
                await backfill.settle(event, outcome)
            pending.clear()

    progress = backfill.progress
    async for event in backfill.events():
        if event.kind == "article":
            pending.append(event)
            if len(pending) >= batch:
                await flush()
        elif event.kind == "done":
            await flush()
        if on_event is not None:
            try:
                on_event(event)
            except Exception:  # a progress display must never break a backfill
                log.exception("backfill progress callback failed")
        progress = event.progress
    await flush()
    return progress
