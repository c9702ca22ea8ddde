"""Issue 12, point 2: one bad input costs only itself, with one line saying why; text is stored clean.

Each hostile input from the issue is read by the real readers (and, at the end, ingested by the
real service with the real model), next to good content that must still come through.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from pathlib import Path

import pytest

from corpus.feeds import page_article
from corpus.limits import MAX_ARTICLE_CHARS, MAX_PASSAGES, cap_article
from corpus.passages import split_article
from corpus.readers import CorpusError, iter_source_files, read_file
from corpus.text import clean_question, normalize_text, strip_controls

GOOD = ("Huawei shipped more than 66 million smartphones in the third quarter, up 29 percent "
        "from a year earlier, as buyers at home rallied behind the brand.")
OTHER = ("Alibaba's cloud unit opened new data centres in Indonesia and India and cut prices "
         "for its storage services to win small businesses.")
# Everything a terminal would act on: C0 (minus tab and newline), DEL, C1, bidi overrides.
RAW_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = "\x1b]0;pwned\x07\x1b[31m\x1b[2J\u202e\x9b1m\x7f\x08"


def _record(article_id: str, *paragraphs: str, **extra) -> dict:
    return {"id": article_id, "title": f"Roundup {article_id}", "url": f"https://example.com/{article_id}",
            "published": "2020-01-05", "sections": [{"heading": None, "paragraphs": list(paragraphs)}], **extra}


def _texts(articles) -> list[str]:
    out = []
    for a in articles:
        out += [a.id, a.title, a.url, a.source or ""]
        for s in a.sections:
            out += [s.heading or "", *s.paragraphs]
    return out


def _assert_clean(articles) -> None:
    for text in _texts(articles):
        assert not RAW_CONTROL_RE.search(text), repr(text)
        assert "[31m" not in text and "pwned" not in text, repr(text)


def _paragraphs(result) -> list[str]:
    return [p for a in result.articles for s in a.sections for p in s.paragraphs]


def _html_page(paragraph: str) -> str:
    return (f"<html><head><title>Weekly roundup</title></head><body><article><h1>Weekly roundup</h1>"
            f"<p>{paragraph}</p><p>{OTHER}</p></article></body></html>")


# --- one line, one file ------------------------------------------------------------------------


def test_deeply_nested_jsonl_line_costs_only_that_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    deep = "[" * 1100 + "]" * 1100  # 2.2 KB; the RecursionError
    deep_obj = '{"a":' * 1100 + "1" + "}" * 1100
    path.write_text("\n".join([deep, json.dumps(_record("good", GOOD)), deep_obj]) + "\n", encoding="utf-8")
    result = read_file(path)
    assert [a.id for a in result.articles] == ["good"]
    assert _paragraphs(result) == [GOOD]
    assert result.errors == [f"{path}:1: nested too deeply to read", f"{path}:3: nested too deeply to read"]


def test_other_bad_jsonl_lines_are_reported_with_their_numbers(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(_record("a1", GOOD)), "\x00\x01\x02 not json", json.dumps(_record("a2", OTHER)),
             json.dumps({"id": "x", "title": 5})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_file(path)
    assert [a.id for a in result.articles] == ["a1", "a2"]
    assert len(result.errors) == 2
    assert result.errors[0] == f"{path}:2: binary data in the line (NUL characters)"
    assert result.errors[1].startswith(f"{path}:4: ")
    assert all("\n" not in e for e in result.errors)


@pytest.mark.parametrize("kind", ["broken symlink", "fifo", "directory named .txt"])
def test_unreadable_entries_in_a_directory_are_reported_and_the_rest_read(tmp_path, kind):
    (tmp_path / "a.txt").write_text(f"{GOOD}\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text(f"{OTHER}\n", encoding="utf-8")
    bad = tmp_path / "b.txt"
    if kind == "broken symlink":
        bad.symlink_to(tmp_path / "gone.txt")
        reason = "broken symbolic link"
    elif kind == "fifo":
        os.mkfifo(bad)
        reason = "not a regular file (a FIFO)"
    else:
        bad.mkdir()
        (bad / "inner.md").write_text(f"{OTHER}\n", encoding="utf-8")
        reason = None
    files = list(iter_source_files(tmp_path))
    stored, errors = [], []
    for f in files:  # the loop the service runs
        try:
            result = read_file(f)
        except CorpusError as exc:
            errors.append(str(exc))
            continue
        stored += _paragraphs(result)
        errors += result.errors
    assert GOOD in stored and OTHER in stored
    if reason:
        assert errors == [f"{bad}: {reason}"]
    else:  # a directory with a file's name is walked, not read
        assert errors == [] and bad / "inner.md" in files


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_and_directory_without_root(tmp_path):
    (tmp_path / "a.txt").write_text(f"{GOOD}\n", encoding="utf-8")
    locked = tmp_path / "locked.txt"
    locked.write_text(f"{OTHER}\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "x.md").write_text(f"{OTHER}\n", encoding="utf-8")
    locked.chmod(0)
    sub.chmod(0)
    try:
        files = list(iter_source_files(tmp_path))
        assert files == sorted([tmp_path / "a.txt", locked, sub])
        with pytest.raises(CorpusError) as exc:
            read_file(locked)
        assert str(exc.value) == f"{locked}: permission denied"
        with pytest.raises(CorpusError) as exc:
            read_file(sub)
        assert str(exc.value) == f"{sub}: cannot list the directory: permission denied"
        inside = sub / "x.md"  # a path under a directory that cannot be searched
        assert list(iter_source_files(inside)) == [inside]
        with pytest.raises(CorpusError) as exc:
            read_file(inside)
        assert str(exc.value) == f"{inside}: permission denied"
        assert _paragraphs(read_file(tmp_path / "a.txt")) == [GOOD]
    finally:
        locked.chmod(0o644)
        sub.chmod(0o755)


def test_read_errors_of_any_kind_become_one_corpus_error_line(tmp_path, monkeypatch):
    """EIO, MemoryError... while reading: the service's `except CorpusError` gets one line."""
    path = tmp_path / "a.md"
    path.write_text(f"{GOOD}\n", encoding="utf-8")
    for exc, reason in [(OSError(5, "Input/output error"), "cannot read: Input/output error"),
                        (MemoryError(), "too large to read into memory")]:
        def boom(*args, _exc=exc, **kwargs):
            raise _exc
        monkeypatch.setattr("corpus.readers.read_source_bytes", boom)
        with pytest.raises(CorpusError) as err:
            read_file(path)
        assert str(err.value) == f"{path}: {reason}"


