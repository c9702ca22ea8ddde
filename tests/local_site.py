"""A local website on 127.0.0.1 for the web-ingest tests: feeds, article pages and every bad case.

It runs aiohttp.web in its own thread and event loop, so both async tests (on pytest's loop)
and the synchronous CLI (which calls asyncio.run) can talk to it. Every request is recorded
with the headers the tests check (conditional GET, User-Agent).

Content comes from corpus/data/sample_roundups.jsonl: the first half of the roundups are RSS 2.0
entries, the rest Atom 1.0 entries, each linking to an article page wrapped in a navigation
bar, share bars and a comment form.
"""
from __future__ import annotations

import asyncio
import hashlib
import html
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

SAMPLE = Path(__file__).resolve().parents[1] / "corpus" / "data" / "sample_roundups.jsonl"
RECORDS = [json.loads(line) for line in SAMPLE.read_text("utf-8").splitlines() if line.strip()]
RSS_RECORDS = RECORDS[:6]
ATOM_RECORDS = RECORDS[6:]
GONE_ID = ATOM_RECORDS[-1]["id"]  # its Atom entry links to a page that 404s, but carries full content
LAST_MODIFIED = format_datetime(datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc), usegmt=True)
HUGE_BYTES = 50 * 1024 * 1024

CHINESE_PARAGRAPHS = [
    "字节跳动旗下的短视频应用抖音本周宣布，将在今年年底前把海外用户数据全部迁移到新加坡和美国的服务器上，"
    "并邀请第三方机构对数据安全进行审计，以回应多国监管机构的担忧。",
    "与此同时，华为公布的数据显示，其智能手机出货量在第三季度同比增长百分之六十六，"
    "在国内市场的份额首次超过百分之四十，继续领跑中国手机市场。",
]
CP1252_PARAGRAPHS = [
    "The caf\u00e9 chain Luckin said its \u201cdelivery-first\u201d stores \u2014 more than 4,500 of "
    "them \u2014 now outnumber Starbucks\u2019 locations across mainland China, a milestone reached "
    "after years of heavy discounting.",
    "Executives at the na\u00efve-sounding start-up insisted the expansion was profitable, though "
    "analysts in Z\u00fcrich questioned the accounting behind the figures.",
]


def _extra(aid: str, title: str, published: str, heading: str, paragraphs: list[str]) -> dict:
    return {"id": aid, "title": title, "url": f"https://example.com/{aid}", "published": published,
            "sections": [{"heading": heading, "paragraphs": paragraphs}]}


# Pages for the retry and redirect cases: stories of their own, so they never look like
# republished copies of the feeds' roundups.
EXTRA = {
    "flaky": _extra("extra-flaky", "Pinduoduo bets on community grocery", "2020-12-13", "Groceries", [
        "Pinduoduo launched Duoduo Maicai, a community group-buying service where neighbours pool orders "
        "for vegetables and meat that are picked up the next day from a local convenience store.",
        "Meituan and Didi are racing into the same business, subsidising eggs and cabbages so heavily that "
        "state media warned the platforms against squeezing out traditional street vendors."]),
    "ratelimited": _extra("extra-429", "Didi returns to app stores", "2023-01-22", "Ride hailing", [
        "Didi Chuxing was allowed to register new users again after an eighteen-month suspension imposed by "
        "the Cyberspace Administration over data security concerns following its New York listing.",
        "The ride-hailing company delisted from the New York Stock Exchange and paid a fine of more than "
        "eight billion yuan before regulators let its apps return to domestic app stores."]),
    "chain": _extra("extra-chain", "Nio expands battery swapping", "2022-08-09", "Electric cars", [
        "Electric carmaker Nio opened its thousandth battery swap station, where a robot replaces a depleted "
        "pack in about five minutes, letting drivers skip the wait at charging piles on long trips.",
        "The company also signed agreements with Sinopec and Shell to place swap stations at petrol stations "
        "along the highways connecting Beijing, Shanghai and Guangzhou."]),
}


def article_html(rec: dict, *, charset: str = "utf-8", meta_charset: bool = True) -> str:
    """A roundup as a typical news page: nav, share bars, comments around the article."""
    body = []
    for sec in rec["sections"]:
        if sec.get("heading"):
            body.append(f"<h2>{html.escape(sec['heading'])}</h2>")
        body.extend(f"<p>{html.escape(p)}</p>" for p in sec["paragraphs"])
    meta = f'<meta charset="{charset}">' if meta_charset else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head>{meta}<title>{html.escape(rec['title'])} | Roundup Mirror</title>
