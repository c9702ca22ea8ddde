"""Issue 12, point 6 (web): a slow host or a huge feed costs a bounded time, never an hour.

Against the local site on 127.0.0.1 (tests/local_site.py): entries per feed capped (newest
first), a deadline per source and per URL (retries included).
"""
from __future__ import annotations

import asyncio
import time

from bot.service import RoundupService
from bot.settings import Settings
from corpus.feeds import newest_entries, FeedEntry
from local_site import RSS_RECORDS, local_site, site  # noqa: F401


def _service(tmp_path, encoder, port, **kw) -> RoundupService:
    settings = Settings.load(env={}, data_dir=tmp_path / "data", auto_ingest_bundled=False,
                             allowed_private_hosts=f"127.0.0.1:{port}", **kw)
    return RoundupService(settings, encoder=encoder)


def test_newest_entries_keeps_the_newest_and_undated_last():
    e = [FeedEntry(str(i), None, None, d, "v") for i, d in enumerate(["2020-01-01", None, "2021-05-01", "2019-02-02"])]
    assert [x.key for x in newest_entries(e, 2)] == ["2", "0"]
    assert [x.key for x in newest_entries(e, 0)] == ["0", "1", "2", "3"]
    assert len(newest_entries(e * 3000, 100)) == 100


def test_a_feed_is_read_only_up_to_its_newest_entries(tmp_path, encoder, site):
    svc = _service(tmp_path, encoder, site.port, feed_max_entries=3, fetch_retries=0)
    report = asyncio.run(svc.ingest_urls([site.url("/rss.xml")]))
    newest = sorted(RSS_RECORDS, key=lambda r: r["published"], reverse=True)[:3]
    assert len(site.seen("/articles/")) == 3
    assert sorted(r["url"] for r in svc.store.articles()) == sorted(
        site.url(f"/articles/{r['id']}.html") for r in newest)
    src = report.sources[0]
    assert src.added == 3 and any("read the newest 3" in n for n in src.notes)
    svc.close()


def test_a_slow_source_is_given_up_at_its_deadline(tmp_path, encoder, site):
    svc = _service(tmp_path, encoder, site.port, fetch_source_deadline=0.5, fetch_timeout=8.0, fetch_retries=0)
    start, done = time.monotonic(), {}

    def on_event(kind, url, detail):
        if kind == "done":
            done.setdefault(url, time.monotonic() - start)

    report = asyncio.run(svc.ingest_urls([site.url("/slow"), site.url("/rss.xml")], on_event=on_event))
    assert done[site.url("/slow")] < 3  # the slow host alone would hold it 8 s
    by = {s.source: s for s in report.sources}
    assert "deadline per source" in by[site.url("/slow")].errors[0]
    assert by[site.url("/rss.xml")].added == len(RSS_RECORDS)  # the other source is unharmed
    svc.close()


def test_one_url_with_retries_is_capped_in_total(tmp_path, encoder, site):
    svc = _service(tmp_path, encoder, site.port, fetch_url_deadline=1.0, fetch_timeout=0.4, fetch_retries=6,
                   fetch_backoff=0.3, fetch_backoff_max=0.3, fetch_source_deadline=30)
    start = time.monotonic()
    report = asyncio.run(svc.ingest_urls([site.url("/slow")]))
    assert time.monotonic() - start < 3  # 7 attempts of 0.4 s plus waits would be about 4.5 s
    assert "gave up after 1s" in report.sources[0].errors[0]
    svc.close()


def test_the_refresh_has_an_overall_deadline(tmp_path, encoder, site):
    svc = _service(tmp_path, encoder, site.port, fetch_refresh_deadline=0.6, fetch_source_deadline=30,
                   fetch_timeout=8.0, fetch_retries=0)
    start = time.monotonic()
    report = asyncio.run(svc.ingest_urls([site.url("/slow"), site.url("/slow?b")]))
    assert time.monotonic() - start < 6
    assert all("refresh deadline" in s.errors[0] for s in report.sources)
    svc.close()