def test_deeply_nested_markdown_and_html_are_read(tmp_path):
    md = tmp_path / "nested.md"
    md.write_text(GOOD + "\n\n" + ">" * 5000 + " quote\n\n" + "- " * 3000 + "item\n", encoding="utf-8")
    assert _paragraphs(read_file(md))[0] == GOOD
    page = tmp_path / "nested.html"
    page.write_text(_html_page(GOOD).replace("</article>", "<div>" * 30000 + "x" + "</div>" * 30000 + "</article>"),
                    encoding="utf-8")
    assert _paragraphs(read_file(page))[:2] == [GOOD, OTHER]


@pytest.mark.parametrize("suffix, target, exc, reason", [
    (".md", "markdown_it.MarkdownIt.parse", RecursionError("maximum recursion depth exceeded"),
     "nested too deeply to read"),
    (".html", "trafilatura.bare_extraction", ValueError("lxml: Document is empty\nline 2"),
     "cannot extract the HTML: could not parse it (ValueError: lxml: Document is empty line 2)"),
])
def test_a_third_party_parser_crash_is_one_error_for_that_file(tmp_path, monkeypatch, suffix, target, exc, reason):
    """markdown-it or trafilatura/lxml raising on hostile input: that file fails with a reason."""
    good = tmp_path / "good.txt"
    good.write_text(f"{GOOD}\n", encoding="utf-8")
    path = tmp_path / f"crash{suffix}"
    path.write_text(_html_page(GOOD) if suffix == ".html" else f"{GOOD}\n", encoding="utf-8")

    def crash(*args, **kwargs):
        raise exc
    monkeypatch.setattr(target, crash)
    assert read_file(path).errors == [f"{path}: {reason}"]
    assert _paragraphs(read_file(good)) == [GOOD]


