"""Digest item labels name what an item is about: never a stopword, a month, a nationality or "This week"."""
from __future__ import annotations

import calendar

import pytest

from corpus.mentions import COMMON_WORDS

MONTHS = {m.lower() for m in calendar.month_name if m} | {m.lower() for m in calendar.month_abbr if m}
GENERIC = {"this week", "the week in brief", "chinese", "american", "two", "ministry", "research", "china roundup",
           "china", "urls"}


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


def test_no_label_is_a_fragment_of_a_longer_name(digests, bundled_service):
    """"Information Technology" (of the Ministry of Industry and Information Technology) or
    "Belt" (of Belt and Road) read as cut off: a label part is used somewhere on its own."""
    from corpus.aliases import default_table
    from digests.summary import glued

    known = {n for group in default_table().groups() for n in group}
    texts = [r[0] for r in bundled_service.store.execute("SELECT text FROM passages")]
    parts = {part for d in digests.values() for item in d.items for part in item.label.split(" · ")}
    fragments = [p for p in parts if not p.endswith("\u2026") and p.lower() not in known and glued(p, texts)]
    assert not fragments, fragments


def test_cut_labels_end_at_a_word_boundary(digests, bundled_service):
    """A label cut from a title or heading keeps whole words and ends with an ellipsis."""
    rows = bundled_service.store.execute("SELECT DISTINCT a.title, p.section FROM passages p JOIN articles a "
                                         "ON a.id = p.article_id")
    sources = {t.split(": ", 1)[-1] for r in rows for t in (r[0], r[1] or "")}
    cut = [item.label for d in digests.values() for item in d.items if item.label.endswith("\u2026")]
    assert cut  # the bundled corpus has long titles: some label is cut
    for label in cut:
        stem = label[:-1]
        assert any(s.startswith(stem) and (len(s) == len(stem) or not s[len(stem)].isalnum()) for s in sources), label
        assert stem.split()[-1].lower() not in {"to", "the", "and", "of", "a", "in"}, label


@pytest.mark.parametrize("text, expected", [
    ("Sichuan crypto mining told to move out, more Chinese cities try digital yuan",
     "Sichuan crypto mining told to move out\u2026"),
    ("Beijing is tearing down the digital 'walled gardens' of big tech", "Beijing is tearing down the digital\u2026"),
    ("A short heading", "A short heading"),
    ("Alibaba agrees to buy into the football club for the sum of", "Alibaba agrees to buy into the football\u2026"),
    ("Pneumonoultramicroscopicsilicovolcanoconiosis-and-more words", "Pneumonoultramicroscopicsilicovolcanoconiosis-and-more"),
])
def test_shorten_cuts_between_words(text, expected):
    from digests.summary import _shorten

    out = _shorten(text, 40)
    assert out == expected
    assert len(out) <= 40 or " " not in out


def test_glued_fragments():
    from digests.summary import glued

    miit = ["The Ministry of Industry and Information Technology told platforms to stop blocking links."]
    assert glued("Information Technology", miit) and glued("Industry", miit)
    assert glued("Belt", ["It is part of the Belt and Road plan."])
    assert not glued("Huawei", ["Huawei and ZTE make phones.", "Huawei said it would appeal."])
    assert not glued("Zynn", ["Nobody mentions it here."])
