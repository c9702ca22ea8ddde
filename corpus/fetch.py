"""A polite, bounded and SSRF-safe HTTP client for feeds and article pages (aiohttp).

What it promises, because it runs unattended inside the Discord bot:
- one session (passed in, or owned and closed by the `Fetcher`), bounded concurrency in total
  and per host, connect and total timeouts;
- retries with exponential backoff and jitter on 408, 429, 5xx, timeouts and dropped
  connections, honouring Retry-After up to a cap (a longer wait gives up instead of ignoring it);
- a maximum body size enforced while streaming (a declared Content-Length over it is refused
  before any of the body is read), charset handling for non-UTF-8 pages;
- redirects followed by hand, at most `max_redirects`, each target checked by the guard;
- conditional GET: ETag/Last-Modified kept per URL in SQLite (`ValidatorCache`), saved by the
  caller only once it has used the response, so a failed ingest is retried in full next time;
- a guard: http/https only, no host that resolves to a loopback, private, link-local,
  multicast or reserved address unless allowed. It checks every hop before connecting, and a
  session from `create_session` checks again at connect time (`GuardedResolver` for names,
  `guarded_socket_factory` for the address actually dialled), which closes DNS rebinding.

Every failure is a `FetchError` subclass whose str() is one line fit for a report.
"""
from __future__ import annotations

import asyncio
import codecs
import email.utils
import ipaddress
import logging
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from corpus.errors import RoundupError

if TYPE_CHECKING:
    from corpus.store import Store

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "RoundupBot/0.1 (+https://github.com/roundup-bot; China tech roundup reader)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})
ACCEPT_ANY = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
              "text/xml;q=0.9, text/html;q=0.8, application/xhtml+xml;q=0.8, */*;q=0.5")
_CHUNK = 64 * 1024


# --- errors -------------------------------------------------------------------------------

