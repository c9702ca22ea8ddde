"""Backfill into the corpus for a server (bot/backfill.py) against the local archive on 127.0.0.1."""
from __future__ import annotations

import asyncio

from archive_site import COLUMN, archive, archive_server  # noqa: F401
from bot.backfill import backfill, crawl_config
from corpus.store import SHARED

A, B = 1111, 2222


def _service(make_service, tmp_path, port, name):
    return make_service(tmp_path / name, auto_ingest_bundled=False, allow_private_urls=False,
                        allowed_private_hosts=f"127.0.0.1:{port}", crawl_delay=0.01, fetch_retries=1,
                        fetch_backoff=0.01)


def test_backfill_belongs_to_the_server_and_a_second_server_gains_it_without_fetching(
        make_service, tmp_path, archive):
    svc = _service(make_service, tmp_path, archive.port, "d")
    url = archive.url(COLUMN)
    events = []
    first = asyncio.run(backfill(svc, url, config=crawl_config(svc.settings), fetch=svc.settings.fetch, owners=(A,), on_event=events.append))
    n = len(archive.roundups())
    # the archive reuses a dozen roundups' text week after week: later weeks are republished copies
    assert first.added + first.duplicates == n and first.added >= 10
    assert [e for e in first.errors if "redirect loop" not in e] == []
    assert events[-1].kind == "done"
    owned = svc.store.counts({A})["articles"]
    assert owned == first.added and svc.store.counts({SHARED})["articles"] == 0
    hits = svc.ask("China Roundup", guild=A).hits
    assert hits and all(h.passage.url.startswith(archive.base) for h in hits)
    assert not svc.ask("China Roundup", guild=B).hits

    requests = len(archive.hits)
    second = asyncio.run(backfill(svc, url, config=crawl_config(svc.settings), fetch=svc.settings.fetch, owners=(B,)))
    assert second.added == 0 and second.progress.fetched == 0
    assert second.granted == owned  # B now sees the archive too, stored once
    assert svc.store.counts()["articles"] == owned and svc.store.counts({B})["articles"] == owned
    new_paths = [h.path for h in archive.hits[requests:]]
    assert not [p for p in new_paths if "china-roundup-0" in p or "china-roundup-1" in p]  # no article refetched
