"""Archive backfill against a local site on 127.0.0.1: listing pages, sitemaps, robots.txt, resumption.

The Fetcher keeps the SSRF guard on and exempts only the test server's host:port (and the
test names offsite.test / slow.test, which a static resolver maps to it), so an off-site link
the crawler wrongly followed would reach the server and show up in its log under its Host.
"""
from __future__ import annotations

import asyncio
import gzip
from collections import Counter

import pytest

from archive_site import (  # noqa: F401
    COLUMN, LOOP_PATH, MEMBERS, OFFSITE_HOST, SLOW_HOST, ArchiveSite, archive, archive_server, roundup,
)
from corpus.crawl import Backfill, CrawlConfig, CrawlError, CrawlState, run_backfill
from corpus.fetch import FetchConfig, Fetcher, ValidatorCache
from corpus.listing import Listed, is_article_link, listing_root, parse_listing
from corpus.passages import split_article
from corpus.sitemaps import SitemapError, looks_like_sitemap, parse_sitemap
from corpus.store import Store
from local_site import StaticResolver

FAST = 0.02  # seconds between requests to one host in these tests (1.0 by default)


def fetch_config(port: int) -> FetchConfig:
    hosts = {f"127.0.0.1:{port}", f"{OFFSITE_HOST}:{port}", f"{SLOW_HOST}:{port}"}
    return FetchConfig(allow_private=False, allowed_hosts=frozenset(hosts), retries=1, backoff=0.01,
                       backoff_max=0.02, total_timeout=5.0, connect_timeout=2.0)


def resolver() -> StaticResolver:
    return StaticResolver({OFFSITE_HOST: "127.0.0.1", SLOW_HOST: "127.0.0.1"})


async def backfill(site: ArchiveSite, store: Store, url: str, *, stop_after: int | None = None,
                   clock=None, sleep=None, **config) -> tuple[Backfill, list]:
    """One run as the bot layer does it: store each article, then settle it."""
    config.setdefault("delay", FAST)
    extra = {k: v for k, v in (("clock", clock), ("sleep", sleep)) if v is not None}
    events = []
    async with Fetcher(fetch_config(site.port), cache=ValidatorCache(store), resolver=resolver()) as fetcher:
        run = Backfill(url, fetcher, CrawlState(store), CrawlConfig(**config), **extra)
        stored = 0
        async for event in run.events():
            events.append(event)
            if event.kind == "article":
                article = event.fetched.article
                store.upsert_article(article, split_article(article), origin=url)
                await run.settle(event)
                stored += 1
                if stop_after is not None and stored >= stop_after:
                    break
    return run, events


def article_paths(site: ArchiveSite) -> list[str]:
    roundup_paths = {r["path"] for r in site.roundups()}
    return [p for p in site.paths() if p in roundup_paths]


def stored_urls(store: Store) -> list[str]:
    return [row["url"] for row in store.articles()]


def never_requested(site: ArchiveSite) -> None:
    """The robots.txt-disallowed, off-site and sidebar/nav URLs were never asked for."""
    paths = site.paths()
    assert not [p for p in paths if p.startswith("/members/")]
    assert not site.paths(OFFSITE_HOST)
    assert not [p for p in paths if p.startswith(("/2022/", "/tag/", "/author/", "/about/", "/column/startups/"))]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "roundup.db")
    yield s
    s.close()


# --- pure parsing ---------------------------------------------------------------------------

def test_listing_pages_give_article_links_in_order_and_the_next_page():
    site = ArchiveSite(port=8)
    base = "http://127.0.0.1:8"
    pages = site.pages()
    expected_next = [f"{base}{COLUMN}page/{n}/" for n in range(2, len(pages) + 1)] + [None]
    for n, cards in enumerate(pages, start=1):
        url = base + (COLUMN if n == 1 else f"{COLUMN}page/{n}/")
        page = parse_listing(site.listing_html(n), url)
        want = [base + c["path"] for c in cards if "path" in c]
        assert [i.url for i in page.items] == want, n
        assert page.next_url == expected_next[n - 1], n
        if n < len(pages):  # cards carry <time>; the last page is a plain undated list
            assert [i.date for i in page.items] == [c["published"] for c in cards if "path" in c]
        else:
            assert all(i.date is None for i in page.items)
    assert parse_listing(site.listing_html(1), base + COLUMN).offsite == 1
    assert listing_root(f"{base}{COLUMN}page/3/") == COLUMN