class FetchError(RoundupError):
    """A URL that could not be fetched; str() is the one-line reason, `status` the HTTP status if any."""

    kind = "error"

    def __init_subclass__(cls, kind: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind  # reports and the ingest log group failures by it

    def __init__(self, reason: str, *, url: str | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.url = url
        self.status = status


class BlockedURLError(FetchError, kind="blocked"):
    """Refused before any connection: a scheme other than http(s) or a non-public address."""


class HTTPStatusError(FetchError, kind="http"):
    """An error status (4xx, or 5xx after the retries): `status` holds it."""


class TooLargeError(FetchError, kind="too_large"):
    """The body passed `max_body_bytes`; reading stopped there."""


class TooManyRedirectsError(FetchError, kind="redirects"):
    """A redirect loop, or more hops than the fetcher follows."""


class FetchTimeoutError(FetchError, kind="timeout"):
    """The connect or total timeout ran out, after the retries."""


class ConnectError(FetchError, kind="connect"):
    """DNS failure, refused or dropped connection, broken response."""


class BlockedAddressError(RoundupError, OSError):
    """Raised at connect time (resolver or socket factory); an OSError so aiohttp passes it through."""

    MARK = "blocked: "  # survives aiohttp folding several connect errors into one message


class _Retry(Exception):
    """Internal: a failure worth another attempt, with the error to raise if none is left."""

    def __init__(self, error: FetchError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


# --- configuration --------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchConfig:
    user_agent: str = DEFAULT_USER_AGENT
    max_body_bytes: int = 5 * 1024 * 1024
    connect_timeout: float = 10.0
    total_timeout: float = 20.0
    max_redirects: int = 5
    retries: int = 3  # further attempts after the first
    backoff: float = 1.0  # first retry waits about this long, doubling each time
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # a server asking for a longer wait is given up on, not ignored
    concurrency: int = 8
    per_host: int = 2
    # Bounds on a slow host: one URL's attempts together (retries and waits included), one source
    # (a feed and its entries, or a page), one whole refresh; and entries read per feed, newest first.
    url_deadline: float = 45.0
    source_deadline: float = 60.0
    refresh_deadline: float = 900.0
    feed_max_entries: int = 100
    keepalive: float = 15.0  # seconds an idle connection waits for the next request; 0 closes each one
    allow_private: bool = False
    # "host" or "host:port" exempt from the private-address rule (a self-hosted RSSHub on the LAN)
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so retries from many
    clients spread out but none comes back immediately."""
    ceiling = min(cap, base * (2 ** attempt))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


# --- the guard ------------------------------------------------------------------------------

def address_problem(address: str) -> str | None:
    """Why an IP address must not be fetched from ('loopback', 'private', ...), or None if public.

    IPv4-mapped and 6to4 IPv6 addresses are judged by the IPv4 address inside them.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "invalid"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is not None:
            return address_problem(str(inner))
    for name, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                       ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                       ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if flag:
            return name
    if not ip.is_global:
        return "non-public"  # e.g. 100.64.0.0/10, the carrier-grade NAT range
    return None


def _host_key(host: str, port: int | None) -> tuple[str, str]:
    host = host.lower().rstrip(".")
    return host, f"{host}:{port}" if port else host


class UrlGuard:
    """Decides whether a URL may be fetched, resolving its host with `resolver` (the system's by default)."""

    def __init__(self, *, allow_private: bool = False, allowed_hosts: Iterable[str] = (),
                 resolver: AbstractResolver | None = None):
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self._resolver = resolver
        # (ip, port) pairs that exempt host names resolved to, so the socket check lets them through
        self.exempt_addresses: set[tuple[str, int]] = set()

    def exempt(self, host: str, port: int | None) -> bool:
        if self.allow_private:
            return True
        bare, with_port = _host_key(host, port)
        return bare in self.allowed_hosts or with_port in self.allowed_hosts

    async def check(self, url: str | URL) -> URL:
        """The parsed URL if it may be fetched; BlockedURLError (or ConnectError for DNS) if not."""
        try:
            u = URL(str(url))
        except (ValueError, TypeError):
            raise BlockedURLError("not a valid URL", url=str(url)) from None
        if u.scheme not in ("http", "https"):
            raise BlockedURLError(f"only http and https URLs are fetched, not {u.scheme or 'a bare path'}",
                                  url=str(url))
        if not u.host:
            raise BlockedURLError("the URL has no host", url=str(url))
        if self.exempt(u.host, u.port):
            return u
        for address in await self._addresses(u.host, u.port or 0, str(url)):
            problem = address_problem(address)
            if problem:
                what = address if u.host == address else f"{u.host} resolves to {address}, which"
                raise BlockedURLError(f"{what} is a {problem} address; refused "
                                      "(set ROUNDUP_ALLOW_PRIVATE_URLS=1 to allow)", url=str(url))
        return u

    async def _addresses(self, host: str, port: int, url: str) -> list[str]:
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            return [host]
        except ValueError:
            pass
        resolver = self._resolver or aiohttp.ThreadedResolver()
        try:
            found = await resolver.resolve(host, port, socket.AF_UNSPEC)
        except OSError as exc:
            raise ConnectError(f"cannot resolve {host} ({exc.strerror or exc})", url=url) from None
        if not found:
            raise ConnectError(f"cannot resolve {host}", url=url)
        return [r["host"] for r in found]


class GuardedResolver(AbstractResolver):
    """Wraps a resolver so a session cannot connect to a blocked address even if DNS changes
    between the guard's check and the connection (DNS rebinding)."""

    def __init__(self, guard: UrlGuard, inner: AbstractResolver | None = None):
        self.guard = guard
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if self.guard.exempt(host, port):
            self.guard.exempt_addresses.update((r["host"], port) for r in found)
            return found
        for r in found:
            problem = address_problem(r["host"])
            if problem:
                raise BlockedAddressError(
                    f"{BlockedAddressError.MARK}{host} resolves to {r['host']}, which is a {problem} address")
        return found

    async def close(self) -> None:
        await self.inner.close()


def guarded_socket_factory(guard: UrlGuard) -> Callable[[tuple], socket.socket]:
    """The last check, on the address actually connected to: IP literals skip the resolver, and
    this also holds if anything above it were bypassed."""

    def factory(addr_info: tuple) -> socket.socket:
        family, type_, proto, _, address = addr_info
        ip, port = str(address[0]), int(address[1])
        if not (guard.exempt(ip, port) or (ip, port) in guard.exempt_addresses):
            problem = address_problem(ip)
            if problem:
                raise BlockedAddressError(f"{BlockedAddressError.MARK}{ip} is a {problem} address")
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


# --- conditional GET state ------------------------------------------------------------------

@dataclass(frozen=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def request_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class ValidatorCache:
    """ETag/Last-Modified per URL in the store's SQLite file (blocking: call it from a thread)."""

    DDL = """
    CREATE TABLE IF NOT EXISTS http_validators (
        url TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        updated_at TEXT NOT NULL
    );
    """

    def __init__(self, store: "Store"):
        self.store = store
        store.migrate("validators", (self.DDL,))  # append a step to change these tables

    def get(self, url: str) -> Validators | None:
        rows = self.store.execute("SELECT etag, last_modified FROM http_validators WHERE url = ?", (url,))
        return Validators(rows[0]["etag"], rows[0]["last_modified"]) if rows else None

    def put(self, url: str, validators: Validators) -> None:
        if not validators:
            self.forget(url)
            return
        from corpus.store import utcnow

        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO http_validators(url, etag, last_modified, updated_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT(url) DO UPDATE SET etag=excluded.etag, last_modified=excluded.last_modified,
                     updated_at=excluded.updated_at""",
                (url, validators.etag, validators.last_modified, utcnow()))

    def forget(self, url: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM http_validators WHERE url = ?", (url,))


# --- charsets -------------------------------------------------------------------------------

# What browsers actually decode these labels as (WHATWG Encoding Standard): pages labelled
# GB2312 routinely contain GBK characters, "ISO-8859-1" pages contain windows-1252 quotes.
_ENCODING_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "euc-cn": "gb18030", "gb_2312-80": "gb18030",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "big5": "big5hkscs", "shift_jis": "cp932", "sjis": "cp932",
    "x-sjis": "cp932", "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "tis-620": "cp874",
}
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_CHARSET_PARAM_RE = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def normalize_encoding(label: str | None) -> str | None:
    """A Python codec name for a charset label, browser-compatible; None if unknown."""
    if not label:
        return None
    label = label.strip().strip("'\"").lower()
    label = _ENCODING_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    m = _CHARSET_PARAM_RE.search(content_type or "")
    return m.group(1) if m else None


def decode_html(body: bytes, declared: str | None = None) -> tuple[str, str]:
    """(text, codec) for an HTML body: BOM, then the HTTP charset, then <meta charset>, then
    UTF-8, then a statistical guess (charset-normalizer), then windows-1252 with replacements.

    A declared charset that fails to decode the bytes strictly is skipped: a wrong header is
    common, mojibake in the index is worse.
    """
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(codec, errors="replace"), codec
    candidates: list[str] = []
    meta = _META_CHARSET_RE.search(body[:4096])
    for label in (declared, meta.group(1).decode("ascii", "ignore") if meta else None, "utf-8"):
        codec = normalize_encoding(label)
        if codec and codec not in candidates:
            candidates.append(codec)
    for codec in candidates:
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
    except Exception:  # a guesser failing is no reason to lose the page
        best = None
    if best is not None and best.encoding:
        return body.decode(best.encoding, errors="replace"), best.encoding
    return body.decode("cp1252", errors="replace"), "cp1252"


# --- results --------------------------------------------------------------------------------

@dataclass
class FetchResult:
    url: str  # as asked
    final_url: str  # after redirects
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    attempts: int = 1
    redirects: tuple[str, ...] = ()

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        return charset_from_content_type(self.headers.get("Content-Type"))

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("ETag"), self.headers.get("Last-Modified"))

    def text(self) -> str:
        return decode_html(self.body, self.charset)[0]


# --- the client -----------------------------------------------------------------------------

def create_session(config: FetchConfig, *, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A session whose connector enforces the guard and the connection limits.

    The bot creates its one session with this, so pages fetched through it get the same
    protection as the CLI's. No cookies are kept: fetching is stateless and leaves no trail.
    """
    guard = UrlGuard(allow_private=config.allow_private, allowed_hosts=config.allowed_hosts)
    pooling = {"keepalive_timeout": config.keepalive} if config.keepalive > 0 else {"force_close": True}
    connector = aiohttp.TCPConnector(limit=max(1, config.concurrency), limit_per_host=max(1, config.per_host),
                                     resolver=GuardedResolver(guard, resolver), ttl_dns_cache=60,
                                     socket_factory=guarded_socket_factory(guard), **pooling)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": config.user_agent},
                                 cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False)


class Fetcher:
    """GET with the limits above. Use as `async with Fetcher(config) as f: await f.fetch(url)`.

    `session`: the caller's (left open) or None to own one. `resolver` replaces DNS for the
    guard and an owned session (tests map names to 127.0.0.1 with it). `sleep` is the wait
    between attempts (asyncio.sleep; tests record the delays instead of sitting through them).
    """

    def __init__(self, config: FetchConfig | None = None, *, session: aiohttp.ClientSession | None = None,
                 cache: ValidatorCache | None = None, resolver: AbstractResolver | None = None,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep):
        self.config = config or FetchConfig()
        self.cache = cache
        self.guard = UrlGuard(allow_private=self.config.allow_private, allowed_hosts=self.config.allowed_hosts,
                              resolver=resolver)
        self._resolver = resolver
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._total = asyncio.Semaphore(max(1, self.config.concurrency))
        self._hosts: dict[str, asyncio.Semaphore] = {}
        connect = min(self.config.connect_timeout, self.config.total_timeout)  # never longer than the whole
        self._timeout = aiohttp.ClientTimeout(total=self.config.total_timeout, connect=connect, sock_connect=connect)
        self.requests = 0  # HTTP requests sent, redirects and retries included

    async def __aenter__(self) -> "Fetcher":
        if self._session is None:
            self._session = create_session(self.config, resolver=self._resolver)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(max(1, self.config.per_host))
        return self._hosts[host]

    async def validators_for(self, url: str) -> Validators | None:
        return await asyncio.to_thread(self.cache.get, url) if self.cache else None

    async def remember(self, result: FetchResult) -> None:
        """Keep the response's validators for the next conditional GET: call once it has been used."""
        if self.cache and result.status == 200:
            await asyncio.to_thread(self.cache.put, result.url, result.validators)

    async def fetch(self, url: str, *, conditional: bool = True, accept: str = ACCEPT_ANY) -> FetchResult:
        """The response (200, or 304 when `conditional` and the cached validators still hold).

        Raises a FetchError subclass; its str() says why in one line.
        """
        if self._session is None:
            raise RuntimeError("use `async with Fetcher(...)` or pass a session")
        validators = await self.validators_for(url) if conditional else None
        deadline = self.config.url_deadline
        try:
            async with asyncio.timeout(deadline if deadline > 0 else None):
                return await self._attempts(url, validators, accept)
        except TimeoutError:
            raise FetchTimeoutError(f"gave up after {deadline:g}s (the limit per URL, retries included)",
                                    url=url) from None

    async def _attempts(self, url: str, validators: Validators | None, accept: str) -> FetchResult:
        """The first attempt and the retries; `fetch` bounds them all by `url_deadline`."""
        cfg = self.config
        attempt = 0
        while True:
            try:
                result = await self._follow(url, validators, accept)
                result.attempts = attempt + 1
                return result
            except _Retry as retry:
                error = retry.error
                if retry.retry_after is not None and retry.retry_after > cfg.retry_after_max:
                    raise type(error)(f"{error.reason}; the server asked to wait {retry.retry_after:.0f}s, "
                                      f"more than the {cfg.retry_after_max:.0f}s limit", url=url,
                                      status=error.status) from None
                if attempt >= cfg.retries:
                    suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise type(error)(f"{error.reason}{suffix}", url=url, status=error.status) from None
                delay = retry.retry_after if retry.retry_after is not None else backoff_delay(
                    attempt, cfg.backoff, cfg.backoff_max)
                log.info("retrying %s in %.2fs: %s", url, delay, error.reason)
                attempt += 1
                await self._sleep(delay)  # outside the semaphores: a waiting retry holds no slot

    async def _follow(self, url: str, validators: Validators | None, accept: str) -> FetchResult:
        cfg = self.config
        current = url
        seen = [url]
        for _hop in range(cfg.max_redirects + 1):
            target = await self.guard.check(current)
            result = await self._get(url, target, validators, accept)
            if isinstance(result, FetchResult):
                result.redirects = tuple(seen[1:])
                return result
            location = result
            if location in seen:
                raise TooManyRedirectsError(f"redirect loop: {current} leads back to {location}", url=url)
            seen.append(location)
            current = location
        raise TooManyRedirectsError(f"more than {cfg.max_redirects} redirects", url=url)

    async def _get(self, url: str, target: URL, validators: Validators | None, accept: str) -> FetchResult | str:
        """One request: a final result, or the absolute URL a redirect points to."""
        cfg = self.config
        headers = {"User-Agent": cfg.user_agent, "Accept": accept}
        if validators:
            headers.update(validators.request_headers())
        assert self._session is not None
        async with self._host_slot(target.host or ""), self._total:
            self.requests += 1
            try:
                async with self._session.get(target, headers=headers, allow_redirects=False,
                                             timeout=self._timeout, max_line_size=16384,
                                             max_field_size=16384) as resp:
                    status = resp.status
                    if status in REDIRECT_STATUSES:
                        location = resp.headers.get("Location")
                        if not location:
                            raise HTTPStatusError(f"HTTP {status} redirect without a Location", url=url, status=status)
                        try:
                            return str(resp.url.join(URL(location)))
                        except ValueError:
                            raise HTTPStatusError(f"HTTP {status} redirect to an invalid URL", url=url,
                                                  status=status) from None
                    if status == 304 and validators:
                        return FetchResult(url, str(resp.url), 304, CIMultiDictProxy(CIMultiDict(resp.headers)))
                    if status in RETRY_STATUSES or 500 <= status < 600:
                        error = HTTPStatusError(f"HTTP {status} {resp.reason or ''}".strip(), url=url, status=status)
                        if status in RETRY_STATUSES:
                            raise _Retry(error, parse_retry_after(resp.headers.get("Retry-After")))
                        raise error
                    if not 200 <= status < 300:
                        raise HTTPStatusError(f"HTTP {status} {resp.reason or ''}".strip(), url=url, status=status)
                    body = await self._read_body(resp, url)
                    return FetchResult(url, str(resp.url), status, CIMultiDictProxy(CIMultiDict(resp.headers)), body)
            except (FetchError, _Retry):
                raise
            except asyncio.TimeoutError:
                raise _Retry(FetchTimeoutError(f"timed out (limit {cfg.total_timeout:g}s)", url=url)) from None
            except aiohttp.ClientConnectorError as exc:
                detail = str(exc.os_error)
                if isinstance(exc.os_error, BlockedAddressError) or BlockedAddressError.MARK in detail:
                    detail = detail[detail.index(BlockedAddressError.MARK) + len(BlockedAddressError.MARK):]
                    raise BlockedURLError(f"{detail.splitlines()[0]}; refused "
                                          "(set ROUNDUP_ALLOW_PRIVATE_URLS=1 to allow)", url=url) from None
                if isinstance(exc, aiohttp.ClientConnectorDNSError):
                    raise ConnectError(f"cannot resolve {target.host}", url=url) from None
                raise ConnectError(f"cannot connect to {target.host}:{target.port} "
                                   f"({exc.os_error.strerror or exc.os_error})", url=url) from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
                raise _Retry(ConnectError(f"connection dropped ({type(exc).__name__})", url=url)) from None
            except aiohttp.InvalidURL:
                raise BlockedURLError("not a valid URL", url=url) from None
            except aiohttp.ClientResponseError as exc:
                raise ConnectError(f"bad HTTP response ({exc.message or type(exc).__name__})".splitlines()[0],
                                   url=url, status=exc.status or None) from None
            except aiohttp.ClientError as exc:
                raise ConnectError(f"request failed ({type(exc).__name__}: {exc})".splitlines()[0], url=url) from None

    async def _read_body(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        limit = self.config.max_body_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise TooLargeError(f"body of {declared:,} bytes is over the {limit:,}-byte limit", url=url,
                                status=resp.status)
        buf = bytearray()
        started = time.perf_counter()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            buf += chunk
            if len(buf) > limit:  # counts decompressed bytes, so a gzip bomb stops here too
                raise TooLargeError(f"body is over the {limit:,}-byte limit (stopped reading)", url=url,
                                    status=resp.status)
        log.debug("read %s bytes from %s in %.3fs", len(buf), url, time.perf_counter() - started)
        return bytes(buf)
