"""Read roundup files (JSONL, plain text, Markdown, HTML) into cleaned `Article`s.

The `parse_*` functions are pure (text in, raw Article out) so that a fetcher can reuse
them on downloaded pages; `read_file` adds what only a file has (sidecar metadata, a
file:// url, a modification date) and runs `clean_article` on every article.

Bad input costs only itself: a file that cannot be read, is binary (corpus.textfile) or
crashes a parser is one "FILE: reason" line, a bad JSONL line one "FILE:LINE: reason"
line, and an article over the size limit (corpus.limits) is cut with a note.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clean import clean_article, is_furniture
from .errors import RoundupError
from .limits import MAX_ARTICLE_CHARS, MAX_FILE_BYTES, cap_article
from .model import Article, Section, article_id_for_url
from .urls import strip_tracking
from .text import fix_surrogates, has_final_punctuation, strip_controls, word_count
from .textfile import NotTextError, binary_reason, decode_text, text_binary_reason

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: tuple[str, ...] = (".jsonl", ".txt", ".md", ".markdown", ".html", ".htm")
OVERRIDE_KEYS: tuple[str, ...] = ("title", "url", "published", "source")
METADATA_KEYS: tuple[str, ...] = ("id", "title", "url", "published", "source", "date_estimated")

# A plain-text line of at most this many words and without final punctuation is a heading.
HEADING_MAX_WORDS = 12


class CorpusError(RoundupError):
    """A source that cannot be read at all; the message is one line fit for a CLI."""


@dataclass
class ReadResult:
    articles: list[Article] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line each, "FILE[:LINE]: reason"


def shown_path(path: Path | str) -> str:
    """A path fit for a one-line message: a file name can hold escape sequences or invalid UTF-8."""
    return strip_controls(fix_surrogates(str(path)), keep="")


def describe_error(exc: BaseException) -> str:
    """One line saying why reading failed, for errors no reader anticipated (a parser crash...)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    if isinstance(exc, MemoryError):
        return "too large to read into memory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, FileNotFoundError):
        return "no such file (removed while reading?)"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, UnicodeError):
        return f"cannot decode the text: {exc.reason if hasattr(exc, 'reason') else exc}"
    detail = " ".join(str(exc).split())[:200]
    return f"could not parse it ({type(exc).__name__}{': ' + detail if detail else ''})"


# --- metadata ------------------------------------------------------------------------------

_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.,]+(?:Z|[+-]\d{2}:?\d{2})?)?")


def parse_date(value: Any) -> str:
    """'YYYY-MM-DD' from a date or a full ISO datetime (cut to its date); CorpusError if neither."""
    m = _DATE_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if m:
        try:
            return dt.date.fromisoformat(m.group(1)).isoformat()
        except ValueError:
            pass
    raise CorpusError(f"invalid published date {value!r} (expected YYYY-MM-DD)")


