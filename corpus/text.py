"""Text primitives shared by ingestion and query time: normalising, sentences, word counts.

Everything here is regex-based and dependency-free because `split_sentences` and
`word_count` also run on every query; they must stay fast and predictable.
"""
from __future__ import annotations

import re
import unicodedata

# Ideographs (incl. extension A, compatibility, extension B+) and Japanese kana: each counts
# as one word, since these scripts do not separate words with spaces. Hangul is left out:
# Korean does use spaces between words.
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_RE = re.compile(f"[{_CJK_CHARS}]")

_QUOTE_MAP = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark / apostrophe
        "\u201a": "'",  # single low-9
        "\u201b": "'",  # single high-reversed-9
        "\u2032": "'",  # prime (often a mis-typed apostrophe)
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
    }
)
# Zero-width and invisible formatting characters that split words without showing.
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")


# --- control characters and broken code points ---------------------------------------------

# Whole terminal escape sequences go, not just their ESC, or "[31m" would be left in the text:
# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ST) and DCS/SOS/PM/APC strings (ESC P/X/^/_
# ... ST), each bounded so a stray, unterminated ESC ] cannot swallow the rest of an article.
_ESCAPE_SEQ_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]{0,64}[ -/]{0,16}[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]{0,1024}(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c\n]{0,1024}(?:\x1b\\|\x9c)"
    r"|\x1b[ -/]{0,4}[0-~]"
)
# C0 and C1 controls (minus tab and newline), DEL, and the bidi embeddings/overrides/isolates
# that can make displayed text read differently from what is stored ("Trojan source").
_CONTROL_CHARS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_CONTROL_RE = re.compile(f"[{_CONTROL_CHARS}]")
_LINE_BREAK_CONTROLS_RE = re.compile("\r\n?|[\x0b\x0c\x85]")  # controls that mean "new line"
_C1_INTRO_RE = re.compile("[\x90\x98\x9b\x9d\x9e\x9f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def fix_surrogates(text: str) -> str:
    """Join surrogate pairs and replace lone surrogates with U+FFFD.

    Lone surrogates come from invalid UTF-8 read with `surrogateescape` (argv, stdin) or
    from JSON escapes like "\\ud800"; they cannot be encoded, so SQLite and the terminal fail.
    """
    if not _SURROGATE_RE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def strip_escape_sequences(text: str) -> str:
    """`text` without whole terminal escape sequences (CSI, OSC, DCS...); other controls stay."""
    return _ESCAPE_SEQ_RE.sub("", text) if ("\x1b" in text or _C1_INTRO_RE.search(text)) else text


def strip_controls(text: str, *, keep: str = "\n\t") -> str:
    """`text` without terminal escape sequences, control characters or bidi overrides.

    CR, CRLF, vertical tab, form feed and NEL become "\n" (or a space when "\n" is not in
    `keep`); tab and newline stay if in `keep`, else become spaces. Pure and linear, so the
    CLI can also run it on whatever it prints.
    """
    if not _CONTROL_RE.search(text) and all(ch in keep or ch not in text for ch in "\n\t"):
        return text
    text = strip_escape_sequences(text)
    text = _LINE_BREAK_CONTROLS_RE.sub("\n" if "\n" in keep else " ", text)
    for ch in "\n\t":
        if ch not in keep:
            text = text.replace(ch, " ")
    return _CONTROL_RE.sub(lambda m: m.group() if m.group() in keep else "", text)


def clean_question(text: str | bytes) -> str:
    """A question safe to search, store and echo: never raises, whatever it is given.

    Bytes are decoded as UTF-8 with replacement; lone surrogates (invalid UTF-8 from argv or
    stdin) become U+FFFD; controls and escape sequences are removed; line breaks become spaces.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = "" if text is None else str(text)
    return strip_controls(fix_surrogates(text), keep="")


def normalize_text(s: str) -> str:
    """Controls stripped, NFKC, straight quotes, invisible characters removed, whitespace collapsed.

    Republished copies differ from the original mostly in such invisible ways; normalising
    them makes duplicate detection and passage ids agree across copies. Every stored text
    passes here, so this is also where escape sequences and lone surrogates are removed.
    """
    s = strip_controls(fix_surrogates(s))
    if not s.isascii():  # NFKC, the quote map and the invisible characters change only non-ASCII text
        s = unicodedata.normalize("NFKC", s)
        s = s.translate(_QUOTE_MAP)
        s = _INVISIBLE_RE.sub("", s)
    return " ".join(s.split())  # whitespace runs as one space, ends stripped: `\s` is `str.isspace`


# --- words -------------------------------------------------------------------------------

# A token is one CJK character, or a run of other non-space characters. Runs made only of
# punctuation (a lone dash, a CJK full stop) are not words.
_TOKEN_RE = re.compile(f"[{_CJK_CHARS}]|[^\\s{_CJK_CHARS}]+")
_WORDLIKE_RE = re.compile(r"\w")


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each word as `word_count` counts them, so callers can cut at words."""
    return [
        m.span()
        for m in _TOKEN_RE.finditer(text)
        if _WORDLIKE_RE.search(m.group())
    ]


def word_count(text: str) -> int:
    """Whitespace-separated words, with each CJK character counting as one word.

    Chinese has no spaces, so a plain split would count a whole Chinese paragraph as one
    word; one character per word is close to how models tokenise it.
    """
    return len(word_spans(text))


# --- sentences ----------------------------------------------------------------------------

# Lower-case abbreviations (without their final period) after which a period does not end a
# sentence. Dotted forms such as U.S., e.g., a.m. are caught by _DOTTED_RE instead.
ABBREVIATIONS = frozenset(
    {
        # titles
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "gen", "gov", "sen", "rep",
        "lt", "col", "capt", "sgt", "rev", "hon", "pres", "mt", "ft",
        # companies
        "inc", "corp", "co", "ltd", "bros", "plc", "llc", "assn", "dept", "univ",
        # months
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        # latin and misc
        "vs", "etc", "al", "cf", "ca", "approx", "est", "ave", "rd", "blvd", "eg", "ie",
    }
)
# Only an abbreviation when a number follows: "No. 3", "Vol. 2", "p. 14".
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "vol", "fig", "figs", "p", "pp"})

