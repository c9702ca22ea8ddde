"""Name matching for topic digests and trends, and the capitalised-name heuristic behind labels."""
from __future__ import annotations

import pytest

from corpus.mentions import NameVocabulary, capitalised_names, mention_matcher


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
