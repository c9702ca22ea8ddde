"""Query understanding: what a casual question means before it is searched.

Two things members leave implicit: *when* ("in 2020", "last november", "Q3 2019") and *who*
in the corpus's words (华为 is Huawei, "tencnet" is Tencent). `parse_dates` turns time
expressions into periods and bounds; `understand` adds the names and builds the texts the
dense and the keyword retrievers search with. Everything here is pure: the caller passes
the corpus's newest date as the anchor for "last ...", and a predicate for known words.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from bm25s.stopwords import STOPWORDS_EN_PLUS

from corpus.aliases import AliasTable, Match
from corpus.dates import month_end, months_between, shift_months
from corpus.text import normalize_text
from corpus.words import is_english

STOPWORDS = frozenset(STOPWORDS_EN_PLUS)

# Words that name a kind of company, not which one: expanding "Alibaba" with "Alibaba Group"
# must not make every "group" in the corpus look relevant.
_GENERIC_NAME_WORDS = frozenset(
    "group holdings holding technologies technology services service inc ltd co corp global app "
    "network networks international company".split()
)

# --- dates ---------------------------------------------------------------------------------

_MONTH_NAMES = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}
MONTH_WORDS = {m: [n for n, v in _MONTH_NAMES.items() if v == m] for m in range(1, 13)}

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
# A year, but not a price ($2020), a count (2,018), a season (2024-25) or a percentage.
_YEAR = r"(?<![\d$£€¥.,])(?:19[89]\d|20[0-4]\d)(?![\d%]|/\d| ?(?:million|billion|bn|yuan|rmb|usd|dollars|units|users|people|%))"
_NUM_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
              "nine": 9, "ten": 10, "twelve": 12, "few": 3, "couple of": 2, "couple": 2}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}

_EXPRESSION = re.compile(
    "|".join([
        rf"(?P<day_month_year>\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b\.?,?\s+(?P<y0>{_YEAR}))",
        rf"(?P<month_year>\b(?P<m1>{_MONTH})\b\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?(?:\s+of)?,?\s+(?P<y1>{_YEAR}))",
        rf"(?P<iso>(?P<y2>{_YEAR})[-/.](?P<m2>0?[1-9]|1[0-2])(?:[-/.](?P<d2>\d{{1,2}}))?(?!\d))",
        rf"(?P<us_month>\b(?P<m3>0?[1-9]|1[0-2])/(?P<y3>{_YEAR}))",
        rf"(?P<cjk_month>(?P<y4>{_YEAR})\s*年\s*(?P<m4>1[0-2]|0?[1-9])\s*月)",
        rf"(?P<cjk_quarter>(?P<y5>{_YEAR})\s*年?\s*第?(?P<q5>[一二三四1-4])季度)",
        rf"(?P<cjk_half>(?P<y6>{_YEAR})\s*年?\s*(?P<h6>上|下)半年)",
        rf"(?P<cjk_part>(?P<y7>{_YEAR})\s*年?\s*(?P<p7>年初|初|年底|底|年末|末))",
        rf"(?P<quarter>\bq(?P<q8>[1-4])\s*(?:of\s+|,\s*)?(?P<y8>{_YEAR})|(?P<y9>{_YEAR})\s*q(?P<q9>[1-4])\b"
        rf"|\b(?P<o10>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\s+(?:of\s+)?(?P<y10>{_YEAR}))",
        rf"(?P<half>\bh(?P<h11>[12])\s*(?P<y11>{_YEAR})|(?P<y12>{_YEAR})\s*h(?P<h12>[12])\b"
        rf"|\b(?P<o13>first|second|1st|2nd)\s+half\s+(?:of\s+)?(?P<y13>{_YEAR}))",
        rf"(?P<part>\b(?P<p14>early|mid|late|end\s+of|start\s+of|beginning\s+of|the\s+end\s+of|the\s+start\s+of)"
        rf"[\s-]+(?:(?P<m14>{_MONTH})\s+)?(?P<y14>{_YEAR}))",
        rf"(?P<season>\b(?P<s15>spring|summer|fall|autumn|winter)\s+(?:of\s+)?(?P<y15>{_YEAR}))",
        rf"(?P<cjk_year>(?P<y16>{_YEAR})\s*年)",
        r"(?P<rel_n>\b(?P<w17>last|past|previous)\s+(?P<n17>\d{1,3}|a|one|two|three|four|five|six|seven|eight|nine|ten"
        r"|twelve|few|couple(?:\s+of)?)\s+(?P<u17>days?|weeks?|months?|years?)\b)",
        r"(?P<rel>\b(?P<w18>last|past|previous|this)\s+(?P<u18>week|month|year|quarter)\b)",
        rf"(?P<rel_month>\b(?P<w19>last|this|in|during|since|before|after|until|from)\s+(?P<m19>{_MONTH})\b(?!\s*\d))",
        r"(?P<cjk_rel>去年|今年|前年|上个?月|本月|这个月|上周|上星期|本周|这周|这星期)",
        rf"(?P<year>{_YEAR})(?!-\d{{2}}\b)",  # not the 2024 of a "2024-25 season"
    ]),
    re.IGNORECASE,
)
_RECENT_RE = re.compile(r"\b(?:recent(?:ly)?|lately|latest|newest|most\s+recent|these\s+days|nowadays)\b|最近|最新")
_SINCE_RE = re.compile(r"(?:\b(?P<w>since|after|post|starting|beginning)\s+(?:the\s+)?(?:(?:start|beginning|end)\s+of\s+)?)$")
_UNTIL_RE = re.compile(r"(?:\b(?P<w>before|prior\s+to|pre|until|till|til|through|thru|up\s+to|by\s+the\s+end\s+of)\s+(?:the\s+)?)$")
_BETWEEN_RE = re.compile(r"\bbetween\s+$")
_JOIN_RE = re.compile(r"^\s*(?:and|to|till|until|through|thru|-|–|—|~|至|到)\s*$")
_CJK_AFTER_RE = re.compile(r"^\s*(?:以后|之后|以来|后)")
_CJK_BEFORE_RE = re.compile(r"^\s*(?:以前|之前|前)")


@dataclass(frozen=True)
class DateSpan:
    """Dates a question asks about, inclusive. `label` is how the answer's note names it."""

    start: date
    end: date
    label: str
    granularity: str  # "year", "month", "quarter", "part", "day", "relative"

    def months(self) -> list[tuple[int, int]]:
        return months_between((self.start.year, self.start.month), (self.end.year, self.end.month))


