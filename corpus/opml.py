"""Feed lists in OPML 2.0, the format Feedly, Inoreader, NetNewsWire and Miniflux import and export.

Import walks the outline tree: an outline with an `xmlUrl` is a feed (title from `title`, else
`text`), one without is a folder whose name applies to the feeds inside it; nested folders
become a path "Tech/China". A feed at the top level may name its folder with OPML 2.0's
`category` attribute ("/Tech/China"). The same feed URL twice (a feed in two folders) is kept
once, where it first appears.

Parsed with lxml directly, not `listparser`: listparser reads with lxml's *recovering* HTML
parser, so a truncated or broken file silently yields a partial list instead of an error, it
drops `htmlUrl`, and given a str that starts with "http" it fetches it with `requests`,
outside our guarded fetcher. Here the parser resolves no entities, loads no DTD and touches
no network, and a file over `MAX_OPML_BYTES` or with more than `MAX_OPML_FEEDS` feeds is refused
before or while reading, with one clear line.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from corpus.errors import InputError

log = logging.getLogger(__name__)

MAX_OPML_BYTES = 1_000_000
MAX_OPML_FEEDS = 5_000
FOLDER_SEP = "/"


class OpmlError(InputError):
    """An OPML file that cannot be imported; str() is one line."""


@dataclass(frozen=True)
class OpmlFeed:
    url: str  # the feed (xmlUrl)
    title: str | None = None
    folder: str | None = None  # "Tech/China" for nested folders; None at the top level
    html_url: str | None = None  # the site (htmlUrl)


def _attr(el, name: str) -> str | None:
    """An attribute by name, case-insensitively (some exporters write xmlurl or XMLURL)."""
    value = el.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in el.attrib.items() if k.lower() == lowered), None)
    value = (value or "").strip()
    return value or None


def _category_folder(value: str | None) -> str | None:
    """The first category path of OPML 2.0's `category` ("/Tech/China,/News") as "Tech/China"."""
    if not value:
        return None
    first = value.split(",")[0]
    parts = [p.strip() for p in first.split("/") if p.strip()]
    return FOLDER_SEP.join(parts) or None


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_opml(data: bytes | str, *, max_bytes: int = MAX_OPML_BYTES, max_feeds: int = MAX_OPML_FEEDS) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order. OpmlError for a bad, foreign or huge file."""
    from lxml import etree

    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise OpmlError(f"the OPML file is {len(raw):,} bytes, over the {max_bytes:,}-byte limit")
    if not raw.strip():
        raise OpmlError("the OPML file is empty")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"not valid XML: {str(exc).splitlines()[0]}") from None
    tag = etree.QName(root).localname.lower() if isinstance(root.tag, str) else ""
    if tag != "opml":
        raise OpmlError(f"not an OPML file (its root element is <{tag or '?'}>, not <opml>)")
    body = next((el for el in root if isinstance(el.tag, str) and etree.QName(el).localname.lower() == "body"), None)
    if body is None:
        raise OpmlError("the OPML file has no <body>")
    feeds: dict[str, OpmlFeed] = {}
    skipped = _walk(body, (), feeds, max_feeds)
    if skipped:
        log.info("OPML import: %d outlines with a non-web xmlUrl skipped", skipped)
    return list(feeds.values())


def _walk(parent, path: tuple[str, ...], feeds: dict[str, OpmlFeed], max_feeds: int) -> int:
    """Add the feeds under `parent` (folders nested as `path`); returns how many were skipped."""
    from lxml import etree

    skipped = 0
    for el in parent:
        if not isinstance(el.tag, str) or etree.QName(el).localname.lower() != "outline":
            continue
        url = _attr(el, "xmlUrl")
        name = _attr(el, "title") or _attr(el, "text")
        if name == url:  # exporters (ours too) fill a missing title with the URL
            name = None
        if url is None:
            folder = (*path, name.replace(FOLDER_SEP, " ")) if name else path
            skipped += _walk(el, folder, feeds, max_feeds)
            continue
        if not _is_web_url(url):
            skipped += 1
            continue
        if url not in feeds:
            if len(feeds) >= max_feeds:
                raise OpmlError(f"the OPML file lists more than {max_feeds:,} feeds")
            folder = FOLDER_SEP.join(path) if path else _category_folder(_attr(el, "category"))
            feeds[url] = OpmlFeed(url, name, folder, _attr(el, "htmlUrl"))
    return skipped


def read_opml(path: str | Path, *, max_bytes: int = MAX_OPML_BYTES, max_feeds: int = MAX_OPML_FEEDS) -> list[OpmlFeed]:
    """parse_opml on a file, reading no more than the size cap allows."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise OpmlError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_opml(raw, max_bytes=max_bytes, max_feeds=max_feeds)


def export_opml(feeds: Iterable[OpmlFeed], *, title: str = "Roundup Bot feeds",
                created: datetime | None = None) -> str:
    """OPML 2.0 with folders as nested outlines (each folder where its first feed appears)."""
    from lxml import etree

    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(created or datetime.now(timezone.utc), usegmt=True)
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}
    for feed in feeds:
        path = tuple(p for p in (feed.folder or "").split(FOLDER_SEP) if p)
        for depth in range(1, len(path) + 1):
            if path[:depth] not in folders:
                folders[path[:depth]] = etree.SubElement(folders[path[:depth - 1]], "outline",
                                                         text=path[depth - 1], title=path[depth - 1])
        attrs = {"type": "rss", "text": feed.title or feed.url, **({"title": feed.title} if feed.title else {}),
                 "xmlUrl": feed.url}
        if feed.html_url:
            attrs["htmlUrl"] = feed.html_url
        etree.SubElement(folders[path], "outline", **attrs)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True).decode("utf-8")
