"""Periods: pure parsing into inclusive date ranges, one-line errors for anything unreadable."""
from __future__ import annotations

from datetime import date

import pytest

from digests.periods import Period, PeriodError, parse_period, week_key, week_of

NEWEST, OLDEST = "2021-09-18", "2013-09-29"


def test_latest_is_the_week_of_the_newest_roundup_not_the_calendar():
    p = parse_period("latest", newest=NEWEST, oldest=OLDEST)
    assert (p.since, p.until) == ("2021-09-13", "2021-09-19")  # Monday to Sunday holding 2021-09-18
    assert p.contains(NEWEST) and not p.contains("2021-09-12")
    assert parse_period(None, newest=NEWEST) == p  # no period at all means latest


def test_week_holds_the_given_day_monday_to_sunday():
    # 2019-11-03 is a Sunday: its week starts on Monday 2019-10-28
    p = parse_period("week:2019-11-03")
    assert (p.since, p.until) == ("2019-10-28", "2019-11-03")
    assert parse_period("week:2019-10-28") == p
    assert parse_period("2019-10-30").since == "2019-10-28"  # a bare date is its week


@pytest.mark.parametrize("text, since, until", [
    ("month:2020-02", "2020-02-01", "2020-02-29"),  # leap year
    ("month:2019-2", "2019-02-01", "2019-02-28"),
    ("2019-12", "2019-12-01", "2019-12-31"),
    ("year:2014", "2014-01-01", "2014-12-31"),
    ("2014", "2014-01-01", "2014-12-31"),
    ("2019-01-01..2019-06-30", "2019-01-01", "2019-06-30"),
    ("2019-01-01..", "2019-01-01", NEWEST),
    ("..2014-12-31", OLDEST, "2014-12-31"),
    ("all", OLDEST, NEWEST),
    ("  Month:2020-06 ", "2020-06-01", "2020-06-30"),
])
def test_named_periods(text, since, until):
    p = parse_period(text, newest=NEWEST, oldest=OLDEST)
    assert (p.since, p.until) == (since, until)
    assert p.label


def test_since_and_until_dates():
    p = parse_period(since="2019-01-01", until="2019-12-31", newest=NEWEST, oldest=OLDEST)
    assert p == Period("2019-01-01", "2019-12-31", "2019-01-01 to 2019-12-31")
    assert parse_period(since="2020-01-01", newest=NEWEST, oldest=OLDEST).until == NEWEST
    assert parse_period(until="2014-01-01", newest=NEWEST, oldest=OLDEST).since == OLDEST


@pytest.mark.parametrize("kwargs, fragment", [
    ({"text": "bogus"}, "unknown period 'bogus'"),
    ({"text": "week:2019-13-01"}, "YYYY-MM-DD"),
    ({"text": "week:"}, "unknown period"),
    ({"text": "month:2019-13"}, "YYYY-MM"),
    ({"text": "month:19-01"}, "YYYY-MM"),
    ({"text": "year:19"}, "year"),
    ({"text": "2020-01-01..2019-01-01"}, "starts (2020-01-01) after it ends (2019-01-01)"),
    ({"text": "x..2019-01-01"}, "start date"),
    ({"text": "latest", "since": "2019-01-01"}, "not both"),
    ({"since": "2019-02-30"}, "YYYY-MM-DD"),
    ({"text": "latest", "newest": None}, "no roundups yet"),
])
def test_bad_periods_get_one_line(kwargs, fragment):
    text = kwargs.pop("text", None)
    kwargs.setdefault("newest", NEWEST)
    with pytest.raises(PeriodError) as err:
        parse_period(text, **kwargs)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_week_helpers():
    assert week_of(date(2024, 1, 1)) == (date(2024, 1, 1), date(2024, 1, 7))
    assert week_key(date(2019, 11, 3)) == "2019-W44"
    assert week_key(date(2021, 1, 3)) == "2020-W53"  # ISO years: early January can be last year's week


@pytest.mark.parametrize("kwargs, heading", [
    ({"text": "latest"}, "the week 2021-09-13 to 2021-09-19 (latest)"),
    ({"text": "week:2019-11-03"}, "the week 2019-10-28 to 2019-11-03"),
    ({"text": "month:2019-11"}, "November 2019"),
    ({"text": "2019"}, "2019"),
    ({"text": "all"}, f"all roundups ({OLDEST} to {NEWEST})"),
    ({"text": "2019-01-01..2019-06-30"}, "2019-01-01 to 2019-06-30"),
    ({"text": "2019-10-01.."}, f"2019-10-01 to {NEWEST}"),
    ({"since": "2019-10-01"}, f"2019-10-01 to {NEWEST}"),
    ({"until": "2014-01-01"}, f"{OLDEST} to 2014-01-01"),
])
def test_headings_say_each_date_once(kwargs, heading):
    """The digest heading: the period's name and the dates it leaves out, never a date twice
    ("the week of 2021-09-13 (latest) (2021-09-13 to 2021-09-19)" was the old form)."""
    p = parse_period(kwargs.pop("text", None), **kwargs, newest=NEWEST, oldest=OLDEST)
    assert p.heading == heading
    for day in (p.since, p.until):
        assert p.heading.count(day) <= 1
