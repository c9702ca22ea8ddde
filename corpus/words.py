"""An English word list, so that query understanding never "corrects" an ordinary word into a name.

The typo reader turns a word the corpus does not know into the name it is a typo of
("tencnet" -> Tencent). A word the corpus happens not to hold can still be plain English
("whats", "apple", "ant"): such words are on this list and are left alone. The list is the
50,000 most frequent English words from wordfreq (CC BY-SA 4.0), shipped as a text file so
the 56 MB package is not a dependency.
"""
from __future__ import annotations

import functools
from pathlib import Path

WORDS_FILE = Path(__file__).with_name("english_words.txt")


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Every word on the shipped list (lower case, no apostrophes); loaded once per process."""
    lines = WORDS_FILE.read_text("utf-8").splitlines()
    return frozenset(w for w in lines if w and not w.startswith("#"))


def is_english(word: str) -> bool:
    """True for a common English word, its plural or possessive ("whats", "apps", "firm's")."""
    w = word.lower().replace("'", "").replace("\u2019", "")
    if not w:
        return False
    words = english_words()
    if w in words:
        return True
    for suffix in ("s", "es", "ed", "ing"):
        if w.endswith(suffix) and len(w) > len(suffix) + 2 and w[: -len(suffix)] in words:
            return True
    return False
