"""Month arithmetic shared by query understanding and trend counting."""
from __future__ import annotations

from datetime import date

from corpus.dates import month_end, months_between, shift_months


def test_shift_months_clamps_the_day_and_crosses_years():
    assert shift_months(date(2020, 3, 31), -1) == date(2020, 2, 29)
    assert shift_months(date(2019, 1, 15), -1) == date(2018, 12, 15)
    assert shift_months(date(2019, 12, 31), 2) == date(2020, 2, 29)
    assert shift_months(date(2021, 5, 10), -12) == date(2020, 5, 10)
    assert shift_months(date(2021, 5, 10), 0) == date(2021, 5, 10)


def test_months_between_includes_both_ends():
    assert months_between((2019, 11), (2020, 2)) == [(2019, 11), (2019, 12), (2020, 1), (2020, 2)]
    assert months_between((2020, 5), (2020, 5)) == [(2020, 5)]
    assert months_between((2020, 5), (2020, 4)) == []


def test_month_end():
    assert month_end(2020, 2) == date(2020, 2, 29)
    assert month_end(2021, 2) == date(2021, 2, 28)
    assert month_end(2021, 12) == date(2021, 12, 31)