def _check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Overrides minus unset (None) values; unknown keys and bad dates are caller errors."""
    if not overrides:
        return {}
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS) - {"id", "date_estimated"})
    if unknown:
        raise CorpusError(
            f"unknown override {', '.join(unknown)} (expected one of {', '.join(OVERRIDE_KEYS)})"
        )
    out = {k: v for k, v in overrides.items() if v is not None}
    if "published" in out:
        out["published"] = parse_date(out["published"])
    return out


def _build_article(
    sections: list[Section],
    *,
    embedded: Mapping[str, Any],
    url: str | None,
    overrides: Mapping[str, Any] | None,
    defaults: Mapping[str, Any] | None,
) -> Article:
    """Merge metadata layers, lowest first: defaults < embedded < url argument < overrides.

    The layer that supplies `published` also decides `date_estimated`, so a file's
    modification date (an estimate) is flagged while a printed date is not.
    """
    layers = [defaults or {}, embedded, {"url": url}, _check_overrides(overrides)]
    meta: dict[str, Any] = {}
    date_estimated = False
    for layer in layers:
        for key in METADATA_KEYS:
            value = layer.get(key)
            if value is None or value == "" or key == "date_estimated":
                continue
            meta[key] = value
            if key == "published":
                date_estimated = bool(layer.get("date_estimated", False))
    for key in ("title", "url"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise CorpusError(f"no {key} for the article (give one in metadata or as an override)")
    for key in ("id", "source"):
        if key in meta and not isinstance(meta[key], str):
            raise CorpusError(f"{key} must be a string, got {meta[key]!r}")
    published = parse_date(meta["published"]) if "published" in meta else None
    url_value = strip_tracking(meta["url"].strip())  # one article id whatever campaign tag the link carried
    return Article(
        id=meta.get("id") or article_id_for_url(url_value),
        title=meta["title"].strip(),
        url=url_value,
        published=published,
        sections=tuple(sections),
        source=meta.get("source"),
        date_estimated=date_estimated if published else False,
    )


def _sections_from_blocks(blocks: list[tuple[str | None, str]]) -> list[Section]:
    """Group (heading or None, paragraph) pairs, in order, into sections.

    A block with heading text and an empty paragraph opens a new section.
    """
    sections: list[Section] = []
    heading: str | None = None
    paragraphs: list[str] = []
    started = False
    for head, para in blocks:
        if head is not None:
            if started and (paragraphs or heading is not None):
                sections.append(Section(heading, tuple(paragraphs)))
            heading, paragraphs, started = head, [], True
        if para:
            paragraphs.append(para)
            started = True
    if paragraphs or heading is not None:
        sections.append(Section(heading, tuple(paragraphs)))
    return sections


# --- plain text ----------------------------------------------------------------------------

_BLANK_LINE_RE = re.compile(r"\n[ \t\u00a0]*\n")


def _is_heading_candidate(paragraph: str) -> bool:
    n = word_count(paragraph)
    return 0 < n <= HEADING_MAX_WORDS and not has_final_punctuation(paragraph) and not is_furniture(
        paragraph
    )


def _plain_paragraphs(text: str) -> list[str]:
    """Paragraphs from blank-line separated blocks, or one per line.

    Inside a block, a line is joined to the previous one only when that looks like a hard
    wrap: the paragraph so far lacks final punctuation and is either too long to be a
    heading or followed by a lower-case continuation. So "Heading\\nParagraph." and
    "Please enter your comment!\\nPlease enter your name here" stay separate lines.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs: list[str] = []
    for block in _BLANK_LINE_RE.split(text):
        current: list[str] = []
        for line in (ln.strip() for ln in block.split("\n")):
            if not line:
                continue
            if current:
                so_far = " ".join(current)
                wrapped = not has_final_punctuation(so_far) and (
                    word_count(so_far) > HEADING_MAX_WORDS or line[:1].islower()
                )
                if wrapped and not is_furniture(so_far) and not is_furniture(line):
                    current.append(line)
                    continue
                paragraphs.append(so_far)
            current = [line]
        if current:
            paragraphs.append(" ".join(current))
    return paragraphs


def parse_plain_text(text: str, *, url: str | None = None, overrides: Mapping[str, Any] | None = None,
                     defaults: Mapping[str, Any] | None = None) -> Article:
    """Plain text: a short line without final punctuation, followed by a paragraph, is a heading.

    Plain text carries no metadata, so title/url come from `overrides`, `url` or `defaults`.
    """
    paragraphs = _plain_paragraphs(text)
    candidates = [_is_heading_candidate(p) for p in paragraphs]
    blocks: list[tuple[str | None, str]] = []
    for i, p in enumerate(paragraphs):
        followed_by_paragraph = i + 1 < len(paragraphs) and not candidates[i + 1]
        if candidates[i] and followed_by_paragraph:
            blocks.append((p, ""))
        else:
            blocks.append((None, p))
    return _build_article(
        _sections_from_blocks(blocks), embedded={}, url=url, overrides=overrides, defaults=defaults
    )


# --- Markdown ------------------------------------------------------------------------------

_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FRONT_MATTER_ALIASES = {"date": "published", "link": "url", "canonical_url": "url"}
_HEADING_ID_RE = re.compile(r"[ \t]*\{#[^}]*\}[ \t]*$")
_SKIPPED_BLOCKS = ("table_open", "table_close")  # tables are data, not prose


def _markdown_parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def strip_markdown_inline(text: str) -> str:
    """Plain text of one line of Markdown."""
    tokens = _markdown_parser().parseInline(text)
    return _inline_text(tokens[0]) if tokens else ""