@dataclass(frozen=True)
class DateIntent:
    """What the question says about time. Periods filter softly; bounds filter on publication."""

    periods: tuple[DateSpan, ...] = ()
    since: date | None = None
    until: date | None = None
    recent: bool = False

    def __bool__(self) -> bool:
        return bool(self.periods or self.since or self.until or self.recent)


def _month_period(y: int, m: int, granularity: str = "month") -> DateSpan:
    return DateSpan(date(y, m, 1), month_end(y, m), f"{calendar.month_name[m]} {y}", granularity)


def _months_period(y: int, first: int, last: int, label: str, granularity: str) -> DateSpan:
    return DateSpan(date(y, first, 1), month_end(y, last), label, granularity)


_PARTS = {"early": (1, 4, "early"), "mid": (5, 8, "mid"), "late": (9, 12, "late"), "end of": (10, 12, "the end of"),
          "start of": (1, 3, "the start of"), "beginning of": (1, 3, "the start of")}
_SEASONS = {"spring": (3, 5), "summer": (6, 8), "fall": (9, 11), "autumn": (9, 11)}


_KINDS = ("day_month_year", "month_year", "iso", "us_month", "cjk_month", "cjk_quarter", "cjk_half", "cjk_part",
          "quarter", "half", "part", "season", "cjk_year", "rel_n", "rel", "rel_month", "cjk_rel", "year")
