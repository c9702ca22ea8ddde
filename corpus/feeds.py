"""Feeds and article pages from the web: parse, follow entries to their pages, remember what was seen.

A source URL is fetched once; if it is a feed (RSS 0.9x/1.0/2.0 or Atom, parsed by feedparser)
each entry's page is fetched and read with `corpus.readers.parse_html`, the entry's title, date
and feed title serving as fallbacks; otherwise the URL is itself an article page.

Polling stays polite: the feed is a conditional GET (an unchanged feed costs one 304), and an
entry already stored is not fetched again unless its `updated` stamp changed. The caller
stores what `collect` returns and then calls `settle` so the next poll knows what is done;
nothing is marked done before it is stored.
"""
from __future__ import annotations

import asyncio
import html as html_lib
import io
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from .clean import clean_article
from .errors import RoundupError
from .fetch import FetchError, FetchResult, Fetcher
from .limits import cap_article
from .model import Article, article_id_for_url
from .readers import CorpusError, parse_html
from .text import normalize_text, word_count
from .urls import canonical_url

if TYPE_CHECKING:
    from corpus.store import Store

log = logging.getLogger(__name__)

FEED_CONTENT_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml",
    "application/x-rss+xml", "application/x-atom+xml", "application/rss", "text/rss+xml",
})
# An entry carries the "full content" of its article (usable when the page cannot be fetched)
# when its content has at least this many words: feed teasers are one or two sentences.
FULL_CONTENT_MIN_WORDS = 80
# An entry whose page failed this many polls in a row is left alone until it changes.
MAX_ENTRY_FAILURES = 3
_FEED_ROOT_RE = re.compile(rb"<(?:rss|feed|rdf:rdf)[\s>/]", re.I)
_TEASER_END_RE = re.compile(r"(?:\.\.\.|\u2026|\[\u2026\]|\[\.\.\.\]|read more|continue reading)\W*$", re.I)


class FeedError(RoundupError):
    """A feed that cannot be used; one line."""


# --- pure parsing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedEntry:
    key: str  # the entry's id (guid), else its link
    link: str | None
    title: str | None
    published: str | None  # YYYY-MM-DD
    version: str  # the entry's updated/published stamp: a change means "fetch it again"
    content_html: str | None = None


@dataclass(frozen=True)
class Feed:
    url: str
    title: str | None
    kind: str  # feedparser's version: rss20, rss10, rss091u, atom10, ...
    entries: tuple[FeedEntry, ...]
    warnings: tuple[str, ...] = ()


def looks_like_feed(body: bytes, content_type: str | None = None) -> bool:
    """A feed by its root element (sniffed: many servers send feeds as text/html or text/plain),
    or by its content type when the body does not say otherwise."""
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    m = _FEED_ROOT_RE.search(head)
    if m and b"<html" not in head[:m.start()].lower():
        return True
    if re.search(rb"<html[\s>]", head, re.I):
        return False
    return (content_type or "").lower() in FEED_CONTENT_TYPES


def _date_from_struct(value) -> str | None:
    if not value:
        return None
    try:
        return time.strftime("%Y-%m-%d", value)
    except (TypeError, ValueError):
        return None