# --- binary files ------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
GZIP = gzip.compress(b"Huawei " * 2000)
RANDOM_NO_NUL = bytes((i * 73 + 11) % 255 + 1 for i in range(8000))  # no NUL, no signature
ZLIB = zlib.compress(os.urandom(4000))  # no known signature; random bytes
HIGH_ONLY = bytes((i * 97 + 13) % 128 + 128 for i in range(6000))  # bytes 0x80-0xFF only


@pytest.mark.parametrize("suffix", [".txt", ".md", ".jsonl", ".html"])
@pytest.mark.parametrize("data, reason", [
    (PNG, "PNG image"),
    (GZIP, "gzip data"),
    (b"Title\n" + bytes(range(1, 9)) * 200, "100% control characters"),
])
def test_binary_files_renamed_as_text_are_refused(tmp_path, suffix, data, reason):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(data)
    with pytest.raises(CorpusError) as exc:
        read_file(path)
    assert str(exc.value) == f"{path}: looks like a binary file, not text ({reason})"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html"])
def test_nul_bytes_make_a_document_binary(tmp_path, suffix):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(b"plain words " * 50 + b"\x00" * 64 + b"more words")
    with pytest.raises(CorpusError) as exc:
        read_file(path)
    assert str(exc.value) == f"{path}: looks like a binary file, not text (NUL bytes)"


def test_nul_padding_in_jsonl_costs_only_its_line(tmp_path):
    """A crash can leave NUL bytes at the end of a file that was being appended to."""
    path = tmp_path / "crashed.jsonl"
    path.write_bytes((json.dumps(_record("a1", GOOD)) + "\n" + json.dumps(_record("a2", OTHER)) + "\n").encode()
                     + b"\x00" * 40)
    result = read_file(path)
    assert [a.id for a in result.articles] == ["a1", "a2"]
    assert result.errors == [f"{path}:3: binary data in the line (NUL characters)"]
    path.write_bytes(b"\x00" * 4096)
    with pytest.raises(CorpusError, match=r"looks like a binary file, not text \(NUL bytes\)$"):
        read_file(path)


@pytest.mark.parametrize("data", [RANDOM_NO_NUL, ZLIB], ids=["no-nul", "compressed"])
def test_random_binary_without_a_signature_is_refused(tmp_path, data):
    path = tmp_path / "noise.txt"
    path.write_bytes(data)
    with pytest.raises(CorpusError) as exc:
        read_file(path)
    assert str(exc.value).startswith(f"{path}: looks like a binary file, not text (")


def test_bytes_no_charset_fits_are_refused_by_charset_detection(tmp_path):
    """No NUL, no control byte, not UTF-8: charset-normalizer finds no encoding it trusts."""
    path = tmp_path / "noise.md"
    path.write_bytes(HIGH_ONLY)
    with pytest.raises(CorpusError) as exc:
        read_file(path)
    assert str(exc.value) == f"{path}: looks like a binary file, not text (no character encoding fits)"


def test_text_in_other_encodings_is_still_text(tmp_path):
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("\ufeff".encode("utf-16-le") + f"{GOOD}\n".encode("utf-16-le"))
    assert _paragraphs(read_file(utf16)) == [GOOD]
    gbk = tmp_path / "gbk.txt"
    chinese = "华为第三季度智能手机出货量同比增长百分之二十九，国内消费者继续支持这个品牌。" * 3
    gbk.write_bytes(chinese.encode("gbk"))
    assert _paragraphs(read_file(gbk)) == [normalize_text(chinese)]


# --- control characters ------------------------------------------------------------------------


