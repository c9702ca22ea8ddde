"""Token-level support (embeddings/support.py): on the real model's token vectors, a passage that
states the asked-about thing scores above one about the same company that does not; the
asked-about words leave out names and the question's form; the re-ranking nudges, never vetoes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.decide import asking_skip, question_focus, rerank_by_support, supports_needed
from embeddings.query import STOPWORDS
from embeddings.spans import TokenVectors, cut_after, token_vectors
from embeddings.sparse import tokenize
from embeddings.support import asked_words, support
from sample_articles import focus, hit


def _asked(encoder, question):
    qf = focus(question)
    _, tokens = encoder.encode_query_tokens(question)
    return tokens, asked_words(question, tokens, qf.weights, asking_skip(qf), tokenize, STOPWORDS)


def test_asked_words_are_what_is_asked_not_the_name_nor_the_question_form(encoder):
    _, asked = _asked(encoder, "how much did Zorblax spend on r&d in 2019")
    assert [w.word for w in asked] == ["spend", "r&d"]  # not "how much", "Zorblax", "on", "2019"
    _, asked = _asked(encoder, "whats Zorblax's cofounder doing")
    assert [w.word for w in asked] == ["cofounder"]  # not "whats", "Zorblax's" nor the stop word "doing"
    _, asked = _asked(encoder, "so what did Zorblax's CFO say?")
    assert [w.word for w in asked] == ["CFO", "say"]  # the question mark is no part of "say"
    assert len(asked[1].rows) == 1


@pytest.mark.parametrize("question, holds, lacks", [
    ("how much did Zorblax spend on research and development",
     "Zorblax spent $2 billion on research and development last year.",
     "Zorblax spent $2 billion on advertising last year."),
    ("who is Zorblax's chief financial officer",
     "Zorblax named Mary Lin its chief financial officer in March.",
     "Zorblax named Mary Lin head of its cloud unit in March."),
    ("when did Zorblax open a factory in Mexico",
     "Zorblax opened its first factory in Mexico in 2021.",
     "Zorblax opened its first store in Berlin in 2021."),
])
def test_a_passage_stating_the_asked_about_thing_scores_higher(encoder, question, holds, lacks):
    qtokens, asked = _asked(encoder, question)
    have, lack = encoder.encode_tokens([holds, lacks], side="passage")
    assert support(qtokens, asked, have) > support(qtokens, asked, lack)
    assert 0.0 < support(qtokens, asked, lack) < support(qtokens, asked, have) <= 1.0 + 1e-6


def test_support_is_neutral_without_asked_words_and_zero_for_an_empty_passage(encoder):
    qtokens, asked = _asked(encoder, "so, Zorblax?")
    assert asked == [] and support(qtokens, asked, encoder.encode_tokens(["anything"])[0]) == 1.0
    qtokens, asked = _asked(encoder, "what did Zorblax spend")
    empty = TokenVectors(np.zeros((0, qtokens.vectors.shape[1]), np.float32), [])
    assert support(qtokens, asked, empty) == 0.0


def test_token_vectors_keep_real_tokens_with_offsets_into_the_text(encoder):
    text = "Zorblax's CFO"
    tv = encoder.encode_tokens([text])[0]
    assert len(tv.offsets) == len(tv.vectors) >= 3
    assert "".join(text[a:b] for a, b in tv.offsets) == text.replace(" ", "")  # every character, in order, once
    assert np.allclose(np.linalg.norm(tv.vectors, axis=1), 1.0, atol=1e-4)
    # a prompt before the text is left out, offsets moved back into the caller's text
    raw = np.ones((4, 3), np.float32)
    shifted = token_vectors(raw, [(0, 0), (0, 6), (7, 10), (0, 0)], start=7, shift=-7)
    assert shifted.offsets == [(0, 3)] and shifted.vectors.shape == (1, 3)


def test_rerank_by_support_nudges_within_the_head_and_scores_never_rise():
    hits = [hit("first", 0.60), hit("second", 0.57), hit("third", 0.40)]
    out = rerank_by_support(hits, [0.4, 0.8], 0.1)
    assert [h.passage.text for h in out] == ["second", "first", "third"]
    assert all(a.score >= b.score for a, b in zip(out, out[1:]))
    assert [h.passage.text for h in rerank_by_support(hits, [0.4, 0.8], 0.0)] == ["first", "second", "third"]
    assert [h.passage.text for h in rerank_by_support(hits, [0.9], 0.1)] == ["first", "second", "third"]
    # a small nudge, not a veto: a much better-scored first hit stays first
    assert rerank_by_support([hit("first", 0.9), hits[1]], [0.2, 1.0], 0.1)[0].passage.text == "first"


def test_search_reranks_only_hits_near_the_first(bundled_service, encoder):
    """On the real bundled corpus: with the re-ranking on, the question's token vectors come from the
    query's own run (the same vector as encode_query), and results stay ordered by score."""
    retriever = bundled_service.retriever()
    assert retriever.config.support_rerank_weight > 0
    answer = retriever.search("how much did huawei spend on research and development", k=5)
    assert answer.hits and all(a.score >= b.score for a, b in zip(answer.hits, answer.hits[1:]))
    q = "huawei research spending"
    vec, tokens = encoder.encode_query_tokens(q)
    assert np.allclose(vec, encoder.encode_query(q), atol=1e-5) and len(tokens.vectors) >= 3