def _entry_content(entry) -> str | None:
    """The richest body an entry has: content:encoded / atom:content, else its summary."""
    best = None
    for item in entry.get("content") or []:
        value = item.get("value") or ""
        if value and (best is None or len(value) > len(best)):
            best = value
    return best or entry.get("summary") or None


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> Feed:
    """Parse RSS 0.9x/1.0/2.0 or Atom. Not-well-formed XML is accepted when feedparser's
    lenient parser still recovers entries (as feed readers do), with a warning; FeedError if
    nothing usable is left."""
    import feedparser

    # A stream, never bytes or str: feedparser treats those as a file name or URL to open.
    d = feedparser.parse(io.BytesIO(body), response_headers={
        "content-type": content_type or "application/xml", "content-location": url})
    if not d.get("version") and not d.entries:
        if d.get("bozo") and _FEED_ROOT_RE.search(body[:4096]):
            raise FeedError(f"malformed feed XML: {_bozo_reason(d.get('bozo_exception'))}")
        raise FeedError("not a feed (no RSS or Atom root element)")
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for e in d.entries:
        link = e.get("link")
        link = urljoin(url, link.strip()) if link else None
        key = (e.get("id") or link or e.get("title") or "").strip()
        if not key or key in seen:
            continue
        seen.add(key)
        entries.append(FeedEntry(
            key=key, link=link, title=normalize_text(e.get("title") or "") or None,
            # dict.get: feedparser's own get maps a missing `updated` to `published`, with a warning
            published=_date_from_struct(e.get("published_parsed") or dict.get(e, "updated_parsed")),
            version=(dict.get(e, "updated") or e.get("published") or "").strip(),
            content_html=_entry_content(e),
        ))
    warnings: list[str] = []
    exc = d.get("bozo_exception") if d.get("bozo") else None
    if exc is not None and type(exc).__name__ not in ("CharacterEncodingOverride", "NonXMLContentType"):
        if not entries:
            raise FeedError(f"malformed feed XML: {_bozo_reason(exc)}")
        warnings.append(f"feed XML is not well-formed ({_bozo_reason(exc)}); "
                        f"used the {len(entries)} entries recovered")
    elif not entries:
        warnings.append("the feed has no entries")
    title = normalize_text(d.feed.get("title") or "") or None  # shown in the CLI and on Discord: no controls
    return Feed(url=url, title=title, kind=d.get("version") or "unknown", entries=tuple(entries),
                warnings=tuple(warnings))


def _bozo_reason(exc) -> str:
    get_message = getattr(exc, "getMessage", None)
    text = (get_message() if callable(get_message) else str(exc)) or type(exc).__name__
    line = getattr(exc, "getLineNumber", None)
    text = text.splitlines()[0]
    return f"{text} at line {line()}" if callable(line) else text


def _html_text(fragment: str) -> str:
    import lxml.html

    try:
        return lxml.html.fromstring(fragment).text_content()
    except Exception:  # lxml raises several kinds on odd fragments; they only mean "no text"
        return re.sub(r"<[^>]+>", " ", fragment)


def has_full_content(entry: FeedEntry) -> bool:
    """True if the entry's own body is the article, not a teaser pointing to it."""
    if not entry.content_html:
        return False
    text = " ".join(_html_text(entry.content_html).split())
    return word_count(text) >= FULL_CONTENT_MIN_WORDS and not _TEASER_END_RE.search(text)


def strict_page_date(html: str, url: str | None) -> str | None:
    """The publication date a page declares (meta tags, <time>, URL), never one guessed from its prose.

    trafilatura's own date search also scans the text, where "since 2009" becomes 2009-01-01.
    """
    try:
        from htmldate import find_date

        return find_date(html, url=url, extensive_search=False, original_date=True)
    except Exception:  # htmldate can raise on odd markup; a missing date is not worth a failure
        return None


def page_article(html: str, *, url: str, entry: FeedEntry | None = None, feed_title: str | None = None) -> Article:
    """An article page -> cleaned Article, cited under `url`. Dates: the page's declared date,
    else the entry's, else trafilatura's guess flagged as estimated. CorpusError if no text."""
    declared = strict_page_date(html, url) or (entry.published if entry else None)
    defaults = {"title": entry.title if entry else None, "source": feed_title}
    overrides = {"published": declared} if declared else None
    article = parse_html(html, url=url, overrides=overrides, defaults={k: v for k, v in defaults.items() if v})
    if not declared and article.published:
        article = replace(article, date_estimated=True)
    article = clean_article(article)
    if not article.paragraph_count():
        raise CorpusError("no article text found in the page")
    return _capped(article, url)


def entry_article(entry: FeedEntry, *, feed_title: str | None = None, url: str | None = None) -> Article:
    """The article from the entry's own content, for feeds that carry it whole."""
    if not entry.content_html:
        raise CorpusError("the entry has no content")
    title = entry.title or "Untitled"
    doc = (f"<html><head><title>{html_lib.escape(title)}</title></head><body><article>"
           f"<h1>{html_lib.escape(title)}</h1>{entry.content_html}</article></body></html>")
    overrides = {"title": title, "published": entry.published}
    article = parse_html(doc, url=url or canonical_url(entry.link or entry.key),
                         overrides={k: v for k, v in overrides.items() if v},
                         defaults={"source": feed_title} if feed_title else None)
    article = clean_article(article)
    if not article.paragraph_count():
        raise CorpusError("no article text in the entry's content")
    return _capped(article, article.url)