<meta property="article:published_time" content="{rec['published']}T08:00:00Z">
<meta property="og:site_name" content="Roundup Mirror">
<link rel="alternate" type="application/rss+xml" title="Roundup Mirror" href="/rss.xml"></head>
<body>
<header><nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/china">China</a></li>
<li><a href="/startups">Startups</a></li><li><a href="/subscribe">Subscribe to our newsletter</a></li></ul></nav></header>
<div class="share-top"><a href="#">Share on Facebook</a> <a href="#">Share on Twitter</a> <a href="#">Share on LinkedIn</a></div>
<main><article class="post">
<h1>{html.escape(rec['title'])}</h1>
<p class="byline">By Staff Writer</p>
{''.join(body)}
</article>
<div class="share-bottom"><a href="#">Tweet</a> <a href="#">Email</a> <a href="#">Print</a></div>
<section id="comments" class="comments"><h3>Leave a Reply</h3>
<form action="/comment" method="post"><p>Please enter your comment!</p><textarea name="c"></textarea>
<p>Please enter your name here</p><input name="n"><p>You have entered an incorrect email address!</p>
<p>Save my name, email, and website in this browser for the next time I comment.</p>
<button type="submit">Post Comment</button></form></section></main>
<footer><p>&copy; 2024 Roundup Mirror. All rights reserved.</p><p>Related posts: Top ten gadgets of the year</p></footer>
</body></html>"""


def entry_content_html(rec: dict) -> str:
    parts = []
    for sec in rec["sections"]:
        if sec.get("heading"):
            parts.append(f"<h2>{html.escape(sec['heading'])}</h2>")
        parts.extend(f"<p>{html.escape(p)}</p>" for p in sec["paragraphs"])
    return "".join(parts)


def rss_feed(base: str, records: list[dict], *, title: str = "China Roundup (mirror)") -> str:
    items = []
    for rec in records:
        pub = format_datetime(datetime.fromisoformat(rec["published"]).replace(hour=8, tzinfo=timezone.utc),
                              usegmt=True)
        items.append(f"""<item><title>{html.escape(rec['title'])}</title>
<link>{base}/articles/{rec['id']}.html?utm_source=rss&amp;utm_medium=feed</link>
<guid isPermaLink="false">{rec['id']}</guid><pubDate>{pub}</pubDate>
<description>{html.escape(rec['sections'][0]['paragraphs'][0][:140])}...</description></item>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{html.escape(title)}</title><link>{base}/</link>
<description>Weekly China tech roundups</description>{''.join(items)}</channel></rss>"""


def atom_feed(base: str, records: list[dict]) -> str:
    entries = []
    for rec in records:
        link = f"{base}/gone/{rec['id']}.html" if rec["id"] == GONE_ID else f"{base}/articles/{rec['id']}.html"
        content = (f'<content type="html">{html.escape(entry_content_html(rec))}</content>'
                   if rec["id"] == GONE_ID else
                   f"<summary>{html.escape(rec['sections'][0]['paragraphs'][0][:120])}…</summary>")
        entries.append(f"""<entry><title>{html.escape(rec['title'])}</title><link href="{link}"/>
