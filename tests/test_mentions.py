"""Name matching for topic digests and trends, and the capitalised-name heuristic behind labels."""
from __future__ import annotations

import pytest

import json
from collections import Counter
from pathlib import Path

from corpus.aliases import default_table
from corpus.mentions import NameVocabulary, capitalised_names, count_mentions, mention_matcher


@pytest.mark.parametrize("name, text", [
    ("Huawei", "Huawei said on Thursday"),
    ("Huawei", "the company's rival HUAWEI"),
    ("huawei", "Huawei's record year"),
    ("ByteDance", "Byte Dance launched"),
    ("ByteDance", "Byte-Dance and others"),
    ("Ant Group", "Ant Financial, the fintech affiliate"),  # an alias
    ("Huawei", "华为发布了新手机"),  # the Chinese name is an alias too
    ("Sina Weibo", "blocked on Weibo"),
    ("JD.com", "JD.com, an Alibaba competitor"),
    ("smartphone", "shipped 360 million smartphones"),  # plural
])
def test_matches_variants_and_aliases(name, text):
    assert mention_matcher(name)(text)


@pytest.mark.parametrize("name, text", [
    ("Ant", "I want it"),  # no matching inside words
    ("Huawei", "Huaweii is a typo"),
    ("Meta", "metadata and metaverse"),
    ("Ali", "Alibaba said"),
    ("!!!", "anything at all!!!"),
    ("TikTok", ""),
])
def test_does_not_match_inside_words_or_empty(name, text):
    assert not mention_matcher(name)(text)


def test_capitalised_names_trims_sentence_starters_and_adjectives():
    text = ("Inside Tencent's WeChat, links to Taobao could not be opened. U.S. lawmakers asked "
            "Beijing-based ByteDance about a Slack-style app. Speaking that week, an official "
            "praised Tencent. Basketball brings revenue, and basketball fans watch. Ant Financial grew.")
    names = capitalised_names(text, NameVocabulary.of([text]))
    assert names[:2] == ["Tencent", "WeChat"]
    for name in ("Taobao", "U.S.", "Beijing", "ByteDance", "Slack", "Ant Financial"):
        assert name in names
    for not_a_name in ("Inside", "Inside Tencent", "Speaking", "Basketball", "Beijing-based"):
        assert not_a_name not in names


TRICKY = [
    "Byte Dance, Byte-Dance and bytedance's rivals", "HUAWEI'S year; Huaweis in headlines", "e-Huawei and .Huawei",
    "华为发布了新手机; 小米 too", "JD.com, jd.com's and JD.coms", "Ant Financial, I want it, Ants", "Alibaba said; Ali-baba",
    "metadata and the metaverse, Meta's glasses", "smartphones", "", "tencentmusic Tencent Music Entertainment",
    "Ｈｕａｗｅｉ in full width", "pinduoduo/PDD/Temu; Pin Duo Duo", "Didi Chuxing-backed; DiDi's app", "xiaomi14 Xiaomi 14",
]


def _roundups() -> list[str]:
    root = Path(__file__).resolve().parents[1] / "corpus" / "data"
    texts = []
    for path in sorted(root.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                article = json.loads(line)
                texts.append(" ".join([article["title"], *(" ".join([s.get("heading", ""), *s["paragraphs"]])
                                                           for s in article["sections"])]))
    return texts


def test_counting_every_name_at_once_equals_matching_them_one_by_one():
    """count_mentions (how /help and /timeline learn the corpus's names) against the reference:
    each alias-table name's matcher run on every text."""
    names = [e.name for e in default_table().entities.values()] + ["ByteDance", "JD.com", "Ali", "Meta", "!!!"]
    texts = _roundups() + TRICKY
    assert len(texts) > len(TRICKY) and sum(map(len, texts)) > 15_000
    expected = Counter({n: c for n in dict.fromkeys(names)
                        if (c := sum(1 for t in texts if mention_matcher(n)(t)))})
    assert count_mentions(texts, names) == expected
    # "HUAWEI'S" and the Chinese name; not after "-" or ".", nor in full-width letters
    assert count_mentions(TRICKY, ["Huawei"])["Huawei"] == 2
