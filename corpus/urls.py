"""Article addresses as they are stored and cited: no tracking parameters, whatever the source.

Feeds and newsletters decorate links (`?utm_source=rss`, `fbclid`...): the same story then looks
like two addresses, and a cited link carries a campaign tag. Every article's URL passes through
`strip_tracking` when it is cleaned (files, JSONL, pages, feeds alike); web ingest also keys
articles by `canonical_url` (no fragment, lower-case host).
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# utm_* (Google Analytics), click ids (Facebook, Google, Microsoft, Yandex, Instagram), Mailchimp,
# HubSpot and Marketo mail tags, and a few publishers' campaign ids.
TRACKING_PARAMS = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|gclsrc|dclid|gbraid|wbraid|msclkid|yclid|igshid|twclid|ttclid|mc_cid|mc_eid"
    r"|_hsenc|_hsmi|__hstc|__hssc|__hsfp|mkt_tok|ocid|cmpid|__twitter_impression)$", re.I)


def _kept_query(query: str) -> str | None:
    """The query without tracking parameters, or None when it has none to drop."""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not TRACKING_PARAMS.match(k)]
    return None if len(kept) == len(pairs) else urlencode(kept)


def strip_tracking(url: str) -> str:
    """`url` without tracking parameters; otherwise exactly as given (an address with none, or
    one that does not parse, is returned unchanged)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    query = _kept_query(parts.query)
    return url if query is None else urlunsplit(parts._replace(query=query))


def canonical_url(url: str) -> str:
    """The URL a fetched article is stored and cited under: no fragment, no tracking parameters.

    The same story reached from two feeds (one adding utm_source) then gets one article id.
    """
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), ""))
