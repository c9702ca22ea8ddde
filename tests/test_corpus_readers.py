"""corpus.readers: every format to cleaned Articles, metadata precedence, error reporting."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from corpus.model import Article, Section, article_id_for_url
from corpus.readers import (
    SUPPORTED_SUFFIXES,
    CorpusError,
    iter_source_files,
    parse_date,
    parse_html,
    parse_markdown,
    parse_plain_text,
    read_file,
    strip_markdown_inline,
)

DATA = Path(__file__).resolve().parents[1] / "corpus" / "data"
SEED = DATA / "seeds" / "000_a486d6ca8c2bef93.txt"
SAMPLE = DATA / "sample_roundups.jsonl"


def _set_mtime(path: Path, day: str) -> None:
    ts = dt.datetime.fromisoformat(day + "T12:00:00").timestamp()
    os.utime(path, (ts, ts))


# --- bundled seed --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> Article:
    result = read_file(SEED)
    assert result.errors == []
    assert len(result.articles) == 1
    return result.articles[0]


def test_seed_metadata_from_sidecar(seed):
    assert seed.id == "seed-2019-11-03"
    assert seed.title == "China Roundup: TikTok stumbles in the US and Huawei shipments continue to surge"
    assert seed.url == (
        "http://applebytecrunch.com/apple/"
        "china-roundup-tiktok-stumbles-in-the-us-and-huawei-shipments-continue-to-surge/"
    )
    assert seed.published == "2019-11-03"
    assert seed.source == "TechCrunch China Roundup (machine-reworded republished copy)"
    assert seed.date_estimated is False


def test_seed_structure_and_heading(seed):
    assert [s.heading for s in seed.sections] == [None, "TikTok's troubles within the U.S."]
    assert [len(s.paragraphs) for s in seed.sections] == [1, 5]
    assert seed.sections[0].paragraphs[0].startswith("Hello and welcome again to TechCrunch's China Roundup,")
    assert seed.sections[1].paragraphs[0].startswith("The problem going through TikTok,")


def test_seed_furniture_and_fragment_removed(seed):
    text = "\n".join(p for s in seed.sections for p in s.paragraphs)
    for junk in ("Source link", "Please enter", "The query is", "\u2026", "\u2019"):
        assert junk not in text
    # The original's "other overseas countries." reads "different overseas international
    # locations." in this machine-reworded copy; the cut-off "The query is, will ByteDance…" goes.
    assert seed.sections[-1].paragraphs[-1] == (
        "ByteDance can be hedging its bets by introducing a Slack-like office app and is reportedly "
        "advertising and marketing it to enterprises within the U.S. and different overseas "
        "international locations."
    )


# --- JSONL ---------------------------------------------------------------------------------


def test_bundled_jsonl_reads_all_articles_with_headings():
    result = read_file(SAMPLE)
    assert result.errors == []
    raw = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(result.articles) == 11
    assert [a.id for a in result.articles] == [r["id"] for r in raw]
    for article, record in zip(result.articles, raw):
        assert [s.heading for s in article.sections] == [s["heading"] for s in record["sections"]]
        assert article.paragraph_count() == sum(len(s["paragraphs"]) for s in record["sections"])
        assert article.published == record["published"]
        assert article.date_estimated is record.get("date_estimated", False)
    first = result.articles[1]
    assert first.id == "cr-2019-11-03"
    assert [s.heading for s in first.sections] == ["TikTok's troubles in the U.S.", "Looking beyond the U.S."]
    assert result.articles[0].source == "TechCrunch China Roundup"


def _record(id_: str, **extra) -> dict:
    rec = {
        "id": id_,
        "title": f"Title {id_}",
        "url": f"https://example.com/{id_}",
        "published": "2020-06-01",
        "sections": [{"heading": "H", "paragraphs": [f"Paragraph of {id_}."]}],
    }
    rec.update(extra)
    return rec


def test_malformed_jsonl_lines_reported_others_loaded(tmp_path):
    missing = _record("c")
    del missing["url"]
    lines = [
        json.dumps(_record("a")),
        "{not json",
        "",
        json.dumps(missing),
        json.dumps(_record("d", published="2020-13-45")),
        json.dumps(_record("e", published="2020-06-02T09:30:00+08:00")),
        json.dumps(_record("a")),
        json.dumps(_record("f", sections=[{"heading": None, "paragraphs": "oops"}])),
        "   ",
        json.dumps(_record("g", source=None)),
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_file(path)
    assert [a.id for a in result.articles] == ["a", "e", "g"]
    assert result.articles[1].published == "2020-06-02"
    assert result.articles[0].sections == (Section("H", ("Paragraph of a.",)),)
    assert result.errors == [
        f"{path}:2: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:4: missing required field 'url'",
        f"{path}:5: invalid published date '2020-13-45' (expected YYYY-MM-DD)",
        f"{path}:7: duplicate id 'a' (first on line 1)",
        f"{path}:8: sections[0].paragraphs must be a list of strings",
    ]


def test_jsonl_paragraphs_are_cleaned(tmp_path):
    rec = _record("a", sections=[{"heading": "H\u00a0", "paragraphs": ["It\u2019s fine.", "Source link"]}])
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(rec), encoding="utf-8")
    assert read_file(path).articles[0].sections == (Section("H", ("It's fine.",)),)


# --- plain text ----------------------------------------------------------------------------


def test_txt_one_paragraph_per_line_with_fallback_metadata(tmp_path):
    path = tmp_path / "tech-digest_2020.txt"
    path.write_text(
        "Intro paragraph about the week in Chinese tech.\n"
        "Huawei and the U.S.\n"
        "Huawei shipped more phones than ever.\n"
        "It also opened a new lab.\n",
        encoding="utf-8",
    )
    _set_mtime(path, "2021-03-04")
    article = read_file(path).articles[0]
    assert article.sections == (
        Section(None, ("Intro paragraph about the week in Chinese tech.",)),
        Section("Huawei and the U.S.", ("Huawei shipped more phones than ever.", "It also opened a new lab.")),
    )
    assert article.title == "Tech digest 2020"
    assert article.url == path.resolve().as_uri()
    assert article.id == article_id_for_url(path.resolve().as_uri())
    assert article.published == "2021-03-04"
    assert article.date_estimated is True
    assert article.source is None


def test_txt_hard_wrapped_paragraphs_are_joined():
    text = (
        "Alibaba said on Monday that its cloud unit grew by more than half in the\n"
        "quarter, helped by demand from retailers and government agencies across\n"
        "the country.\n\n"
        "Deals\n\n"
        "Tencent invested in a Finnish games studio.\n"
    )
    article = parse_plain_text(text, url="https://x/a", overrides={"title": "T"})
    assert article.sections == (
        Section(
            None,
            (
                "Alibaba said on Monday that its cloud unit grew by more than half in the "
                "quarter, helped by demand from retailers and government agencies across "
                "the country.",
            ),
        ),
        Section("Deals", ("Tencent invested in a Finnish games studio.",)),
    )


def test_txt_heading_must_be_followed_by_a_paragraph():
    text = "Opening line of the piece.\n\nFirst short line\n\nSecond short line\n\nBody text follows here.\n\nTrailing short line"
    article = parse_plain_text(text, url="https://x/a", overrides={"title": "T"})
    assert article.sections == (
        Section(None, ("Opening line of the piece.", "First short line")),
        Section("Second short line", ("Body text follows here.", "Trailing short line")),
    )


def test_overrides_beat_sidecar_and_fill_missing(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Some text of the article.\n", encoding="utf-8")
    (tmp_path / "a.json").write_text(
        json.dumps({"title": "Sidecar title", "url": "https://side/car", "published": "2019-01-02T10:00:00Z"}),
        encoding="utf-8",
    )
    article = read_file(path, overrides={"title": "CLI title", "source": "CLI source", "url": None}).articles[0]
    assert (article.title, article.url, article.published, article.source) == (
        "CLI title",
        "https://side/car",
        "2019-01-02",
        "CLI source",
    )
    assert article.id == article_id_for_url("https://side/car")
    assert article.date_estimated is False


def test_undecodable_txt_bytes_are_replaced(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"Caf\xe9 culture in Shenzhen is booming.\n")
    article = read_file(path).articles[0]
    assert article.sections[0].paragraphs == ("Caf\ufffd culture in Shenzhen is booming.",)


def test_bad_sidecar_is_an_error_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Text.\n", encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({"published": "yesterday"}), encoding="utf-8")
    result = read_file(path)
    assert result.articles == []
    assert result.errors == [f"{path}: invalid published date 'yesterday' (expected YYYY-MM-DD)"]


def test_file_with_only_furniture_is_an_error_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Source link\n\nPlease enter your comment!\n", encoding="utf-8")
    assert read_file(path).errors == [f"{path}: no article text found"]


# --- Markdown ------------------------------------------------------------------------------

MARKDOWN = """---
title: "China Roundup: Markdown edition"
url: https://example.com/roundup-md
date: 2020-06-15T08:00:00+08:00
source: Example Weekly
---

