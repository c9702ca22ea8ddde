"""Should the bot answer? A small logistic regression over signals that mean the same on any corpus.

A single relevance floor fitted to one corpus's questions lands in the wrong place on the
next corpus. The signals here are shares and cosines, not raw scores: the dense cosine of
the first passage, the IDF-weighted share of the question's own words it holds, whether the
names the question asks about appear in it (or in its article, or anywhere among the
candidates), how far the first result stands above the fifth, and how long the question is.
The model is fitted on the dev half of the held-out eval set with cross-validation
(`fit_model`, run by `roundup-bot eval DIR --fit-answerability`), and its coefficients ship
in answerability.json with the data they came from. Pure numpy; no I/O except `load_model`.
"""
from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from corpus.errors import RoundupError
from corpus.words import is_english

MODEL_FILE = Path(__file__).with_name("answerability.json")

# Order matters: it is the order of the coefficients in the JSON.
FEATURES = ("cosine", "coverage", "focus_coverage", "sentence_coverage", "missing_max", "names_passage",
            "names_article", "names_pool", "year_match", "kind_match", "margin", "length", "sentence_cosine")
# Signals whose coefficient is kept >= 0 when fitting: more of them never lowers confidence.
MONOTONE = ("cosine", "coverage", "focus_coverage", "sentence_coverage", "names_passage", "names_article", "names_pool",
            "year_match", "kind_match", "sentence_cosine")
# ... and kept <= 0: a more telling missing word never raises it.
ANTITONE = ("missing_max",)

QUESTION_WORDS = frozenset(
    "who whom whose what whats which when where why how is are was were do does did can could will would should "
    "has have had tell show give list any anything i me my the a an".split())
_CAP_RE = re.compile(r"(?<![\w'])([A-Z][\w&.-]*[A-Za-z0-9])")


@dataclass(frozen=True)
class Signals:
    """What the decision looks at, each on a scale that does not depend on the corpus."""

    cosine: float  # dense cosine of the first passage
    coverage: float  # IDF-weighted share of the question's content words in the first passage
    focus_coverage: float  # ... of its words that are not names ("r&d", "cfo"), close forms counted
    sentence_coverage: float  # ... in its single best-covered sentence (an answer sentence holds most of them)
    missing_max: float  # the IDF share of the most telling question word the passage lacks
    names_passage: float  # share of the question's names in the first passage (1 when it names none)
    names_article: float  # ... in the first passage's article
    names_pool: float  # ... anywhere among the candidates (0: nothing retrieved names it)
    year_match: float  # 1 if every year the question names is in the passage's text (or it names none)
    kind_match: float  # 1 if the passage holds an answer of the kind the question asks for (or it asks none)
    margin: float  # relevance of the first result minus that of the fifth (or the last)
    length: float  # log(1 + content words in the question)
    sentence_cosine: float = 0.0  # dense cosine of the first passage's closest sentence (where an answer would sit)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in FEATURES], dtype=float)

    def to_dict(self) -> dict:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def idf_share(question_terms: Mapping[str, float], passage_terms: Iterable[str]) -> float:
    """Share of the question's summed term weight (IDF) that the passage holds, in [0, 1]."""
    total = sum(question_terms.values())
    if total <= 0:
        return 0.0
    have = set(passage_terms)
    return sum(w for t, w in question_terms.items() if t in have) / total


def missing_max(question_terms: Mapping[str, float], passage_terms: Iterable[str]) -> float:
    """The largest IDF share of one question word the passage does not hold ("r&d", "cfo")."""
    total = sum(question_terms.values())
    have = set(passage_terms)
    missing = [w for t, w in question_terms.items() if t not in have]
    return max(missing) / total if missing and total > 0 else 0.0


_YEAR_RE = re.compile(r"(?<![\d$])(?:19[89]\d|20[0-4]\d)(?!\d)")


def year_match(question: str, text: str) -> float:
    years = set(_YEAR_RE.findall(question))
    if not years:
        return 1.0
    return sum(y in text for y in years) / len(years)


