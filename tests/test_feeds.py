"""Feed parsing, article pages, feed-entry state and the near-duplicate filter (pure code and real SQLite)."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from corpus.dedup import MIN_WORDS, DuplicateIndex, shingles
from corpus.feeds import (
    FeedEntry, FeedError, FeedState, entry_article, has_full_content, looks_like_feed, page_article,
    parse_feed,
)
from corpus.model import Article, Section
from corpus.urls import canonical_url
from corpus.passages import split_article
from corpus.readers import CorpusError
from corpus.store import Store
from corpus.text import normalize_text
from local_site import ATOM_RECORDS, CHINESE_PARAGRAPHS, EXTRA, GONE_ID, RSS_RECORDS, article_html, atom_feed, republish, rss_feed

BASE = "http://feeds.example.com"
FURNITURE = ("Share on", "Leave a Reply", "Please enter", "Subscribe to our newsletter", "All rights reserved", "Post Comment",
             "Save my name", "Related posts")

RSS091 = b"""<?xml version="1.0"?>
<rss version="0.91"><channel><title>Old school</title><link>http://example.com/</link>
<description>d</description><language>en</language>
<item><title>First</title><link>http://example.com/a</link><description>x</description></item>
<item><title>Second</title><link>http://example.com/b</link><description>y</description></item>
</channel></rss>"""
RSS10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://example.com/"><title>RDF feed</title><link>http://example.com/</link>
<description>d</description><items><rdf:Seq><rdf:li resource="http://example.com/a"/></rdf:Seq></items></channel>
<item rdf:about="http://example.com/a"><title>A</title><link>http://example.com/a</link>
<dc:date>2020-06-15T10:00:00Z</dc:date></item></rdf:RDF>"""


def _paragraphs(article: Article) -> list[str]:
    return [p for s in article.sections for p in s.paragraphs]


def _record_paragraphs(rec: dict) -> list[str]:
    return [normalize_text(p) for s in rec["sections"] for p in s["paragraphs"]]


# --- feeds -------------------------------------------------------------------------------------

def test_rss2_feed_entries():
    feed = parse_feed(rss_feed(BASE, RSS_RECORDS).encode(), url=f"{BASE}/rss.xml")
    assert feed.kind == "rss20" and feed.title == "China Roundup (mirror)" and not feed.warnings
    assert [e.key for e in feed.entries] == [r["id"] for r in RSS_RECORDS]
    assert [e.published for e in feed.entries] == [r["published"] for r in RSS_RECORDS]
    assert feed.entries[0].link.startswith(f"{BASE}/articles/{RSS_RECORDS[0]['id']}.html?utm_source=rss")
    assert not any(has_full_content(e) for e in feed.entries)  # descriptions are teasers


def test_atom_feed_entries_and_full_content():
    feed = parse_feed(atom_feed(BASE, ATOM_RECORDS).encode(), url=f"{BASE}/atom.xml")
    assert feed.kind == "atom10" and len(feed.entries) == len(ATOM_RECORDS)
    assert [e.published for e in feed.entries] == [r["published"] for r in ATOM_RECORDS]
    full = {e.key.rsplit(":", 1)[-1]: has_full_content(e) for e in feed.entries}
    assert full == {r["id"]: r["id"] == GONE_ID for r in ATOM_RECORDS}
    assert all(e.version for e in feed.entries)


@pytest.mark.parametrize("body, kind, titles", [
    (RSS091, "rss091", ["First", "Second"]),
    (RSS10, "rss10", ["A"]),
])
def test_older_rss_versions(body, kind, titles):
    feed = parse_feed(body, url="http://example.com/feed")
    assert feed.kind.startswith(kind)
    assert [e.title for e in feed.entries] == titles
    assert all(e.link.startswith("http://example.com/") for e in feed.entries)


def test_relative_links_resolve_against_the_feed():
    body = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>x</id>
