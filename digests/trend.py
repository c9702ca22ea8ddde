"""How often the roundups talk about a name, month by month, and what they said at the peaks.

Pure counting over passages already chosen as mentioning the name (by `corpus.mentions` or, for
a subject the corpus never names, by meaning); the chart itself is drawn in bot/charts.py.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from corpus.aliases import AliasTable
from corpus.dates import months_between
from corpus.mentions import COMMON_WORDS
from corpus.model import Passage
from corpus.words import is_english
from digests.summary import DigestSource


@dataclass(frozen=True)
class Peak:
    month: str  # YYYY-MM
    count: int
    headlines: tuple[DigestSource, ...]

    def to_dict(self) -> dict:
        return {"month": self.month, "count": self.count, "headlines": [h.to_dict() for h in self.headlines]}


@dataclass(frozen=True)
class Trend:
    name: str
    mode: str  # "name" or "meaning", as for topic digests
    months: tuple[tuple[str, int], ...]  # every month of the corpus, zeros included
    peaks: tuple[Peak, ...]
    note: str | None = None
    png: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.months)

    def to_dict(self) -> dict:
        out = {"name": self.name, "mode": self.mode, "total": self.total,
               "months": [{"month": m, "count": n} for m, n in self.months],
               "peaks": [p.to_dict() for p in self.peaks]}
        if self.note:
            out["note"] = self.note
        return out


_WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")


def unknown_name(name: str, knows: Callable[[str], bool], aliases: AliasTable) -> bool:
    """True when nothing knows `name`, so a meaning match would only chart chance neighbours.

    Known: any alias-table name in it, or its words in the corpus (`knows`) or a typo away from
    an alias-table name. Unknown: a word that is none of these nor common English ("zxqvbn
    corp"), or no word at all that the corpus or the table knows ("banana"). A plain-English
    subject the corpus talks about ("chip export controls") stays known.
    """
    if aliases.find(name.lower()):
        return False
    words = [w for w in _WORD_RE.findall(name.lower()) if w not in COMMON_WORDS] or _WORD_RE.findall(name.lower())
    if not words:
        return False

    def known(word: str) -> bool:
        return knows(word) or aliases.closest_name(word) is not None

    found = [known(w) for w in words]
    return not any(found) or any(not ok and not is_english(w) for w, ok in zip(words, found))


def typo_fixed(name: str, knows: Callable[[str], bool], aliases: AliasTable) -> str:
    """`name` with each word that is neither in the corpus nor English, and is a typo of exactly
    one alias-table name, replaced by that name ("huwaei" -> "Huawei"), as questions are read."""
    def fix(m: re.Match) -> str:
        word = m.group()
        if knows(word.lower()) or is_english(word):
            return word
        entity = aliases.closest_name(word)
        return entity.name if entity is not None else word

    return _WORD_RE.sub(fix, name)


def unknown_note(name: str, coverage: tuple[str | None, str | None]) -> str:
    first, last = coverage
    tail = f"; the corpus covers {first} to {last}" if first and last else ""
    return f"no roundup mentions \"{name}\"{tail}"


def month_range(first: str, last: str) -> list[str]:
    """Every YYYY-MM from the month of `first` to the month of `last`, inclusive."""
    span = months_between((int(first[:4]), int(first[5:7])), (int(last[:4]), int(last[5:7])))
    return [f"{y:04d}-{m:02d}" for y, m in span]


def monthly_trend(name: str, mode: str, matching: Sequence[Passage], coverage: tuple[str | None, str | None],
                  *, peaks: int = 3, headlines: int = 3) -> Trend:
    """Passages per month over the whole corpus span, and the top months' roundup headlines.

    Peaks are the busiest months (ties: the later month first); their headlines are the titles
    of the roundups that mention the name, newest first, each once.
    """
    first, last = coverage
    dated = [p for p in matching if p.published]
    if not first or not last:
        return Trend(name, mode, (), (), "the corpus is empty")
    counts = Counter(p.published[:7] for p in dated)
    months = tuple((m, counts.get(m, 0)) for m in month_range(first, last))
    if not dated:
        verb = "mentions" if mode == "name" else "is about"
        return Trend(name, mode, months, (),
                     f"no roundup passage {verb} \"{name}\"; the corpus covers {first} to {last}")
    busiest = sorted((m for m, n in months if n), key=lambda m: (-counts[m], _neg(m)))[:peaks]
    out = []
    for month in busiest:
        seen: dict[str, DigestSource] = {}
        for p in sorted((p for p in dated if p.published.startswith(month)),
                        key=lambda p: (p.published, p.title), reverse=True):
            seen.setdefault(p.url, DigestSource(p.title, p.url, p.published))
        out.append(Peak(month, counts[month], tuple(list(seen.values())[:headlines])))
    return Trend(name, mode, months, tuple(out))


def _neg(month: str) -> tuple[int, int]:
    return (-int(month[:4]), -int(month[5:7]))
