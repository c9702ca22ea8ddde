"""Web ingest end to end: local feeds and pages -> store -> real model and FAISS -> cited answers.

The site runs on 127.0.0.1 and the service keeps `allow_private_urls` off, exempting only
the test server's host:port; so the redirect into a private address is refused by the same
rules as in production, and nothing leaves loopback.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from bot.cli import main
from bot.service import RoundupService
from bot.settings import Settings
from local_site import ATOM_RECORDS, EXTRA, GONE_ID, RECORDS, RSS_RECORDS, article_html, atom_feed, local_site, mirror_feed_xml, rss_feed, site  # noqa: F401

FURNITURE = ("Share on", "Leave a Reply", "Please enter", "Subscribe to our newsletter", "All rights reserved",
             "Post Comment", "Save my name", "Related posts", "incorrect email")
BAD = {
    "/missing": "HTTP 404 Not Found",
    "/malformed.xml": "malformed feed XML: mismatched tag",
    "/slow": "timed out",
    "/huge": "over the 5,242,880-byte limit",
    "/huge-declared": "52,428,800 bytes is over the 5,242,880-byte limit",
    "/loop/a": "redirect loop",
    "/chain/6": "more than 5 redirects",
    "/redirect?to=http://10.20.30.40/admin": "10.20.30.40 is a private address",
}
GOOD_PAGES = ["/flaky/web", "/ratelimited/web?after=0", "/chain/5", "/gb2312.html", "/cp1252.html"]


def web_kwargs(port: int) -> dict:
    """Settings for these tests: private addresses refused except the test server; short waits."""
    return dict(auto_ingest_bundled=False, allow_private_urls=False, allowed_private_hosts=f"127.0.0.1:{port}",
                fetch_retries=1, fetch_backoff=0.01, fetch_backoff_max=0.02, fetch_timeout=1.0,
                fetch_connect_timeout=1.0, fetch_per_host=4)


def article_url(site, rec: dict) -> str:
    folder = "gone" if rec["id"] == GONE_ID else "articles"
    return site.url(f"/{folder}/{rec['id']}.html")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, encoder, local_site):
    """One service after one ingest of both feeds, the good pages and every bad case."""
    local_site.reset()
    settings = Settings.load(env={}, data_dir=tmp_path_factory.mktemp("web"), **web_kwargs(local_site.port))
    svc = RoundupService(settings, encoder=encoder)
    urls = [local_site.url(p) for p in ["/rss.xml", "/atom.xml", "/empty.xml", *GOOD_PAGES, *BAD]]
    events: list[tuple[str, str]] = []
    report = asyncio.run(svc.ingest_urls(urls, on_event=lambda kind, url, detail: events.append((kind, url))))
    yield svc, report, events
    svc.close()


def by_source(report, site) -> dict:
    return {s.source.replace(site.base, ""): s for s in report.sources}


def test_every_good_article_is_stored(ingested, local_site):
    svc, report, _ = ingested
    stored = {row["url"]: row for row in svc.store.articles()}
    for rec in RECORDS:
        row = stored[article_url(local_site, rec)]
        assert row["published"] == rec["published"] and not row["date_estimated"]
        assert row["passages"] > 0
    expected_pages = {local_site.url("/flaky/web"), local_site.url("/ratelimited/web?after=0"),
                      local_site.url("/chain/0"), local_site.url("/gb2312.html"), local_site.url("/cp1252.html")}
    assert expected_pages <= set(stored)
    assert len(stored) == len(RECORDS) + len(expected_pages)
    st = svc.status()
    assert st["index"]["vectors"] == st["passages"] == report.embedded
    sources = by_source(report, local_site)
    assert (sources["/rss.xml"].kind, sources["/rss.xml"].added) == ("feed", len(RSS_RECORDS))
    assert (sources["/atom.xml"].kind, sources["/atom.xml"].added) == ("feed", len(ATOM_RECORDS))
    assert any("used the feed's full content" in n for n in sources["/atom.xml"].notes)


def test_each_failure_is_reported_per_url_with_status_and_reason(ingested, local_site):
    svc, report, _ = ingested
    sources = by_source(report, local_site)
    assert not report.ok
    for path, reason in BAD.items():
        src = sources[path]
        assert src.failed, path
        assert src.errors == [f"{local_site.url(path)}: {src.errors[0].split(': ', 1)[1]}"]
        assert reason in src.errors[0], (path, src.errors)
    assert sources["/missing"].http_status == 404
    assert not sources["/empty.xml"].errors
    assert "the feed has no entries" in sources["/empty.xml"].notes
    logged = {r["source"]: r for r in svc.store.execute("SELECT * FROM ingest_log WHERE status = 'failed'")}
    for path, reason in BAD.items():
        assert reason in logged[local_site.url(path)]["detail"]
    assert logged[local_site.url("/missing")]["detail"].startswith("404 ")
    assert len(report.errors) == len(BAD)


def test_no_page_furniture_is_stored(ingested):
    svc, _, _ = ingested
    texts = [p.text for p in svc.store.passages()]
    assert texts and not [t for t in texts if any(f.lower() in t.lower() for f in FURNITURE)]
    titles = [r["title"] for r in svc.store.articles()]
    assert "抖音数据迁移与华为出货量" in titles


def test_progress_events_cover_every_url(ingested, local_site):
    _, _, events = ingested
    queued = [u for k, u in events if k == "queued"]
    done = [u for k, u in events if k == "done"]
    assert sorted(queued) == sorted(done)
    assert len(queued) == 3 + len(GOOD_PAGES) + len(BAD) + len(RECORDS)


def test_ask_answers_from_the_feeds_citing_the_original_urls(ingested, local_site):
    svc, _, _ = ingested
    tiktok = next(r for r in RSS_RECORDS if r["id"] == "cr-2019-11-03")
    answer = svc.ask("Where does TikTok say it keeps American users' data?", k=3)
    assert answer.answered and "Singapore" in answer.hits[0].passage.text
    assert answer.hits[0].passage.url == article_url(local_site, tiktok)
    assert "utm_" not in answer.hits[0].passage.url
    gone = next(r for r in ATOM_RECORDS if r["id"] == GONE_ID)
    answer = svc.ask("Sichuan crypto miners told to move out", k=1, with_best_sentence=False)
    assert answer.answered and answer.hits[0].passage.url == article_url(local_site, gone)
    answer = svc.ask("community group buying of vegetables", k=1, with_best_sentence=False)
    assert answer.answered and answer.hits[0].passage.url == local_site.url("/flaky/web")


def test_second_ingest_of_unchanged_feeds_is_conditional_and_embeds_nothing(ingested, site, encoder):
    svc, _, _ = ingested
    before_encoded, before = encoder.encoded, svc.status()
    page = site.url("/cp1252.html")
    report = asyncio.run(svc.ingest_urls([site.url("/rss.xml"), site.url("/atom.xml"), page]))
    assert report.ok and report.embedded == 0 and encoder.encoded == before_encoded
    assert svc.status()["passages"] == before["passages"]
    rss, atom = site.seen("/rss.xml"), site.seen("/atom.xml")
    assert [r.status for r in rss] == [304] and "If-None-Match" in rss[0].headers
    assert [r.status for r in atom] == [304] and "If-Modified-Since" in atom[0].headers
    # entries are not fetched again; the page given directly is asked conditionally too
    assert site.seen("/articles/") == [] and site.seen("/gone/") == []
    assert [r.status for r in site.seen("/cp1252.html")] == [304]
    assert "If-None-Match" in site.seen("/cp1252.html")[0].headers
    sources = {s.source: s for s in report.sources}
    assert sources[page].unchanged == 1 and sources[site.url("/rss.xml")].http_status == 304


async def test_ingest_urls_runs_on_an_event_loop_with_a_callers_session(make_service, site):
    """What the Discord bot does: await it on its loop, with its own aiohttp session."""
    import aiohttp

    svc = make_service(**web_kwargs(site.port))
    async with aiohttp.ClientSession() as session:
        report = await svc.ingest_urls([site.url("/cp1252.html")], session)
        assert not session.closed
    assert report.ok and report.sources[0].added == 1
    assert "Luckin" in (await asyncio.to_thread(svc.ask, "Luckin delivery stores outnumber Starbucks")).hits[0].passage.text


def test_changed_article_replaces_its_passages(make_service, site):
    svc = make_service(**web_kwargs(site.port))
    url = site.url("/articles/extra-chain.html")
    assert asyncio.run(svc.ingest_urls([url])).sources[0].added == 1
    old = {p.text for p in svc.store.passages()}
    changed = json.loads(json.dumps(EXTRA["chain"]))
    replacement = EXTRA["ratelimited"]["sections"][0]["paragraphs"][0]
    changed["sections"][0]["paragraphs"][1] = replacement
    site.overrides["/articles/extra-chain.html"] = article_html(changed)
    report = asyncio.run(svc.ingest_urls([url]))
    assert report.sources[0].updated == 1 and report.embedded == 1 and report.removed == 1
    new = {p.text for p in svc.store.passages()}
    assert replacement in new and len(old - new) == 1 and len(new) == len(old)
    assert len(svc.store.articles()) == 1
    assert [r.status for r in site.seen("/articles/extra-chain.html")] == [200, 200]  # new ETag, so a 200


def test_a_republished_copy_is_stored_once(ingested, site):
    svc, _, _ = ingested
    before = svc.status()
    report = asyncio.run(svc.ingest_urls([site.url("/mirror.xml")]))
    mirror = report.sources[0]
    assert report.ok and mirror.duplicates == 3 and mirror.added == 0 and report.embedded == 0
    assert svc.status()["passages"] == before["passages"]
    assert all("republished copy of" in n for n in mirror.notes)
    answer = svc.ask("Where does TikTok say it keeps American users' data?", with_best_sentence=False)
    assert answer.hits and all("/mirror/" not in h.passage.url for h in answer.hits)
    # the mirror feed changes (new ETag) but its entries are the same: recorded as copies, none is fetched again
    site.reset()
    site.overrides["/mirror.xml"] = mirror_feed_xml(site.base) + "<!-- rebuilt -->"
    report = asyncio.run(svc.ingest_urls([site.url("/mirror.xml")]))
    assert [r.status for r in site.seen("/mirror.xml")] == [200]
    assert site.seen("/mirror/") == [] and report.sources[0].notes == ["3 entries already ingested"]


# --- the command line ----------------------------------------------------------------------------

@pytest.fixture
def cli_env(monkeypatch, tmp_path, site, encoder):
    import os

    for key in list(os.environ):
        if key.startswith("ROUNDUP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ROUNDUP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROUNDUP_AUTO_INGEST_BUNDLED", "0")
    monkeypatch.setenv("ROUNDUP_ALLOWED_PRIVATE_HOSTS", f"127.0.0.1:{site.port}")
    monkeypatch.setenv("ROUNDUP_FETCH_RETRIES", "0")
    return monkeypatch


def test_cli_ingest_mixes_urls_and_paths_and_reports_failures(cli_env, site, tmp_path, capsys):
    jsonl = tmp_path / "extra.jsonl"
    rec = dict(EXTRA["ratelimited"], id="file-1", url="https://example.com/file-1")
    jsonl.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    site.overrides["/rss.xml"] = rss_feed(site.base, RSS_RECORDS[:2])
    code = main(["ingest", "--json", site.url("/rss.xml"), site.url("/missing"), str(jsonl)])
    captured = capsys.readouterr()
    assert code == 1
    out = json.loads(captured.out)
    kinds = {s["source"]: (s["kind"], s["http_status"]) for s in out["sources"]}
    assert kinds[site.url("/rss.xml")] == ("feed", 200)
    assert kinds[site.url("/missing")] == ("unknown", 404)
    assert kinds[str(jsonl)][0] == "file"
    assert out["errors"] == [f"{site.url('/missing')}: HTTP 404 Not Found"]
    assert out["totals"]["articles_added"] == 2 + 1
    # not a terminal: one plain line per URL on stderr, no progress bar
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("[")]
    assert len(lines) == 2 + 2
    assert any("failed (HTTP 404 Not Found):" in ln and ln.endswith("/missing") for ln in lines)

    code = main(["ingest", site.url("/rss.xml")])
    captured = capsys.readouterr()
    assert code == 0
    assert "not modified" in captured.out and "0 passages embedded" in captured.out


def test_cli_ingest_without_arguments_uses_the_configured_feeds(cli_env, site, capsys):
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nothing to ingest" in err and len(err.splitlines()) == 1
    site.overrides["/atom.xml"] = atom_feed(site.base, ATOM_RECORDS[:1])
    cli_env.setenv("ROUNDUP_FEEDS", f"{site.url('/atom.xml')},{site.url('/empty.xml')}")
    assert main(["ingest", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["articles_added"] == 1
    assert [s["source"] for s in out["sources"]] == [site.url("/atom.xml"), site.url("/empty.xml")]


def test_cli_refuses_private_urls_by_default(cli_env, site, capsys):
    cli_env.delenv("ROUNDUP_ALLOWED_PRIVATE_HOSTS")
    assert main(["ingest", "--json", site.url("/rss.xml"), "ftp://example.com/feed"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert "127.0.0.1 is a loopback address" in out["errors"][0]
    assert "only http and https" in out["errors"][1]
    assert site.requests == []


def test_progress_on_a_terminal_is_a_bar():
    import io

    from rich.console import Console

    from bot.console import _WebProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with _WebProgress(console) as web:
        for url in ("http://a/feed", "http://a/1", "http://a/2"):
            web.event("queued", url, None)
        web.event("done", "http://a/1", None)
        web.embedding(5, 10)
        fetching, embedding = web.progress.tasks
        assert (fetching.completed, fetching.total) == (1, 3)
        assert (embedding.completed, embedding.total, embedding.visible) == (5, 10, True)
    assert "[1/" not in console.file.getvalue()  # no plain lines on a terminal
