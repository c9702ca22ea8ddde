"""The answerability signals of one search, gathered from what retrieval already computed.

Kept apart from the retriever so the signals mean the same whichever way the search is
staged: the first hit, the fused candidates, the question's words and names.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from corpus.aliases import AliasTable
from embeddings.answerability import (Signals, idf_share, margin, missing_max, name_share, question_names,
                                      year_match)
from embeddings.extract import holds_kind, question_kind
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


def answer_signals(question: str, u: Understanding, aliases: AliasTable | None, first, candidates: Sequence,
                   cosine: float, relevances: Sequence[float], own: set[str], terms: dict[str, float],
                   sparse: SparseIndex | None) -> Signals:
    """Signals for the first hit `first` (a Hit) among `candidates` (objects with `.passage`)."""
    p = first.passage
    qidf = {t: terms.get(t, 1.0) * (sparse.idf(t) if sparse is not None else 1.0) for t in own
            if t not in _VAGUE_TERMS}
    passage_terms = terms_of(f"{p.section or ''} {p.text}")
    names = question_names(question, entity_forms(u, aliases))
    name_terms = {t for forms in names for f in forms for t in tokenize(f)}
    focus = {t: w for t, w in qidf.items() if t not in name_terms}
    text = f"{p.section or ''} {p.text}".lower()
    article = " ".join([p.title, *(c.passage.text for c in candidates if c.passage.article_id == p.article_id)]).lower()
    pool = " ".join(c.passage.text for c in candidates).lower()
    sentences = sentences_of(p.text) or (p.text,)
    kind = question_kind(question)
    return Signals(
        cosine=float(cosine), coverage=idf_share(qidf, passage_terms),
        focus_coverage=idf_share(focus, passage_terms) if focus else 1.0,
        sentence_coverage=max(idf_share(qidf, terms_of(s)) for s in sentences),
        missing_max=missing_max(qidf, passage_terms),
        year_match=year_match(question, f"{p.section or ''} {p.text}"),
        kind_match=1.0 if kind in (None, "yesno", "reason") else float(holds_kind(p.text, kind, question)),
        names_passage=name_share(names, text), names_article=name_share(names, article),
        names_pool=name_share(names, pool), margin=margin(list(relevances)), length=math.log1p(len(own)),
    )
