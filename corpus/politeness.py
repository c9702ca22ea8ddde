"""Crawling politely: robots.txt per host (fetched through the guarded Fetcher) and a request pace.

robots.txt is read with the standard library's `urllib.robotparser`, once per host per crawl.
As the robots exclusion standard (RFC 9309) says: a missing file (4xx) allows everything, and
one that cannot be read (5xx, timeout, refused) disallows everything for now; 401/403 disallow
too, as `robotparser` has always done. A Crawl-delay larger than our own pace is honoured; one
over `max_crawl_delay` makes the host off limits rather than crawled faster than it asked.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from .fetch import FetchError, Fetcher

log = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 512 * 1024  # Google reads the first 500 KiB


def host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


class Pacer:
    """One request at a time per host, and at least `interval` seconds from the end of one
    response to the start of the next request (the interval can grow per host)."""

    def __init__(self, interval: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep):
        self.interval = max(0.0, interval)
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.waited = 0.0  # seconds spent waiting, for reports and tests

    def slow_down(self, host: str, interval: float) -> None:
        """Use a longer interval for one host (a robots.txt Crawl-delay), from its last response on."""
        self._intervals[host] = max(self.interval, interval)
        if host in self._last:
            self._next[host] = self._last[host] + self._intervals[host]

    def interval_for(self, host: str) -> float:
        return self._intervals.get(host, self.interval)

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Hold the host's turn for one request (wait first if it came too soon)."""
        host = host_key(url)
        async with self._locks.setdefault(host, asyncio.Lock()):
            now = self._clock()
            due = self._next.get(host, now)
            if due > now:
                self.waited += due - now
                await self._sleep(due - now)
            try:
                yield
            finally:
                self._last[host] = self._clock()
                self._next[host] = self._last[host] + self.interval_for(host)


class RobotsRules:
    """robots.txt of each host a crawl touches, fetched once, through the Fetcher and the Pacer."""

    def __init__(self, fetcher: Fetcher, pacer: Pacer, *, max_crawl_delay: float = 60.0):
        self.fetcher = fetcher
        self.pacer = pacer
        self.max_crawl_delay = max_crawl_delay
        self._rules: dict[str, RobotFileParser] = {}
        self.notes: list[str] = []

    @property
    def agent(self) -> str:
        return self.fetcher.config.user_agent

    async def allowed(self, url: str) -> bool:
        rules = await self._for(host_key(url))
        return rules.can_fetch(self.agent, url)

    async def _for(self, host: str) -> RobotFileParser:
        if host not in self._rules:
            self._rules[host] = await self._load(host)
        return self._rules[host]

    async def _load(self, host: str) -> RobotFileParser:
        rules = RobotFileParser(host + "/robots.txt")
        try:
            async with self.pacer.slot(host + "/"):
                res = await self.fetcher.fetch(host + "/robots.txt", conditional=False,
                                               accept="text/plain, */*;q=0.1")
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403):
                rules.allow_all = True
            else:
                rules.disallow_all = True
                self.notes.append(f"{host}/robots.txt could not be read ({exc.reason}); nothing on {host} "
                                  "is fetched this time")
            return rules
        text = res.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
        rules.parse(text.splitlines())
        delay = rules.crawl_delay(self.agent)
        if delay is not None and float(delay) > self.pacer.interval_for(host):
            wanted = float(delay)
            if wanted > self.max_crawl_delay:  # too slow to be worth it; never faster than asked
                rules.disallow_all = True
                self.notes.append(f"{host} asks for {wanted:g}s between requests, more than the "
                                  f"{self.max_crawl_delay:g}s limit; nothing on {host} is fetched")
            else:
                self.pacer.slow_down(host, wanted)
        return rules