def test_wordpress_style_cards_keep_their_header_title_links():
    html = """<html><body><header id="masthead"><a href="/2020/01/site-news/">Site news</a></header>
    <main id="main" class="site-main">
    <article class="post"><header class="entry-header"><h2 class="entry-title">
      <a href="https://blog.example/2024/05/roundup-20/" rel="bookmark">Roundup 20</a></h2>
      <time class="entry-date published" datetime="2024-05-17T09:00:00+08:00">May 17</time></header>
      <div class="entry-summary"><p>Teaser with a <a href="https://blog.example/2019/old-link/">link</a>.</p></div>
      <footer class="entry-footer"><a rel="category tag" href="/category/china/">China</a></footer></article>
    <article class="post"><header class="entry-header"><h2 class="entry-title">
      <a href="/2024/05/roundup-19/?utm_source=home" rel="bookmark">Roundup 19</a></h2></header></article>
    <nav class="navigation pagination"><a class="next page-numbers" href="/category/china/page/2/">Next</a></nav>
    </main></body></html>"""
    page = parse_listing(html, "https://blog.example/category/china/")
    assert page.items == (Listed("https://blog.example/2024/05/roundup-20/", "2024-05-17"),
                          Listed("https://blog.example/2024/05/roundup-19/", None))
    assert page.next_url == "https://blog.example/category/china/page/2/"


def test_article_link_rules_are_generic():
    page = "https://news.example/tag/china/"
    assert is_article_link("https://news.example/2024/05/some-story/", page)
    assert is_article_link("https://news.example/?p=123", page)
    for url in ("https://other.example/2024/05/x/", "https://news.example/tag/china/page/2/",
                "https://news.example/author/jane/", "https://news.example/", "https://news.example/feed/",
                "https://news.example/wp-content/uploads/a.jpg", "mailto:x@news.example"):
        assert not is_article_link(url, page), url


def test_sitemaps_index_gzip_news_and_bounds():
    site = ArchiveSite(port=8)
    index = parse_sitemap(site.sitemap_index().encode(), "http://127.0.0.1:8/sitemap_index.xml")
    assert index.kind == "index" and len(index.children) == 4
    rounds = site.roundups()
    gz = parse_sitemap(gzip.compress(site.urlset(rounds[32:]).encode()), "http://127.0.0.1:8/s.xml.gz")
    assert [(i.url, i.date) for i in gz.items] == [(site.url(r["path"]), r["published"]) for r in rounds[32:]]
    news = parse_sitemap(site.urlset(rounds[:2], news=True).encode(), "http://127.0.0.1:8/news.xml")
    assert [i.date for i in news.items] == [r["published"] for r in rounds[:2]]
    capped = parse_sitemap(site.urlset(rounds).encode(), "http://127.0.0.1:8/s.xml", max_urls=10)
    assert len(capped.items) == 10 and capped.truncated
    with pytest.raises(SitemapError, match="not a sitemap"):
        parse_sitemap(b"<html><body>hi</body></html>", "http://x/")
    with pytest.raises(SitemapError, match="malformed sitemap XML"):
        parse_sitemap(b"<urlset><url><loc>http://x/a</loc></urlset>", "http://x/")
    big = gzip.compress(b'<?xml version="1.0"?><urlset xmlns="x">' + b" " * 60_000_000 + b"</urlset>")
    assert looks_like_sitemap(big) and not looks_like_sitemap(b"\x1f\x8bnot gzip")
    with pytest.raises(SitemapError, match="inflates to more than"):
        parse_sitemap(gzip.compress(b"<urlset>" + b" " * 60_000_000 + b"</urlset>"), "http://x/")


def test_sitemap_entities_are_never_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<urlset><url><loc>http://x/a&x;</loc></url></urlset>').encode()
    bomb = ('<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi")) +
        ']><urlset><url><loc>http://x/&i;</loc></url></urlset>').encode()
    for doc in (xxe, bomb):
        try:
            items = parse_sitemap(doc, "http://x/").items
        except SitemapError:
            continue
        assert all("TOP-SECRET" not in i.url and len(i.url) < 200 for i in items)


# --- backfill against the local site ----------------------------------------------------------

