"""Web ingest timings against the local test site on 127.0.0.1 (nothing leaves the machine).

    HF_HUB_OFFLINE=1 python benchmarks/bench_web.py

Prints tables: fetch latency and throughput, page parsing, the near-duplicate filter at
corpus sizes, and a first versus an unchanged (conditional) feed ingest end to end.
"""
from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_env import ROOT  # noqa: E402  (offline env, import paths: benchmarks/bench_env.py)

sys.path.insert(0, str(ROOT / "tests"))

from local_site import RECORDS, LocalSite, article_html  # noqa: E402

from bot.service import RoundupService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from corpus.dedup import DuplicateIndex  # noqa: E402
from corpus.feeds import page_article  # noqa: E402
from corpus.fetch import FetchConfig, Fetcher  # noqa: E402
from corpus.model import Article, Section  # noqa: E402
from corpus.passages import split_article  # noqa: E402
from corpus.store import Store  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def row(*cells) -> None:
    print("  ".join(f"{c:>14}" if i else f"{c:<34}" for i, c in enumerate(cells)))


async def bench_fetch(site: LocalSite) -> None:
    print("\nfetch: article pages from one local host (loopback, so this is client overhead)")
    row("mode", "p50 ms", "p99 ms", "pages/s")
    urls = [site.url(f"/articles/{RECORDS[i % len(RECORDS)]['id']}.html?n={i}") for i in range(300)]
    async with Fetcher(FetchConfig(allow_private=True)) as f:
        lat = []
        t0 = time.perf_counter()
        for url in urls[:100]:
            t = time.perf_counter()
            await f.fetch(url, conditional=False)
            lat.append((time.perf_counter() - t) * 1000)
        row("one at a time", f"{pct(lat, 50):.2f}", f"{pct(lat, 99):.2f}", f"{100 / (time.perf_counter() - t0):.0f}")
    for per_host, total in ((2, 8), (8, 16)):
        async with Fetcher(FetchConfig(allow_private=True, per_host=per_host, concurrency=total)) as f:
            t0 = time.perf_counter()
            await asyncio.gather(*(f.fetch(u, conditional=False) for u in urls))
            wall = time.perf_counter() - t0
        row(f"300 at once, per_host={per_host}", "", "", f"{300 / wall:.0f}")


def bench_parse() -> None:
    pages = [(r, article_html(r)) for r in RECORDS]
    page_article(pages[0][1], url="http://x/warm")
    times = []
    for _ in range(3):
        for rec, html in pages:
            t = time.perf_counter()
            page_article(html, url=f"http://x/{rec['id']}")
            times.append((time.perf_counter() - t) * 1000)
    print("\nparse: trafilatura + date + cleaning, per page")
    row("pages", "p50 ms", "p99 ms", "")
    row(str(len(times)), f"{statistics.median(times):.1f}", f"{pct(times, 99):.1f}", "")


WORDS = ("Alibaba Tencent ByteDance Huawei Xiaomi Baidu Meituan Didi Pinduoduo JD Nio regulators shipments funding "
         "quarter users growth market launch phones cloud payments video games chips court ruling fine antitrust "
         "delivery riders subsidies export ban licence streaming rollout battery robotaxi semiconductor").split()


def paragraph(rng: random.Random, n: int = 45) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def bench_dedup() -> None:
    print("\nnear-duplicate filter (MinHash bands in SQLite)")
    row("stored passages", "band ms/1k", "check p50 ms", "check p99 ms")
    rng = random.Random(7)
    from corpus.dedup import band_keys, shingles, signature

    band_keys(signature(shingles(paragraph(rng))))  # warm up: datasketch's permutations
    for n_articles in (100, 1000, 4000):
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "s.sqlite3")
            for a in range(n_articles):
                art = Article(id=f"a{a}", title=f"t{a}", url=f"https://example.com/{a}", published="2022-01-01",
                              sections=(Section("News", tuple(paragraph(rng) for _ in range(5))),))
                store.upsert_article(art, split_article(art))
            dedup = DuplicateIndex(store)
            t = time.perf_counter()
            banded = dedup.sync()
            band_ms = (time.perf_counter() - t) * 1000 / banded * 1000
            checks = []
            for i in range(60):
                art = Article(id=f"new{i}", title="n", url=f"https://new.example/{i}", published="2022-02-01",
                              sections=(Section("News", tuple(paragraph(rng) for _ in range(6))),))
                t = time.perf_counter()
                dedup.filter_articles([art])
                checks.append((time.perf_counter() - t) * 1000)
            row(str(banded), f"{band_ms:.0f}", f"{statistics.median(checks):.1f}", f"{pct(checks, 99):.1f}")
            store.close()


async def bench_ingest(site: LocalSite) -> None:
    print("\nfeed ingest end to end (RSS + Atom, 11 roundups; real model, FAISS, SQLite)")
    row("run", "seconds", "HTTP requests", "embedded")
    with tempfile.TemporaryDirectory() as d:
        settings = Settings.load(env={}, data_dir=d, auto_ingest_bundled=False, allow_private_urls=True)
        svc = RoundupService(settings)
        await asyncio.to_thread(svc.encoder.encode_query, "warm up")
        for label in ("first", "unchanged (conditional)"):
            site.reset()
            t = time.perf_counter()
            report = await svc.ingest_urls([site.url("/rss.xml"), site.url("/atom.xml")])
            row(label, f"{time.perf_counter() - t:.2f}", str(len(site.requests)), str(report.embedded))
        svc.close()


async def main() -> None:
    site = LocalSite().start()
    try:
        await bench_fetch(site)
        bench_parse()
        bench_dedup()
        await bench_ingest(site)
    finally:
        site.stop()


if __name__ == "__main__":
    asyncio.run(main())
