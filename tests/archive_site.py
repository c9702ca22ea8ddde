"""A local news site on 127.0.0.1 with a column archive to backfill: listing pages, sitemaps, robots.txt.

Like tests/local_site.py (whose page template and conditional-GET helper it reuses) it runs
aiohttp.web in its own thread and logs every request with its Host header and time, so tests
can prove what was never requested.

The "China Roundup" column has `count` weekly roundups (64 by default, newest first) over
15-card listing pages under /column/china-roundup/, each page marking its next page a
different way (<link rel=next>, <a rel=next>, only numbered /page/N/ links, "Older posts");
the last page is a plain list without <article> cards or dates. Mixed into the cards: members-
only briefings under /members/ (disallowed by robots.txt), a card whose link redirects in a
loop, and a sponsored card linking to another host (offsite.test). Around them: a header nav,
tag and author links, and a sidebar of another column's stories (never to be fetched).
Sitemaps: /sitemap_index.xml -> a plain urlset, a gzipped urlset, a Google News sitemap and an
off-site child.
"""
from __future__ import annotations

import asyncio
import gzip
import html
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from aiohttp import web

from local_site import RECORDS, LocalSite, article_html

COLUMN = "/column/china-roundup/"
PER_PAGE = 15
FIRST_WEEK = date(2023, 1, 6)
OFFSITE_HOST = "offsite.test"
SLOW_HOST = "slow.test"
MEMBERS = 3  # members-only cards, disallowed by robots.txt
LOOP_PATH = "/2024/loop/a/"


def roundup(i: int) -> dict:
    """The i-th weekly roundup (0 = the oldest): a sample roundup's sections under its own week."""
    day = FIRST_WEEK + timedelta(weeks=i)
    rec = RECORDS[i % len(RECORDS)]
    other = RECORDS[(i * 5 + 3) % len(RECORDS)]
    intro = (f"Welcome to issue {i + 1} of China Roundup, our weekly look at Chinese technology for the week "
             f"ending {day:%B %d, %Y}. This week we follow {rec['title'].lower()} and "
             f"{other['title'].lower()}, with the numbers that matter.")
    sections = [{"heading": None, "paragraphs": [intro]}, *rec["sections"],
                {"heading": "Also this week", "paragraphs": other["sections"][0]["paragraphs"][:1]}]
    return {"id": f"roundup-{i + 1:03d}", "title": f"China Roundup #{i + 1}: {rec['title']}",
            "published": day.isoformat(), "sections": sections,
            "path": f"/{day:%Y/%m}/china-roundup-{i + 1:03d}/"}


def member_card(k: int, day: str) -> dict:
    return {"title": f"Members' briefing {k}", "path": f"/members/briefing-{k}/", "published": day}


@dataclass
class Hit:
    path: str
    host: str
    at: float
    status: int = 0
    headers: dict = field(default_factory=dict)


@dataclass
class ArchiveSite:
    host: str = "127.0.0.1"
    port: int = 0
    count: int = 64
    hits: list[Hit] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def reset(self) -> None:
        self.hits.clear()
        self.count = 64

    def paths(self, host: str | None = None) -> list[str]:
        return [h.path for h in self.hits if host is None or h.host.split(":")[0] == host]

    # -- content -------------------------------------------------------------------------

    def roundups(self) -> list[dict]:
        return [roundup(i) for i in range(self.count)]

    def cards(self) -> list[dict]:
        """Everything the column lists, newest first, extras mixed in."""
        cards: list[dict] = [dict(r) for r in reversed(self.roundups())]
        cards.insert(2, {"title": "Sponsored: the future of cloud", "published": cards[2]["published"],
                         "href": f"http://{OFFSITE_HOST}:{self.port}/sponsored/story/"})
        for k, pos in enumerate((5, 17, 24), start=1):
            cards.insert(pos, member_card(k, cards[pos]["published"]))
        cards.insert(20, {"title": "Moved story", "path": LOOP_PATH, "published": cards[20]["published"]})
        return cards

    def pages(self) -> list[list[dict]]:
        cards = self.cards()
        return [cards[i:i + PER_PAGE] for i in range(0, len(cards), PER_PAGE)]

    def listing_html(self, n: int) -> str | None:
        pages = self.pages()
        if not 1 <= n <= len(pages):
            return None
        last = n == len(pages)
        page_url = lambda k: COLUMN if k == 1 else f"{COLUMN}page/{k}/"  # noqa: E731
        head_next = f'<link rel="next" href="{page_url(n + 1)}">' if n == 1 and not last else ""
        numbers = " ".join(f'<a class="page-numbers" href="{page_url(k)}">{k}</a>' for k in range(1, len(pages) + 1))
        nav = {1: "", 2: f'<a rel="next" href="{page_url(3)}">Next</a>', 3: "",
               4: f'<a href="{page_url(5)}">Older posts &rarr;</a>'}.get(n, "") if not last else ""
        prev = f'<a rel="prev" href="{page_url(n - 1)}">Newer posts</a>' if n > 1 else ""
        body = self._plain_list(pages[n - 1]) if last else "".join(self._card(c) for c in pages[n - 1])
        return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>China Roundup | Page {n} | Tech Weekly</title>
{head_next}</head><body>
<header class="site-header"><nav class="menu"><a href="/">Home</a> <a href="/column/startups/">Startups</a>
<a href="/about/">About</a> <a href="/2022/06/what-we-cover/">What we cover</a></nav></header>
<main id="main"><h1>China Roundup</h1><p>Our weekly digest of Chinese tech news.</p>{body}
<nav class="pagination">{prev} {numbers} {nav}</nav></main>
<aside class="sidebar"><h3>Popular</h3><ul><li><a href="/2022/11/startups-weekly-9/">Startups weekly 9</a></li>
<li><a href="/2022/12/startups-weekly-10/">Startups weekly 10</a></li></ul></aside>
<footer><a href="/privacy/">Privacy</a> <a href="/feed/">RSS</a></footer></body></html>"""

    @staticmethod
    def _card(c: dict) -> str:
        href = c.get("href") or c["path"]
        return f"""<article class="post-card"><h2 class="entry-title"><a href="{href}">{html.escape(c['title'])}</a></h2>