def _inline_text(token: Any) -> str:
    """Plain text of an inline token: link text kept, images, HTML and markers dropped."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a leading `---` block of `key: value` lines from the body (no YAML needed)."""
    text = text.lstrip("\ufeff")
    m = _FRONT_MATTER_RE.match(text)
    if not m:
        return {}, text
    meta: dict[str, Any] = {}
    for line in m.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = key.strip().lower()
        key = _FRONT_MATTER_ALIASES.get(key, key)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key == "date_estimated":
            meta[key] = value.lower() in ("true", "yes", "1")
        elif key in METADATA_KEYS and value:
            meta.setdefault(key, value)
    return meta, text[m.end():]


def _markdown_blocks(body: str) -> tuple[str | None, list[tuple[str | None, str]]]:
    """(leading H1 or None, [(heading, paragraph)...]) from a Markdown body, via markdown-it."""
    blocks: list[tuple[str | None, str]] = []
    h1: str | None = None
    tokens = _markdown_parser().parse(body)
    in_table = 0
    for i, tok in enumerate(tokens):
        if tok.type in _SKIPPED_BLOCKS:
            in_table += 1 if tok.type == "table_open" else -1
            continue
        if tok.type != "inline" or in_table:
            continue
        opener = tokens[i - 1] if i else None
        text = _inline_text(tok)
        if opener is not None and opener.type == "heading_open":
            text = _HEADING_ID_RE.sub("", text)
            if opener.tag == "h1" and h1 is None and not blocks:
                h1 = text  # the document title, not a section
            elif text:
                blocks.append((text, ""))
        elif text:
            blocks.append((None, text))  # a paragraph, list item or quote
    return h1, blocks


def parse_markdown(text: str, *, url: str | None = None, overrides: Mapping[str, Any] | None = None,
                   defaults: Mapping[str, Any] | None = None) -> Article:
    """Markdown with optional front matter; a leading `# H1` is the title if none is given.

    `##`/`###` (and deeper, and later H1s) start sections; each list item is a paragraph.
    """
    meta, body = parse_front_matter(text)
    h1, blocks = _markdown_blocks(body)
    if h1 and "title" not in meta:
        meta["title"] = h1
    return _build_article(
        _sections_from_blocks(blocks), embedded=meta, url=url, overrides=overrides, defaults=defaults
    )


# --- HTML ----------------------------------------------------------------------------------

_CONTAINER_TAGS = frozenset({"body", "main", "div", "list", "quote", "section", "article"})


def _element_text(el: Any) -> str:
    """Text of a trafilatura XML element; <lb/> becomes a newline so furniture lines stay lines."""
    parts = [el.text or ""]
    for child in el:
        parts.append("\n" if child.tag == "lb" else _element_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _xml_blocks(el: Any, blocks: list[tuple[str | None, str, str | None]]) -> None:
    """Walk trafilatura's XML body: (heading, paragraph, heading level) in document order."""
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in _CONTAINER_TAGS:
            _xml_blocks(child, blocks)
        elif tag == "head":
            text = " ".join(_element_text(child).split())
            if text:
                blocks.append((text, "", child.get("rend")))
        elif tag in ("graphic", "table", "code"):
            continue
        elif tag:
            text = _element_text(child).strip()
            if text:
                blocks.append((None, text, None))


# Character references to code points that XML cannot hold: lxml then drops the whole tree and
# trafilatura finds "no article text". C1 references mean Windows-1252, as HTML5 says.
_CHAR_REF_RE = re.compile(r"&#(?:[xX]0*([0-9a-fA-F]{1,8})|0*([0-9]{1,10}));?")
# An escape written as a reference and the CSI sequence it starts ("&#27;[31m") go together.
_ESC_REF_SEQ_RE = re.compile(r"&#(?:[xX]0*1[bB]|0*27);?\[[0-?]{0,64}[ -/]{0,16}[@-~]")


def _char_ref(match: re.Match) -> str:
    """A character reference kept, mapped (C1 -> Windows-1252) or dropped (controls, surrogates)."""
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    if code in (0x09, 0x0A, 0x0D):
        return match.group()
    if 0x80 <= code <= 0x9F:
        try:
            return f"&#{ord(bytes([code]).decode('cp1252'))};"
        except UnicodeDecodeError:
            return ""
    if code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF) or code > 0x10FFFF:
        return ""
    return match.group()


