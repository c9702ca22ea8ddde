"""Named date ranges for digests and schedules: `latest`, `week:`, `month:`, `year:`, `A..B`.

Pure functions over dates. "latest" is resolved against the newest roundup in the data, not the
calendar: a bundled corpus may be years old, and "this week" would then always be empty.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from corpus.dates import month_end
from corpus.errors import InputError

PERIOD_HELP = ("latest, all, week:YYYY-MM-DD, month:YYYY-MM, year:YYYY or YYYY-MM-DD..YYYY-MM-DD "
               "(either end may be left open)")


class PeriodError(InputError, ValueError):
    """A period we cannot read, with a message fit to show the user as is."""


@dataclass(frozen=True)
class Period:
    """An inclusive range of publication dates, with the words a user would call it."""

    since: str  # YYYY-MM-DD
    until: str  # YYYY-MM-DD
    label: str  # short, for titles beside the dates ("the week of 2021-09-13 (latest)")
    # The label with the dates it leaves out, each date said once ("the week 2021-09-13 to
    # 2021-09-19 (latest)", "2019", "all roundups (2013-09-29 to 2021-09-18)"): the terminal's heading.
    heading: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.heading:
            span = f"{self.since} to {self.until}"
            object.__setattr__(self, "heading", self.label if self.label == span else f"{self.label} ({span})")

    def contains(self, day: str | None) -> bool:
        return day is not None and self.since <= day <= self.until

    def to_dict(self) -> dict:
        return {"since": self.since, "until": self.until}


def week_of(day: date) -> tuple[date, date]:
    """The Monday-to-Sunday week holding `day` (ISO weeks: roundups often come out on Sundays)."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def week_key(day: date) -> str:
    """`2019-W44`: what a scheduler records so it never posts the same week twice."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not a {what} in YYYY-MM-DD form") from None


def _month(text: str) -> tuple[date, date]:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PeriodError(f"{text!r} is not a month in YYYY-MM form")
    year, month = int(m.group(1)), int(m.group(2))
    return date(year, month, 1), month_end(year, month)


def _year(text: str) -> tuple[date, date]:
    if not re.fullmatch(r"\d{4}", text):
        raise PeriodError(f"{text!r} is not a year like 2019")
    return date(int(text), 1, 1), date(int(text), 12, 31)


def parse_period(text: str | None = None, *, since: str | None = None, until: str | None = None,
                 newest: str | None = None, oldest: str | None = None) -> Period:
    """Read a period, or since/until dates, into an inclusive Period.

    `newest`/`oldest` are the corpus's publication range: `latest` means the week of `newest`, and
    an open-ended range is closed with them. Raises PeriodError with one line for bad input.
    """
    text = (text or "").strip().lower()
    if text and (since or until):
        raise PeriodError("give either a period or since/until dates, not both")
    if not text and not (since or until):
        text = "latest"
    if not text:
        lo = _date(since, "date") if since else None
        hi = _date(until, "date") if until else None
        return _range(lo, hi, oldest, newest)
    kind, _, arg = text.partition(":")
    arg = arg.strip()
    if kind == "latest" and not arg:
        if not newest:
            raise PeriodError("there are no roundups yet, so there is no latest week")
        lo, hi = week_of(_date(newest, "date"))
        return Period(lo.isoformat(), hi.isoformat(), f"the week of {lo.isoformat()} (latest)",
                      f"the week {lo.isoformat()} to {hi.isoformat()} (latest)")
    if kind == "all" and not arg:
        whole = _range(None, None, oldest, newest)
        return Period(whole.since, whole.until, "all roundups")
    if kind == "week" and arg:
        lo, hi = week_of(_date(arg, "date"))
        return Period(lo.isoformat(), hi.isoformat(), f"the week of {lo.isoformat()}",
                      f"the week {lo.isoformat()} to {hi.isoformat()}")
    if kind == "month" and arg:
        lo, hi = _month(arg)
        return Period(lo.isoformat(), hi.isoformat(), lo.strftime("%B %Y"), lo.strftime("%B %Y"))
    if kind == "year" and arg:
        lo, hi = _year(arg)
        return Period(lo.isoformat(), hi.isoformat(), arg, arg)
    if ".." in text and not arg:
        a, _, b = text.partition("..")
        lo = _date(a.strip(), "start date") if a.strip() else None
        hi = _date(b.strip(), "end date") if b.strip() else None
        return _range(lo, hi, oldest, newest)
    if re.fullmatch(r"\d{4}-\d{1,2}", text):
        return parse_period(f"month:{text}")
    if re.fullmatch(r"\d{4}", text):
        return parse_period(f"year:{text}")
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        return parse_period(f"week:{text}")
    raise PeriodError(f"unknown period {text!r}: use {PERIOD_HELP}")


def _range(lo: date | None, hi: date | None, oldest: str | None, newest: str | None) -> Period:
    if lo and hi and lo > hi:
        raise PeriodError(f"the period starts ({lo}) after it ends ({hi})")
    since = lo.isoformat() if lo else (min(oldest, hi.isoformat()) if oldest and hi else oldest or "0001-01-01")
    until = hi.isoformat() if hi else (max(newest, since) if newest else "9999-12-31")
    if lo and hi:
        label = f"{since} to {until}"
    elif lo:
        label = f"since {since}"
    elif hi:
        label = f"until {until}"
    else:
        label = f"{since} to {until}"
    return Period(since, until, label, f"{since} to {until}")  # an open end closed by the corpus: both dates, once
