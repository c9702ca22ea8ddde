"""corpus.fetch against a real aiohttp server on 127.0.0.1: limits, retries, redirects, the guard.

Nothing here leaves loopback: private and "public-looking" targets are refused by the guard
before any connection, and names are resolved by a static test resolver, never by DNS.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import aiohttp
import pytest

from corpus.fetch import (
    BlockedAddressError, BlockedURLError, FetchConfig, FetchError, Fetcher, FetchTimeoutError, GuardedResolver, HTTPStatusError,
    TooLargeError, TooManyRedirectsError, UrlGuard, ValidatorCache, address_problem, backoff_delay, create_session,
    decode_html, normalize_encoding, parse_retry_after,
)
from corpus.store import Store
from local_site import CHINESE_PARAGRAPHS, CP1252_PARAGRAPHS, HUGE_BYTES, StaticResolver, local_site, site, wait_until  # noqa: F401

UA = "RoundupBot-test/1.0 (+https://example.invalid/bot)"


def cfg(**kw) -> FetchConfig:
    base = dict(user_agent=UA, allow_private=True, retries=2, backoff=0.01, backoff_max=0.05, total_timeout=5.0,
                connect_timeout=2.0, per_host=4)
    base.update(kw)
    return FetchConfig(**base)


class Sleeps:
    """Records the waits between attempts instead of sitting through them."""

    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


# --- pure pieces ------------------------------------------------------------------------------

@pytest.mark.parametrize("address, problem", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.5.4", "private"), ("192.168.0.10", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"), ("100.64.1.1", "non-public"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("2002:7f00:1::", "loopback"),
    ("93.184.216.34", None), ("2606:4700::1111", None), ("not-an-ip", "invalid"),
])
def test_address_problem(address, problem):
    assert address_problem(address) == problem


@pytest.mark.parametrize("url, fragment", [
    ("ftp://example.com/feed.xml", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("http:///nohost", "no host"),
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://[::1]:8080/", "::1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.7/admin", "private"),
    ("http://news.example.com/feed", "news.example.com resolves to 127.0.0.1, which is a loopback address"),
    ("http://intranet.example.com/", "resolves to 192.168.1.20, which is a private address"),
    ("http://2130706433/", "cannot resolve"),  # a numeric host is a name to resolve, not an address to trust
])
async def test_guard_refuses_with_one_line_reason(url, fragment):
    resolver = StaticResolver({"news.example.com": "127.0.0.1", "intranet.example.com": "192.168.1.20"})
    with pytest.raises(FetchError) as exc:
        await UrlGuard(allow_private=False, resolver=resolver).check(url)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


async def test_guard_allows_public_hosts_and_exemptions():
    resolver = StaticResolver({"feeds.example.org": "93.184.216.34", "rsshub.lan": "192.168.1.5"})
    guard = UrlGuard(allow_private=False, allowed_hosts=["rsshub.lan:1200"], resolver=resolver)
    assert (await guard.check("https://feeds.example.org/rss")).host == "feeds.example.org"
    assert (await guard.check("http://rsshub.lan:1200/telegram/channel/x")).port == 1200
    with pytest.raises(BlockedURLError):
        await guard.check("http://rsshub.lan:22/")  # the exemption names a port
    assert await UrlGuard(allow_private=True, resolver=resolver).check("http://rsshub.lan/")


async def test_guarded_resolver_blocks_at_connect_time(site):
    """The owned session checks addresses when connecting too (DNS rebinding), not only beforehand."""
    guard = UrlGuard(allow_private=False)
    resolver = GuardedResolver(guard, StaticResolver({"news.example.com": "127.0.0.1"}))
    with pytest.raises(BlockedAddressError):
        await resolver.resolve("news.example.com", site.port)
    session = create_session(cfg(allow_private=False), resolver=StaticResolver({"news.example.com": "127.0.0.1"}))
    async with session:
        with pytest.raises(aiohttp.ClientConnectorError) as exc:
            await session.get(f"http://news.example.com:{site.port}/articles/cr-2019-10-20.html")
    assert isinstance(exc.value.os_error, BlockedAddressError)
    assert site.requests == []


async def test_the_session_refuses_private_addresses_at_the_socket(site):
    """IP literals never reach a resolver: the socket factory checks the address actually dialled."""
    async with create_session(cfg(allow_private=False)) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as exc:
            await session.get(site.url("/rss.xml"))
        assert "127.0.0.1 is a loopback address" in str(exc.value.os_error)
    assert site.requests == []
    exempt = cfg(allow_private=False, allowed_hosts=frozenset({f"127.0.0.1:{site.port}"}))
    async with create_session(exempt) as session, session.get(site.url("/rss.xml")) as resp:
        assert resp.status == 200
    named = cfg(allow_private=False, allowed_hosts=frozenset({f"feeds.lan:{site.port}"}))
    async with create_session(named, resolver=StaticResolver({"feeds.lan": "127.0.0.1"})) as session:
        async with session.get(f"http://feeds.lan:{site.port}/rss.xml") as resp:
            assert resp.status == 200  # an exempt name's addresses pass the socket check too
        with pytest.raises(aiohttp.ClientConnectorError) as exc:
            await session.get("http://127.0.0.1:9/")  # the exemption covers that port only
        assert "loopback" in str(exc.value.os_error)


def test_retry_after_and_backoff():
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    import random

    rng = random.Random(3)
    delays = [backoff_delay(n, 1.0, 8.0, rng) for n in range(6)]
    for n, d in enumerate(delays):
        ceiling = min(8.0, 2 ** n)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 8.0


@pytest.mark.parametrize("body, declared, expected, codec", [
    ("\u4e2d\u6587\u65b0\u95fb\uff0c\u534e\u4e3a\u624b\u673a".encode("gb2312"), "GB2312", "\u534e\u4e3a", "gb18030"),
    ("caf\u00e9 \u201cquoted\u201d".encode("cp1252"), "ISO-8859-1", "\u201cquoted\u201d", "cp1252"),
    ('<meta charset="windows-1252"><p>na\u00efve \u2014 dash</p>'.encode("cp1252"), None, "na\u00efve \u2014", "cp1252"),
    # the header lies (says UTF-8): the meta tag's charset is used instead of mojibake
    ('<meta charset="gbk"><p>\u6296\u97f3\u7684\u6570\u636e</p>'.encode("gbk"), "utf-8", "\u6296\u97f3", "gb18030"),
    ("\ufeffBOM first".encode("utf-8"), "cp1252", "BOM first", "utf-8-sig"),
])
def test_decode_html(body, declared, expected, codec):
    text, used = decode_html(body, declared)
    assert expected in text
    assert used == codec


def test_decode_html_guesses_an_undeclared_charset():
    body = ("<p>" + "".join(CHINESE_PARAGRAPHS) + "</p>").encode("gb18030")
    text, _ = decode_html(body, None)
    assert CHINESE_PARAGRAPHS[1] in text


def test_normalize_encoding():
    assert normalize_encoding("GB2312") == "gb18030"
    assert normalize_encoding("Latin-1") == "cp1252"
    assert normalize_encoding("utf8") == "utf-8"
    assert normalize_encoding("no-such-charset") is None


# --- against the local server ---------------------------------------------------------------

async def test_get_sends_user_agent_and_decodes_charsets(site):
    async with Fetcher(cfg()) as f:
        gb = await f.fetch(site.url("/gb2312.html"))
        cp = await f.fetch(site.url("/cp1252.html"))
    assert gb.status == 200 and gb.charset == "GB2312"
    assert CHINESE_PARAGRAPHS[0] in gb.text()
    assert CP1252_PARAGRAPHS[0] in cp.text()
    assert {r.headers["User-Agent"] for r in site.requests} == {UA}


async def test_500_then_200_is_retried_with_backoff(site):
    sleeps = Sleeps()
    async with Fetcher(cfg(backoff=0.5, backoff_max=10), sleep=sleeps) as f:
        res = await f.fetch(site.url("/flaky/a"))
    assert res.status == 200 and res.attempts == 2
    assert [r.status for r in site.seen("/flaky/a")] == [500, 200]
    assert len(sleeps.delays) == 1 and 0.25 <= sleeps.delays[0] <= 0.5


async def test_429_honours_retry_after(site):
    sleeps = Sleeps()
    async with Fetcher(cfg(retry_after_max=60), sleep=sleeps) as f:
        res = await f.fetch(site.url("/ratelimited/b?after=7"))
    assert res.status == 200
    assert sleeps.delays == [7.0]
    assert [r.status for r in site.seen("/ratelimited/b")] == [429, 200]


async def test_retry_after_over_the_cap_gives_up_without_hammering(site):
    sleeps = Sleeps()
    async with Fetcher(cfg(retry_after_max=60), sleep=sleeps) as f:
        with pytest.raises(HTTPStatusError) as exc:
            await f.fetch(site.url("/ratelimited/c?after=3600"))
    assert exc.value.status == 429
    assert "asked to wait 3600s" in str(exc.value) and "60s limit" in str(exc.value)
    assert len(site.seen("/ratelimited/c")) == 1 and sleeps.delays == []


async def test_404_is_not_retried(site):
    sleeps = Sleeps()
    async with Fetcher(cfg(), sleep=sleeps) as f:
        with pytest.raises(HTTPStatusError) as exc:
            await f.fetch(site.url("/missing"))
    assert exc.value.status == 404 and str(exc.value) == "HTTP 404 Not Found"
    assert len(site.seen("/missing")) == 1 and sleeps.delays == []


async def test_slow_response_times_out_after_retries(site):
    sleeps = Sleeps()
    async with Fetcher(cfg(total_timeout=0.2, retries=1), sleep=sleeps) as f:
        with pytest.raises(FetchTimeoutError) as exc:
            await f.fetch(site.url("/slow"))
    assert "timed out" in str(exc.value) and "after 2 attempts" in str(exc.value)
    assert len(site.seen("/slow")) == 2 and len(sleeps.delays) == 1


async def test_50mb_body_is_refused_while_streaming(site):
    async with Fetcher(cfg(max_body_bytes=5 * 1024 * 1024)) as f:
        with pytest.raises(TooLargeError) as exc:
            await f.fetch(site.url("/huge"))
    assert "5,242,880-byte limit" in str(exc.value)
    assert wait_until(lambda: site.huge_open == 0)
    assert site.huge_sent < HUGE_BYTES  # the server was cut off, not read to the end


async def test_declared_50mb_body_is_refused_before_reading(site):
    async with Fetcher(cfg()) as f:
        with pytest.raises(TooLargeError) as exc:
            await f.fetch(site.url("/huge-declared"))
    assert "52,428,800 bytes" in str(exc.value)


async def test_redirects_are_followed_up_to_five(site):
    async with Fetcher(cfg()) as f:
        res = await f.fetch(site.url("/chain/5"))
        assert res.status == 200 and len(res.redirects) == 5 and res.final_url.endswith("/chain/0")
        with pytest.raises(TooManyRedirectsError) as exc:
            await f.fetch(site.url("/chain/6"))
        assert "more than 5 redirects" in str(exc.value)
        with pytest.raises(TooManyRedirectsError) as exc:
            await f.fetch(site.url("/loop/a"))
        assert "redirect loop" in str(exc.value)
    assert len(site.seen("/loop/")) == 2


async def test_redirect_to_private_address_is_refused_with_the_setting_off(site):
    """Only the test server itself is exempted (by host:port); where it redirects is checked like any URL."""
    resolver = StaticResolver({"intranet.example.test": "127.0.0.1"})
    config = cfg(allow_private=False, allowed_hosts=frozenset({f"127.0.0.1:{site.port}"}))
    async with Fetcher(config, resolver=resolver) as f:
        assert (await f.fetch(site.url("/articles/cr-2019-10-20.html"))).status == 200
        with pytest.raises(BlockedURLError) as exc:
            await f.fetch(site.url("/redirect?to=http://10.11.12.13/admin"))
        assert "10.11.12.13 is a private address" in str(exc.value)
        with pytest.raises(BlockedURLError) as exc:
            await f.fetch(site.url("/redirect?to=http://169.254.169.254/latest/meta-data/"))
        assert "link-local" in str(exc.value)
        target = f"http://intranet.example.test:{site.port}/articles/cr-2019-10-20.html"
        with pytest.raises(BlockedURLError) as exc:
            await f.fetch(site.url(f"/redirect?to={target}"))
        assert "resolves to 127.0.0.1, which is a loopback address" in str(exc.value)
        assert "ROUNDUP_ALLOW_PRIVATE_URLS" in str(exc.value)
    # the redirecting server was asked; the targets never were
    assert [r.path.split("?")[0] for r in site.requests] == ["/articles/cr-2019-10-20.html"] + ["/redirect"] * 3


async def test_loopback_is_refused_when_not_allowed(site):
    async with Fetcher(cfg(allow_private=False)) as f:
        with pytest.raises(BlockedURLError):
            await f.fetch(site.url("/rss.xml"))
    assert site.requests == []


async def test_conditional_get_with_etag_and_last_modified(site, tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    cache = ValidatorCache(store)
    async with Fetcher(cfg(), cache=cache) as f:
        for path in ("/rss.xml", "/atom.xml"):
            first = await f.fetch(site.url(path))
            assert first.status == 200
            await f.remember(first)
            second = await f.fetch(site.url(path))
            assert second.not_modified and second.body == b""
            unconditional = await f.fetch(site.url(path), conditional=False)
            assert unconditional.status == 200
    rss = site.seen("/rss.xml")
    assert [r.status for r in rss] == [200, 304, 200]
    assert "If-None-Match" in rss[1].headers and "If-None-Match" not in rss[2].headers
    atom = site.seen("/atom.xml")  # Last-Modified only
    assert [r.status for r in atom] == [200, 304, 200]
    assert "If-Modified-Since" in atom[1].headers and "If-None-Match" not in atom[1].headers
    assert cache.get(site.url("/rss.xml")).etag
    store.close()


async def test_concurrency_is_bounded_per_host_and_in_total(site):
    async with aiohttp.ClientSession() as session:  # a caller's session with a roomy connector
        async with Fetcher(cfg(per_host=2, concurrency=8), session=session) as f:
            results = await asyncio.gather(*(f.fetch(site.url(f"/busy/{n}")) for n in range(12)))
        assert all(r.status == 200 for r in results)
        assert site.max_in_flight == 2
        site.reset()
        async with Fetcher(cfg(per_host=10, concurrency=3), session=session) as f:
            await asyncio.gather(*(f.fetch(site.url(f"/busy/{n}")) for n in range(12)))
        assert site.max_in_flight == 3
        assert not session.closed  # a passed-in session is the caller's to close