def _capped(article: Article, url: str) -> Article:
    """The article cut to the per-article size limit (see corpus.limits), with a warning if cut."""
    article, note = cap_article(article)
    if note:
        log.warning("%s: %s", url, note)
    return article


# --- what was seen --------------------------------------------------------------------------

class FeedState:
    """Which source URLs are feeds or pages, and which feed entries are done (blocking; use a thread)."""

    DDL = """
    CREATE TABLE IF NOT EXISTS web_sources (
        url TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT,
        checked_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS feed_entries (
        feed_url TEXT NOT NULL,
        entry_key TEXT NOT NULL,
        version TEXT NOT NULL DEFAULT '',
        link TEXT,
        article_id TEXT,
        outcome TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (feed_url, entry_key)
    );
    """

    def __init__(self, store: "Store"):
        self.store = store
        store.migrate("feeds", (self.DDL,))  # append a step to change these tables

    def kind_of(self, url: str) -> str | None:
        rows = self.store.execute("SELECT kind FROM web_sources WHERE url = ?", (url,))
        return rows[0]["kind"] if rows else None

    def note_source(self, url: str, kind: str, title: str | None = None) -> None:
        from corpus.store import utcnow

        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO web_sources(url, kind, title, checked_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT(url) DO UPDATE SET kind=excluded.kind, title=COALESCE(excluded.title, title),
                     checked_at=excluded.checked_at""", (url, kind, title, utcnow()))

    def has_article(self, article_id: str) -> bool:
        return bool(self.store.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)))

    def pending(self, feed_url: str, entries: Iterable[FeedEntry], *, force: bool = False
                ) -> tuple[list[FeedEntry], int]:
        """(entries to fetch, how many are skipped as done). Done: same version and stored (still
        in the store) or a known duplicate, or failed too often at this version."""
        rows = {r["entry_key"]: r for r in self.store.execute(
            """SELECT e.entry_key, e.version, e.outcome, e.failures, a.id IS NOT NULL AS present
               FROM feed_entries e LEFT JOIN articles a ON a.id = e.article_id WHERE e.feed_url = ?""",
            (feed_url,))}
        todo: list[FeedEntry] = []
        skipped = 0
        for entry in entries:
            row = rows.get(entry.key)
            done = row is not None and row["version"] == entry.version and (
                (row["outcome"] == "stored" and row["present"]) or row["outcome"] == "duplicate"
                or (row["outcome"] == "failed" and row["failures"] >= MAX_ENTRY_FAILURES))
            if done and not force:
                skipped += 1
            else:
                todo.append(entry)
        return todo, skipped

    def record(self, feed_url: str, entry: FeedEntry, outcome: str, article_id: str | None = None) -> None:
        """outcome: 'stored' | 'duplicate' | 'failed' (failures count up until the entry changes)."""
        from corpus.store import utcnow

        with self.store.transaction() as conn:
            row = conn.execute("SELECT version, failures FROM feed_entries WHERE feed_url = ? AND entry_key = ?",
                               (feed_url, entry.key)).fetchone()
            failures = 0
            if outcome == "failed":
                failures = (row["failures"] if row is not None and row["version"] == entry.version else 0) + 1
            conn.execute(
                """INSERT INTO feed_entries(feed_url, entry_key, version, link, article_id, outcome, failures, seen_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(feed_url, entry_key) DO UPDATE SET version=excluded.version, link=excluded.link,
                     article_id=COALESCE(excluded.article_id, article_id), outcome=excluded.outcome,
                     failures=excluded.failures, seen_at=excluded.seen_at""",
                (feed_url, entry.key, entry.version, entry.link, article_id, outcome, failures, utcnow()))


# --- collecting from the network ------------------------------------------------------------

@dataclass
class UrlFailure:
    url: str
    reason: str
    status: int | None = None
    kind: str = "error"

    def line(self) -> str:
        return f"{self.url}: {self.reason}"

    def detail(self) -> str:
        """For the ingest log: HTTP status (or -) and reason."""
        return f"{self.status or '-'} {self.reason}"


@dataclass
class Fetched:
    """One article to store (or, with article None, one already stored and unchanged)."""

    article: Article | None
    article_id: str
    entry: FeedEntry | None = None
    page: FetchResult | None = None  # its validators are kept once the article is stored
    note: str | None = None


@dataclass
class SourceResult:
    url: str
    kind: str = "unknown"  # feed | page | unknown (could not be fetched)
    status: int | None = None
    title: str | None = None
    fetched: list[Fetched] = field(default_factory=list)
    failures: list[UrlFailure] = field(default_factory=list)
    failed_entries: list[FeedEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    response: FetchResult | None = None  # the source's own response, for its validators
    skipped: int = 0  # feed entries already done

    @property
    def articles(self) -> list[Article]:
        return [f.article for f in self.fetched if f.article is not None]


EventCallback = Callable[[str, str, object], None]  # (event, url, detail): "queued" | "done"


def _emit(on_event: EventCallback | None, event: str, url: str, detail: object = None) -> None:
    if on_event is not None:
        try:
            on_event(event, url, detail)
        except Exception:  # a progress display must never break an ingest
            log.exception("progress callback failed")


async def collect(url: str, fetcher: Fetcher, state: FeedState, *, force: bool = False,
                  on_event: EventCallback | None = None) -> SourceResult:
    """Fetch one source URL and everything it leads to; never raises for a bad source.

    `force` skips conditional requests and re-fetches entries already done.
    """
    src = SourceResult(url)
    _emit(on_event, "queued", url)
    try:
        res = await fetcher.fetch(url, conditional=not force)
        if res.not_modified:
            kind = await asyncio.to_thread(state.kind_of, url)
            article_id = article_id_for_url(canonical_url(res.final_url))
            if kind == "feed" or (kind == "page" and await asyncio.to_thread(state.has_article, article_id)):
                src.kind, src.status = kind, 304
                src.notes.append("not modified since the last ingest (HTTP 304)")
                if kind == "page":
                    src.fetched.append(Fetched(None, article_id))
                _emit(on_event, "done", url, src)
                return src
            res = await fetcher.fetch(url, conditional=False)  # validators outlived what they described
        src.status, src.response = res.status, res
        if looks_like_feed(res.body, res.content_type):
            src.kind = "feed"
            await _collect_feed(src, res, fetcher, state, force=force, on_event=on_event)
        else:
            src.kind = "page"
            page_url = canonical_url(res.final_url)
            html = res.text()
            article = await asyncio.to_thread(page_article, html, url=page_url)
            src.title = article.title
            src.fetched.append(Fetched(article, article.id, page=res))
    except FetchError as exc:
        src.status = exc.status
        src.failures.append(UrlFailure(url, exc.reason, exc.status, exc.kind))
    except (FeedError, CorpusError) as exc:
        src.failures.append(UrlFailure(url, str(exc), src.status, "content"))
    _emit(on_event, "done", url, src)
    return src


def newest_entries(entries: tuple[FeedEntry, ...] | list[FeedEntry], limit: int) -> list[FeedEntry]:
    """At most `limit` entries (0: all), newest first by date; undated ones keep feed order after."""
    entries = list(entries)
    if limit <= 0 or len(entries) <= limit:
        return entries
    order = sorted(range(len(entries)), key=lambda i: (entries[i].published is None,
                                                       _negated(entries[i].published), i))
    return [entries[i] for i in order[:limit]]


def _negated(day: str | None) -> tuple:
    """A sort key putting later YYYY-MM-DD dates first."""
    return tuple(-ord(c) for c in day) if day else ()


async def _collect_feed(src: SourceResult, res: FetchResult, fetcher: Fetcher, state: FeedState, *,
                        force: bool, on_event: EventCallback | None) -> None:
    feed = await asyncio.to_thread(parse_feed, res.body, url=res.final_url, content_type=res.content_type)
    src.title = feed.title
    src.notes.extend(feed.warnings)
    entries = newest_entries(feed.entries, fetcher.config.feed_max_entries)
    if len(entries) < len(feed.entries):
        src.notes.append(f"the feed lists {len(feed.entries)} entries; read the newest {len(entries)} "
                         f"(setting feed_max_entries)")
    todo, src.skipped = await asyncio.to_thread(state.pending, src.url, entries, force=force)
    if src.skipped:
        src.notes.append(f"{src.skipped} entries already ingested")
    for entry in todo:
        _emit(on_event, "queued", entry.link or entry.key)
    results = await asyncio.gather(*(_collect_entry(entry, feed, fetcher, state, force=force, on_event=on_event)
                                     for entry in todo))
    for entry, outcome in zip(todo, results):
        if isinstance(outcome, UrlFailure):
            src.failures.append(outcome)
            src.failed_entries.append(entry)
        else:
            src.fetched.append(outcome)
            if outcome.note:
                src.notes.append(outcome.note)


async def _collect_entry(entry: FeedEntry, feed: Feed, fetcher: Fetcher, state: FeedState, *, force: bool,
                         on_event: EventCallback | None) -> Fetched | UrlFailure:
    """The entry's page as an article; its own content when the page fails and the content is whole."""
    target = entry.link or entry.key
    failure: UrlFailure
    try:
        if not entry.link:
            raise CorpusError("the entry has no link")
        res = await fetcher.fetch(entry.link, conditional=not force)
        if res.not_modified:
            article_id = article_id_for_url(canonical_url(res.final_url))
            if await asyncio.to_thread(state.has_article, article_id):
                outcome: Fetched | UrlFailure = Fetched(None, article_id, entry)
                _emit(on_event, "done", target, outcome)
                return outcome
            res = await fetcher.fetch(entry.link, conditional=False)
        article = await asyncio.to_thread(page_article, res.text(), url=canonical_url(res.final_url),
                                          entry=entry, feed_title=feed.title)
        outcome = Fetched(article, article.id, entry, page=res)
        _emit(on_event, "done", target, outcome)
        return outcome
    except FetchError as exc:
        failure = UrlFailure(target, exc.reason, exc.status, exc.kind)
    except CorpusError as exc:
        failure = UrlFailure(target, str(exc), None, "content")
    if has_full_content(entry):
        try:
            article = await asyncio.to_thread(entry_article, entry, feed_title=feed.title)
        except CorpusError:
            pass
        else:
            outcome = Fetched(article, article.id, entry,
                              note=f"{target}: page unusable ({failure.reason}); used the feed's full content")
            _emit(on_event, "done", target, outcome)
            return outcome
    _emit(on_event, "done", target, failure)
    return failure


async def probe_feed(url: str, fetcher: Fetcher) -> Feed:
    """Fetch and parse a feed once, to check that a URL someone wants to follow is one.

    Raises FetchError or FeedError with a one-line reason; an article page is "not a feed".
    """
    res = await fetcher.fetch(url, conditional=False)
    if not looks_like_feed(res.body, res.content_type):
        found = discover_feeds(res.text(), res.final_url) if "html" in res.content_type else []
        hint = f"; the page names its feed: {found[0]}" if found else "; give its RSS or Atom URL"
        raise FeedError(f"not a feed ({res.content_type or 'unknown content type'}){hint}")
    return await asyncio.to_thread(parse_feed, res.body, url=res.final_url, content_type=res.content_type)


def discover_feeds(html: str, url: str) -> list[str]:
    """Feed URLs a page advertises with <link rel="alternate" type="application/rss+xml|atom+xml">."""
    import lxml.html

    try:
        doc = lxml.html.fromstring(html)
    except Exception:  # unparsable markup advertises nothing
        return []
    found = []
    for link in doc.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower()
        if "alternate" in rel and kind in ("application/rss+xml", "application/atom+xml") and link.get("href"):
            found.append(urljoin(url, link.get("href").strip()))
    return list(dict.fromkeys(found))