def test_rerank_never_moves_a_question_onto_a_passage_about_someone_else(bundled_service):
    """A passage about China's smartphone shipments states "ship" and "smartphones" as well as
    one on Huawei does; weighed by the names it mentions, it gains nothing for a Huawei question."""
    retriever = bundled_service.retriever()
    answer = retriever.search("How many smartphones did Huawei ship?", k=5)
    assert answer.answered and "huawei" in answer.hits[0].passage.text.lower()


def test_supports_needed_orders_as_if_every_support_were_known():
    """Pruned (only the needed supports computed, the rest 0) against full, on many random heads
    with ties, zero name shares and supports at the ends of their range: the same order always,
    and some hits are skipped (else the pruning would prune nothing)."""
    rng = np.random.default_rng(7)
    skipped = 0
    for trial in range(3000):
        n = int(rng.integers(2, 6))
        weight = float(rng.choice([0.05, 0.1, 0.15]))
        scores = sorted(rng.choice(np.round(rng.uniform(0.4, 0.6, 8), 2), n).tolist(), reverse=True)
        caps = rng.choice([0.0, 0.5, 1.0, 1 / 3], n).tolist()
        sups = [c * float(rng.choice([0.0, 1.0, rng.uniform()])) for c in caps]
        hits = [hit("x" * (i + 1), sc) for i, sc in enumerate(scores)]
        full = rerank_by_support(hits, sups, weight)
        need = supports_needed(scores, caps, weight)
        skipped += n - len(need)
        pruned = rerank_by_support(hits, [s if i in need else 0.0 for i, s in enumerate(sups)], weight)
        assert [h.passage.text for h in pruned] == [h.passage.text for h in full], (trial, scores, caps, sups)
    assert skipped > 1000
    assert supports_needed([0.6, 0.4], [1.0, 1.0], 0.1) == []  # too far apart to meet
    assert supports_needed([0.6, 0.55], [1.0, 0.0], 0.1) == []  # the second names no one asked about
    assert supports_needed([0.6, 0.55], [1.0, 1.0], 0.1) == [0, 1]