def question_names(question: str, entity_names: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """The names a question asks about: each recognised entity (all its spellings) and each
    capitalised word that is not the first word nor an English word ("Who owns Zynn?" -> Zynn)."""
    names = [tuple(n.lower() for n in forms if n) for forms in entity_names if forms]
    covered = {w for forms in names for f in forms for w in f.split()}
    for n, m in enumerate(_CAP_RE.finditer(question)):
        word = m.group(1).lower().rstrip(".")
        at_start = not question[: m.start()].strip()
        if at_start or word in QUESTION_WORDS or word in covered or len(word) < 2 or is_english(word):
            continue  # "Beijing", "Congress", "AI": capitalised, but no company or person to look for
        names.append((word,))
    return names


_WORD_RE = re.compile(r"[^\W_][\w&.-]*")


def _words(text: str) -> set[str]:
    text = text.replace("'s ", " ").replace("\u2019s ", " ")
    return {w.rstrip(".-") for w in _WORD_RE.findall(text)}


def _named_in(forms: tuple[str, ...], text: str, words: Callable[[], set[str]]) -> bool:
    """A spelling as a phrase, or a multi-word spelling's words all present ("Alibaba's film unit")."""
    for f in forms:
        if f in text and re.search(rf"(?<!\w){re.escape(f)}(?!\w)", text):
            return True
        parts = f.split()
        if len(parts) > 1 and all(p.rstrip(".-") in words() for p in parts):
            return True
    return False


def name_share(names: Sequence[tuple[str, ...]], text: str) -> float:
    """Share of `names` that `text` (lower-cased) mentions in any spelling; 1.0 when there are none.
    The text's word set is made only if a multi-word spelling needs it: on the whole candidate pool
    (a hundred passages) it was most of the answerability model's time."""
    if not names:
        return 1.0
    words = functools.cache(lambda: _words(text))
    return sum(_named_in(forms, text, words) for forms in names) / len(names)


def names_all_in(names: Sequence[tuple[str, ...]], text: str) -> bool:
    """True when `text` (lower-cased) names every one of `names` so that any text holding it joined to
    others by spaces (an article's passages, the candidate pool) names them too: `name_share` over
    that text is then 1.0 without making it. A phrase match keeps its word boundaries in the join;
    a multi-word spelling's words stay words, but for an "s" that only `text`'s own trailing "'s"
    makes a word (the join turns "'s " into " "): a spelling with the part "s" is not vouched for."""
    if not names:
        return True
    words = functools.cache(lambda: _words(text))
    return all(_named_in(forms, text, words) and not any(part.rstrip(".-") == "s" for f in forms for part in f.split())
               for forms in names)


def margin(relevances: Sequence[float], at: int = 5) -> float:
    if not relevances:
        return 0.0
    return float(relevances[0] - relevances[min(at, len(relevances)) - 1])


@dataclass
class AnswerabilityModel:
    """Standardised logistic regression: confidence = sigmoid(bias + sum(coef * (x - mean) / scale))."""

    coefficients: dict[str, float]
    bias: float
    mean: dict[str, float]
    scale: dict[str, float]
    threshold: float = 0.5  # answer when confidence >= threshold (chosen on dev)
    provenance: dict = field(default_factory=dict)

    def confidence(self, signals: Signals) -> float:
        z = self.bias + sum(self.coefficients[f] * (getattr(signals, f) - self.mean[f]) / self.scale[f]
                            for f in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def answers(self, signals: Signals) -> tuple[bool, float]:
        c = self.confidence(signals)
        return c >= self.threshold, c

    def to_json(self) -> str:
        return json.dumps({"features": list(FEATURES), "coefficients": self.coefficients, "bias": self.bias,
                           "mean": self.mean, "scale": self.scale, "threshold": self.threshold,
                           "provenance": self.provenance}, indent=2) + "\n"


class AnswerabilityError(RoundupError, ValueError):
    """The shipped or configured model file is unusable (one line)."""


def load_model(path: Path | None = None) -> AnswerabilityModel:
    path = Path(path) if path else MODEL_FILE
    try:
        raw = json.loads(path.read_text("utf-8"))
        if list(raw["features"]) != list(FEATURES):
            raise AnswerabilityError(f"{path}: features {raw['features']} differ from {list(FEATURES)}")
        return AnswerabilityModel({f: float(raw["coefficients"][f]) for f in FEATURES}, float(raw["bias"]),
                                  {f: float(raw["mean"][f]) for f in FEATURES},
                                  {f: float(raw["scale"][f]) or 1.0 for f in FEATURES},
                                  float(raw.get("threshold", 0.5)), dict(raw.get("provenance", {})))
    except FileNotFoundError:
        raise AnswerabilityError(f"answerability model not found: {path}") from None
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, AnswerabilityError):
            raise
        raise AnswerabilityError(f"answerability model {path} is malformed: {exc!r}") from None


# --- fitting ---------------------------------------------------------------------------------

def _fit_weights(x: np.ndarray, y: np.ndarray, *, l2: float, nonneg: np.ndarray, nonpos: np.ndarray, steps: int = 3000,
                 lr: float = 0.5) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by projected gradient descent (x already standardised).

    Coefficients flagged in `nonneg` are kept >= 0, so the model stays monotone in its main
    signals even when two of them are correlated (and those in `nonpos` <= 0).
    """
    n, d = x.shape
    w, b = np.zeros(d), 0.0
    pos = max(y.mean(), 1e-6)
    weight = np.where(y > 0.5, 0.5 / pos, 0.5 / max(1 - pos, 1e-6))  # balanced classes
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = weight * (p - y)
        w -= lr * (x.T @ g / n + l2 * w)
        b -= lr * g.mean()
        w[nonneg] = np.maximum(w[nonneg], 0.0)
        w[nonpos] = np.minimum(w[nonpos], 0.0)
    return w, float(b)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def fit_model(signals: Sequence[Signals], labels: Sequence[bool], answerable: Sequence[bool] | None = None, *,
              min_answered: float | None = None, l2: float = 0.01, folds: int = 5, seed: int = 0,
              provenance: Mapping | None = None,
              groups: Sequence[str] | None = None) -> tuple[AnswerabilityModel, dict]:
    """Fit on all rows; choose the threshold on out-of-fold confidences (k-fold cross-validation).

    `labels` says where answering is right (an answerable question whose first results hold
    the answer); `answerable` (default: `labels`) which questions the corpus answers at all.
    The threshold is chosen on confidences each made by a model that never saw that question:
    the highest one that still answers `min_answered` of the answerable questions, or, without
    it, the one maximising balanced accuracy. `groups` (e.g. each question's article) keeps a
    group's rows in one fold, so no fold is scored on questions about an article it trained on.
    Returns the model and its CV report.
    """
    x = np.stack([s.vector() for s in signals])
    y = np.asarray(labels, dtype=float)
    ans = np.asarray(labels if answerable is None else answerable, dtype=bool)
    nonneg = np.array([f in MONOTONE for f in FEATURES])
    nonpos = np.array([f in ANTITONE for f in FEATURES])
    fold_of = assign_folds(len(y), folds, seed, groups)
    oof = np.zeros(len(y))
    for k in range(folds):
        tr, te = fold_of != k, fold_of == k
        mean, scale = _standardise(x[tr])
        w, b = _fit_weights((x[tr] - mean) / scale, y[tr], l2=l2, nonneg=nonneg, nonpos=nonpos)
        oof[te] = 1.0 / (1.0 + np.exp(-(((x[te] - mean) / scale) @ w + b)))
    threshold, cv = choose_threshold(oof, ans, min_answered=min_answered)
    eps = 1e-9
    cv["log_loss"] = float(-np.mean(y * np.log(oof + eps) + (1 - y) * np.log(1 - oof + eps)))
    mean, scale = _standardise(x)
    w, b = _fit_weights((x - mean) / scale, y, l2=l2, nonneg=nonneg, nonpos=nonpos)
    model = AnswerabilityModel(
        {f: round(float(v), 6) for f, v in zip(FEATURES, w)}, round(b, 6),
        {f: round(float(v), 6) for f, v in zip(FEATURES, mean)}, {f: round(float(v), 6) for f, v in zip(FEATURES, scale)},
        round(threshold, 4), {**(provenance or {}), "rows": len(y), "positives": int(y.sum()),
                              "answerable": int(ans.sum()), "folds": folds, "grouped_folds": groups is not None,
                              "l2": l2, "min_answered": min_answered,
                              "cv": {k: round(v, 4) for k, v in cv.items()}})
    return model, cv


def assign_folds(n: int, folds: int, seed: int = 0, groups: Sequence[str] | None = None) -> np.ndarray:
    """A fold for each of `n` rows: shuffled round-robin, over whole groups when given."""
    keys = list(groups) if groups is not None else list(range(n))
    distinct = list(dict.fromkeys(keys))
    order = np.random.default_rng(seed).permutation(len(distinct))
    fold_of_key = {distinct[i]: pos % folds for pos, i in enumerate(order)}
    return np.array([fold_of_key[k] for k in keys], dtype=int)


def choose_threshold(confidence: np.ndarray, answerable: np.ndarray, *,
                     min_answered: float | None = None) -> tuple[float, dict]:
    """A cut between two confidences (the middle of the gap): with `min_answered`, the highest
    cut answering at least that share of answerable questions; else the best balanced accuracy."""
    conf = np.asarray(confidence, dtype=float)
    y = np.asarray(answerable, dtype=bool)
    cuts = np.unique(np.concatenate([[0.0], conf, [1.0]]))
    best = None
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        t = (lo + hi) / 2
        answered = conf >= t
        a = answered[y].mean() if y.any() else 0.0
        r = (~answered[~y]).mean() if (~y).any() else 0.0
        if min_answered is not None:
            if a + 1e-12 < min_answered:
                continue
            key = (round(r, 9), t)
        else:
            key = (round(a + r, 9), hi - lo)
        if best is None or key > best[0]:
            best = (key, t, a, r)
    if best is None:
        return 0.0, {"balanced_accuracy": 0.5, "answered": 1.0, "refused": 0.0}
    _, t, a, r = best
    return float(t), {"balanced_accuracy": float((a + r) / 2), "answered": float(a), "refused": float(r)}