_RELATIVE_KINDS = frozenset({"rel_n", "rel", "cjk_rel", "rel_month"})


def _period_from(m: re.Match, anchor: date) -> DateSpan | None:
    """The DateSpan for one matched expression; None if it names no valid date."""
    g = m.groupdict()
    kind = m.lastgroup
    # lastgroup is the last *closed* group; find the outer alternative instead.
    for name in _KINDS:
        if g.get(name) is not None:
            kind = name
            break
    try:
        if kind in _RELATIVE_KINDS:
            return _relative_span(kind, g, anchor)
        return _calendar_span(kind, g)
    except (ValueError, KeyError, StopIteration):
        return None


def _calendar_span(kind: str, g: dict) -> DateSpan | None:
    """A span named by the calendar alone: a day, month, quarter, half, part, season or year."""
    if kind == "day_month_year":
        text = g["day_month_year"].lower()
        month = next(v for k, v in sorted(_MONTH_NAMES.items(), key=lambda kv: -len(kv[0])) if re.search(rf"\b{k}\b", text))
        return _month_period(int(g["y0"]), month)
    if kind == "month_year":
        return _month_period(int(g["y1"]), _MONTH_NAMES[g["m1"].lower().rstrip(".")])
    if kind == "iso":
        y, mo = int(g["y2"]), int(g["m2"])
        if g["d2"]:
            d = date(y, mo, int(g["d2"]))
            return DateSpan(d, d, d.isoformat(), "day")
        return _month_period(y, mo)
    if kind == "us_month":
        return _month_period(int(g["y3"]), int(g["m3"]))
    if kind == "cjk_month":
        return _month_period(int(g["y4"]), int(g["m4"]))
    if kind in ("cjk_quarter", "quarter"):
        y = int(g["y5"] or g["y8"] or g["y9"] or g["y10"])
        q = _CN_DIGITS.get(g["q5"] or "", 0) or int(g["q8"] or g["q9"] or 0) or _ORDINALS[(g["o10"] or "").lower()]
        return _months_period(y, 3 * q - 2, 3 * q, f"Q{q} {y}", "quarter")
    if kind in ("cjk_half", "half"):
        y = int(g["y6"] or g["y11"] or g["y12"] or g["y13"])
        h = {"上": 1, "下": 2}.get(g["h6"] or "", 0) or int(g["h11"] or g["h12"] or 0) or _ORDINALS[(g["o13"] or "").lower()]
        return _months_period(y, 6 * h - 5, 6 * h, f"H{h} {y}", "part")
    if kind == "cjk_part":
        y = int(g["y7"])
        first, last, word = (1, 3, "the start of") if "初" in g["p7"] else (10, 12, "the end of")
        return _months_period(y, first, last, f"{word} {y}", "part")
    if kind == "part":
        y = int(g["y14"])
        if g["m14"]:  # "early june 2014": the month is precise enough
            return _month_period(y, _MONTH_NAMES[g["m14"].lower()])
        word = re.sub(r"^the\s+|\s+", " ", g["p14"].lower()).strip()
        first, last, label = _PARTS[word]
        return _months_period(y, first, last, f"{label} {y}", "part")
    if kind == "season":
        y, s = int(g["y15"]), g["s15"].lower()
        if s == "winter":  # winter 2014 runs from December 2014 into February 2015
            return DateSpan(date(y, 12, 1), month_end(y + 1, 2), f"winter {y}", "part")
        first, last = _SEASONS[s]
        return _months_period(y, first, last, f"{s} {y}", "part")
    if kind in ("cjk_year", "year"):
        y = int(g["y16"] or g["year"])
        return DateSpan(date(y, 1, 1), date(y, 12, 31), str(y), "year")
    return None