def drop_control_references(html: str | bytes) -> str | bytes:
    """`html` with character references to control characters removed (see _CHAR_REF_RE)."""
    if isinstance(html, bytes):
        if b"&#" not in html:
            return html
        return drop_control_references(html.decode("latin-1")).encode("latin-1")
    if "&#" not in html:
        return html
    return _CHAR_REF_RE.sub(_char_ref, _ESC_REF_SEQ_RE.sub("", html))


def _check_html_is_text(html: str | bytes) -> None:
    """CorpusError if a page is really binary data (a PNG served or saved as HTML)."""
    reason = binary_reason(html) if isinstance(html, bytes) else text_binary_reason(html)
    if reason:
        raise CorpusError(reason)


def parse_html(
    html: str | bytes,
    *,
    url: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Article:
    """Main article of a web page via trafilatura, keeping section headings.

    trafilatura's XML output is used because its Markdown/text output flattens <h2>s into
    ordinary lines. Bytes are accepted so trafilatura can detect the charset itself. The
    `url` argument (where the page was fetched) beats the page's canonical link, so the
    article id stays stable across re-fetches.
    """
    import trafilatura  # heavy import; only HTML sources need it

    _check_html_is_text(html)
    try:
        doc = trafilatura.bare_extraction(
            drop_control_references(html),
            url=url,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_formatting=False,
            include_links=False,
            with_metadata=True,
        )
    except Exception as exc:  # lxml/trafilatura crash on hostile markup: one page, one error
        log.debug("HTML extraction failed", exc_info=True)
        raise CorpusError(f"cannot extract the HTML: {describe_error(exc)}") from None
    if doc is None or doc.body is None:
        raise CorpusError("no article text found in the HTML")
    raw: list[tuple[str | None, str, str | None]] = []
    _xml_blocks(doc.body, raw)
    h1: str | None = None
    blocks: list[tuple[str | None, str]] = []
    for head, para, rend in raw:
        if head is not None and rend == "h1" and h1 is None and not blocks:
            h1 = head  # the page title, not a section
        else:
            blocks.append((head, para))
    if not any(para for _, para in blocks):
        raise CorpusError("no article text found in the HTML")
    embedded = {
        "title": doc.title or h1,
        "url": doc.url,
        "published": doc.date,
        "source": doc.sitename,
    }
    return _build_article(
        _sections_from_blocks(blocks), embedded=embedded, url=url, overrides=overrides, defaults=defaults
    )


# --- JSONL ---------------------------------------------------------------------------------


def _article_from_json(obj: Any) -> Article:
    """One FORMAT.md record; CorpusError names the first problem found."""
    if not isinstance(obj, dict):
        raise CorpusError("expected a JSON object")
    for key in ("id", "title", "url", "published", "sections"):
        if key not in obj:
            raise CorpusError(f"missing required field '{key}'")
    for key in ("id", "title", "url"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise CorpusError(f"field '{key}' must be a non-empty string")
    published = parse_date(obj["published"])
    source = obj.get("source")
    if source is not None and not isinstance(source, str):
        raise CorpusError("field 'source' must be a string or null")
    date_estimated = obj.get("date_estimated", False)
    if not isinstance(date_estimated, bool):
        raise CorpusError("field 'date_estimated' must be true or false")
    if not isinstance(obj["sections"], list):
        raise CorpusError("field 'sections' must be a list")
    sections = []
    for i, sec in enumerate(obj["sections"]):
        if not isinstance(sec, dict):
            raise CorpusError(f"sections[{i}] must be an object")
        heading = sec.get("heading")
        paragraphs = sec.get("paragraphs")
        if heading is not None and not isinstance(heading, str):
            raise CorpusError(f"sections[{i}].heading must be a string or null")
        if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
            raise CorpusError(f"sections[{i}].paragraphs must be a list of strings")
        sections.append(Section(heading=heading, paragraphs=tuple(paragraphs)))
    return Article(
        id=obj["id"].strip(),
        title=obj["title"],
        url=obj["url"].strip(),
        published=published,
        sections=tuple(sections),
        source=source,
        date_estimated=date_estimated,
    )


def _jsonl_article(line: str) -> Article:
    """One JSONL line -> cleaned Article; CorpusError says what is wrong with it."""
    if "\x00" in line:
        raise CorpusError("binary data in the line (NUL characters)")
    try:
        obj = json.loads(line, strict=False)  # raw control characters in strings are stripped later
    except json.JSONDecodeError as e:
        raise CorpusError(f"invalid JSON: {e.msg} (column {e.colno})") from None
    return clean_article(_article_from_json(obj))


def _read_jsonl(path: Path, text: str, max_chars: int = MAX_ARTICLE_CHARS) -> ReadResult:
    """Every valid line becomes an article; each bad line becomes one "FILE:LINE: reason".

    A line is read in isolation: whatever goes wrong with it (invalid JSON, nesting deep
    enough to exhaust the recursion limit, a field of the wrong type) costs only that line.
    """
    result = ReadResult()
    first_line: dict[str, int] = {}
    # Only "\n" ends a line: U+2028, NEL or a form feed may sit inside a JSON string.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            article = _jsonl_article(line)
            if article.id in first_line:
                raise CorpusError(f"duplicate id '{article.id}' (first on line {first_line[article.id]})")
            if not article.paragraph_count():
                raise CorpusError(f"article '{article.id}' has no text")
            article, note = cap_article(article, max_chars)
        except CorpusError as e:
            result.errors.append(f"{shown_path(path)}:{lineno}: {e}")
            continue
        except Exception as e:  # RecursionError, MemoryError, a bug on odd input: this line only
            log.debug("line %d of %s failed", lineno, path, exc_info=True)
            result.errors.append(f"{shown_path(path)}:{lineno}: {describe_error(e)}")
            continue
        if note:
            result.errors.append(f"{shown_path(path)}:{lineno}: {note}")
        first_line[article.id] = lineno
        result.articles.append(article)
    return result


# --- files ---------------------------------------------------------------------------------


def humanize_stem(stem: str) -> str:
    """'china-roundup_2019' -> 'China roundup 2019': a readable last-resort title."""
    words = re.sub(r"[_\-.]+", " ", stem).split()
    text = " ".join(words)
    return (text[:1].upper() + text[1:]) if text else "Untitled"


def _file_defaults(path: Path) -> dict[str, Any]:
    """Fallback metadata of a file: humanised stem, file:// url, modification date (estimated)."""
    mtime = dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    return {
        "title": humanize_stem(path.stem),
        "url": path.resolve().as_uri(),
        "published": mtime,
        "date_estimated": True,
    }


def _read_sidecar(path: Path) -> dict[str, Any]:
    """Metadata from `foo.json` beside `foo.txt`; {} if there is none."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad JSON or bad UTF-8
        raise CorpusError(f"unreadable sidecar {shown_path(sidecar.name)}: {describe_error(e)}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"sidecar {sidecar.name} must hold a JSON object")
    unknown = set(data) - set(METADATA_KEYS)
    if unknown:
        log.debug("ignoring sidecar keys %s in %s", sorted(unknown), sidecar)
    meta = {k: data[k] for k in METADATA_KEYS if data.get(k) is not None}
    if "date_estimated" in meta and not isinstance(meta["date_estimated"], bool):
        raise CorpusError(f"sidecar {sidecar.name}: date_estimated must be true or false")
    return meta


def iter_source_files(path: Path) -> Iterator[Path]:
    """`path` itself if a file, else every supported, non-hidden file below it, sorted.

    `*.json` files are sidecars, never sources. Entries that cannot be read (broken links,
    FIFOs, directories that cannot be listed) are yielded too, so that `read_file` reports
    each as one error line instead of the walk failing or skipping them silently.
    """
    path = Path(path)
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists() or path.is_symlink()
    except OSError:  # e.g. a parent directory that cannot be searched: read_file says why
        yield path
        return
    if not exists:
        raise CorpusError(f"no such file: {shown_path(path)}")
    if not is_dir:
        yield path
        return
    found: list[Path] = []

    def unlistable(err: OSError) -> None:
        found.append(Path(err.filename) if err.filename else path)

    for root, dirs, files in os.walk(path, onerror=unlistable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(
            Path(root, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES
        )
    yield from sorted(found)


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"))


def _not_a_file(path: Path) -> str | None:
    """Why `path` is not a readable regular file ("broken symbolic link", "a FIFO"...), or None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "broken symbolic link" if path.is_symlink() else None
    except OSError as e:
        return describe_error(e)
    if stat.S_ISDIR(mode):
        try:
            os.scandir(path).close()
        except OSError as e:
            return f"cannot list the directory: {describe_error(e)}"
        return "is a directory, not a file"
    kind = next((name for test, name in _FILE_KINDS if test(mode)), None)
    return f"not a regular file ({kind})" if kind else None


def read_source_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, refusing FIFOs (without blocking on them) and files over `max_bytes`."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb", closefd=True) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise CorpusError("not a regular file")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CorpusError(f"file too large (over {max_bytes / 2**20:.0f} MB, the limit per file)")
    return data


def _load(path: Path) -> tuple[bytes, str | None]:
    """(bytes, decoded text or None for HTML); CorpusError "PATH: reason" for an unreadable or binary file."""
    try:
        data = read_source_bytes(path)
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            reason = binary_reason(data)
            if reason:
                raise NotTextError(reason)
            return data, None
        # JSONL is judged line by line: NUL padding left by a crash costs only its lines.
        return data, decode_text(data, nul_ok=suffix == ".jsonl")
    except CorpusError as e:
        raise CorpusError(f"{shown_path(path)}: {e}") from None
    except NotTextError as e:
        raise CorpusError(f"{shown_path(path)}: {e}") from None
    except Exception as e:  # PermissionError, EIO, MemoryError...: this file only
        log.debug("reading %s failed", path, exc_info=True)
        raise CorpusError(f"{shown_path(path)}: {describe_error(e)}") from None


def read_file(path: Path, *, overrides: dict | None = None, max_chars: int = MAX_ARTICLE_CHARS) -> ReadResult:
    """Read and clean every article in one file.

    Problems with the file as a whole (missing, not a regular file, unreadable, binary,
    too big, unsupported type, bad override) raise CorpusError "PATH: reason"; problems with
    its content (including a parser crash) become `errors` so other files and other lines
    still load. An article over `max_chars` of text is cut, with a note in `errors`.
    Metadata precedence: overrides > sidecar > the file's own (front matter, HTML metadata)
    > fallbacks (stem, file:// url, modification date).
    """
    path = Path(path)
    problem = _not_a_file(path)
    if problem:
        raise CorpusError(f"{shown_path(path)}: {problem}")
    if not path.is_file():
        raise CorpusError(f"no such file: {shown_path(path)}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise CorpusError(
            f"unsupported file type '{shown_path(suffix or path.name)}': {shown_path(path)} "
            f"(supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )
    cli = _check_overrides(overrides)
    log.debug("reading %s", path)
    data, text = _load(path)
    if suffix == ".jsonl":
        if cli:
            log.warning("overrides ignored for %s: JSONL articles carry their own metadata", path)
        return _read_jsonl(path, text or "", max_chars)
    try:
        article = _read_document(path, data, text, cli)
        article, note = cap_article(article, max_chars)
    except CorpusError as e:
        return ReadResult(errors=[f"{shown_path(path)}: {e}"])
    except Exception as e:  # a parser crash (markdown-it recursion, lxml...) costs this file only
        log.debug("parsing %s failed", path, exc_info=True)
        return ReadResult(errors=[f"{shown_path(path)}: {describe_error(e)}"])
    return ReadResult(articles=[article], errors=[f"{shown_path(path)}: {note}"] if note else [])


def _read_document(path: Path, data: bytes, text: str | None, cli: dict[str, Any]) -> Article:
    """One text, Markdown or HTML file -> cleaned Article; CorpusError if it has no text."""
    meta = {**_read_sidecar(path), **cli}
    if "published" in cli:
        meta["date_estimated"] = False
    defaults = _file_defaults(path)
    if text is None:
        article = parse_html(data, url=None, overrides=meta, defaults=defaults)
    else:
        parse = parse_plain_text if path.suffix.lower() == ".txt" else parse_markdown
        article = parse(strip_controls(text), overrides=meta, defaults=defaults)
    article = clean_article(article)
    if not article.paragraph_count():
        raise CorpusError("no article text found")
    return article