# A heading that is not the title

Intro with a [link](https://example.com/x "t") and **bold** and _em_ and `code`.
It wraps onto a second line.

## Deals

- Tencent invested in *two* studios.
- Alibaba bought a stake in a ![logo](img.png)logistics firm.

### Looking ahead

> A quoted paragraph from the CEO.

```
code block is dropped
```

Snake_case_names stay; an escaped \\*star\\* stays.

[ref]: https://example.com/ref
"""


def test_markdown_front_matter_and_headings(tmp_path):
    path = tmp_path / "roundup.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    result = read_file(path)
    assert result.errors == []
    article = result.articles[0]
    assert article.title == "China Roundup: Markdown edition"
    assert article.url == "https://example.com/roundup-md"
    assert article.id == article_id_for_url("https://example.com/roundup-md")
    assert article.published == "2020-06-15"
    assert article.source == "Example Weekly"
    assert article.sections == (
        Section(
            None,
            ("Intro with a link and bold and em and code. It wraps onto a second line.",),
        ),
        Section(
            "Deals",
            ("Tencent invested in two studios.", "Alibaba bought a stake in a logistics firm."),
        ),
        Section(
            "Looking ahead",
            ("A quoted paragraph from the CEO.", "Snake_case_names stay; an escaped *star* stays."),
        ),
    )


def test_markdown_leading_h1_is_title_when_none_given():
    text = "# Weekly *China* digest\n\nFirst paragraph.\n\nSetext heading\n--------------\n\nSecond paragraph.\n"
    article = parse_markdown(text, url="https://x/md")
    assert article.title == "Weekly China digest"
    assert article.published is None
    assert article.sections == (
        Section(None, ("First paragraph.",)),
        Section("Setext heading", ("Second paragraph.",)),
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[Tencent](https://t.com) and [Ali][1]", "Tencent and [Ali][1]"),  # an undefined reference stays text
        ("![img](a.png) text", "text"),
        ("**bold** __also__ *it* _it_ ~~gone~~", "bold also it it gone"),
        ("`x = 1` here", "x = 1 here"),
        ("see <https://example.com>", "see https://example.com"),
        ("a<br/>b <span>c</span>", "ab c"),
        ("price is 3 * 4 * 5", "price is 3 * 4 * 5"),
    ],
)
def test_strip_markdown_inline(text, expected):
    assert strip_markdown_inline(text) == expected


# --- HTML ----------------------------------------------------------------------------------

HTML_PAGE = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>China Roundup: Huawei surges | Example News</title>
<meta property="og:title" content="China Roundup: Huawei surges">
<meta property="og:site_name" content="Example News">
<meta property="article:published_time" content="2020-01-05T08:00:00+00:00">
<link rel="canonical" href="https://example.com/2020/01/05/china-roundup-huawei/">
</head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/tech">Tech</a></li>
<li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on Twitter</a></div>
<article>
<h1>China Roundup: Huawei surges</h1>
<p>Hello and welcome back to China Roundup, a digest of recent events shaping the Chinese tech landscape and what they mean to people in the rest of the world.</p>
<h2>Huawei keeps growing</h2>
<p>Huawei shipped a record number of smartphones in the third quarter, according to research firm Canalys, even as U.S. sanctions cut it off from Google services.</p>
<p>The company&rsquo;s domestic sales rose <strong>66%</strong> year on year, with <a href="https://x.com">patriotic buyers</a> helping offset losses abroad.</p>
<h2>Alibaba&#8217;s Singles Day</h2>
<p>Alibaba is preparing for its annual Singles Day shopping festival on November 11, which last year brought in $30.8 billion in gross merchandise volume within a day.</p>
</article>
<div class="sharedaddy"><h3>Share this:</h3><ul><li><a>Click to share on Twitter (Opens in new window)</a></li>
<li><a>Click to share on Facebook (Opens in new window)</a></li></ul></div>
<div id="comments" class="comments-area"><h3 id="reply-title">Leave a Reply</h3>
<form id="commentform"><p>Please enter your comment!</p><textarea name="comment"></textarea>
<p>Please enter your name here</p><input name="author"></form></div>
<footer><p>Copyright 2020 Example News. All rights reserved.</p></footer>
</body></html>
"""

HTML_SECTIONS = (
    Section(
        None,
        (
            "Hello and welcome back to China Roundup, a digest of recent events shaping the Chinese "
            "tech landscape and what they mean to people in the rest of the world.",
        ),
    ),
    Section(
        "Huawei keeps growing",
        (
            "Huawei shipped a record number of smartphones in the third quarter, according to research "
            "firm Canalys, even as U.S. sanctions cut it off from Google services.",
            "The company's domestic sales rose 66% year on year, with patriotic buyers helping offset "
            "losses abroad.",
        ),
    ),
    Section(
        "Alibaba's Singles Day",
        (
            "Alibaba is preparing for its annual Singles Day shopping festival on November 11, which "
            "last year brought in $30.8 billion in gross merchandise volume within a day.",
        ),
    ),
)


def test_html_file_yields_only_article_paragraphs_with_headings(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    result = read_file(path)
    assert result.errors == []
    article = result.articles[0]
    assert article.sections == HTML_SECTIONS
    assert article.title == "China Roundup: Huawei surges"
    assert article.url == "https://example.com/2020/01/05/china-roundup-huawei/"
    assert article.published == "2020-01-05"
    assert article.source == "Example News"
    assert article.date_estimated is False


def test_parse_html_url_argument_and_overrides_win():
    article = parse_html(
        HTML_PAGE, url="https://fetched.example/page", overrides={"title": "Given", "published": "2020-02-02"}
    )
    assert (article.url, article.title, article.published) == ("https://fetched.example/page", "Given", "2020-02-02")
    assert article.id == article_id_for_url("https://fetched.example/page")


def test_html_bytes_charset_detected(tmp_path):
    body = "华为第三季度智能手机出货量创下纪录，国内销量同比增长百分之六十六。" * 3
    html = (
        '<html><head><meta charset="gbk"><title>中国科技周报</title></head><body><article>'
        f"<h1>中国科技周报</h1><p>{body}</p><h2>阿里巴巴</h2><p>{body[::-1]}</p></article></body></html>"
    )
    path = tmp_path / "cn.htm"
    path.write_bytes(html.encode("gbk"))
    article = read_file(path).articles[0]
    assert article.title == "中国科技周报"
    assert [s.heading for s in article.sections] == [None, "阿里巴巴"]
    assert article.sections[0].paragraphs == (body.replace("，", ","),)


def test_html_without_text_is_an_error():
    with pytest.raises(CorpusError, match="no article text found"):
        parse_html("<html><body><nav><a href='/'>Home</a></nav></body></html>", url="https://x/")


# --- files and errors ----------------------------------------------------------------------


def test_missing_file_and_unsupported_suffix(tmp_path):
    with pytest.raises(CorpusError) as e:
        read_file(tmp_path / "nope.txt")
    assert str(e.value) == f"no such file: {tmp_path / 'nope.txt'}"
    bad = tmp_path / "a.pdf"
    bad.write_bytes(b"%PDF")
    with pytest.raises(CorpusError) as e:
        read_file(bad)
    assert str(e.value) == (
        f"unsupported file type '.pdf': {bad} (supported: .jsonl, .txt, .md, .markdown, .html, .htm)"
    )


def test_bad_overrides_raise(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Text.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"^unknown override author \(expected one of title, url, published, source\)$"):
        read_file(path, overrides={"author": "x"})
    with pytest.raises(CorpusError, match=r"^invalid published date '03/11/2019' \(expected YYYY-MM-DD\)$"):
        read_file(path, overrides={"published": "03/11/2019"})


def test_iter_source_files(tmp_path):
    for rel in ["b.txt", "a.md", "sub/c.html", "sub/c.json", "sub/.hidden.txt", ".git/x.md", "notes.pdf", "z.JSONL"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x", encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_source_files(tmp_path)]
    assert found == ["a.md", "b.txt", "sub/c.html", "z.JSONL"]
    assert list(iter_source_files(tmp_path / "b.txt")) == [tmp_path / "b.txt"]
    with pytest.raises(CorpusError, match="^no such file: "):
        list(iter_source_files(tmp_path / "missing"))
    assert ".jsonl" in SUPPORTED_SUFFIXES


@pytest.mark.parametrize(
    "value, expected",
    [("2019-11-03", "2019-11-03"), ("2019-11-03T10:00:00Z", "2019-11-03"), ("2019-11-03 10:00", "2019-11-03")],
)
def test_parse_date_accepts(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["2019-02-30", "Nov 3, 2019", "20191103", 20191103, None, ""])
def test_parse_date_rejects(value):
    with pytest.raises(CorpusError):
        parse_date(value)
