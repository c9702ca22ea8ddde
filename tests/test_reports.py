"""A source's status is decided in one place; the ingest log, CLI and Discord all read it."""
from __future__ import annotations

import pytest

from bot.reports import IngestReport, SourceReport


@pytest.mark.parametrize("fields, status", [
    ({}, "ok"),
    ({"added": 2}, "ok"),
    ({"errors": ["x: HTTP 404"]}, "failed"),
    ({"errors": ["x: bad entry"], "added": 1}, "partial"),
    ({"errors": ["x: bad entry"], "updated": 1}, "partial"),
    ({"errors": ["x: bad entry"], "unchanged": 3}, "partial"),
    ({"duplicates": 2}, "ok"),
    ({"errors": ["x: bad"], "duplicates": 2}, "failed"),  # copies are not stored articles
])
def test_status(fields, status):
    src = SourceReport("https://example.com/feed", **fields)
    assert src.status == status
    assert src.failed == (status == "failed")


def test_merged_reports_add_up():
    a = IngestReport([SourceReport("a", added=1)], embedded=3, removed=1, elapsed_s=0.5)
    b = IngestReport([SourceReport("b", errors=["b: broken"])], embedded=2, elapsed_s=0.25)
    m = IngestReport.merged([a, b])
    assert [s.source for s in m.sources] == ["a", "b"]
    assert (m.embedded, m.removed, m.elapsed_s) == (5, 1, 0.75)
    assert m.errors == ["b: broken"] and not m.ok
    assert m.totals()["articles_added"] == 1
