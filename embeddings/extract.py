"""The answer, not just the passage: which sentence of a passage to put in bold.

A question's first word says what kind of answer it wants: "who" a person or organisation,
"when" a date, "where" a place, "how much" an amount, "how many" a number, "why" a reason.
A sentence is scored by its similarity to the question (cosine of the precomputed sentence
vectors), the share of the question's words it holds (IDF-weighted), and whether it holds an
answer of the expected kind; a sentence that only restates the question, adding nothing of
its own, loses points. Pure functions: regexes and arithmetic, no model.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("person_org", "date", "place", "amount", "number", "reason", "yesno")

_KIND_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((k, re.compile(p)) for k, p in (
    ("amount", r"\bhow\s+much\b|\bhow\s+(?:big|large|expensive|costly)\b|\bwhat(?:'s|s| is| was)?\s+(?:the\s+)?"
               r"(?:price|cost|valuation|value|worth|fine|revenue|size)\b|\bvalued?\s+at\b|\bworth\b"
               r"|多少钱|估值|罚款|销售额|营收"),
    ("number", r"\bhow\s+many\b|\bwhat\s+(?:number|percentage|share|percent)\b|\bhow\s+(?:fast|long|old)\b|多少"),
    ("date", r"\bwhen\b|\bwhat\s+(?:year|month|date|day)\b|\bwhich\s+(?:year|month|date|day)\b"
             r"|\bsince\s+when\b|\bhow\s+soon\b|什么时候|哪年|何时"),
    ("place", r"\bwhere\b|\b(?:which|what)\s+(?:country|city|countries|cities|market|markets|region|province)\b|哪里|哪儿"),
    ("person_org", r"\bwho(?:m|se|s)?\b|\b(?:which|what)\s+(?:company|companies|firm|firms|startup|startups|"
                   r"investor|investors|bank|banks|person|people|exec|executive|founder|ceo|chairman|brand|app|"
                   r"carmaker|chipmaker|maker|rival|partner|buyer|owner|regulator|agency|unit)\b|谁|哪家"),
    ("reason", r"\bwhy\b|\bwhat\s+(?:for|reason)\b|\bhow\s+come\b|为什么|为何"),
    ("yesno", r"^(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b"),
    # No question word: a money word names the answer's kind ("huawei net profit for 2018?").
    ("amount", r"\b(?:revenue|revenues|profit|profits|loss|losses|sales|income|valuation|price|cost|costs|fine|"
               r"stake|funding|spend|spent|worth)\b"),
))

_NUMBER = r"\d[\d,.]*"
_SCALE = r"(?:thousand|million|billion|trillion|bn|mn|m|b|k)"
_MONTHS = (r"jan(?:uary)?|feb(?:ruary)?|march|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
           r"|nov(?:ember)?|dec(?:ember)?")
_PATTERNS: dict[str, re.Pattern[str]] = {
    "amount": re.compile(
        rf"(?:[$€£¥]|hk\$|us\$|rmb\s?|usd\s?)\s?{_NUMBER}|{_NUMBER}\s*(?:{_SCALE}\s+)?(?:yuan|dollars|rmb|usd|euros|"
        rf"renminbi|pounds|yen|won|rupees)\b|{_NUMBER}\s*(?:percent|per\s+cent|%)|{_NUMBER}\s*(?:亿|万)?元", re.I),
    "number": re.compile(rf"(?<![\w-]){_NUMBER}(?:\s*{_SCALE}\b)?|\b(?:one|two|three|four|five|six|seven|eight|nine|"
                         r"ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|hundreds|thousands|millions|"
                         r"billions|dozens?|half|double|doubled|tripled)\b", re.I),
    "date": re.compile(rf"\b(?:19[5-9]\d|20[0-4]\d)\b|\b(?:{_MONTHS})\b|\b(?:monday|tuesday|wednesday|thursday|"
                       r"friday|saturday|sunday|yesterday|today|quarter|weeks?\s+(?:ago|later|earlier)|"
                       r"months?\s+(?:ago|later|earlier))\b", re.I),
    "reason": re.compile(r"\b(?:because|due\s+to|owing\s+to|after|amid|so\s+that|in\s+order\s+to|over\s+(?:concerns|fears)|"
                         r"citing|blamed|reason|since|as\s+a\s+result|to\s+(?:help|avoid|comply|meet|win|"
                         r"protect|learn|expand|compete|cut|reduce|raise|boost))\b", re.I),
}
# Sentence-initial words and calendar words are capitalised without being names.
_NOT_NAMES = frozenset(
    "the a an in on at for to of and but or it its this that these those he she they we his her their our "
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday i".split())
_CAP_SPAN = re.compile(r"(?<![\w'])[A-Z][\w&'-]*(?:\s+(?:of\s+|de\s+|&\s+)?[A-Z][\w&'-]*)*")
_PLACE_AFTER = re.compile(r"\b(?:in|at|from|to|into|across|throughout|near|outside)\s+(?:the\s+)?([A-Z][\w-]*)")
PLACES = frozenset(
    "china beijing shanghai shenzhen hangzhou guangzhou hong kong macau taiwan taipei singapore japan tokyo korea "
    "seoul india indonesia jakarta vietnam thailand malaysia philippines europe germany france britain uk london "
    "us usa america united states washington california silicon valley new york canada mexico brazil russia africa "
    "nigeria kenya egypt australia dubai saudi arabia middle east asia latin southeast wuhan chengdu chongqing "
    "nanjing tianjin xiamen hefei xinjiang tibet guangdong zhejiang jiangsu shandong fujian hainan pakistan "
    "turkey israel spain italy netherlands ireland sweden".split())


# A question opening with an auxiliary is a yes/no question, whatever wh-word follows
# ("did tiktok fire the people who ..."): "who" there starts a clause, not the question.
_YESNO_START = re.compile(r"^(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b")


def question_kind(question: str) -> str | None:
    """The kind of answer a question expects, or None when its form says nothing."""
    low = " ".join(question.lower().split())
    if _YESNO_START.search(low):
        return "yesno"
    for kind, pattern in _KIND_RULES:
        if pattern.search(low):
            return kind
    return None


def _names(sentence: str) -> list[str]:
    out = []
    for m in _CAP_SPAN.finditer(sentence):
        span = m.group()
        words = span.split()
        if m.start() == 0 or sentence[: m.start()].rstrip().endswith((".", "!", "?", '"')):
            words = words[1:]  # a sentence's first word is capitalised anyway
        words = [w for w in words if w.lower().strip("'s") not in _NOT_NAMES]
        if words:
            out.append(" ".join(words))
    return out


def holds_kind(sentence: str, kind: str | None, question: str = "") -> bool:
    """True if `sentence` holds something of the expected kind (an amount, a date, a name...) that
    the question itself does not already say ("Who founded Kuaishou?" holds no new name)."""
    if kind in (None, "yesno"):
        return False
    asked = question.lower()

    def new(found: str) -> bool:
        return bool(found.strip()) and found.lower().strip() not in asked

    if kind in _PATTERNS and any(new(m.group()) for m in _PATTERNS[kind].finditer(sentence)):
        return True
    if kind == "amount":
        return any(new(m.group()) for m in re.finditer(rf"{_NUMBER}\s*{_SCALE}\b", sentence, re.I))
    if kind == "person_org":
        return any(new(name) and not all(w.lower() in asked for w in name.split()) for name in _names(sentence))
    if kind == "place":
        low = sentence.lower()
        if any(re.search(rf"\b{re.escape(p)}\b", low) and p not in asked for p in PLACES):
            return True
        return any(m.group(1).lower() not in _NOT_NAMES and new(m.group(1)) for m in _PLACE_AFTER.finditer(sentence))
    return False


@dataclass(frozen=True)
class SentenceWeights:
    """How the parts of a sentence's score add up (chosen on the dev split, see README)."""

    dense: float = 0.5  # cosine to the question
    lexical: float = 0.5  # IDF-weighted share of the question's words in the sentence
    kind: float = 0.15  # holds an answer of the expected kind
    restates: float = 0.15  # penalty for a sentence adding almost nothing beyond the question's words
    novelty_floor: float = 0.35  # a sentence with less than this share of new content words restates
    local: bool = True  # weigh question words by how few of the passage's sentences hold them
    names: float = 0.5  # weight of the words naming who the question is about (its subject, in most sentences)
    variants: bool = True  # a question word matches a sentence word sharing its first letters ("founder"/"founded")


