"""Company, product and topic aliases: 华为 is Huawei, "tencnet" is Tencent, "ant group" is Ant Financial.

Members write names the way they say them: in Chinese, misspelt, or by a product instead of
the company. The roundups are English and use one name. This table (data in aliases.toml)
maps what members type to what the roundups say; query understanding uses it to expand
questions. Pure data and string matching: no I/O after loading.
"""
from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import RoundupError
from .text import normalize_text

DEFAULT_PATH = Path(__file__).with_name("aliases.toml")

_CJK_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD_RE = re.compile(r"[a-z][a-z0-9]*")


class AliasError(RoundupError, ValueError):
    """The alias data file is malformed (one line, fit for a CLI)."""


@dataclass(frozen=True)
class Entity:
    name: str
    aliases: tuple[str, ...] = ()
    misspellings: tuple[str, ...] = ()
    parent: str | None = None
    kind: str = "name"  # "place" or "topic" for entries that are no company, product or person

    def expansion_names(self) -> list[str]:
        """The canonical name and every Latin-script alias: the forms English roundups use."""
        names = [self.name]
        names += [a for a in self.aliases if not _CJK_RE.search(a) and a.lower() != self.name.lower()]
        return names


@dataclass(frozen=True)
class Match:
    """One name or word found in a question, and the English text that stands for it."""

    start: int
    end: int
    surface: str
    kind: str  # "name" (canonical or alias), "misspelling", "fuzzy" or "term"
    replacement: str
    entity: Entity | None = None

    @property
    def rewrites(self) -> bool:
        """True if the question's own words are not English the roundups would use."""
        return self.kind in {"misspelling", "fuzzy", "term"} or bool(_CJK_RE.search(self.surface))


def _key(text: str) -> str:
    return normalize_text(text).lower()


class AliasTable:
    """Looks up names in questions: longest match wins, Latin names only as whole words."""

    def __init__(self, entities: Iterable[Entity], terms: Mapping[str, str] | None = None):
        self.entities: dict[str, Entity] = {}
        self._targets: dict[str, tuple[str, Entity | None, str]] = {}  # key -> (kind, entity, replacement)
        for entity in entities:
            lowered = entity.name.lower()
            if lowered in self.entities:
                raise AliasError(f"entity {entity.name!r} is listed twice")
            self.entities[lowered] = entity
        for entity in self.entities.values():
            if entity.parent and entity.parent.lower() not in self.entities:
                raise AliasError(f"entity {entity.name!r} names an unknown parent {entity.parent!r}")
            for surface, kind in [(entity.name, "name")] + [(a, "name") for a in entity.aliases] + [
                (m, "misspelling") for m in entity.misspellings
            ]:
                key = _key(surface)
                other = self._targets.get(key)
                if other is not None and other[1] is not entity:
                    raise AliasError(f"{surface!r} names both {other[1].name!r} and {entity.name!r}")
                self._targets[key] = (kind, entity, entity.name)
        for surface, english in (terms or {}).items():
            key = _key(surface)
            if key not in self._targets:  # a name always beats a plain word
                self._targets[key] = ("term", None, english)
        self._prefixed = _by_prefix(self._targets) if "" not in self._targets else None
        self._fuzzy_words = sorted(
            {k for k, (kind, entity, _) in self._targets.items()
             if entity is not None and _LATIN_WORD_RE.fullmatch(k) and len(k) >= 4}
        )

    @functools.cached_property
    def _regex(self) -> re.Pattern[str]:
        """The one-alternation matcher: only for an empty key, which the prefix lookup cannot take
        (and as the reference the tests compare the prefix lookup with); compiled on first use."""
        return self._compile(self._targets)

    @staticmethod
    def _compile(targets: Mapping[str, object]) -> re.Pattern[str]:
        parts = []
        for key in sorted(targets, key=len, reverse=True):
            body = re.escape(key)
            if _CJK_RE.search(key):
                parts.append(body)  # Chinese has no spaces: a name is any substring
            else:
                head = r"(?<![\w])" if re.match(r"\w", key) else ""
                tail = r"(?![\w])" if re.search(r"\w$", key) else ""
                parts.append(f"{head}{body}{tail}")
        return re.compile("|".join(parts) or r"(?!)")

    # -- lookups -----------------------------------------------------------------------

    def entity(self, name: str) -> Entity | None:
        return self.entities.get(name.lower())

    def parent(self, entity: Entity) -> Entity | None:
        return self.entities.get(entity.parent.lower()) if entity.parent else None

    def groups(self) -> tuple[frozenset[str], ...]:
        """Each entity's names, lower-cased: the shape of corpus.mentions' alias groups."""
        return tuple(frozenset(n.lower() for n in (e.name, *e.aliases)) for e in self.entities.values())

    def find(self, text: str) -> list[Match]:
        """Non-overlapping matches in `text` (lower-cased, normalised), left to right."""
        spans = (_find_prefixed(self._prefixed, text) if self._prefixed is not None
                 else [(m.start(), m.group()) for m in self._regex.finditer(text)])
        out = []
        for start, key in spans:
            kind, entity, replacement = self._targets[key]
            out.append(Match(start, start + len(key), key, kind, replacement, entity))
        return out

    def closest_name(self, word: str, *, cutoff: float = 0.8, margin: float = 0.05) -> Entity | None:
        """The entity whose one-word name or alias is within a typo of `word` ("huwaei").

        Callers only ask about words that are neither English nor in the corpus, so a real word
        is never "corrected" into a company. Ambiguous typos (two entities about as close, as
        "tencen" might be to two names) are left alone rather than guessed.
        """
        word = word.lower()
        if len(word) < 5 or not _LATIN_WORD_RE.fullmatch(word):
            return None
        close = difflib.get_close_matches(word, self._fuzzy_words, n=4, cutoff=cutoff)
        if not close:
            return None
        best = self._targets[close[0]][1]
        top = difflib.SequenceMatcher(None, word, close[0]).ratio()
        for other in close[1:]:
            entity = self._targets[other][1]
            if entity is not best and top - difflib.SequenceMatcher(None, word, other).ratio() < margin:
                return None
        return best