<id>urn:roundup:{rec['id']}</id><updated>{rec['published']}T08:00:00Z</updated>
<published>{rec['published']}T08:00:00Z</published>{content}</entry>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Asia tech reviews (mirror)</title>
<id>urn:roundup:atom</id><updated>2024-05-06T07:08:09Z</updated><link href="{base}/"/>{''.join(entries)}</feed>"""


@dataclass
class Seen:
    path: str
    headers: dict
    status: int = 0


@dataclass
class LocalSite:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    huge_sent: int = 0
    huge_open: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    overrides: dict[str, str] = field(default_factory=dict)  # path -> body replacing the generated one

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def clear_log(self) -> None:
        """Forget the requests seen, keep the content overrides."""
        self.requests.clear()
        self.hits.clear()

    def reset(self) -> None:
        self.requests.clear()
        self.hits.clear()
        self.overrides.clear()
        self.huge_sent = self.huge_open = self.in_flight = self.max_in_flight = 0

    def seen(self, prefix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    # -- server life -------------------------------------------------------------------------

    def start(self) -> "LocalSite":
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True, name="local-site")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the local site did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._release.set)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._release = asyncio.Event()
        app = web.Application(middlewares=[self._record])
        app.router.add_routes([
            web.get("/rss.xml", self.rss), web.get("/atom.xml", self.atom),
            web.get("/articles/{id}.html", self.article), web.get("/gone/{id}.html", self.gone),
            web.get("/mirror.xml", self.mirror_feed), web.get("/mirror/{id}.html", self.mirror_article),
            web.get("/feeds/{name}", self.static_feed), web.get("/empty.xml", self.empty),
            web.get("/malformed.xml", self.malformed), web.get("/recoverable.xml", self.recoverable),
            web.get("/missing", self.gone), web.get("/flaky/{token}", self.flaky),
            web.get("/ratelimited/{token}", self.ratelimited), web.get("/slow", self.slow),
            web.get("/huge", self.huge), web.get("/huge-declared", self.huge_declared),
            web.get("/loop/{name}", self.loop), web.get("/chain/{n}", self.chain),
            web.get("/redirect", self.redirect), web.get("/gb2312.html", self.gb2312),
            web.get("/cp1252.html", self.cp1252), web.get("/busy/{n}", self.busy),
        ])
        self._runner = web.AppRunner(app, handler_cancellation=True)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    @web.middleware
    async def _record(self, request: web.Request, handler):
        seen = Seen(request.path_qs, {k: v for k, v in request.headers.items()})
        self.requests.append(seen)
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        resp = await handler(request)
        seen.status = resp.status
        return resp

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _conditional(request: web.Request, body: bytes, content_type: str, *, etag: bool = True,
                     last_modified: bool = True, charset: str | None = "utf-8") -> web.Response:
        tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {}
        if etag:
            headers["ETag"] = tag
        if last_modified:
            headers["Last-Modified"] = LAST_MODIFIED
        if (etag and request.headers.get("If-None-Match") == tag) or (
                not etag and last_modified and request.headers.get("If-Modified-Since") == LAST_MODIFIED):
            return web.Response(status=304, headers=headers)
        ct = f"{content_type}; charset={charset}" if charset else content_type
        return web.Response(body=body, headers={**headers, "Content-Type": ct})

    def _body(self, request: web.Request, default: str) -> bytes:
        return self.overrides.get(request.path, default).encode("utf-8")

    # -- good content ------------------------------------------------------------------------

    async def rss(self, request):  # ETag and Last-Modified
        return self._conditional(request, self._body(request, rss_feed(self.base, RSS_RECORDS)), "application/rss+xml")

    async def atom(self, request):  # Last-Modified only
        return self._conditional(request, self._body(request, atom_feed(self.base, ATOM_RECORDS)),
                                 "application/atom+xml", etag=False)

    async def article(self, request):
        rec = next((r for r in [*RECORDS, *EXTRA.values()] if r["id"] == request.match_info["id"]), None)
        if rec is None:
            raise web.HTTPNotFound()
        return self._conditional(request, self._body(request, article_html(rec)), "text/html")

    async def mirror_feed(self, request):
        return self._conditional(request, self._body(request, mirror_feed_xml(self.base)), "application/rss+xml")

    async def mirror_article(self, request):
        rec = next(r for r in RECORDS if r["id"] == request.match_info["id"])
        edited = json.loads(json.dumps(rec))
        for sec in edited["sections"]:
            sec["paragraphs"] = [republish(p) for p in sec["paragraphs"]]
        edited["published"] = "2024-01-01"
        return self._conditional(request, article_html(edited).encode(), "text/html")

    async def static_feed(self, request):
        name = request.match_info["name"]
        if name not in self.overrides.get("__feeds__", {}):
            raise web.HTTPNotFound()
        return web.Response(body=self.overrides["__feeds__"][name].encode("utf-8"),
                            content_type="application/xml")

    async def empty(self, request):
        return self._conditional(request, b"""<?xml version="1.0"?><rss version="2.0"><channel>
<title>Nothing yet</title><link>http://example.com/</link><description>empty</description></channel></rss>""",
                                 "application/rss+xml")

    async def gb2312(self, request):  # charset only in the HTTP header
        page = f"""<html><head><title>抖音数据迁移与华为出货量</title>
<meta name="date" content="2020-07-12"></head><body><article><h1>抖音数据迁移与华为出货量</h1>
<p>{CHINESE_PARAGRAPHS[0]}</p><p>{CHINESE_PARAGRAPHS[1]}</p></article></body></html>"""
        return web.Response(body=page.encode("gb2312"), headers={"Content-Type": "text/html; charset=GB2312"})

    async def cp1252(self, request):  # charset only in <meta>, header without one
        page = f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>Luckin outgrows Starbucks</title><meta name="date" content="2021-03-04"></head><body><article>