VARIANT_LETTERS = 5  # stems this long or longer match on their first five letters


def variant(term: str) -> str:
    """A stemmed word cut to its first letters, so that close forms meet ("acquisit"/"acquir",
    "deliveri"/"deliv", "founder"/"found"); shorter stems stay whole."""
    return term[:VARIANT_LETTERS]


def novelty(sentence_terms: Sequence[str], question_terms: Mapping[str, float]) -> float:
    """Share of a sentence's content words that are not the question's."""
    if not sentence_terms:
        return 0.0
    return sum(t not in question_terms for t in sentence_terms) / len(sentence_terms)


def _lexical_terms(question_terms: Mapping[str, float], name_terms: Collection[str],
                   weights: SentenceWeights) -> dict[str, float]:
    """The question's words as the lexical part weighs them: names count `weights.names` (every
    sentence of a passage about Huawei may say "Huawei"; what is asked about it tells them apart)."""
    out: dict[str, float] = {}
    for t, w in question_terms.items():
        key = variant(t) if weights.variants else t
        out[key] = out.get(key, 0.0) + w * (weights.names if t in name_terms else 1.0)
    return out


def score_sentences(sentences: Sequence[str], dense: Sequence[float], sentence_terms: Sequence[Sequence[str]],
                    question_terms: Mapping[str, float], kind: str | None,
                    weights: SentenceWeights = SentenceWeights(), question: str = "",
                    name_terms: Collection[str] = ()) -> np.ndarray:
    """One score per sentence; `question_terms` maps the question's stemmed words to their IDF,
    `name_terms` are those naming who it asks about."""
    restate_terms = question_terms
    question_terms = _lexical_terms(question_terms, name_terms, weights)
    sets = [{variant(t) for t in terms} if weights.variants else set(terms) for terms in sentence_terms]
    if weights.local:
        # A word in every sentence of the passage (its subject, "Huawei") cannot tell them apart;
        # one in a single sentence ("profit") can: divide by the sentences holding it.
        question_terms = {t: w / max(1, sum(t in have for have in sets)) for t, w in question_terms.items()}
    total = sum(w for t, w in question_terms.items() if any(t in have for have in sets)) if weights.local \
        else sum(question_terms.values())
    scores = np.zeros(len(sentences))
    for n, (sent, terms) in enumerate(zip(sentences, sentence_terms)):
        have = sets[n]
        lexical = sum(w for t, w in question_terms.items() if t in have) / total if total > 0 else 0.0
        s = weights.dense * float(dense[n]) + weights.lexical * lexical
        if holds_kind(sent, kind, question):
            s += weights.kind  # holding the kind of answer asked for is new information in itself
        elif novelty(terms, restate_terms) < weights.novelty_floor:
            s -= weights.restates
        scores[n] = s
    return scores