def test_escape_sequences_are_stripped_from_txt_md_and_jsonl(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text(f"Weekly{HOSTILE} roundup\n\n{GOOD[:40]}{HOSTILE}{GOOD[40:]}\n", encoding="utf-8")
    md = tmp_path / "b.md"
    md.write_text(f"---\ntitle: Roundup{HOSTILE} title\nsource: Tech{HOSTILE}Crunch\n---\n"
                  f"## Phones{HOSTILE}\n\n{GOOD[:40]}{HOSTILE}{GOOD[40:]}\n", encoding="utf-8")
    jsonl = tmp_path / "c.jsonl"
    record = _record(f"c1{HOSTILE}", f"{GOOD[:40]}{HOSTILE}{GOOD[40:]}", source=f"Tech{HOSTILE}Crunch")
    record["title"] = f"Roundup{HOSTILE} title"
    record["url"] = f"https://example.com/c1{HOSTILE}"
    record["sections"][0]["heading"] = f"Phones{HOSTILE}"
    jsonl.write_text(json.dumps(record) + "\n", encoding="utf-8")
    for path in (txt, md, jsonl):
        result = read_file(path)
        assert result.errors == [], path
        _assert_clean(result.articles)
        assert GOOD in _paragraphs(result), path
    md_article = read_file(md).articles[0]
    assert md_article.title == "Roundup title" and md_article.source == "TechCrunch"
    assert md_article.sections[0].heading == "Phones"
    json_article = read_file(jsonl).articles[0]
    assert (json_article.id, json_article.url) == ("c1", "https://example.com/c1")


def test_raw_control_characters_inside_json_strings_are_stripped_not_fatal(tmp_path):
    path = tmp_path / "raw.jsonl"
    line = json.dumps(_record("r1", GOOD)).replace("Huawei", "Hua\x1b[1mwei")
    path.write_text(line + "\n", encoding="utf-8")
    result = read_file(path)
    assert result.errors == [] and _paragraphs(result) == [GOOD]


@pytest.mark.parametrize("ref", ["&#27;", "&#x1b;", "&#x1B;[31m", "&#0;", "&#7;", "&#xd800;", "&#1114112;"])
def test_html_references_to_controls_are_dropped_not_fatal(tmp_path, ref):
    page = _html_page(f"{GOOD[:40]}{ref}{GOOD[40:]}")
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    result = read_file(path)
    assert result.errors == []
    assert _paragraphs(result) == [GOOD, OTHER]
    _assert_clean(result.articles)
    # the web path (feeds and single pages) extracts with the same parser
    article = page_article(page, url="https://example.com/page")
    assert [p for s in article.sections for p in s.paragraphs] == [GOOD, OTHER]


def test_html_c1_references_mean_windows_1252(tmp_path):
    path = tmp_path / "dash.html"
    path.write_text(_html_page(f"{GOOD[:-1]} &#150; and more."), encoding="utf-8")
    assert _paragraphs(read_file(path))[0].endswith("\u2013 and more.")


def test_strip_controls_keeps_layout_and_prose():
    assert strip_controls("a\tb\nc") == "a\tb\nc"
    assert strip_controls("line\r\nnext\rlast\x0cpage") == "line\nnext\nlast\npage"
    assert strip_controls("red \x1b[1;31mALERT\x1b[0m done") == "red ALERT done"
    assert strip_controls("title \x1b]0;evil title\x07 after") == "title  after"
    assert strip_controls("title \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "title link"
    # an unterminated OSC loses only its introducer, never the text after it
    assert strip_controls("keep \x1b] all of this text") == "keep  all of this text"
    assert strip_controls("\u202eevil\u202c \u2066iso\u2069 \x9b2J\x85next") == "evil iso \nnext"
    assert strip_controls("a\tb\nc", keep="") == "a b c"
    assert strip_controls("中文。Ünïcödé — “quotes”") == "中文。Ünïcödé — “quotes”"


def test_clean_question_replaces_surrogates_and_controls():
    assert clean_question("What did \udcff Huawei\x1b[31m ship?\n") == "What did \ufffd Huawei ship? "
    assert clean_question(b"caf\xe9 \xe2\x98\x95?") == "caf\ufffd \u2615?"
    assert clean_question("\ud83d\ude00 ok") == "\U0001f600 ok"  # a real pair is joined, not replaced


# --- size limits -------------------------------------------------------------------------------


def test_an_85000_word_paragraph_is_capped_with_a_note(tmp_path):
    sentence = "Huawei shipped many phones in the quarter and sold them abroad. "  # 11 words
    huge = (sentence * 7728).strip()  # 85,008 words, about 500,000 characters
    path = tmp_path / "huge.txt"
    path.write_text(f"Weekly roundup\n\n{huge}\n\n{GOOD}\n", encoding="utf-8")
    result = read_file(path)
    assert len(result.articles) == 1
    article = result.articles[0]
    chars = sum(len(p) for s in article.sections for p in s.paragraphs)
    assert MAX_ARTICLE_CHARS * 0.99 < chars <= MAX_ARTICLE_CHARS
    assert result.errors == [f"{path}: article {article.id!r} cut to its first {MAX_ARTICLE_CHARS:,} characters "
                             f"of {len(huge) + len(GOOD):,} (the limit per article); the rest is not stored"]
    passages = split_article(article)
    assert 0 < len(passages) <= MAX_PASSAGES
    assert all(p.text.startswith("Huawei") for p in passages)


def test_the_cap_applies_per_jsonl_line(tmp_path):
    path = tmp_path / "big.jsonl"
    huge = " ".join([GOOD] * 2000)
    path.write_text(json.dumps(_record("big", huge)) + "\n" + json.dumps(_record("small", OTHER)) + "\n",
                    encoding="utf-8")
    result = read_file(path, max_chars=50_000)
    assert [a.id for a in result.articles] == ["big", "small"]
    assert result.errors == [f"{path}:1: article 'big' cut to its first 50,000 characters of {len(huge):,} "
                             f"(the limit per article); the rest is not stored"]
    assert _paragraphs(result)[1] == OTHER


def test_passages_are_capped_in_length_and_number():
    from corpus.model import Article, Section

    word = "".join(f"{i:05d}" for i in range(2_000))  # 10,000 characters no boundary can cut
    article = Article(id="w", title="t", url="u", published=None, sections=(Section(None, (word,)),))
    passages = split_article(article, max_chars=3_000)
    assert [len(p.text) for p in passages] == [3_000, 3_000, 3_000, 1_000]
    many = Article(id="m", title="t", url="u", published=None,
                   sections=(Section(None, tuple(f"{GOOD} {i}" for i in range(50))),))
    assert len(split_article(many, max_passages=20)) == 20
    capped, note = cap_article(many, max_chars=1_000)
    assert note is not None and sum(len(p) for s in capped.sections for p in s.paragraphs) <= 1_000


# --- through the service -----------------------------------------------------------------------


def test_a_directory_of_bad_files_ingests_the_good_ones(make_service, tmp_path):
    """The issue's list at once: every good article stored and answerable, one line per bad input."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a_deep.jsonl").write_text("[" * 1100 + "]" * 1100 + "\n" + json.dumps(_record("good", GOOD)) + "\n",
                                      encoding="utf-8")
    (src / "b_binary.txt").write_bytes(PNG)
    (src / "c_escape.md").write_text(f"# Cloud{HOSTILE} roundup\n\n{OTHER[:30]}{HOSTILE}{OTHER[30:]}\n",
                                     encoding="utf-8")
    (src / "d_broken.txt").symlink_to(src / "nowhere.txt")
    (src / "e_ref.html").write_text(_html_page("Xiaomi&#27; opened its first store in Madrid and sold out "
                                               "its new phones within an hour of the doors opening."),
                                    encoding="utf-8")
    svc = make_service(auto_ingest_bundled=False)
    report = svc.ingest([src])
    errors = report.errors
    assert errors == [f"{src / 'a_deep.jsonl'}:1: nested too deeply to read",
                      f"{src / 'b_binary.txt'}: looks like a binary file, not text (PNG image)",
                      f"{src / 'd_broken.txt'}: broken symbolic link"]
    assert all("\n" not in e and "Traceback" not in e for e in errors)
    stored = svc.store.passages()
    texts = [p.text for p in stored]
    assert GOOD in texts and OTHER in texts
    assert any(t.startswith("Xiaomi opened its first store in Madrid") for t in texts)
    for p in stored:
        for value in (p.text, p.title, p.url, p.section or "", p.source or ""):
            assert not RAW_CONTROL_RE.search(value), repr(value)
    assert report.embedded == len(stored)
    assert svc.ask("How many smartphones did Huawei ship in the third quarter?").hits[0].passage.text == GOOD
    # invalid UTF-8 (as argv/stdin decode it) and escape sequences in a question are cleaned, not fatal
    hostile = "How many smartphones did Huawei \udcff\udcfe ship\x1b]0;x\x07\x1b[31m in the third quarter?"
    assert svc.ask(hostile).hits[0].passage.text == GOOD


def test_hostile_file_names_give_printable_messages_and_clean_articles(tmp_path):
    """A file name with an escape sequence or invalid UTF-8 must not reach the terminal raw."""
    evil = Path(os.fsdecode(bytes(tmp_path) + b"/evil\x1b[2J\xff name.txt"))
    evil.write_text(f"{GOOD}\n", encoding="utf-8")
    article = read_file(evil).articles[0]
    _assert_clean([article])
    assert article.title == "Evil\ufffd name" and "%1B%5B2J%FF" in article.url
    binary = Path(os.fsdecode(bytes(tmp_path) + b"/bin\x1b]0;x\x07\xfe.md"))
    binary.write_bytes(PNG)
    with pytest.raises(CorpusError) as exc:
        read_file(binary)
    message = str(exc.value)
    assert message == f"{tmp_path}/bin\ufffd.md: looks like a binary file, not text (PNG image)"
    message.encode("utf-8")


def test_unicode_line_separators_inside_json_strings_do_not_split_the_line(tmp_path):
    path = tmp_path / "seps.jsonl"
    text = GOOD.replace(" million ", " million\u2028\x85\x0c")
    path.write_text(json.dumps(_record("s1", text), ensure_ascii=False) + "\n" + json.dumps(_record("s2", OTHER)) + "\n",
                    encoding="utf-8")
    result = read_file(path)
    assert result.errors == [] and [a.id for a in result.articles] == ["s1", "s2"]
    assert _paragraphs(result)[0] == GOOD


@pytest.mark.parametrize("start", ["ID3 tags are", "MZ and the", "BZh is not", "RIFF between", "OggS said"])
def test_text_that_starts_like_a_binary_signature_is_text(tmp_path, start):
    path = tmp_path / "lookalike.txt"
    path.write_text(f"{start} {GOOD}\n", encoding="utf-8")
    assert _paragraphs(read_file(path)) == [f"{start} {GOOD}"]


def test_a_bad_sidecar_is_one_error_for_its_file(tmp_path):
    (tmp_path / "a.txt").write_text(f"{GOOD}\n", encoding="utf-8")
    (tmp_path / "a.json").write_text("[" * 1100 + "]" * 1100, encoding="utf-8")
    (tmp_path / "b.txt").write_text(f"{OTHER}\n", encoding="utf-8")
    (tmp_path / "b.json").write_bytes(b"{\"title\": \"x\xff\"")
    assert read_file(tmp_path / "a.txt").errors == [f"{tmp_path / 'a.txt'}: unreadable sidecar a.json: nested too deeply to read"]
    [error] = read_file(tmp_path / "b.txt").errors
    assert error.startswith(f"{tmp_path / 'b.txt'}: unreadable sidecar b.json: ")


def test_feed_and_entry_titles_lose_their_controls():
    from corpus.feeds import parse_feed

    rss = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Tech\x1b]0;pwned\x07 News&#x202e;</title>'
           b'<link>https://example.com/</link><item><title>Huawei &#27;[31mships</title>'
           b'<link>https://example.com/a</link><guid>a</guid></item></channel></rss>')
    feed = parse_feed(rss, url="https://example.com/feed")
    assert feed.title == "Tech News"
    assert [e.title for e in feed.entries] == ["Huawei ships"]
