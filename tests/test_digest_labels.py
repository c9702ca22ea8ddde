"""Digest item labels name what an item is about: never a stopword, a month, a nationality or "This week"."""
from __future__ import annotations

import calendar

import pytest

from corpus.mentions import COMMON_WORDS

MONTHS = {m.lower() for m in calendar.month_name if m} | {m.lower() for m in calendar.month_abbr if m}
GENERIC = {"this week", "the week in brief", "chinese", "american", "two", "ministry", "research", "china roundup"}


def bad_label(label: str) -> str | None:
    for part in label.split(" · "):
        low = part.lower().strip(" …")
        if low in COMMON_WORDS or low in MONTHS or low in GENERIC or not low:
            return part
    return None


@pytest.fixture(scope="module")
def digests(bundled_service):
    svc = bundled_service
    days = [r[0] for r in svc.store.execute("SELECT DISTINCT published FROM articles ORDER BY published")]
    out = {day: svc.digest(since=day, until=day, items=6) for day in days}
    out["all"] = svc.digest("all", items=10)
    for topic in ("Huawei", "TikTok", "Alibaba"):
        out[f"topic {topic}"] = svc.digest(topic=topic, items=5)
    return out


def test_no_label_is_generic(digests):
    labels = [(key, item.label) for key, d in digests.items() for item in d.items]
    for key, label in labels:
        print(f"{key:>14}: {label}")
    assert len(labels) >= 50
    bad = [(key, label, bad_label(label)) for key, label in labels if bad_label(label)]
    assert not bad, bad


def test_labels_prefer_known_company_names(digests):
    """Most labels carry a name from the alias table or a capitalised name from the passages."""
    from corpus.aliases import default_table

    known = {n for group in default_table().groups() for n in group}
    labels = [item.label for d in digests.values() for item in d.items]
    with_known = [lab for lab in labels if any(part.lower() in known for part in lab.split(" · "))]
    assert len(with_known) >= len(labels) // 2, labels