async def test_listing_backfill_is_complete_polite_and_incremental(archive, store):
    start = archive.url(COLUMN)
    run, events = await backfill(archive, store, start)
    rounds = archive.roundups()
    assert sorted(stored_urls(store)) == sorted(archive.url(r["path"]) for r in rounds)
    # oldest to newest by the dates the listing shows
    yielded = [e.fetched.article for e in events if e.kind == "article"]
    assert [a.published for a in yielded] == sorted(r["published"] for r in rounds)
    assert all(a.paragraph_count() >= 3 for a in yielded)
    p = run.progress
    assert (p.pages, p.found, p.fetched, p.blocked, p.failed, p.offsite) == (5, 64 + MEMBERS + 1, 64, MEMBERS, 1, 1)
    assert run.complete
    failed = [e for e in events if e.kind == "failed"]
    assert [e.url for e in failed] == [archive.url(LOOP_PATH)] and "redirect loop" in failed[0].detail
    never_requested(archive)
    assert Counter(article_paths(archive)) == Counter({r["path"]: 1 for r in rounds})
    assert archive.paths().count("/robots.txt") == 1
    # one host, one request at a time, paced (a redirect's next hop belongs to the same fetch)
    gaps = [b.at - a.at for a, b in zip(archive.hits, archive.hits[1:]) if not 300 <= a.status < 400]
    assert len(gaps) > 64 and min(gaps) >= FAST * 0.5

    # a second run: the first listing page is revalidated (304) and nothing else is fetched
    archive.hits.clear()
    run2, events2 = await backfill(archive, store, start)
    assert archive.paths() == ["/robots.txt", COLUMN]
    assert archive.hits[1].status == 304 and "If-None-Match" in archive.hits[1].headers
    assert not [e for e in events2 if e.kind == "article"]
    assert run2.progress.skipped == 64 + 1 and len(stored_urls(store)) == 64  # the redirect loop is not retried

    # a new roundup: page 1 changes, page 2 shows nothing new, only the new article is fetched
    archive.hits.clear()
    archive.count = 65
    run3, events3 = await backfill(archive, store, start)
    new_path = roundup(64)["path"]
    assert article_paths(archive) == [new_path]
    assert archive.paths() == ["/robots.txt", COLUMN, f"{COLUMN}page/2/", new_path]
    assert [e.url for e in events3 if e.kind == "article"] == [archive.url(new_path)]
    assert len(stored_urls(store)) == 65

    # twenty new roundups, more than a page: a run cut short by the page limit leaves no gap
    archive.count = 85
    run4, _ = await backfill(archive, store, start, max_pages=1)
    assert not run4.complete and 0 < len(stored_urls(store)) - 65 < 20
    run5, _ = await backfill(archive, store, start)
    assert run5.complete
    assert sorted(stored_urls(store)) == sorted(archive.url(r["path"]) for r in archive.roundups())


async def test_interrupted_backfill_resumes_without_duplicates(archive, store):
    start = archive.url(COLUMN)
    await backfill(archive, store, start, stop_after=20)  # the consumer stops after 20 articles
    assert len(stored_urls(store)) == 20

    async def cancel_midway():  # the task killed while it fetches
        task = asyncio.create_task(backfill(archive, store, start))
        while len(stored_urls(store)) < 40:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await cancel_midway()
    middle = len(stored_urls(store))
    assert 40 <= middle < 64
    run, events = await backfill(archive, store, start)
    rounds = archive.roundups()
    assert sorted(stored_urls(store)) == sorted(archive.url(r["path"]) for r in rounds)
    assert run.progress.skipped >= middle
    hits = Counter(article_paths(archive))
    assert set(hits) == {r["path"] for r in rounds}
    # each article page fetched once, bar the one in flight when the task was killed
    assert sum(hits.values()) <= len(rounds) + 1
    never_requested(archive)


async def test_since_stops_paging_and_newest_first(archive, store):
    rounds = archive.roundups()
    since = rounds[40]["published"]
    run, events = await backfill(archive, store, archive.url(COLUMN), since=since, newest_first=True)
    got = [e.fetched.article.published for e in events if e.kind == "article"]
    want = sorted((r["published"] for r in rounds if r["published"] >= since), reverse=True)
    assert got == want
    pages = archive.pages()
    first_all_old = next(n for n, cards in enumerate(pages, 1) if all(c["published"] < since for c in cards))
    listing_hits = [p for p in archive.paths() if p.startswith(COLUMN)]
    assert len(listing_hits) == first_all_old
    assert not [p for p in article_paths(archive) if p not in {r["path"] for r in rounds if r["published"] >= since}]
    assert not run.complete