<div class="meta"><time datetime="{c['published']}T08:00:00+00:00">{c['published']}</time> by
<a rel="author" href="/author/jane-doe/">Jane Doe</a> in <a rel="tag" href="/tag/china/">China</a>
<a href="{href}#comments">3 comments</a></div><p>The week in Chinese technology, briefly.</p>
<a class="more-link" href="{href}">Read more</a></article>"""

    @staticmethod
    def _plain_list(cards: list[dict]) -> str:
        items = "".join(f'<li><a href="{c.get("href") or c["path"]}">{html.escape(c["title"])}</a> '
                        f'<a href="/tag/weekly/">#weekly</a> <a href="/author/jane-doe/">Jane</a></li>'
                        for c in cards)
        return f'<ul class="post-list">{items}</ul>'

    def urlset(self, items: list[dict], *, news: bool = False) -> str:
        ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
        rows = []
        for it in items:
            extra = (f"<news:news><news:publication><news:name>Tech Weekly</news:name><news:language>en"
                     f"</news:language></news:publication><news:publication_date>{it['published']}T08:00:00Z"
                     f"</news:publication_date><news:title>{html.escape(it['title'])}</news:title></news:news>"
                     if news else f"<lastmod>{it['published']}T08:00:00+00:00</lastmod>")
            rows.append(f"<url><loc>{self.base}{it['path']}</loc>{extra}</url>")
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/'
                f'sitemap/0.9"{ns}>{"".join(rows)}</urlset>')

    def sitemap_index(self) -> str:
        children = ["/sitemaps/roundups-1.xml", "/sitemaps/roundups-2.xml.gz", "/sitemaps/news.xml",
                    f"http://{OFFSITE_HOST}:{self.port}/sitemap.xml"]
        rows = "".join(f"<sitemap><loc>{c if c.startswith('http') else self.base + c}</loc>"
                       f"<lastmod>2024-05-01</lastmod></sitemap>" for c in children)
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/'
                f'sitemap/0.9">{rows}</sitemapindex>')

    # -- server --------------------------------------------------------------------------

    def start(self) -> "ArchiveSite":
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True, name="archive-site")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the archive site did not start")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._record])
        app.router.add_routes([
            web.get("/robots.txt", self.robots), web.get(COLUMN, self.listing),
            web.get(COLUMN + "page/{n}/", self.listing), web.get("/sitemap_index.xml", self.index),
            web.get("/sitemaps/{name}", self.sitemap), web.get("/2024/loop/{name}/", self.loop),
            web.get("/{path:.*}", self.page),
        ])
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    @web.middleware
    async def _record(self, request: web.Request, handler):
        hit = Hit(request.path_qs, request.headers.get("Host", ""), time.monotonic(), headers=dict(request.headers))
        self.hits.append(hit)
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            hit.status = exc.status
            raise
        hit.status = resp.status
        return resp

    async def robots(self, request):
        if request.host.startswith(SLOW_HOST):
            return web.Response(text="User-agent: *\nCrawl-delay: 2\nDisallow: /members/\n")
        return web.Response(text=f"# robots for Tech Weekly\nUser-agent: *\nDisallow: /members/\n\n"
                                 f"User-agent: BadBot\nDisallow: /\n\nSitemap: {self.base}/sitemap_index.xml\n")

    async def listing(self, request):
        if not request.host.startswith(("127.0.0.1", SLOW_HOST)):
            raise web.HTTPNotFound()
        page = self.listing_html(int(request.match_info.get("n", 1)))
        if page is None:
            raise web.HTTPNotFound()
        return LocalSite._conditional(request, page.encode(), "text/html")

    async def index(self, request):
        return LocalSite._conditional(request, self.sitemap_index().encode(), "application/xml")

    async def sitemap(self, request):
        name = request.match_info["name"]
        rounds = self.roundups()
        if name == "roundups-1.xml":
            return LocalSite._conditional(request, self.urlset(rounds[:32]).encode(), "application/xml")
        if name == "roundups-2.xml.gz":
            body = gzip.compress(self.urlset(rounds[32:]).encode(), mtime=0)
            return LocalSite._conditional(request, body, "application/x-gzip", charset=None)
        if name == "news.xml":
            news = [member_card(k, rounds[-1]["published"]) for k in range(1, MEMBERS + 1)] + rounds[-2:]
            return LocalSite._conditional(request, self.urlset(news, news=True).encode(), "application/xml")
        raise web.HTTPNotFound()

    async def loop(self, request):
        other = "b" if request.match_info["name"] == "a" else "a"
        raise web.HTTPFound(f"/2024/loop/{other}/")

    async def page(self, request):
        if not request.host.startswith(("127.0.0.1", SLOW_HOST)):
            raise web.HTTPNotFound()
        rec = next((r for r in self.roundups() if r["path"] == request.path), None)
        if rec is None:
            raise web.HTTPNotFound()
        return LocalSite._conditional(request, article_html(rec).encode(), "text/html")


@pytest.fixture(scope="session")
def archive_server():
    site = ArchiveSite().start()
    yield site
    site.stop()


@pytest.fixture
def archive(archive_server):
    archive_server.reset()
    yield archive_server
    archive_server.reset()