def _relative_span(kind: str, g: dict, anchor: date) -> DateSpan | None:
    """A span counted back from `anchor`: "last 3 months", "this year", "上个月", "last november"."""
    if kind == "rel_n":
        n_text = g["n17"].lower()
        n = int(n_text) if n_text.isdigit() else _NUM_WORDS[re.sub(r"\s+", " ", n_text)]
        unit = g["u17"].lower().rstrip("s")
        start = {"day": lambda: anchor - timedelta(days=n), "week": lambda: anchor - timedelta(weeks=n),
                 "month": lambda: shift_months(anchor, -n), "year": lambda: shift_months(anchor, -12 * n)}[unit]()
        return DateSpan(start, anchor, f"the {n} {unit}{'s' if n != 1 else ''} to {anchor.isoformat()}", "relative")
    if kind == "rel":
        return _relative(g["w18"].lower(), g["u18"].lower(), anchor)
    if kind == "cjk_rel":
        word, unit = {"去年": ("last", "year"), "今年": ("this", "year"), "前年": ("before-last", "year"),
                      "上月": ("last", "month"), "上个月": ("last", "month"), "本月": ("this", "month"),
                      "这个月": ("this", "month"), "上周": ("last", "week"), "上星期": ("last", "week"),
                      "本周": ("this", "week"), "这周": ("this", "week"), "这星期": ("this", "week")}[g["cjk_rel"]]
        return _relative(word, unit, anchor)
    if kind == "rel_month":
        month = _MONTH_NAMES[g["m19"].lower()]
        word = g["w19"].lower()
        if g["m19"].lower() == "may" and word not in ("last", "this", "in", "during"):
            return None  # "since may" is too likely the verb
        if word == "last":
            y = anchor.year if month < anchor.month else anchor.year - 1
        elif word == "this":
            y = anchor.year
        else:  # "in november": the most recent november the corpus can have
            y = anchor.year if month <= anchor.month else anchor.year - 1
        return _month_period(y, month)
    return None


def _relative(word: str, unit: str, anchor: date) -> DateSpan:
    """'last week' and friends, relative to `anchor` (the corpus's newest roundup)."""
    if unit == "week":  # the newest weekly digest is "this week" and, a day later, "last week"
        return DateSpan(anchor - timedelta(days=7), anchor, f"the week to {anchor.isoformat()}", "relative")
    if unit == "month":
        if word == "past":
            return DateSpan(anchor - timedelta(days=31), anchor, f"the month to {anchor.isoformat()}", "relative")
        first = date(anchor.year, anchor.month, 1)
        if word in ("last", "previous"):
            first = shift_months(first, -1)
        return _month_period(first.year, first.month, "relative")
    if unit == "quarter":
        q = (anchor.month - 1) // 3 + 1
        y = anchor.year
        if word in ("last", "previous", "past"):
            q, y = (q - 1, y) if q > 1 else (4, y - 1)
        return _months_period(y, 3 * q - 2, 3 * q, f"Q{q} {y}", "relative")
    # year
    if word == "past":
        return DateSpan(shift_months(anchor, -12), anchor, f"the year to {anchor.isoformat()}", "relative")
    y = anchor.year - {"this": 0, "last": 1, "previous": 1, "before-last": 2}[word]
    return DateSpan(date(y, 1, 1), date(y, 12, 31), str(y), "relative")


def _later(a: date | None, b: date) -> date:
    return b if a is None else max(a, b)


def _earlier(a: date | None, b: date) -> date:
    return b if a is None else min(a, b)