async def test_page_and_article_limits(archive, store):
    run, events = await backfill(archive, store, archive.url(COLUMN), max_pages=2, max_articles=5,
                                 newest_first=True)
    assert [p for p in archive.paths() if p.startswith(COLUMN)] == [COLUMN, f"{COLUMN}page/2/"]
    assert len(article_paths(archive)) == 5 and run.progress.fetched == 5
    assert any(e.kind == "note" and "2-page limit" in e.detail for e in events)
    assert not run.complete


async def test_sitemap_backfill_with_gzip_child_and_news(archive, store):
    run, events = await backfill(archive, store, archive.url("/sitemap_index.xml"))
    rounds = archive.roundups()
    assert sorted(stored_urls(store)) == sorted(archive.url(r["path"]) for r in rounds)
    got = [e.fetched.article.published for e in events if e.kind == "article"]
    assert got == sorted(got) and len(got) == 64
    assert "/sitemaps/roundups-2.xml.gz" in archive.paths()
    assert run.progress.blocked == MEMBERS and run.complete
    never_requested(archive)
    archive.hits.clear()
    run2, _ = await backfill(archive, store, archive.url("/sitemap_index.xml"))
    assert not article_paths(archive)
    assert all(h.status == 304 for h in archive.hits if h.path != "/robots.txt")
    assert run2.progress.pages_unchanged == 4


async def test_crawl_delay_from_robots_is_honoured(archive, store):
    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    start = f"http://{SLOW_HOST}:{archive.port}{COLUMN}"
    run, _ = await backfill(archive, store, start, max_pages=1, max_articles=3, delay=0.5,
                            clock=lambda: now[0], sleep=fake_sleep)
    requests = len(archive.paths(SLOW_HOST))
    assert requests == 1 + 1 + 3  # robots.txt, one listing page, three articles
    assert waits == [2.0] * (requests - 1)


async def test_unusable_start_urls_fail_in_one_line(archive, store):
    cases = {archive.url("/members/briefing-1/"): "robots.txt of .* disallows",
             archive.url("/column/nothing-here/"): "HTTP 404",
             archive.url("/robots.txt"): "neither a listing page nor a sitemap"}
    for url, message in cases.items():
        with pytest.raises(CrawlError, match=message) as info:
            await backfill(archive, store, url)
        assert "\n" not in str(info.value)
    assert not [p for p in archive.paths() if p.startswith("/members/")]


async def test_batched_commits_survive_a_failing_commit(archive, store):
    """run_backfill settles a batch only after `commit` stored it; a commit that dies loses nothing."""
    start = archive.url(COLUMN)
    batches: list[int] = []

    def make_commit(fail_on: int | None):
        async def commit(fetched):
            if fail_on is not None and len(batches) == fail_on:
                raise RuntimeError("disk full")
            batches.append(len(fetched))
            for f in fetched:
                store.upsert_article(f.article, split_article(f.article), origin=start)
            return ["stored"] * len(fetched)
        return commit

    seen: list[str] = []
    async with Fetcher(fetch_config(archive.port), cache=ValidatorCache(store), resolver=resolver()) as fetcher:
        run = Backfill(start, fetcher, CrawlState(store), CrawlConfig(delay=FAST))
        with pytest.raises(RuntimeError, match="disk full"):
            await run_backfill(run, make_commit(fail_on=3), batch=10, on_event=lambda e: seen.append(e.kind))
    assert batches == [10, 10, 10] and len(stored_urls(store)) == 30
    async with Fetcher(fetch_config(archive.port), cache=ValidatorCache(store), resolver=resolver()) as fetcher:
        run = Backfill(start, fetcher, CrawlState(store), CrawlConfig(delay=FAST))
        progress = await run_backfill(run, make_commit(fail_on=None), batch=10, on_event=lambda e: 1 / 0)
    assert len(stored_urls(store)) == 64 and progress.fetched == 34 and progress.skipped == 30
    assert sum(batches) == 64
    hits = Counter(article_paths(archive))
    assert set(hits) == {r["path"] for r in archive.roundups()} and max(hits.values()) == 2  # the lost batch only
    assert sum(1 for n in hits.values() if n == 2) == 10


def test_bad_settings_are_one_line_errors():
    with pytest.raises(CrawlError, match="since must be a date"):
        CrawlConfig(since="last tuesday")
    with pytest.raises(CrawlError, match="max_pages"):
        CrawlConfig(max_pages=0)