<entry><title>Rel</title><id>r1</id><link href="/2024/05/story.html"/><updated>2024-05-01T00:00:00Z</updated></entry></feed>"""
    feed = parse_feed(body, url="https://news.example.org/feeds/atom.xml")
    assert feed.entries[0].link == "https://news.example.org/2024/05/story.html"


def test_malformed_xml_fails_with_a_reason_and_recoverable_xml_warns():
    with pytest.raises(FeedError) as exc:
        parse_feed(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>One</titl>'
                   b'</chanel>', url="http://example.com/f")
    assert str(exc.value).startswith("malformed feed XML: mismatched tag")
    feed = parse_feed(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Q&A</title><item>'
                      b'<title>Tencent & NBA</title><link>http://example.com/a</link></item></channel></rss>',
                      url="http://example.com/f")
    assert [e.link for e in feed.entries] == ["http://example.com/a"]
    assert "not well-formed" in feed.warnings[0]


def test_empty_feed_and_non_feeds():
    feed = parse_feed(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Nothing</title></channel></rss>',
                      url="http://example.com/f")
    assert feed.entries == () and feed.warnings == ("the feed has no entries",)
    for body in (b"<html><body><p>a page</p></body></html>", b"just text", b""):
        with pytest.raises(FeedError, match="not a feed"):
            parse_feed(body, url="http://example.com/f")


def test_looks_like_feed_sniffs_the_root_element():
    rss = rss_feed(BASE, RSS_RECORDS[:1]).encode()
    assert looks_like_feed(rss, "text/html")  # servers mislabel feeds
    assert looks_like_feed(b"\xef\xbb\xbf  <feed xmlns='http://www.w3.org/2005/Atom'>", "text/plain")
    assert not looks_like_feed(article_html(RSS_RECORDS[0]).encode(), "application/xml")
    assert looks_like_feed(b"<?xml version='1.0'?><weird/>", "application/rss+xml")
    assert not looks_like_feed(b"<p>hello</p>", "text/html")


def test_canonical_url_drops_tracking_and_fragment():
    assert canonical_url("HTTPS://News.Example.com/a/b.html?utm_source=rss&id=7&fbclid=x#comments") == \
        "https://news.example.com/a/b.html?id=7"
    assert canonical_url("http://example.com") == "http://example.com/"


# --- pages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("rec", RSS_RECORDS + ATOM_RECORDS, ids=lambda r: r["id"])
def test_article_page_keeps_the_story_and_drops_the_furniture(rec):
    url = f"{BASE}/articles/{rec['id']}.html"
    article = page_article(article_html(rec), url=url)
    assert article.url == url and article.title == normalize_text(rec["title"])
    assert article.published == rec["published"] and not article.date_estimated
    got = _paragraphs(article)
    assert got == _record_paragraphs(rec)
    assert [s.heading for s in article.sections if s.heading] == [s["heading"] for s in rec["sections"]
                                                                   if s.get("heading")]
    assert not [p for p in got if any(f.lower() in p.lower() for f in FURNITURE)]


def test_page_dates_declared_then_entry_then_estimated():
    rec = EXTRA["flaky"]
    undated = re.sub(r'<meta property="article:published_time"[^>]*>', "", article_html(rec))
    undated = undated.replace("Pinduoduo launched", "Since 2009, Pinduoduo launched", 1)
    entry = FeedEntry(key="k", link="http://x/a", title="From the feed", published="2020-12-14", version="v")
    assert page_article(article_html(rec), url="http://x/a", entry=entry).published == rec["published"]
    from_entry = page_article(undated, url="http://x/a", entry=entry)
    assert from_entry.published == "2020-12-14" and not from_entry.date_estimated
    guessed = page_article(undated, url="http://x/a")
    assert guessed.published is None or guessed.date_estimated


def test_entry_content_is_an_article():
    feed = parse_feed(atom_feed(BASE, ATOM_RECORDS).encode(), url=f"{BASE}/atom.xml")
    entry = next(e for e in feed.entries if e.key.endswith(GONE_ID))
    rec = next(r for r in ATOM_RECORDS if r["id"] == GONE_ID)
    article = entry_article(entry, feed_title=feed.title)
    assert article.title == normalize_text(rec["title"]) and article.published == rec["published"]
    assert article.url == f"{BASE}/gone/{GONE_ID}.html"
    assert _paragraphs(article) == _record_paragraphs(rec)
    with pytest.raises(CorpusError):
        entry_article(replace(entry, content_html=None))


def test_a_page_without_text_is_an_error():
    with pytest.raises(CorpusError):
        page_article("<html><body><nav><a href='/'>Home</a></nav></body></html>", url="http://x/empty")


# --- feed state ----------------------------------------------------------------------------------

def _store_article(store: Store, article: Article) -> None:
    store.upsert_article(article, split_article(article))


def _article(aid: str, url: str, paragraphs: list[str], heading: str = "News") -> Article:
    return Article(id=aid, title=f"Title {aid}", url=url, published="2022-01-01",
                   sections=(Section(heading, tuple(paragraphs)),))


def test_feed_state_skips_done_entries_and_retries_failures(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    state = FeedState(store)
    a = FeedEntry("a", "http://x/a", "A", None, "v1")
    b = FeedEntry("b", "http://x/b", "B", None, "v1")
    c = FeedEntry("c", "http://x/c", "C", None, "v1")
    _store_article(store, _article("art-a", "http://x/a", [EXTRA["chain"]["sections"][0]["paragraphs"][0]]))
    state.record("feed", a, "stored", "art-a")
    state.record("feed", b, "duplicate")
    state.record("feed", c, "failed")
    todo, skipped = state.pending("feed", [a, b, c])
    assert [e.key for e in todo] == ["c"] and skipped == 2
    todo, _ = state.pending("feed", [replace(a, version="v2"), b])  # an updated entry is fetched again
    assert [e.key for e in todo] == ["a"]
    state.record("feed", c, "failed")
    state.record("feed", c, "failed")
    assert state.pending("feed", [c])[0] == []  # given up after 3 failures at this version
    assert [e.key for e in state.pending("feed", [replace(c, version="v2")])[0]] == ["c"]
    store.delete_article("art-a")  # deleted from the store: fetched again
    assert [e.key for e in state.pending("feed", [a])[0]] == ["a"]
    assert len(state.pending("feed", [a, b, c], force=True)[0]) == 3
    store.close()


# --- near duplicates -----------------------------------------------------------------------------

ORIGINAL = _record_paragraphs(RSS_RECORDS[1])


def test_republished_copy_is_detected(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    _store_article(store, _article("orig", "https://techcrunch.example/roundup", ORIGINAL))
    dedup = DuplicateIndex(store)
    copy = _article("copy", "https://scraper.example/roundup", [normalize_text(republish(p)) for p in ORIGINAL])
    fresh = _article("fresh", "https://other.example/grocery", EXTRA["flaky"]["sections"][0]["paragraphs"])
    outcomes = dedup.filter_articles([copy, fresh])
    assert outcomes[0].is_copy and outcomes[0].duplicate_of == "https://techcrunch.example/roundup"
    assert outcomes[1].article == fresh and outcomes[1].dropped == 0
    # its own earlier version is not a duplicate of itself
    again = dedup.filter_articles([_article("orig", "https://techcrunch.example/roundup", ORIGINAL + ["x " * 20])])
    assert again[0].dropped == 0
    store.close()


def test_partial_overlap_drops_only_the_repeated_paragraphs(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    _store_article(store, _article("orig", "https://a.example/1", ORIGINAL[:2]))
    new = EXTRA["ratelimited"]["sections"][0]["paragraphs"] + EXTRA["chain"]["sections"][0]["paragraphs"]
    short = "Huawei declined to comment on the matter."  # short lines recur across stories: never dropped
    _store_article(store, _article("other", "https://a.example/2", [ORIGINAL[3], short]))
    mixed = _article("mixed", "https://b.example/1", [ORIGINAL[0], new[0], ORIGINAL[1], new[1], new[2], new[3], short])
    [outcome] = DuplicateIndex(store).filter_articles([mixed])
    assert not outcome.is_copy and outcome.dropped == 2 and outcome.duplicate_of == "https://a.example/1"
    assert _paragraphs(outcome.article) == new[:2] + new[2:] + [short]
    assert len(short.split()) < MIN_WORDS
    store.close()


def test_a_paragraph_split_into_two_passages_is_still_found(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    long_paragraph = " ".join(ORIGINAL)  # over 180 words: stored as several passages
    article = _article("long", "https://a.example/long", [long_paragraph])
    assert len(split_article(article)) >= 2
    _store_article(store, article)
    copy = _article("copy", "https://b.example/long", [republish(long_paragraph)])
    assert DuplicateIndex(store).filter_articles([copy])[0].is_copy
    store.close()


def test_copies_within_one_batch_and_chinese_text(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    first = _article("zh1", "https://a.example/zh", CHINESE_PARAGRAPHS)
    second = _article("zh2", "https://b.example/zh", [p.replace("，", ",").replace("。", ". ") + "（转载）"
                                                      for p in CHINESE_PARAGRAPHS])
    outcomes = DuplicateIndex(store).filter_articles([first, second])
    assert not outcomes[0].is_copy and outcomes[1].is_copy
    assert len(shingles(CHINESE_PARAGRAPHS[0])) > 40  # one shingle per 4 characters, not one per paragraph
    store.close()


def test_bands_go_with_their_passages(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    _store_article(store, _article("orig", "https://a.example/1", ORIGINAL))
    dedup = DuplicateIndex(store)
    assert dedup.sync() == len(split_article(_article("orig", "https://a.example/1", ORIGINAL)))
    assert dedup.sync() == 0
    store.delete_article("orig")
    assert store.execute("SELECT COUNT(*) FROM passage_bands")[0][0] == 0
    copy = _article("copy", "https://b.example/1", [republish(p) for p in ORIGINAL])
    assert not dedup.filter_articles([copy])[0].is_copy
    store.close()