def parse_dates(text: str, anchor: date | None = None) -> DateIntent:
    """Periods and bounds named in `text`.

    "since 2020" and "before 2015" bound the publication date; "between 2014 and 2019" sets
    both. Every other expression ("in 2020", "Q3 2019", "last november") is a period the
    answer should come from. "last ..." counts back from `anchor`, the corpus's newest date,
    because the roundups are an archive: "last year" means the year before the latest news.
    Words such as "after the ipo" name no date and are left alone.
    """
    anchor = anchor or date.today()
    low = normalize_text(text).lower()
    found: list[tuple[int, int, DateSpan, str]] = []
    for m in _EXPRESSION.finditer(low):
        period = _period_from(m, anchor)
        if period is not None:
            # "since november": the range word is inside the match
            inner = (m.group("w19") or "").lower() if m.group("rel_month") else ""
            found.append((m.start(), m.end(), period, inner if inner in ("since", "after", "before", "until") else ""))
    periods: list[DateSpan] = []
    since: date | None = None
    until: date | None = None
    used: set[int] = set()
    for i, (start, end, period, word) in enumerate(found):
        if i in used:
            continue
        before = low[max(0, start - 30):start]
        # "between 2014 and 2019", "from 2014 to 2019", "2014-2019"
        gap = low[end:found[i + 1][0]] if i + 1 < len(found) else ""
        joined = _JOIN_RE.match(gap)
        if joined and (joined.group().strip() != "and" or _BETWEEN_RE.search(before)):
            since = _later(since, period.start)
            until = _earlier(until, found[i + 1][2].end)
            used.add(i + 1)
            continue
        after_text = low[end:end + 4]
        if _CJK_AFTER_RE.match(after_text):
            since = _later(since, period.start)
            continue
        if _CJK_BEFORE_RE.match(after_text):
            until = _earlier(until, period.start - timedelta(days=1))
            continue
        sm = _SINCE_RE.search(before)
        if sm or word in ("since", "after"):
            word = word or sm.group("w")
            since = _later(since, period.end + timedelta(days=1) if word in ("after", "post") else period.start)
            continue
        um = _UNTIL_RE.search(before)
        if um or word in ("before", "until"):
            word = word or re.sub(r"\s+", " ", um.group("w"))
            until = _earlier(until, period.start - timedelta(days=1) if word in ("before", "prior to", "pre")
                             else period.end)
            continue
        periods.append(period)
    return DateIntent(tuple(periods), since, until, bool(_RECENT_RE.search(low)))


# Figures for a quarter or a half-year are reported weeks after it ends (fourth-quarter results in
# March), in roundups that often name only the quarter, not the year.
REPORTING_LAG_DAYS = {"quarter": 100, "part": 100}


def reporting_lag(period: DateSpan) -> int:
    """Days after a period's end in which a roundup may still be reporting on it."""
    return REPORTING_LAG_DAYS.get(period.granularity, 0)


def mentions_month_soon_after(text: str, period: DateSpan, published: date | None, days: int = 62) -> bool:
    """A month named without its year ("shut down ... in April") by a roundup published within
    `days` of that month: the year is the one just past."""
    if published is None or period.granularity not in ("month", "day") or not (
            period.start <= published <= period.end + timedelta(days=days)):
        return False
    low = text.lower()
    return any(re.search(rf"\b{w}\b", low) for w in MONTH_WORDS[period.start.month] if len(w) > 3)


def mentions_period(text: str, period: DateSpan) -> bool:
    """True if `text` itself names the period: its year and, below a year, one of its months.

    A roundup published in 2019 that reports "record sales in 2018" answers a question about
    2018, so a period matches a passage's words as well as its publication date.
    """
    low = text.lower()
    months = period.months()
    years = sorted({y for y, _ in months})
    if period.granularity == "relative" and (period.end - period.start).days < 60:
        return False  # "last week" is about when news happened, which only the date tells
    for y in years:
        if not re.search(rf"(?<!\d){y}(?!\d)", low):
            continue
        if period.granularity in ("year",) or (period.granularity == "relative" and len(months) >= 12):
            return True
        for yy, mm in months:
            if yy == y and any(re.search(rf"\b{w}\b", low) for w in MONTH_WORDS[mm] if len(w) > 3 or w == "may"):
                return True
    return False


