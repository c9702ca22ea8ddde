"""Sitemaps (sitemaps.org 0.9 and Google News): index, urlset, gzip; parsed safely and bounded.

lxml parses with entity resolution, DTD loading and network access off and huge-tree limits
on, so a hostile sitemap cannot expand entities, read local files or reach another host; a
gzip body is inflated only up to a cap (a gzip bomb stops there), and at most `max_urls`
entries are taken from one file. Pure functions, no I/O.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin

from .errors import RoundupError
from .listing import Listed

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed file
MAX_SITEMAP_URLS = 50_000  # likewise
_GZIP_MAGIC = b"\x1f\x8b"


class SitemapError(RoundupError):
    """A sitemap that cannot be used; one line."""


@dataclass(frozen=True)
class Sitemap:
    kind: str  # "index" | "urlset"
    children: tuple[str, ...]  # child sitemaps of an index
    items: tuple[Listed, ...]  # pages of a urlset, with lastmod or news publication date
    truncated: bool = False


def gunzip_capped(body: bytes, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """Inflate a gzip body, refusing to grow past `limit` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise SitemapError(f"broken gzip data ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise SitemapError(f"gzip sitemap inflates to more than {limit:,} bytes")
    return out


def sitemap_bytes(body: bytes, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """The XML of a sitemap response: gunzipped when the body is gzip (whatever its URL or type says)."""
    return gunzip_capped(body, limit) if body[:2] == _GZIP_MAGIC else body


def looks_like_sitemap(body: bytes) -> bool:
    """A sitemap by its root element, looking only at the first 4 KiB (inflated, for gzip)."""
    head = body[:4096]
    if body[:2] == _GZIP_MAGIC:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body[:65536], 4096)
        except zlib.error:
            return False
    return bool(re.search(rb"<(?:\w+:)?(?:urlset|sitemapindex)[\s>]", head))


def _safe_parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _child_text(el, *names: str) -> str | None:
    """Text of the first descendant whose local name path ends with `names` (e.g. news, publication_date)."""
    for sub in el.iter():
        if _local(sub.tag) == names[-1] and (len(names) == 1 or _local(sub.getparent().tag) == names[-2]):
            text = (sub.text or "").strip()
            if text:
                return text
    return None


def _date(value: str | None) -> str | None:
    m = re.match(r"\s*(\d{4}-\d{2}-\d{2})", value or "")
    return m.group(1) if m else None


def parse_sitemap(body: bytes, url: str, *, max_urls: int = MAX_SITEMAP_URLS) -> Sitemap:
    """A sitemap index (its child sitemaps) or urlset (its pages, dated by news publication date,
    else lastmod). SitemapError for anything else."""
    from lxml import etree

    xml = sitemap_bytes(body)
    try:
        root = etree.fromstring(xml, parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"malformed sitemap XML: {str(exc).splitlines()[0]}") from None
    kind = _local(root.tag)
    if kind not in ("sitemapindex", "urlset"):
        raise SitemapError(f"not a sitemap (root element <{kind or '?'}>)")
    entry_name = "sitemap" if kind == "sitemapindex" else "url"
    found: dict[str, Listed] = {}
    truncated = False
    for el in root:
        if _local(el.tag) != entry_name:
            continue
        loc = next(((c.text or "").strip() for c in el if _local(c.tag) == "loc"), "")
        if not loc:
            continue
        if len(found) >= max_urls:
            truncated = True
            break
        link = urljoin(url, loc)
        date = _date(_child_text(el, "news", "publication_date")) or _date(
            next(((c.text or "") for c in el if _local(c.tag) == "lastmod"), None))
        found.setdefault(link, Listed(link, date))
    if kind == "sitemapindex":
        return Sitemap("index", tuple(found), (), truncated)
    return Sitemap("urlset", (), tuple(found.values()), truncated)
