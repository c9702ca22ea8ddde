"""The BM25 index and the sentence vectors: tokens, scores by hand, persistence and sync with the store."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from embeddings.sentence_index import SENTENCES_FILE, SentenceIndex
from embeddings.sparse import SparseIndex, query_terms, tokenize, words

DOCS = {
    11: "Huawei shipped phones in Europe.",
    22: "Tencent streams NBA games in China.",
    33: "Alibaba cloud unit hires staff.",
    44: "Huawei and Tencent sign a cloud deal.",
}


def test_words_and_tokens():
    assert words("U.S. users' data, 5,000 staff in 2019 — 51.5 percent") == [
        "usa", "users", "data", "5000", "staff", "2019", "51.5", "percent"]
    assert tokenize("Shipments shipped") == ["shipment", "ship"]
    assert words("华为 shipments") == ["华", "为", "shipments"]
    terms, own = query_terms([("huawei phones", 1.0), ("Huawei Technologies", 0.5)])
    assert terms == {"huawei": 1.0, "phone": 1.0, "technolog": 0.5} and own == {"huawei", "phone"}


@pytest.fixture
def index(tmp_path) -> SparseIndex:
    idx = SparseIndex(tmp_path)
    idx.build(list(DOCS), list(DOCS.values()))
    return idx


def test_bm25_scores_and_coverage_by_hand(index):
    n, k1, b = 4, 1.2, 0.75
    idf = math.log(1 + (n - 2 + 0.5) / (2 + 0.5))  # "huawei" is in 2 of 4 passages
    assert index.idf("huawei") == pytest.approx(idf)
    assert index.idf("banana") == pytest.approx(math.log(1 + (n + 0.5) / 0.5))  # unknown: largest idf
    lengths = [len(tokenize(t)) for t in DOCS.values()]
    avg = sum(lengths) / n
    scores = index.scores({"huawei": 1.0})
    for row, length in enumerate(lengths):
        expected = idf * 1 / (1 + k1 * (1 - b + b * length / avg)) if "Huawei" in list(DOCS.values())[row] else 0
        assert scores[row] == pytest.approx(expected, rel=1e-5)
    # coverage: the score over the question's best possible (its terms' summed idf)
    terms, own = query_terms([("huawei banana", 1.0)])
    cov = index.coverage(index.scores(terms), terms, own)
    assert cov[0] == pytest.approx(scores[0] / (idf + index.idf("banana")), rel=1e-5)
    assert cov[1] == 0.0
    weighted = index.scores({"huawei": 0.5, "cloud": 1.0})
    assert weighted[3] == pytest.approx(0.5 * scores[3] + index.scores({"cloud": 1.0})[3], rel=1e-5)


def test_knows_words_through_their_stems(index):
    assert index.knows("Shipping") and index.knows("huawei")
    assert not index.knows("huwaei")


def test_saved_index_loads_and_answers_the_same(index, tmp_path):
    index.save()
    loaded, reason = SparseIndex.load(tmp_path)
    assert reason is None and loaded.ids.tolist() == list(DOCS)
    assert np.allclose(loaded.scores({"tencent": 1.0}), index.scores({"tencent": 1.0}))


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "sparse.json").write_text("{oops"), "unreadable"),
    (lambda d: (d / "sparse.json").write_text(json.dumps({**json.loads((d / "sparse.json").read_text()),
                                                          "tokenizer": "old"})), "tokenizer"),
    (lambda d: (d / "sparse" / "ids.npy").write_bytes(b"junk"), "cannot be read"),
    (lambda d: np.save(d / "sparse" / "ids.npy", np.asarray([11, 22], dtype=np.int64)), "do not match"),
])
def test_a_damaged_index_is_reported_not_used(index, tmp_path, damage, expected):
    index.save()
    damage(tmp_path)
    loaded, reason = SparseIndex.load(tmp_path)
    assert reason and expected in reason and len(loaded) == 0


def test_sync_rebuilds_only_when_the_store_changed(tmp_path):
    idx = SparseIndex(tmp_path)
    fetched: list[list[int]] = []

    def fetch(ids):
        fetched.append(ids)
        return [DOCS[i] for i in ids]

    r = idx.sync({11, 22}, fetch)
    assert (r.added, r.removed, r.rebuilt) == (2, 0, True)
    r = idx.sync({11, 22}, fetch)
    assert (r.added, r.removed, r.rebuilt) == (0, 0, False) and len(fetched) == 1
    r = idx.sync({22, 33, 44}, fetch)
    assert (r.added, r.removed) == (2, 1) and sorted(idx.ids.tolist()) == [22, 33, 44]
    assert idx.scores({"phone": 1.0}).max() == 0  # the removed passage is gone
    r = idx.sync(set(), fetch)
    assert len(idx) == 0 and not idx.scores({"tencent": 1.0}).size
    loaded, reason = SparseIndex.load(tmp_path)
    assert reason is None and len(loaded) == 0


def _fake_encode(texts):
    return np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_sentence_index_syncs_saves_and_checks_its_model(tmp_path):
    path = tmp_path / SENTENCES_FILE
    split = lambda t: t.split(". ")  # noqa: E731
    texts = {1: "One. Two", 2: "Three"}
    sx = SentenceIndex(path, model="m", embed_format="f")
    r = sx.sync({1, 2}, lambda ids: [texts[i] for i in ids], split, _fake_encode)
    assert r.added == 2 and sx.get(1).shape == (2, 2) and sx.get(2).shape == (1, 2)
    loaded, reason = SentenceIndex.load(path, model="m", embed_format="f")
    assert reason is None and np.array_equal(loaded.get(1), sx.get(1))
    r = loaded.sync({2}, lambda ids: [texts[i] for i in ids], split, _fake_encode)
    assert (r.added, r.removed) == (0, 1) and loaded.get(1) is None
    _, reason = SentenceIndex.load(path, model="other", embed_format="f")
    assert reason and "other settings" in reason
    (path / "table.npz").write_bytes(b"torn")
    _, reason = SentenceIndex.load(path, model="m", embed_format="f")
    assert reason and "cannot be read" in reason


def test_a_snapshot_is_not_changed_by_a_later_sync(tmp_path):
    idx = SparseIndex(tmp_path)
    idx.sync({11, 22}, lambda ids: [DOCS[i] for i in ids])
    view = idx.snapshot()
    before = view.scores({"tencent": 1.0}).copy()
    idx.sync({33, 44}, lambda ids: [DOCS[i] for i in ids])
    assert view.ids.tolist() == [11, 22] and np.array_equal(view.scores({"tencent": 1.0}), before)
    assert idx.ids.tolist() == [33, 44]


def _corpus(n: int, seed: int = 5) -> dict[int, str]:
    rng = np.random.default_rng(seed)
    vocab = ("huawei tencent alibaba bytedance baidu xiaomi phones cloud games chips robotaxi "
             "permit wuhan europe shipments regulators fine antitrust streaming payments").split()
    return {1000 + i: " ".join(rng.choice(vocab, size=int(rng.integers(5, 30)))) for i in range(n)}


def _ranking(idx: SparseIndex, terms: dict[str, float]) -> list[tuple[int, float]]:
    scores = idx.scores(terms)
    order = np.lexsort((idx.ids, -np.round(scores, 4)))  # equal scores (ties) in id order
    return [(int(idx.ids[r]), float(scores[r])) for r in order if scores[r] > 0]


def test_the_delta_ranks_as_a_full_rebuild_and_survives_a_reload(tmp_path):
    docs = _corpus(60)
    first, later = sorted(docs)[:40], sorted(docs)[40:]
    removed = set(first[::7])
    idx = SparseIndex(tmp_path)
    idx.sync(set(first), lambda ids: [docs[i] for i in ids])
    final = (set(first) - removed) | set(later)
    idx.sync(set(first) | set(later[:8]), lambda ids: [docs[i] for i in ids])  # the delta grows in steps
    report = idx.sync(final, lambda ids: [docs[i] for i in ids])
    assert not report.rebuilt and len(idx._delta) == 20 and idx._delta.removed.size == len(removed)
    full = SparseIndex(tmp_path / "full")
    full.build(sorted(final), [docs[i] for i in sorted(final)])
    loaded, reason = SparseIndex.load(tmp_path)
    assert reason is None and set(loaded.ids.tolist()) == final
    for q in ("huawei phones", "robotaxi permit wuhan", "antitrust fine alibaba", "cloud"):
        terms, _ = query_terms([(q, 1.0)])
        want = _ranking(full, terms)
        for got in (_ranking(idx, terms), _ranking(loaded, terms)):
            assert [i for i, _ in got] == [i for i, _ in want]
            assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
        for t in terms:
            assert idx.idf(t) == pytest.approx(full.idf(t))


def test_the_delta_is_merged_past_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr("embeddings.sparse_delta.MERGE_MIN", 5)
    docs = _corpus(30)
    idx = SparseIndex(tmp_path)
    idx.sync(set(sorted(docs)[:20]), lambda ids: [docs[i] for i in ids])
    report = idx.sync(set(docs), lambda ids: [docs[i] for i in ids])
    assert report.rebuilt and len(idx._delta) == 0 and set(idx.ids.tolist()) == set(docs)


def test_cached_columns_score_as_fresh_ones_and_stay_with_their_state(index):
    """Scored columns are remembered per index state: a repeat scores the same, a change starts over,
    and a snapshot taken before the change keeps scoring as it did."""
    from embeddings.lru import LruMap
    from embeddings.sparse import COLUMN_CACHE_VALUES, _column_size

    terms, _ = query_terms([("huawei cloud deal", 1.0)])
    first = index.scores(terms)
    assert len(index._columns) and np.array_equal(index.scores(terms), first)
    before = index.snapshot()
    index.apply([55], ["Huawei cloud deal with a cloud partner."], [22])
    after = index.scores(terms)
    index._columns = LruMap(COLUMN_CACHE_VALUES, _column_size)  # nothing remembered
    assert np.array_equal(index.scores(terms), after)
    assert not np.array_equal(after[: first.size], first)  # the idf moved: the columns were scored anew
    assert np.array_equal(before.scores(terms), first)
