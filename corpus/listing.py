"""Read a column's listing page (a tag or category archive): its article links and its next page.

Pure functions over HTML, no I/O, so the crawler's choices can be tested on markup alone.
Nothing here knows any particular site: articles are same-host links in the page's main
content (the title links of its `<article>` cards when it has them), with navigation, tag,
author and pagination links left out; the next page is a `rel="next"` link, an "Older posts" /
"Next page" link, or the `/page/N+1/` (or `?page=N+1`) link, and it must stay on the same host
and under the listing's own path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from .urls import canonical_url

# Class/id tokens (whole tokens, not substrings: "entry-header" holds a card's title link)
# of blocks that hold site furniture rather than the listing's articles.
_FURNITURE_TOKENS = frozenset({
    "nav", "navbar", "navigation", "menu", "pagination", "pager", "paging", "breadcrumb", "breadcrumbs",
    "sidebar", "widget", "widgets", "share", "sharing", "social", "comments", "footer", "header",
    "site-header", "site-footer", "related", "popular", "trending", "tags", "tag-cloud", "newsletter",
})
_FURNITURE_TAGS = ("nav", "header", "footer", "aside", "form", "script", "style", "noscript", "template")
# Path segments of pages that list or describe things rather than being an article.
_NON_ARTICLE_SEGMENTS = frozenset({
    "tag", "tags", "category", "categories", "author", "authors", "page", "feed", "rss", "search",
    "login", "register", "wp-login.php", "wp-admin", "comments", "user", "users", "profile", "subscribe",
    "about", "contact", "privacy", "terms",
})
_SKIP_EXTENSIONS = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|pdf|zip|gz|xml|rss|atom|json|css|js|mp[34]|ico)$", re.I)
_LINK_REL_SKIP = frozenset({"tag", "author", "category", "next", "prev", "previous", "sponsored", "ugc"})
_NEXT_TEXT = re.compile(r"^\W*(?:older(?:\s+(?:posts|entries|articles|stories))?|next(?:\s+page)?|more\s+(?:posts|"
                        r"articles|stories)|load\s+more|earlier\s+(?:posts|entries))\W*$|^\s*(?:\u203a|\u00bb|\u2192)\s*$",
                        re.I)
_PAGE_PATH = re.compile(r"/page/(\d+)/?$", re.I)
_PAGE_QUERY = re.compile(r"(?:^|&)(?:page|paged|pg)=(\d+)(?:&|$)", re.I)


@dataclass(frozen=True)
class Listed:
    """An article link as a listing or sitemap gives it: where, and the date shown beside it."""

    url: str
    date: str | None = None  # YYYY-MM-DD


@dataclass(frozen=True)
class ListingPage:
    items: tuple[Listed, ...]
    next_url: str | None
    offsite: int = 0  # links in the main content to other hosts, left out


def listing_root(url: str) -> str:
    """The path a listing's pages share: the URL's path without a trailing `/page/N/`."""
    path = urlsplit(url).path or "/"
    path = _PAGE_PATH.sub("/", path)
    return path if path.endswith("/") else path + "/"


def page_number(url: str) -> int | None:
    parts = urlsplit(url)
    m = _PAGE_PATH.search(parts.path) or _PAGE_QUERY.search(parts.query)
    return int(m.group(1)) if m else None


def same_host(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname or "").lower() == (pb.hostname or "").lower() and pa.port == pb.port


def under_root(url: str, root_url: str) -> bool:
    """On the listing's host and under its path (the listing's own `?page=` pages included)."""
    if not same_host(url, root_url):
        return False
    path = urlsplit(url).path or "/"
    root = listing_root(root_url)
    return path.startswith(root) or path + "/" == root


def _tokens(el) -> set[str]:
    return set(f"{el.get('class') or ''} {el.get('id') or ''}".lower().split()) | {(el.get("role") or "").lower()}


def _main_region(doc):
    for xpath in ("//main", "//*[@role='main']", "//*[@id='content' or @id='main' or @id='primary']"):
        found = doc.xpath(xpath)
        if found:
            return found[0]
    body = doc.find("body")
    return body if body is not None else doc


def _in_article(el) -> bool:
    return any(a.tag == "article" for a in el.iterancestors())


def _strip_furniture(region) -> None:
    """Drop navigation, sidebars, forms... but not a card's own <header>/<footer> (WordPress puts
    the title link in <header class="entry-header">)."""
    doomed = []
    for el in region.iter():
        if not isinstance(el.tag, str) or el is region:
            continue
        tokens = _tokens(el)
        if el.tag in _FURNITURE_TAGS or tokens & _FURNITURE_TOKENS or el.get("role") == "navigation":
            card_part = el.tag in ("header", "footer") or tokens & {"header", "footer"}
            if not (card_part and _in_article(el)):
                doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()


def is_article_link(url: str, page_url: str) -> bool:
    """Same host, http(s), not the listing itself, not a tag/author/page/feed/file URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not same_host(url, page_url):
        return False
    path = parts.path or "/"
    if (path == "/" and not parts.query) or _SKIP_EXTENSIONS.search(path) or path.rstrip("/") == urlsplit(page_url).path.rstrip("/"):
        return False
    if listing_root(url) == listing_root(page_url) and page_number(url) is not None:
        return False
    segments = {s.lower() for s in path.split("/") if s}
    return not segments & _NON_ARTICLE_SEGMENTS


