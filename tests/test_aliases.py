"""The alias table: the bundled data file, matching rules and typo reading."""
from __future__ import annotations

import pytest

from corpus.aliases import AliasError, AliasTable, Entity, load_table, parse_table
from corpus.text import normalize_text


@pytest.fixture(scope="module")
def table() -> AliasTable:
    return load_table()


def names(table: AliasTable, text: str) -> list[tuple[str, str, str]]:
    return [(m.surface, m.kind, m.replacement) for m in table.find(normalize_text(text).lower())]


@pytest.mark.parametrize("group", [
    ["Alibaba", "阿里巴巴"], ["Taobao", "淘宝"], ["Tmall", "天猫"], ["Ant Group", "Ant Financial", "蚂蚁"],
    ["Tencent", "腾讯"], ["WeChat", "微信", "Weixin"], ["ByteDance", "字节跳动"], ["TikTok"], ["Douyin", "抖音"],
    ["Huawei", "华为"], ["Xiaomi", "小米"], ["Didi", "滴滴"], ["Meituan", "美团"], ["Pinduoduo", "拼多多"],
    ["Temu"], ["Baidu", "百度"], ["JD.com", "京东", "JD"],
])
def test_the_issue_s_names_all_resolve_to_one_entity(table, group):
    found = {table.find(normalize_text(n).lower())[0].replacement for n in group}
    assert len(found) == 1


def test_owners_are_recorded(table):
    for product, owner in [("Taobao", "Alibaba"), ("Ant Group", "Alibaba"), ("WeChat", "Tencent"),
                           ("Douyin", "ByteDance"), ("TikTok", "ByteDance"), ("Temu", "Pinduoduo")]:
        assert table.parent(table.entity(product)).name == owner


def test_longest_match_and_whole_words(table):
    assert names(table, "wechat pay on taobao") == [("wechat pay", "name", "WeChat Pay"), ("taobao", "name", "Taobao")]
    assert names(table, "王者荣耀") == [("王者荣耀", "name", "Honor of Kings")]
    assert names(table, "华为手机") == [("华为", "name", "Huawei"), ("手机", "term", "phone smartphone")]
    assert names(table, "tiktokers and jdx") == []  # Latin names only as whole words


def test_misspellings_and_terms_rewrite_but_english_names_do_not(table):
    [m] = table.find("hauwei")
    assert (m.kind, m.replacement, m.rewrites) == ("misspelling", "Huawei", True)
    [m] = table.find("ant financial")
    assert m.rewrites is False
    [m] = table.find("滴滴")
    assert m.rewrites is True


def test_closest_name_reads_typos_of_names_only(table):
    assert table.closest_name("huwaei").name == "Huawei"
    assert table.closest_name("xiomi").name == "Xiaomi"
    assert table.closest_name("bytedence").name == "ByteDance"
    assert table.closest_name("tickets") is None
    assert table.closest_name("bank") is None  # too short to judge


def test_groups_have_the_shape_mentions_uses(table):
    groups = table.groups()
    assert frozenset({"huawei", "华为", "huawei technologies", "华为技术"}) in groups
    assert all(isinstance(g, frozenset) and g for g in groups)


@pytest.mark.parametrize("data, message", [
    ({"entity": [{"name": "A"}, {"name": "a"}]}, "listed twice"),
    ({"entity": [{"name": "A", "parent": "B"}]}, "unknown parent"),
    ({"entity": [{"name": "A", "aliases": ["x"]}, {"name": "B", "aliases": ["X"]}]}, "names both"),
    ({"entity": [{"aliases": ["x"]}]}, "has no name"),
    ({"terms": {"x": 1}}, "[terms]"),
])
def test_bad_tables_say_what_is_wrong(data, message):
    with pytest.raises(AliasError) as exc:
        parse_table(data)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_missing_or_broken_file_is_one_clear_line(tmp_path):
    with pytest.raises(AliasError, match="not found"):
        load_table(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[entity]\nname=", encoding="utf-8")
    with pytest.raises(AliasError, match="not valid TOML"):
        load_table(bad)


def test_a_name_beats_a_plain_word():
    t = AliasTable([Entity("Hong Kong", ("HK",))], {"hk": "something else"})
    assert [m.replacement for m in t.find("hk listing")] == ["Hong Kong"]


def test_find_matches_exactly_as_the_table_s_pattern(table):
    """`find` looks keys up by prefix instead of running the one big alternation; on questions and on
    keys glued together with every kind of neighbour (word characters, CJK, punctuation) both give
    the same matches at the same places."""
    import json
    import random
    from pathlib import Path

    texts = []
    for f in sorted((Path(__file__).parent / "eval").rglob("questions*.jsonl")):
        texts += [normalize_text(json.loads(line)["question"]).lower() for line in f.read_text("utf-8").splitlines()
                  if line.strip()]
    keys = sorted(table._targets)
    rng = random.Random(7)
    seps = [" ", "", "-", "'s ", ".", "_", "a", "1", "华", " the ", "é"]
    for _ in range(4000):
        parts = [rng.choice(keys) if rng.random() < 0.7 else rng.choice(keys)[:rng.randint(1, 5)]
                 for _ in range(rng.randint(1, 5))]
        texts.append("".join(p + rng.choice(seps) for p in parts))
    for text in texts:
        assert [(m.start, m.surface) for m in table.find(text)] == \
            [(m.start(), m.group()) for m in table._regex.finditer(text)], text