<h1>Luckin outgrows Starbucks</h1><p>{CP1252_PARAGRAPHS[0]}</p><p>{CP1252_PARAGRAPHS[1]}</p></article></body></html>"""
        return self._conditional(request, page.encode("cp1252"), "text/html", charset=None)

    # -- bad cases ---------------------------------------------------------------------------

    async def gone(self, request):
        raise web.HTTPNotFound()

    async def malformed(self, request):
        return web.Response(body=b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title>
<item><title>One</titl></chanel></rs""", content_type="application/rss+xml")

    async def recoverable(self, request):
        rec = RSS_RECORDS[0]
        # an unescaped & in a title: not well-formed, yet feedparser's lenient parser recovers the entry
        return web.Response(body=f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Q&A feed</title>
<item><title>Tencent & the NBA</title><link>{self.base}/articles/{rec['id']}.html</link>
<guid>{rec['id']}</guid></item></channel></rss>""".encode(), content_type="application/rss+xml")

    async def flaky(self, request):  # 500 the first time, 200 after
        if self.hits[request.path] == 1:
            return web.Response(status=500, text="oops")
        return web.Response(body=article_html(EXTRA["flaky"]).encode(), content_type="text/html")

    async def ratelimited(self, request):  # 429 with Retry-After the first time
        if self.hits[request.path] == 1:
            return web.Response(status=429, headers={"Retry-After": request.query.get("after", "1")})
        return web.Response(body=article_html(EXTRA["ratelimited"]).encode(), content_type="text/html")

    async def slow(self, request):
        try:
            await asyncio.wait_for(self._release.wait(), timeout=10)
        except asyncio.TimeoutError:
            pass
        return web.Response(text="too late", content_type="text/html")

    async def huge(self, request):  # 50 MB, streamed without a length
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        chunk = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n"
        self.huge_open += 1
        try:
            while self.huge_sent < HUGE_BYTES:
                await resp.write(chunk)
                self.huge_sent += len(chunk)
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            self.huge_open -= 1
        return resp

    async def huge_declared(self, request):  # says 50 MB up front
        resp = web.StreamResponse(headers={"Content-Type": "text/html", "Content-Length": str(HUGE_BYTES)})
        await resp.prepare(request)
        try:
            await resp.write(b"<p>" + b"y" * 1000)
            await asyncio.wait_for(self._release.wait(), timeout=10)
        except (ConnectionResetError, asyncio.CancelledError, RuntimeError, asyncio.TimeoutError):
            pass
        return resp

    async def loop(self, request):
        other = "b" if request.match_info["name"] == "a" else "a"
        raise web.HTTPFound(f"/loop/{other}")

    async def chain(self, request):  # /chain/3 -> /chain/2 -> /chain/1 -> /chain/0 (a page)
        n = int(request.match_info["n"])
        if n > 0:
            raise web.HTTPFound(f"/chain/{n - 1}")
        return web.Response(body=article_html(EXTRA["chain"]).encode(), content_type="text/html")

    async def redirect(self, request):
        raise web.HTTPFound(request.query["to"])

    async def busy(self, request):  # measures how many requests the client keeps in flight
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.05)
        finally:
            self.in_flight -= 1
        return web.Response(text=f"<html><body><p>page {request.match_info['n']}</p></body></html>",
                            content_type="text/html")


def mirror_feed_xml(base: str) -> str:
    """A republisher's feed: three of the RSS stories on its own URLs, lightly edited."""
    items = "".join(f"""<item><title>{html.escape(r['title'])} (via mirror)</title>
<link>{base}/mirror/{r['id']}.html</link><guid>mirror-{r['id']}</guid></item>""" for r in RSS_RECORDS[:3])
    return f"""<?xml version="1.0"?><rss version="2.0"><channel>
<title>Mirror</title><link>{base}/</link>{items}</channel></rss>"""


def republish(paragraph: str) -> str:
    """What a scraper does to a paragraph: curly quotes, a word swapped, a credit appended."""
    text = paragraph.replace("'", "\u2019").replace(" said ", " stated ", 1)
    return text + " (via Roundup Mirror)"


def wait_until(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class StaticResolver(AbstractResolver):
    """DNS for tests: names map to fixed addresses; anything else fails, so nothing leaves the machine."""

    def __init__(self, names: dict[str, str]):
        self.names = names
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        self.calls.append(host)
        if host not in self.names:
            raise OSError(f"test resolver has no address for {host}")
        return [{"hostname": host, "host": self.names[host], "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def local_site():
    site = LocalSite().start()
    yield site
    site.stop()


@pytest.fixture
def site(local_site):
    """The running local site with its request log and counters cleared for this test."""
    local_site.reset()
    yield local_site
    local_site.reset()
