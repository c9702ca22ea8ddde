"""The answerability signals of one search, gathered from what retrieval already computed.

Kept apart from the retriever so the signals mean the same whichever way the search is
staged: the first hit, the fused candidates, the question's words and names.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from corpus.aliases import AliasTable
from embeddings.answerability import (QUESTION_WORDS, Signals, idf_share, margin, missing_max, name_share,
                                      names_all_in, question_names, year_match)
from embeddings.extract import holds_kind, question_kind, variant
from embeddings.query import Understanding
from embeddings.sparse import SparseIndex, tokenize
from embeddings.textcache import sentences_of, terms_of


# Words that ask for anything at all about a name ("what's the latest on Huawei?", "anything on
# TikTok?"): no passage needs to contain them, so they count neither for nor against coverage.
_VAGUE_TERMS = frozenset(tokenize("latest happened happen happening news update updates anything going on new "
                                  "recent recently lately tell"))


def entity_forms(u: Understanding, aliases: AliasTable | None) -> list[tuple[str, ...]]:
    """Each recognised company, product or person's English spellings (what a passage about it
    would say); places and topics ("Beijing", "bitcoin") are context, not who the question is about."""
    out = []
    for name in u.names:
        entity = aliases.entity(name) if aliases is not None else None
        if entity is not None and entity.kind != "name":
            continue
        out.append(tuple(entity.expansion_names()) if entity is not None else (name,))
    return out


# Words that only give the question its form ("how much", "how many", "whose"): what kind of
# answer is wanted (embeddings/extract.py reads that), not what the passage must talk about.
_FORM_TERMS = frozenset(tokenize("much many whose"))


@dataclass(frozen=True)
class QuestionFocus:
    """A question's weighted words (IDF), the names it asks about, and its focus: the words that
    are not names, i.e. what is asked about them ("r&d", "cfo", "valuation")."""

    names: list[tuple[str, ...]]
    name_terms: frozenset[str]
    weights: dict[str, float]  # own words (vague ones left out) -> query weight x IDF
    focus: dict[str, float]

    def focus_share(self, text_terms: Iterable[str]) -> float:
        """IDF share of the focus words `text_terms` hold, close forms counted ("founder"/"founded"):
        1.0 when the question has no focus words."""
        if not self.focus:
            return 1.0
        have = {variant(t) for t in text_terms}
        return idf_share(self.focus, [t for t in self.focus if variant(t) in have])


def question_focus(question: str, u: Understanding, aliases: AliasTable | None, own: Iterable[str],
                   terms: Mapping[str, float], sparse: SparseIndex | None) -> QuestionFocus:
    names = question_names(question, entity_forms(u, aliases))
    name_terms = frozenset(t for forms in names for f in forms for t in tokenize(f))
    weights = {t: terms.get(t, 1.0) * (sparse.idf(t) if sparse is not None else 1.0) for t in own
               if t not in _VAGUE_TERMS}
    focus = {t: w for t, w in weights.items() if t not in name_terms and t not in _FORM_TERMS}
    return QuestionFocus(names, name_terms, weights, focus)


# Terms a passage need not state for answering: how the question asks ("whats", "how"), not what.
_ASKING_TERMS = frozenset(tokenize(" ".join(QUESTION_WORDS)))


def asking_skip(focus: QuestionFocus) -> frozenset[str]:
    """Terms of the question that the token-level support leaves out: its names (the passage is
    already about them), how it asks, and the words that only give it its form."""
    return focus.name_terms | _ASKING_TERMS | _FORM_TERMS | _VAGUE_TERMS


# A support is a weighted mean of cosines of unit vectors: at most 1 but for float error, which
# this margin (and the one on the sum) covers, so that a pruned re-ranking orders as the full one.
_SUPPORT_SLACK = 1e-5


def supports_needed(scores: Sequence[float], caps: Sequence[float], weight: float) -> list[int]:
    """Positions (of hits ordered by `scores`) whose token-level support must be computed for
    `rerank_by_support` to order them as it would with every support known; the rest may take 0.

    Hit i ends at scores[i] + weight x support, somewhere in [scores[i], scores[i] + weight x caps[i]]
    (support lies in [0, 1] times the name share `caps[i]`, known without encoding). Where a hit's
    range touches no other's, its place is the same wherever in the range it ends (its score, so
    it need not be encoded); where two touch, any cap-0 one is exact already and the others need
    their support. Computed supports fall inside their ranges, so no new contact arises."""
    if weight <= 0:
        return []
    lo = list(scores)
    hi = [s + weight * c * (1 + _SUPPORT_SLACK) + _SUPPORT_SLACK * weight for s, c in zip(scores, caps)]
    return [i for i, c in enumerate(caps) if c > 0 and any(
        j != i and lo[j] <= hi[i] and lo[i] <= hi[j] for j in range(len(lo)))]


def rerank_by_support(hits: Sequence, supports: Sequence[float], weight: float) -> list:
    """The first len(`supports`) hits re-ordered by score + `weight` x their token-level support
    (embeddings/support.py): of passages about the same thing, the one stating what was asked
    comes first. Scores gain that bonus; a hit more than `weight` below the first, whose support
    was not computed, cannot overtake one that was, so the list stays ordered by score."""
    n = len(supports)
    if weight <= 0 or n < 2:
        return list(hits)
    head = [replace(h, score=h.score + weight * float(sup)) for h, sup in zip(hits[:n], supports)]
    head.sort(key=lambda h: -h.score)
    return head + list(hits[n:])


def answer_signals(question: str, u: Understanding, aliases: AliasTable | None, first,
                   candidates: Sequence | Callable[[], Sequence], cosine: float, relevances: Sequence[float],
                   own: set[str], terms: dict[str, float], sparse: SparseIndex | None, qf: QuestionFocus | None = None,
                   sentence_cosine: float | None = None) -> Signals:
    """Signals for the first hit `first` (a Hit) among `candidates` (objects with `.passage`, or a
    function giving them: they are read only when the first passage does not name everything asked)."""
    p = first.passage
    qf = qf or question_focus(question, u, aliases, own, terms, sparse)
    qidf, names = qf.weights, qf.names
    passage_terms = terms_of(f"{p.section or ''} {p.text}")
    text = f"{p.section or ''} {p.text}".lower()
    if names_all_in(names, p.text.lower()):  # then its article and the pool, which hold its text, name them too
        names_article = names_pool = 1.0
    else:
        candidates = candidates() if callable(candidates) else candidates
        article = " ".join([p.title, *(c.passage.text for c in candidates if c.passage.article_id == p.article_id)])
        names_article = name_share(names, article.lower())
        names_pool = name_share(names, " ".join(c.passage.text for c in candidates).lower())
    sentences = sentences_of(p.text) or (p.text,)
    kind = question_kind(question)
    return Signals(
        cosine=float(cosine), coverage=idf_share(qidf, passage_terms),
        focus_coverage=qf.focus_share(passage_terms),
        sentence_coverage=max(idf_share(qidf, terms_of(s)) for s in sentences),
        missing_max=missing_max(qidf, passage_terms),
        year_match=year_match(question, f"{p.section or ''} {p.text}"),
        kind_match=1.0 if kind in (None, "yesno", "reason") else float(holds_kind(p.text, kind, question)),
        names_passage=name_share(names, text), names_article=names_article,
        names_pool=names_pool, margin=margin(list(relevances)), length=math.log1p(len(own)),
        sentence_cosine=float(cosine if sentence_cosine is None else sentence_cosine),
    )
