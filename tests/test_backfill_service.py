"""Backfill into the corpus for a server (bot/backfill.py) against the local archive on 127.0.0.1."""
from __future__ import annotations

import asyncio

from archive_site import COLUMN, archive, archive_server  # noqa: F401
from local_site import local_site  # noqa: F401
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


def test_feed_articles_belong_to_the_servers_following_the_feed(make_service, tmp_path, local_site):
    """Through the refresh path: owners from who follows each feed; a later follower gains what
    was read before; the operator's feeds are shared."""
    from bot.guild_feeds import GuildFeeds

    local_site.reset()
    svc = _service(make_service, tmp_path, local_site.port, "feeds")
    feeds = GuildFeeds(svc.store)
    rss, atom = local_site.url("/rss.xml"), local_site.url("/atom.xml")
    assert feeds.add(A, rss, title="RSS", by=1)
    assert feeds.add(SHARED, atom, title="Atom", by=None)  # the operator's: `roundup-bot feeds add`
    owners = {u: feeds.owners(u) for u in (rss, atom)}
    assert owners == {rss: (A,), atom: (SHARED,)}
    report = asyncio.run(svc.ingest_urls([rss, atom], owners=owners))
    by_origin = {s.source: s for s in report.sources}
    assert by_origin[rss].added and by_origin[atom].added
    rows = svc.store.execute("SELECT id, origin FROM articles")
    for row in rows:
        assert svc.store.owners(row["id"]) == ({A} if row["origin"] == rss else {SHARED})
    assert svc.store.counts({B})["articles"] == 0

    assert feeds.add(B, rss, title="RSS", by=2)  # B follows the same feed later: gains its articles at once
    rss_ids = {r["id"] for r in rows if r["origin"] == rss}
    assert {i for i in rss_ids if B in svc.store.owners(i)} == rss_ids
    assert svc.store.counts()["articles"] == len(rows)  # stored once
