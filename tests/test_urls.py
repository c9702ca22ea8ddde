"""Tracking parameters leave every article's link at ingest, whatever the source, and the bundled data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.readers import parse_markdown, parse_plain_text, read_file
from corpus.urls import TRACKING_PARAMS, strip_tracking

DATA = Path(__file__).resolve().parents[1] / "corpus" / "data"
TAGGED = ("https://example.com/china-roundup/?utm_source=feedburner&utm_medium=feed"
          "&utm_campaign=Feed%3A+X&id=7&fbclid=abc&gclid=def&mc_cid=1#comments")
CLEAN = "https://example.com/china-roundup/?id=7#comments"


@pytest.mark.parametrize("url, expected", [
    (TAGGED, CLEAN),
    ("https://example.com/a?utm_source=rss", "https://example.com/a"),
    ("https://example.com/a?UTM_Medium=x&page=2", "https://example.com/a?page=2"),
    ("https://example.com/a?msclkid=1&yclid=2&igshid=3&_hsenc=4&mkt_tok=5", "https://example.com/a"),
    ("https://example.com/a?q=a%20b&utm=keep", "https://example.com/a?q=a%20b&utm=keep"),  # no tracker: untouched
    ("HTTP://Example.com/A", "HTTP://Example.com/A"),
    ("file:///tmp/roundup.md", "file:///tmp/roundup.md"),
    ("http://[::1", "http://[::1"),  # does not parse: left alone, never an exception
])
def test_strip_tracking(url, expected):
    assert strip_tracking(url) == expected


def test_every_reader_stores_the_link_without_tracking(tmp_path):
    body = "A paragraph about Huawei shipments that is long enough to be kept as a passage here."
    md = parse_markdown(f"---\ntitle: Week 1\nurl: {TAGGED}\npublished: 2024-01-07\n---\n\n{body}\n")
    txt = parse_plain_text(body, url=TAGGED, overrides={"title": "Week 1"})
    line = {"id": "w1", "title": "Week 1", "url": TAGGED, "published": "2024-01-07",
            "sections": [{"heading": None, "paragraphs": [body]}]}
    (tmp_path / "a.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    jsonl = read_file(tmp_path / "a.jsonl").articles[0]
    (tmp_path / "b.html").write_text(f"<html><head><title>Week 1</title><link rel='canonical' href='{TAGGED}'>"
                                     f"</head><body><article><h1>Week 1</h1><p>{body}</p></article></body></html>",
                                     encoding="utf-8")
    html = read_file(tmp_path / "b.html").articles[0]
    for article in (md, txt, jsonl, html):
        assert article.url == CLEAN, article.url
    assert md.id == parse_markdown(f"---\ntitle: Week 1\nurl: {CLEAN}\npublished: 2024-01-07\n---\n\n{body}\n").id


def test_the_bundled_data_carries_no_tracking_parameters():
    files = [DATA / "sample_roundups.jsonl", *sorted((DATA / "seeds").glob("*.json"))]
    urls = [json.loads(line)["url"] for line in files[0].read_text("utf-8").splitlines() if line.strip()]
    urls += [json.loads(f.read_text("utf-8"))["url"] for f in files[1:]]
    assert len(urls) >= 10
    assert [u for u in urls if strip_tracking(u) != u] == []
    for f in files:
        assert not any(TRACKING_PARAMS.match(w.split("=")[0]) for w in f.read_text("utf-8").replace("?", "&").split("&"))


def test_the_same_link_with_and_without_tracking_is_one_article(make_service, tmp_path):
    """Dedup by URL: a file ingested again under a campaign-tagged link replaces itself, and
    `remove --url` finds it by either form."""
    svc = make_service(auto_ingest_bundled=False)
    body = "Huawei said on Friday that its phone shipments rose sharply in the third quarter of the year."
    for name, url in (("a.md", CLEAN), ("b.md", TAGGED)):
        (tmp_path / name).write_text(f"---\ntitle: Week 1\nurl: {url}\npublished: 2024-01-07\n---\n\n{body}\n",
                                     encoding="utf-8")
        svc.ingest([tmp_path / name])
    assert [r[0] for r in svc.store.execute("SELECT url FROM articles")] == [CLEAN]
    assert [a["url"] for a in svc.remove(url=TAGGED, dry_run=True).articles] == [CLEAN]