_DOTTED_RE = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, e.g, i.e, a.m, U.K (final dot cut)
_INITIAL_RE = re.compile(r"[A-Z]")

_CLOSERS = "\"'\u201d\u2019\u00bb)\\]\u300d\u300f\uff09\u300b\u3009"
# CJK terminal punctuation ends a sentence without needing a space; so does ! or ? (what
# NFKC turns ！？ into) directly followed by a CJK character.
_BOUNDARY_RE = re.compile(
    f"[\u3002\uff01\uff1f]+[\u3002\uff01\uff1f!?]*[{_CLOSERS}]*"
    f"|[!?]+[{_CLOSERS}]*(?=[{_CJK_CHARS}])"
    f"|(?:[.!?]|\u2026)+[{_CLOSERS}]*(?=\\s)"
)
_TOKEN_BEFORE_RE = re.compile(r"[^\s(\[\"'\u201c\u2018]+$")
_NEXT_WORD_RE = re.compile(r"\s*(\S+)")
_CAMEL_RE = re.compile(r"[a-z]+[A-Z]")  # iPhone, eBay, iQiyi: lower-case sentence starts


def ends_with_abbreviation(text: str) -> bool:
    """True if `text` ends in a period that belongs to an abbreviation (U.S., Inc., J.)."""
    text = text.rstrip()
    if not text.endswith("."):
        return False
    m = _TOKEN_BEFORE_RE.search(text[-40:-1])
    if not m:
        return False
    token = m.group()
    return (
        token.lower() in ABBREVIATIONS
        or token.lower() in _NUMBER_ABBREVIATIONS
        or bool(_DOTTED_RE.fullmatch(token))
        or bool(_INITIAL_RE.fullmatch(token))
    )


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Decide whether the terminal punctuation at text[start:end] really ends a sentence."""
    punct = text[start:end]
    if punct[0] in "\u3002\uff01\uff1f" or not text[end:end + 1].isspace():
        return True  # CJK punctuation, or !/? glued to a CJK character
    nxt = _NEXT_WORD_RE.match(text, end)
    next_word = nxt.group(1) if nxt else ""
    if next_word[:1].islower() and not _CAMEL_RE.match(next_word):
        return False  # "approx. the", "Yahoo! is": sentences rarely start lower-case
    if punct.rstrip(_CLOSERS) != ".":
        return True  # !, ?, ... and ellipses
    m = _TOKEN_BEFORE_RE.search(text, max(0, start - 40), start)
    if not m:
        return True
    token = m.group()
    low = token.lower()
    if low in ABBREVIATIONS or _DOTTED_RE.fullmatch(token) or _INITIAL_RE.fullmatch(token):
        return False
    if low in _NUMBER_ABBREVIATIONS and next_word[:1].isdigit():
        return False
    return True


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, without surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _BOUNDARY_RE.finditer(text):
        if m.start() < pos or not _is_boundary(text, m.start(), m.end()):
            continue
        end = m.end()
        if text[end - 1] == '"' and not text[end:end + 1].isspace():
            # Glued to the next CJK sentence, a straight quote may open it: it closes this
            # sentence only if this sentence left a quote open.
            while text[end - 1] == '"' and text.count('"', pos, m.start()) % 2 == 0:
                end -= 1
        _append_span(text, pos, end, spans)
        pos = end
    _append_span(text, pos, len(text), spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping abbreviations, initials and decimals intact.

    Used for long-paragraph splitting, fragment trimming and at query time, so it is a
    single regex scan plus a look at the token before each candidate period.
    """
    return [text[a:b] for a, b in sentence_spans(text)]


_FINAL_PUNCT_RE = re.compile(f"(?:[.!?:;\u3002\uff01\uff1f]|\u2026)[{_CLOSERS}]*$")


def has_final_punctuation(text: str) -> bool:
    """True if `text` ends like a sentence; a trailing abbreviation (U.S.) does not count.

    Plain-text roundups mark section headings only by their lack of final punctuation, and
    "TikTok's troubles within the U.S." is such a heading.
    """
    text = text.rstrip()
    if not _FINAL_PUNCT_RE.search(text):
        return False
    return not ends_with_abbreviation(text)
