"""Issue 12: fuzzing the edges. Any question text, any file content: no crash, only the project's errors.

Budget: a few hundred examples per property (`FUZZ`), well under 30 s together. Raise
`max_examples` locally to fuzz longer; failures hypothesis finds are printed as a minimal example.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from corpus.readers import CorpusError, read_file
from corpus.text import clean_question
from embeddings.search import MAX_QUESTION_CHARS, QuestionError, check_question

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SEARCH = settings(max_examples=5000, deadline=None, database=None)  # for `find` in the guard below
RAW_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

# Any code point, surrogates included, with the dangerous ones over-represented.
ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=[])
NASTY = st.sampled_from(["\x00", "\x1b", "\x1b[31m", "\x1b]0;t\x07", "\x07", "\x7f", "\x85", "\x9b", "\u202e",
                         "\ud800", "\udcff", "\ufeff", "\r", "\n", "\t", "\u2028", "&#27;", "&#0;", "\\u001b"])
TEXT = st.lists(st.one_of(ANY_CHAR, NASTY, st.text(min_size=1, max_size=12)), max_size=80).map("".join)


def test_the_character_strategy_reaches_surrogates_and_controls():
    """Guard for the fuzzing below: it really generates what the issue lists (find raises if not)."""
    assert "\ud800" <= find(ANY_CHAR, lambda c: "\ud800" <= c <= "\udfff", settings=SEARCH) <= "\udfff"
    assert find(ANY_CHAR, lambda c: c < " " and c not in "\t\n", settings=SEARCH) < " "
    assert "\x80" <= find(ANY_CHAR, lambda c: "\x80" <= c <= "\x9f", settings=SEARCH) <= "\x9f"


@FUZZ
@given(st.one_of(TEXT, st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))))
def test_clean_question_never_raises_and_leaves_nothing_unsafe(text):
    q = clean_question(text)
    assert isinstance(q, str)
    assert not RAW_CONTROL_RE.search(q)
    q.encode("utf-8")  # no lone surrogate left


@FUZZ
@given(st.one_of(TEXT, st.text(min_size=990, max_size=1100), st.binary(max_size=200).map(
    lambda b: b.decode("utf-8", "surrogateescape"))))
def test_check_question_raises_only_question_error(text):
    try:
        q = check_question(text)
    except QuestionError as exc:
        assert "\n" not in str(exc)
        return
    assert q and q == q.strip() and len(q) <= MAX_QUESTION_CHARS
    assert not RAW_CONTROL_RE.search(q)
    q.encode("utf-8")


# --- files --------------------------------------------------------------------------------------

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT)
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)
RECORD = st.fixed_dictionaries(
    {"id": st.one_of(TEXT, JSON_VALUE), "title": st.one_of(TEXT, JSON_VALUE), "url": TEXT,
     "published": st.one_of(st.just("2020-01-05"), TEXT, JSON_VALUE),
     "sections": st.one_of(JSON_VALUE, st.lists(st.fixed_dictionaries(
         {"heading": st.one_of(st.none(), TEXT), "paragraphs": st.one_of(st.lists(TEXT, max_size=4), JSON_VALUE)}),
         max_size=3))},
    optional={"source": st.one_of(st.none(), TEXT), "date_estimated": JSON_VALUE})


def _deep(n: int) -> str:
    return "[" * n + "]" * n


JSONL_LINE = st.one_of(
    RECORD.map(lambda r: json.dumps(r, ensure_ascii=False, allow_nan=True)),
    RECORD.map(json.dumps),  # ASCII with \uXXXX escapes, lone surrogates included
    JSON_VALUE.map(json.dumps),
    st.integers(min_value=900, max_value=3000).map(_deep),
    TEXT,
)
JSONL = st.lists(JSONL_LINE, max_size=6).map("\n".join)
MD_PIECE = st.one_of(TEXT, st.sampled_from(["# ", "## ", "> ", "- ", "1. ", "```", "---\n", "title: x\n", "|a|b|\n|-|-|\n",
                                             "[x](http://e)", "![i](x.png)", "<div>", "</div>", "***", "\n\n", "\n"]))
MARKDOWN = st.lists(MD_PIECE, max_size=60).map("".join)
HTML = st.lists(st.one_of(TEXT, st.sampled_from(["<p>", "</p>", "<h2>", "</h2>", "<article>", "</article>", "<div>",
                                                 "<script>", "<!--", "-->", "<![CDATA[", "&#27;", "&#x0;", "&amp",
                                                 "<title>", "</title>", "<meta charset='gbk'>", "<?xml ?>"])),
                max_size=60).map("".join)


def _encode(text: str, how: str) -> bytes:
    return text.encode("utf-8", "surrogatepass") if how == "utf-8" else text.encode(how, "replace")


@st.composite
def file_contents(draw):
    suffix = draw(st.sampled_from([".txt", ".md", ".jsonl", ".html"]))
    kind = draw(st.sampled_from(["structured", "structured", "bytes", "text"]))
    if kind == "bytes":
        data = draw(st.binary(max_size=600))
    else:
        text = draw({"structured": {".jsonl": JSONL, ".md": MARKDOWN, ".html": HTML, ".txt": TEXT}[suffix],
                     "text": TEXT}[kind])
        data = _encode(text, draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1", "gbk"])))
    return suffix, data


def _check_result(path: Path, result) -> None:
    for error in result.errors:
        assert error.startswith(str(path)) and "\n" not in error
    for article in result.articles:
        fields = [article.id, article.title, article.url, article.source or ""]
        fields += [t for s in article.sections for t in (s.heading or "", *s.paragraphs)]
        for value in fields:
            assert not RAW_CONTROL_RE.search(value), repr(value)
            value.encode("utf-8")  # what SQLite will need


@FUZZ
@given(file_contents())
def test_read_file_raises_only_corpus_error(contents):
    suffix, data = contents
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            result = read_file(path)
        except CorpusError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
            return
        _check_result(path, result)
