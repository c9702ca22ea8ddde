"""Does a text mention a company or product, and which names does a text talk about?

`mention_matcher` is the one function the digest and the trend chart call to match a name; it
accepts spelling variants (case, spaces, hyphens, possessives, plurals) and the aliases of the
shared table in corpus/aliases.toml (the one query understanding uses too).
`capitalised_names` is the cheap heuristic behind digest labels: the names a text mentions.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from corpus.aliases import default_table

_CJK_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CAMEL_SPLIT_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _canonical(name: str) -> str:
    return " ".join(name.replace("\u2019", "'").split()).lower()


def aliases_of(name: str) -> set[str]:
    """The name itself (lower-cased) and every alias grouped with it."""
    key = _canonical(name)
    out = {key}
    for group in default_table().groups():
        if key in group:
            out |= group
    return out


def _variant_regex(words: list[str]) -> str:
    """One name as a regex: its words may be joined by a space, a hyphen or nothing (Byte Dance)."""
    name = " ".join(words)
    if _CJK_RE.search(name):
        return re.escape(name)
    body = r"[\s\-]?".join(re.escape(w) for w in words)
    # Word edges; a possessive or a plural may follow ("Huawei's", "Huaweis" in headlines).
    return rf"(?<![\w.-]){body}(?:'s|s|es)?(?!\w)"


def _variants(name: str) -> list[list[str]]:
    """The spellings `name` is matched by, as word lists. The name as typed also matches split at
    its inner capitals: ByteDance finds "Byte Dance"."""
    typed = [w for part in name.split() for w in _CAMEL_SPLIT_RE.split(part)]
    return [typed] + [alias.split() for alias in sorted(aliases_of(name))]


@lru_cache(maxsize=256)
def _pattern(name: str) -> re.Pattern[str] | None:
    key = _canonical(name)
    if not re.search(r"\w", key):
        return None
    return re.compile("|".join(f"(?:{_variant_regex(v)})" for v in _variants(name)), re.IGNORECASE)


def mention_matcher(name: str) -> Callable[[str], bool]:
    """A predicate: does a text mention `name` (or one of its aliases)?

    Case-insensitive, at word edges, so "Ant" does not match "want" and "Huawei's" counts.
    """
    pattern = _pattern(name)
    if pattern is None:
        return lambda text: False
    return lambda text: bool(text) and pattern.search(text) is not None


_WORD_RUN_RE = re.compile(r"\w+")


def _first_words(words: list[str]) -> set[str] | None:
    """The word (a run of word characters, lower-cased) a mention of this spelling starts with,
    however its words are joined ("byte dance", "byte-dance", "bytedance"), a plural or possessive
    included; None when a mention need not start at a word (a spelling that starts with punctuation)."""
    out = set()
    for i in range(1, len(words) + 1):
        joined = "".join(words[:i]).lower()
        run = _WORD_RUN_RE.match(joined)
        if not run:
            return None
        out |= {run.group(), run.group() + "s", run.group() + "es"}
    return out


def count_mentions(texts: Iterable[str], names: Iterable[str]) -> Counter:
    """How many of `texts` mention each of `names`, exactly as `mention_matcher` decides. A mention
    starts at a word (after no letter, digit, "." or "-"), so each name's pattern is tried only
    where a text has a word one of its spellings can start with, anchored there; a CJK spelling
    (no word edges) only on texts holding it. Trying every alias-table name's pattern on every
    roundup took about 15 ms a roundup: minutes at 10,000 roundups, holding /help and /timeline."""
    patterns = {n: _pattern(n) for n in dict.fromkeys(names)}  # compiled once: more names than _pattern's cache
    patterns = {n: p for n, p in patterns.items() if p is not None}
    starts: dict[str, set[str]] = {}  # a lower-cased word -> names a mention may start with
    literal: dict[str, set[str]] = {}  # a CJK spelling -> its names, searched for on texts holding it
    anywhere: set[str] = set()  # names with a spelling that need not start at a word: searched for
    for name in patterns:
        for words in _variants(name):
            spelt = " ".join(words)
            if _CJK_RE.search(spelt):
                literal.setdefault(spelt.lower(), set()).add(name)
                continue
            firsts = _first_words(words)
            if firsts is None:
                anywhere.add(name)
            for word in firsts or ():
                starts.setdefault(word, set()).add(name)
    counts: Counter = Counter()
    for text in texts:
        if not text:
            continue
        found: set[str] = set()
        search = set(anywhere)
        if literal:
            lowered = text.lower()
            for spelt, owners in literal.items():
                if spelt in lowered:
                    search |= owners
        for name in search:
            if patterns[name].search(text):
                found.add(name)
        for word in _WORD_RUN_RE.finditer(text):
            for name in starts.get(word.group().lower(), ()):
                if name not in found and patterns[name].match(text, word.start()):
                    found.add(name)
        counts.update(found)
    return counts


# -- names a text talks about (digest labels) ---------------------------------------------

# Words that start sentences or titles capitalised without being names.
_NOT_NAMES = frozenset(
    """a an and as at after also although among another any are around because before besides being
    between both but by can could despite did do does during each either even every few for from
    had has have he her here his how however if in including into is it its just last late later
    like many may meanwhile more most much mr ms new next no nor not now of on once one only or other
    our over per same she since so some still such than that the their them then there these they
    this those though through thus to today too under unlike until up upon us via was we were what
    when where whether which while who whom whose why will with within without would yet you your
    early mid according another about against amid instead across again all already almost
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday week weeks year years month months
    hello welcome shortly meanwhile overall first second third inside outside contrary speaking
    following separately elsewhere together neither earlier beyond toward towards nearly roughly
    reportedly recently previously currently""".split()
)
COMMON_WORDS = _NOT_NAMES  # for labels elsewhere: words that are never a theme on their own
_NAME_TOKEN = r"(?:(?:[A-Z]\.){2,}(?:-[A-Z]\w*)?|[A-Z][\w&.\-]*\w|[A-Z]|[a-z]+[A-Z]\w*|\d+[A-Za-z]\w*)"
_NAME_RUN_RE = re.compile(rf"{_NAME_TOKEN}(?:[ \-]{_NAME_TOKEN})*")
_POSSESSIVE_RE = re.compile(r"(?:'s|')$")
_SUFFIX_RE = re.compile(r"-[a-z]+$")  # Beijing-based, Slack-style: an adjective made of a name
_LOWER_WORD_RE = re.compile(r"(?<![\w'])[a-z][a-z\-]+")
_MID_SENTENCE_CAP_RE = re.compile(r"(?<=[\w,;:)] )[A-Z][a-z]+")
_SENTENCE_START_RE = re.compile(r"(?:^|[.!?][\"')\]]*\s+|[\"'(\[])$")


@dataclass(frozen=True)
class NameVocabulary:
    """What a set of texts says about its words: which occur in lower case (so are common words)
    and which title-case words occur mid-sentence (so are names even when a sentence starts with them)."""

    common: frozenset[str] = frozenset()
    mid_sentence: frozenset[str] = frozenset()

    @classmethod
    def of(cls, texts: Iterable[str]) -> "NameVocabulary":
        common: set[str] = set()
        mid: set[str] = set()
        for text in texts:
            common.update(_LOWER_WORD_RE.findall(text))
            mid.update(_MID_SENTENCE_CAP_RE.findall(text))
        return cls(frozenset(common), frozenset(mid))


def capitalised_names(text: str, vocab: NameVocabulary | None = None) -> list[str]:
    """Runs of capitalised words (TikTok, Ant Financial, 5G, iPhone, U.S.), possessives stripped.

    A heuristic, not entity recognition. Trimmed: function words at either end of a run; with a
    vocabulary, a sentence's first word when the texts also use it in lower case, and a lone
    first word that looks like an inflected English word (Speaking, Companies) and is never
    capitalised mid-sentence. Mid-sentence runs keep their common words: "App Store". So "Inside Tencent's WeChat" gives "Tencent", "WeChat",
    and "Beijing-based ByteDance" gives "Beijing", "ByteDance".
    """
    text = text.replace("\u2019", "'")
    out: list[str] = []
    for m in _NAME_RUN_RE.finditer(text):
        at_start = bool(_SENTENCE_START_RE.search(text[max(0, m.start() - 4):m.start()]))
        runs: list[list[str]] = [[]]
        for w in m.group().split(" "):
            w = _POSSESSIVE_RE.sub("", w)
            stripped = _SUFFIX_RE.sub("", w)
            if stripped != w:  # "Beijing-based" ends a name: it qualifies the next one
                runs[-1].append(stripped)
                runs.append([])
            else:
                runs[-1].append(w)
        for n, words in enumerate(runs):
            out.extend(_trim(words, vocab, at_start and n == 0))
    return out


_TITLE_WORD_RE = re.compile(r"[A-Z][a-z]+")  # Speaking, Basketball; not U.S., TikTok, 5G
# Title-case words with English inflections: at a sentence start these are rarely names.
_INFLECTED_RE = re.compile(r"[A-Z][a-z]+(?:ing|ed|ly|ies|ers|ments?|tions?|ness|ity|ous|ive|al)")


def _trim(words: list[str], vocab: NameVocabulary | None, at_start: bool) -> list[str]:
    """Drop function words and common words from both ends; a lone sentence-opening word is a
    name only if the texts also capitalise it mid-sentence."""
    def opener(w: str) -> bool:  # capitalised only because it starts the sentence
        return at_start and vocab is not None and bool(_TITLE_WORD_RE.fullmatch(w)) and w.lower() in vocab.common

    while words and (words[0].lower() in _NOT_NAMES or opener(words[0])):
        words = words[1:]
        at_start = False
    while words and words[-1].lower() in _NOT_NAMES:
        words = words[:-1]
    if (len(words) == 1 and at_start and vocab is not None and _INFLECTED_RE.fullmatch(words[0])
            and words[0] not in vocab.mid_sentence):
        return []  # "Speaking at...", "Companies had to...": an English word opening a sentence
    if not words:
        return []
    name = " ".join(words).strip("-")
    if name.endswith(".") and name.count(".") == 1:  # a full stop, not U.S.
        name = name[:-1]
    return [name] if len(name) >= 2 and re.search(r"[A-Za-z]", name) else []