def _link_date(el) -> str | None:
    """A date shown with an article card: <time datetime> first, then <time>'s text if ISO-like."""
    for t in el.iter("time"):
        value = (t.get("datetime") or t.text_content() or "").strip()
        m = re.match(r"(\d{4}-\d{2}-\d{2})", value)
        if m:
            return m.group(1)
    return None


def _card_links(card) -> list:
    """A card's links, its heading's first: the first that is an article link is the card's."""
    heads = card.xpath(".//h1//a[@href] | .//h2//a[@href] | .//h3//a[@href] | .//h4//a[@href]")
    return heads + [a for a in card.xpath(".//a[@href]") if a not in heads]


def _judge(a, url: str) -> tuple[str, str]:
    """("ok" | "offsite" | "skip", absolute URL) for one link on listing page `url`."""
    href = urljoin(url, a.get("href").strip())
    if set((a.get("rel") or "").lower().split()) & _LINK_REL_SKIP:
        return "skip", href
    if urlsplit(href).scheme in ("http", "https") and not same_host(href, url):
        return "offsite", href
    return ("ok" if is_article_link(href, url) else "skip"), href


def parse_listing(html: str, url: str) -> ListingPage:
    """Article links of one listing page, in listing order, and the page after it (or None)."""
    import lxml.html

    try:
        doc = lxml.html.fromstring(html)
    except Exception:  # unparsable markup lists nothing
        return ListingPage((), None)
    next_url = find_next_page(doc, url)
    region = _main_region(doc)
    _strip_furniture(region)
    cards = region.xpath(".//article[not(ancestor::article)]")
    groups = [(_card_links(card), card) for card in cards] if cards else \
        [([a], None) for a in region.xpath(".//a[@href]")]
    items: dict[str, Listed] = {}
    offsite = 0
    for links, card in groups:
        for a in links:
            verdict, href = _judge(a, url)
            if verdict == "offsite" and card is not None:
                offsite += 1  # the card's own link leads elsewhere (a sponsored story)
                break
            offsite += verdict == "offsite"
            if verdict == "ok":
                link = canonical_url(href)
                if link not in items:
                    items[link] = Listed(link, _link_date(card) if card is not None else None)
                break
    return ListingPage(tuple(items.values()), next_url, offsite)


def find_next_page(doc, url: str) -> str | None:
    """The listing's next page: rel=next, then an "Older posts"-style link, then page N+1."""
    candidates: list[str] = []
    for el in doc.xpath("//link[@href] | //a[@href]"):
        rel = (el.get("rel") or "").lower().split()
        if "next" in rel:
            candidates.append(el.get("href"))
    for a in doc.xpath("//a[@href]"):
        label = " ".join((a.text_content() or a.get("aria-label") or a.get("title") or "").split())
        if _NEXT_TEXT.match(label) or _NEXT_TEXT.match(a.get("aria-label") or ""):
            candidates.append(a.get("href"))
    current = page_number(url) or 1
    for a in doc.xpath("//a[@href]"):
        href = urljoin(url, a.get("href").strip())
        if page_number(href) == current + 1 and listing_root(href) == listing_root(url):
            candidates.append(href)
    here = canonical_url(url)
    for href in candidates:
        target = canonical_url(urljoin(url, href.strip()))
        if target != here and under_root(target, url):
            return target
    return None