# `find` without the regex engine: the table's pattern is one alternative per key (a thousand), and
# trying each at every position of a question was half of reading it. The same matches, found by
# looking up the keys that start with the text at each position, in the pattern's order (longest
# first), with its word-boundary rules; `\w` is exactly `str.isalnum()` or "_".
_PREFIX = 3


def _by_prefix(targets: Mapping[str, object]) -> list[dict[str, list[tuple[str, bool, bool]]]]:
    """Keys by their first 3 characters (shorter keys whole), longest first: (key, head, tail) where
    head/tail say the key must not touch a word character before/after it (Latin keys; see `_compile`)."""
    tables: list[dict[str, list[tuple[str, bool, bool]]]] = [{} for _ in range(_PREFIX)]
    for key in sorted(targets, key=len, reverse=True):  # the pattern's order
        latin = not _CJK_RE.search(key)
        n = min(len(key), _PREFIX)
        tables[n - 1].setdefault(key[:n], []).append((key, latin and _is_word(key[0]), latin and _is_word(key[-1])))
    return tables


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _find_prefixed(tables: list[dict[str, list[tuple[str, bool, bool]]]], text: str) -> list[tuple[int, str]]:
    """(start, key) of each match, as the alternation's `finditer`: at each position the first key in
    pattern order that fits, then on from its end."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while i < n:
        hit = None
        for size in range(_PREFIX, 0, -1):  # longer prefixes hold the longer keys: pattern order kept
            for key, head, tail in tables[size - 1].get(text[i:i + size], ()):
                end = i + len(key)
                if (text.startswith(key, i) and not (head and i and _is_word(text[i - 1]))
                        and not (tail and end < n and _is_word(text[end]))):
                    hit = key
                    break
            if hit is not None:
                break
        if hit is None:
            i += 1
        else:
            out.append((i, hit))
            i += len(hit)
    return out


def parse_table(data: Mapping) -> AliasTable:
    """Build a table from the TOML structure; AliasError names the first bad entry."""
    entities = []
    for n, raw in enumerate(data.get("entity", []), 1):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise AliasError(f"entity #{n} has no name")
        try:
            entities.append(Entity(
                name=raw["name"].strip(),
                aliases=tuple(str(a) for a in raw.get("aliases", ())),
                misspellings=tuple(str(a) for a in raw.get("misspellings", ())),
                parent=raw.get("parent"),
                kind=str(raw.get("kind", "name")),
            ))
        except TypeError as exc:
            raise AliasError(f"entity {raw['name']!r}: {exc}") from None
    terms = data.get("terms", {})
    if not isinstance(terms, Mapping) or not all(isinstance(v, str) for v in terms.values()):
        raise AliasError("[terms] must map words to English text")
    return AliasTable(entities, terms)


def load_table(path: Path | None = None) -> AliasTable:
    """The table from `path` (default: the bundled aliases.toml)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise AliasError(f"alias file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AliasError(f"alias file {path} is not valid TOML: {exc}") from None
    return parse_table(data)


@functools.lru_cache(maxsize=4)
def default_table(path: str | None = None) -> AliasTable:
    """Loaded once per process: compiling the name regex is the only real cost."""
    return load_table(Path(path) if path else None)