# --- names and words -----------------------------------------------------------------------

_CJK_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_RE = re.compile(r"[a-z]")
_WORD_RE = re.compile(r"[a-z][a-z0-9]*(?:'[a-z]+)?")


@dataclass
class Understanding:
    """A question as the retrievers should search it."""

    question: str
    dense_text: str  # English the embedding model can read: names and words rewritten
    phrases: list[tuple[str, float]]  # keyword query: (text, weight); the first is the question itself
    dates: DateIntent = field(default_factory=DateIntent)
    names: list[str] = field(default_factory=list)  # canonical names recognised
    rewrites: list[tuple[str, str]] = field(default_factory=list)  # (as typed, read as)


def _rewrite(text: str, matches: list[Match]) -> tuple[str, list[tuple[str, str]]]:
    """The question with names and Chinese words in the roundups' English, and what was rewritten."""
    pieces, pos = [], 0
    rewrites: list[tuple[str, str]] = []
    for m in matches:
        pieces.append(text[pos:m.start])
        if m.rewrites:
            pieces.append(f" {m.replacement} ")
            rewrites.append((m.surface, m.replacement))
        else:
            pieces.append(m.surface)
        pos = m.end
    pieces.append(text[pos:])
    rewritten = " ".join("".join(pieces).split())
    if _LATIN_RE.search(rewritten):
        # Chinese left over after the names and words we know is noise to an English model.
        rewritten = " ".join(_CJK_RE.sub(" ", rewritten).split()) or rewritten
    return rewritten, rewrites


def understand(question: str, *, aliases: AliasTable | None = None, anchor: date | None = None,
               known: Callable[[str], bool] | None = None, expansion_weight: float = 1.0,
               parent_weight: float = 0.5) -> Understanding:
    """Rewrite names and Chinese words into the roundups' English, and read the dates.

    Misspelt or Chinese names are replaced by their canonical name; English aliases are kept
    and the other names added to the keyword query ("ant group" also searches "Ant Financial").
    A product's owner is added at `parent_weight`, so "taobao" also finds "Alibaba". A word
    that is neither English (corpus.words) nor known to the corpus (`known`), and is a typo
    away from exactly one name, is read as that name.
    """
    text = normalize_text(question).lower()
    dates = parse_dates(text, anchor)
    matches: list[Match] = aliases.find(text) if aliases else []
    if aliases is not None and known is not None:
        taken = [(m.start, m.end) for m in matches]
        for w in _WORD_RE.finditer(text):
            if any(a < w.end() and w.start() < b for a, b in taken):
                continue
            word = w.group()
            # Only a word that is neither English ("whats", "apple") nor in the corpus is a typo.
            if word in STOPWORDS or known(word) or is_english(word):
                continue
            entity = aliases.closest_name(word)
            if entity is not None:
                matches.append(Match(w.start(), w.end(), word, "fuzzy", entity.name, entity))
        matches.sort(key=lambda m: m.start)

    rewritten, rewrites = _rewrite(text, matches)
    phrases: list[tuple[str, float]] = [(rewritten, 1.0)]
    names: list[str] = []
    mentioned = {rewritten}
    for m in matches:
        entity = m.entity
        if entity is None or entity.name in names:
            continue
        names.append(entity.name)
        extra = [n for n in entity.expansion_names() if n.lower() not in rewritten]
        words = [w for n in extra for w in n.split() if w.lower() not in _GENERIC_NAME_WORDS]
        if words:
            phrases.append((" ".join(words), expansion_weight))
        parent = aliases.parent(entity) if aliases else None
        if parent is not None and parent_weight > 0 and parent.name.lower() not in rewritten \
                and parent.name not in mentioned:
            mentioned.add(parent.name)
            phrases.append((parent.name, parent_weight))
    return Understanding(question=question, dense_text=rewritten, phrases=phrases, dates=dates, names=names,
                         rewrites=rewrites)