def test_pruned_support_rerank_equals_the_full_one_on_the_bundled_questions(bundled_service, encoder):
    """On the real model and corpus: the search's re-ranking (supports only where needed) orders
    every eval question's head as computing every near hit's support does."""
    from embeddings.answerability import name_share
    from embeddings.evaluation import load_questions
    from embeddings.search import _lowered
    from embeddings.token_cache import passage_tokens

    retriever = bundled_service.retriever()
    weight = retriever.config.support_rerank_weight
    compared = pruned = 0
    for q in load_questions(Path(__file__).parent / "eval" / "questions.jsonl"):
        s = retriever.prepare(q.question)
        if not (retriever.bounds(s) and retriever.candidates(s)):
            continue
        retriever.fuse(s)
        retriever.recency(s)
        hits = retriever.diversify(s)
        s.focus = question_focus(s.question, s.understanding, retriever.aliases, s.own, s.terms, retriever.sparse)
        near = [h for h in hits[:retriever.config.distinct_top] if hits[0].score - h.score < weight]
        asked = asked_words(s.understanding.dense_text, s.qtokens, s.focus.weights, asking_skip(s.focus), tokenize,
                            STOPWORDS)
        if len(near) < 2 or not asked:
            continue
        tokens = passage_tokens(retriever.tokens, None, encoder, [h.passage for h in near],
                                retriever.config.support_max_tokens)  # stored at ingest, as the search reads them
        sups = [max(0.0, support(s.qtokens, asked, t)) * name_share(s.focus.names, _lowered(h.passage))
                for h, t in zip(near, tokens)]
        full = [h.passage.id for h in rerank_by_support(hits, sups, weight)]
        caps = [name_share(s.focus.names, _lowered(h.passage)) for h in near]
        pruned += len(supports_needed([h.score for h in near], caps, weight)) < len(near)
        assert [h.passage.id for h in retriever._rerank_by_support(s, hits)] == full, q.question
        compared += 1
    assert compared >= 10 and pruned >= 1, (compared, pruned)


def test_a_token_cap_encodes_only_the_passage_s_first_tokens(encoder):
    """`max_tokens` cuts at a token's end: the vectors are those of the text's start, offsets
    still into the caller's text; a shorter text is left whole."""
    text = "Zorblax named Mary Lin its chief financial officer in March, after a long search abroad."
    whole = encoder.encode_tokens([text], side="passage")[0]
    capped = encoder.encode_tokens([text], side="passage", max_tokens=5)[0]
    assert len(capped.vectors) == 5 < len(whole.vectors)
    assert capped.offsets == whole.offsets[:5]
    assert len(encoder.encode_tokens([text], side="passage", max_tokens=500)[0].vectors) == len(whole.vectors)
    assert cut_after("ab cd", [(0, 2), (3, 5)], 1) == "ab" and cut_after("ab cd", [(0, 2), (3, 5)], None) == "ab cd"


def test_token_cache_encodes_a_passage_once_and_gives_what_the_encoder_gives(encoder):
    """A second question meeting the same passages (or "More results") encodes nothing again;
    the vectors are the encoder's own, a new cap or a changed text is a new entry, the oldest go."""
    from embeddings.token_cache import TokenCache

    cache = TokenCache(size=2)
    texts = ["Zorblax spent $2 billion on research.", "Zorblax opened a store in Berlin."]
    first = cache.passages(encoder, texts, 64)
    assert (cache.hits, cache.misses) == (0, 2)
    again = cache.passages(encoder, texts[::-1], 64)
    assert (cache.hits, cache.misses) == (2, 2) and again[0] is first[1]
    direct = encoder.encode_tokens(texts, side="passage", max_tokens=64)
    assert all(np.allclose(a.vectors, b.vectors, atol=1e-5) and a.offsets == b.offsets for a, b in zip(first, direct))
    cache.passages(encoder, [texts[0]], 3)  # another cap: another entry, the least recent (texts[1]) dropped
    assert cache.misses == 3 and len(cache.passages(encoder, [texts[1]], 64)[0].vectors) > 3 and cache.misses == 4


def test_more_results_reuses_the_support_encodes(bundled_service, monkeypatch):
    """Without stored token vectors (a data dir from before them), the next page of a question runs
    the search again: the re-ranking's passages come from the service's cache, and the order is
    the first run's."""
    from dataclasses import replace

    from embeddings.evaluation import load_questions

    monkeypatch.setattr(bundled_service, "_snap", replace(bundled_service.snapshot(), tokens=None))
    cache = bundled_service._token_cache
    for q in load_questions(Path(__file__).parent / "eval" / "questions.jsonl"):
        asked = cache.misses + cache.hits
        first = bundled_service.ask(q.question)
        if cache.misses + cache.hits > asked:  # this one re-ranked by support (encoded, or cached already)
            break
    else:
        pytest.fail("no bundled question re-ranked by support")
    misses, hits = cache.misses, cache.hits
    again = bundled_service.ask(q.question, offset=1)
    assert cache.misses == misses and cache.hits > hits
    n = min(len(again.hits), len(first.hits) - 1)
    assert n >= 1 and [h.passage.id for h in again.hits[:n]] == [h.passage.id for h in first.hits[1:n + 1]]
