"""Query understanding: dates and periods against hand-worked calendars, names through the alias table."""
from __future__ import annotations

from datetime import date

import pytest

from corpus.aliases import default_table
from embeddings.query import DateSpan, mentions_period, parse_dates, understand

ANCHOR = date(2021, 9, 18)  # the bundled corpus's newest roundup: "last ..." counts back from it
D = date


@pytest.mark.parametrize("text, start, end, label", [
    ("what did ant group do in nov 2020", D(2020, 11, 1), D(2020, 11, 30), "November 2020"),
    ("huawei in 2020", D(2020, 1, 1), D(2020, 12, 31), "2020"),
    ("what did alibaba do in q3 2013", D(2013, 7, 1), D(2013, 9, 30), "Q3 2013"),
    ("2019 Q4 results", D(2019, 10, 1), D(2019, 12, 31), "Q4 2019"),
    ("third quarter of 2019", D(2019, 7, 1), D(2019, 9, 30), "Q3 2019"),
    ("first half of 2020", D(2020, 1, 1), D(2020, 6, 30), "H1 2020"),
    ("early 2019", D(2019, 1, 1), D(2019, 4, 30), "early 2019"),
    ("mid-2019 stuff", D(2019, 5, 1), D(2019, 8, 31), "mid 2019"),
    ("late 2019", D(2019, 9, 1), D(2019, 12, 31), "late 2019"),
    ("summer 2014", D(2014, 6, 1), D(2014, 8, 31), "summer 2014"),
    ("winter 2014", D(2014, 12, 1), D(2015, 2, 28), "winter 2014"),
    ("news from 2020-11", D(2020, 11, 1), D(2020, 11, 30), "November 2020"),
    ("on November 1, 2019", D(2019, 11, 1), D(2019, 11, 30), "November 2019"),
    ("1 june 2020", D(2020, 6, 1), D(2020, 6, 30), "June 2020"),
    ("2019-11-03", D(2019, 11, 3), D(2019, 11, 3), "2019-11-03"),
    # relative to the corpus, not the calendar
    ("last november", D(2020, 11, 1), D(2020, 11, 30), "November 2020"),
    ("in march", D(2021, 3, 1), D(2021, 3, 31), "March 2021"),
    ("last september", D(2020, 9, 1), D(2020, 9, 30), "September 2020"),
    ("this year", D(2021, 1, 1), D(2021, 12, 31), "2021"),
    ("last year", D(2020, 1, 1), D(2020, 12, 31), "2020"),
    ("last month", D(2021, 8, 1), D(2021, 8, 31), "August 2021"),
    ("last week", D(2021, 9, 11), D(2021, 9, 18), "the week to 2021-09-18"),
    ("last quarter", D(2021, 4, 1), D(2021, 6, 30), "Q2 2021"),
    ("the last 3 months", D(2021, 6, 18), D(2021, 9, 18), "the 3 months to 2021-09-18"),
    # Chinese
    ("华为 2018年 销售额", D(2018, 1, 1), D(2018, 12, 31), "2018"),
    ("2019年11月 腾讯", D(2019, 11, 1), D(2019, 11, 30), "November 2019"),
    ("2019年第三季度", D(2019, 7, 1), D(2019, 9, 30), "Q3 2019"),
    ("2020年上半年", D(2020, 1, 1), D(2020, 6, 30), "H1 2020"),
    ("去年 阿里", D(2020, 1, 1), D(2020, 12, 31), "2020"),
    ("上个月", D(2021, 8, 1), D(2021, 8, 31), "August 2021"),
])
def test_periods_by_hand(text, start, end, label):
    intent = parse_dates(text, ANCHOR)
    assert len(intent.periods) == 1 and intent.since is None and intent.until is None
    p = intent.periods[0]
    assert (p.start, p.end, p.label) == (start, end, label)


@pytest.mark.parametrize("text, since, until", [
    ("since 2020 huawei", D(2020, 1, 1), None),
    ("after 2019", D(2020, 1, 1), None),
    ("after may 2020", D(2020, 6, 1), None),
    ("since november", D(2020, 11, 1), None),
    ("huawei before 2015", None, D(2014, 12, 31)),
    ("until 2015", None, D(2015, 12, 31)),
    ("between 2014 and 2019 xiaomi", D(2014, 1, 1), D(2019, 12, 31)),
    ("from march 2014 to june 2014", D(2014, 3, 1), D(2014, 6, 30)),
    ("2014-2019 xiaomi", D(2014, 1, 1), D(2019, 12, 31)),
    ("2015年以前", None, D(2014, 12, 31)),
    ("2020年以后", D(2020, 1, 1), None),
])
def test_bounds_by_hand(text, since, until):
    intent = parse_dates(text, ANCHOR)
    assert intent.periods == ()
    assert (intent.since, intent.until) == (since, until)


@pytest.mark.parametrize("text", [
    "did didi get in trouble after the ipo",
    "tencent nba deal through the 2024-25 season",
    "alibaba paid $2020 million",
    "tencent 6 billion bond",
    "what may happen to tiktok",
    "how many 5g contracts did huawei win",
])
def test_no_date_where_there_is_none(text):
    assert not parse_dates(text, ANCHOR)


def test_two_periods_are_both_kept_and_recent_words_noticed():
    intent = parse_dates("xiaomi in 2014 vs 2019", ANCHOR)
    assert [p.label for p in intent.periods] == ["2014", "2019"]
    assert parse_dates("latest news on huawei", ANCHOR).recent
    assert parse_dates("华为最近怎么样", ANCHOR).recent


def test_a_passage_mentions_a_period_by_year_and_month_words():
    year = DateSpan(D(2018, 1, 1), D(2018, 12, 31), "2018", "year")
    assert mentions_period("record sales of more than $52 billion in 2018", year)
    assert not mentions_period("sales of $52 billion in 2019", year)
    assert not mentions_period("a 20180 figure", year)
    month = DateSpan(D(2019, 2, 1), D(2019, 2, 28), "February 2019", "month")
    assert mentions_period("more than 1 billion installs by February 2019", month)
    assert not mentions_period("more than 1 billion installs by February", month)
    assert not mentions_period("in March 2019", month)
    week = DateSpan(D(2021, 9, 11), D(2021, 9, 18), "the week to 2021-09-18", "relative")
    assert not mentions_period("in September 2021", week)  # only the publication date can say "last week"


def test_understand_rewrites_chinese_and_misspelt_names_for_the_dense_model():
    aliases = default_table()
    u = understand("华为 2018年 销售额", aliases=aliases, anchor=ANCHOR)
    assert u.dense_text == "Huawei 2018 sales"
    assert u.names == ["Huawei"] and ("华为", "Huawei") in u.rewrites
    assert u.dates.periods[0].label == "2018"

    # a word the corpus does not know, a typo away from a name, is read as that name
    known = {"nba", "preseason", "game", "games"}.__contains__
    u = understand("tencnet nba preseason games", aliases=aliases, anchor=ANCHOR, known=known)
    assert u.dense_text == "Tencent nba preseason games" and "Tencent" in u.names
    # ... but never a word the corpus knows
    u = understand("tickets for the game", aliases=aliases, anchor=ANCHOR, known=lambda w: True)
    assert u.names == [] and u.rewrites == []


def test_understand_keeps_english_aliases_and_adds_the_others_and_the_owner():
    u = understand("how did ant group expand abroad", aliases=default_table(), anchor=ANCHOR, parent_weight=0.5)
    assert u.dense_text == "how did ant group expand abroad"
    phrases = dict(u.phrases)
    assert phrases[u.dense_text] == 1.0
    expansion = next(text for text, w in u.phrases[1:] if "Financial" in text)
    assert "Ant" in expansion and "Services" not in expansion  # generic company words are left out
    assert phrases["Alibaba"] == 0.5  # the owner, at half weight

    u = understand("taobao livestream sellers abroad", aliases=default_table(), anchor=ANCHOR, parent_weight=0)
    assert "Alibaba" not in dict(u.phrases)
