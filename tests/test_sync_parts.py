"""The derived parts kept in step with the store: one-pass sentence vectors, the change feed,
date bounds as masks, and HNSW above the size threshold (real model, FAISS, SQLite)."""
from __future__ import annotations

import numpy as np
import pytest

from corpus.text import split_sentences
from embeddings.days import DayTable, LazyDayTable
from embeddings.index import VectorIndex, is_hnsw
from embeddings.sync import embed_batch
from sample_articles import P1, P2, P3
from sample_articles import article as _art
from sample_articles import passage
from sample_articles import write_jsonl as _jsonl


def test_one_pass_sentence_vectors_pick_the_sentence_separate_encoding_picks(encoder):
    passages = [passage(1, P1), passage(2, P2, None), passage(3, P3)]
    vecs, one = embed_batch(encoder, passages, mode="one-pass")
    _, sep = embed_batch(encoder, passages, mode="separate")
    assert np.allclose(vecs, encoder.encode_queries([f"News. {P1}", P2, f"News. {P3}"]), atol=1e-4)
    for p in passages:
        sents = split_sentences(p.text)
        assert one[p.id].shape == sep[p.id].shape == (len(sents), encoder.dim)
        a, b = one[p.id].astype(np.float32), sep[p.id].astype(np.float32)
        assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-2)
        for n, sentence in enumerate(sents):  # a sentence's own words find it either way
            q = encoder.encode_query(sentence)[0]
            assert int(np.argmax(a @ q)) == int(np.argmax(b @ q)) == n


def test_ingest_embeds_only_the_new_and_appends_sentence_segments(make_service, tmp_path):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2021-01-03", [P1, P2])])])
    seq = svc.store.change_seq()
    assert len(svc.current().index) == 2
    seg_dir = svc.settings.index_dir / "sentences"
    first = sorted(p.name for p in seg_dir.glob("seg-*.npy"))
    before = svc.encoder.encoded
    svc.ingest([_jsonl(tmp_path / "b.jsonl", [_art("b1", "2022-06-01", [P3])])])
    assert svc.encoder.encoded - before == 1  # only the new passage was embedded
    changes = svc.store.changes_since(seq)  # the store's change feed names it
    assert len(changes.added) == 1 and not changes.removed and changes.seq > seq
    now = sorted(p.name for p in seg_dir.glob("seg-*.npy"))
    assert now[: len(first)] == first and len(now) == len(first) + 1  # appended, not rewritten
    snap = svc.current()
    assert set(snap.sparse.ids.tolist()) == svc.store.passage_ids() and len(snap.sparse._delta) == 1
    answer = svc.ask("Baidu robotaxi permit in Wuhan", since="2022-01-01")
    assert answer.hits and all(h.passage.published >= "2022-01-01" for h in answer.hits)
    svc.store.delete_article("a1")
    assert svc.store.changes_since(changes.seq).removed == {p.id for p in svc.store.passages()} ^ set(
        snap.index.ids().tolist())
    svc.ingest([])  # nothing new: the deletion reaches every part
    snap = svc.current()
    assert svc.store.passage_ids() == set(snap.index.ids().tolist()) == set(snap.sparse.ids.tolist())
    assert len(snap.sentences) == 1


def test_date_filter_masks_match_the_store(bundled_service):
    svc = bundled_service
    days = DayTable(*svc.store.passage_days())
    got = days.between("2019-01-01", "2019-12-31")
    assert set(got.ids().tolist()) == set(svc.store.passage_ids_between("2019-01-01", "2019-12-31"))
    assert set(got.union("2021-01-01", None).ids().tolist()) == set(
        svc.store.passage_ids_between("2019-01-01", "2019-12-31")) | set(svc.store.passage_ids_between("2021-01-01", None))
    q = svc.encoder.encode_query("huawei phone shipments")
    index = svc.snapshot().index
    hits = index.search(q, 5, allowed=got)
    assert hits and {i for i, _ in hits} <= set(got.ids().tolist())
    assert hits == index.search(q, 5, allowed=got.ids().tolist())  # mask == id list


def test_a_lazy_day_table_reads_the_store_once_on_first_use(bundled_service):
    svc = bundled_service
    reads = []

    def load():
        reads.append(1)
        return svc.store.passage_days()

    lazy = LazyDayTable(load)
    assert reads == []  # nothing read until a bound needs it
    eager = DayTable(*svc.store.passage_days())
    got = lazy.between("2019-01-01", "2019-12-31")
    assert got.ids().tolist() == eager.between("2019-01-01", "2019-12-31").ids().tolist()
    assert len(lazy) == len(eager) and reads == [1]
    assert got.mask("dense", svc.snapshot().index.ids()).sum() == len(got) and reads == [1]


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_hnsw_above_the_threshold_keeps_recall_against_flat(tmp_path):
    rng = np.random.default_rng(11)
    # clustered data, as embeddings are: random directions around 40 centres
    centres = _unit(rng, 40, 64)
    vecs = centres[rng.integers(0, 40, 3000)] + 0.35 * _unit(rng, 3000, 64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = list(range(10_000, 13_000))
    flat = VectorIndex(tmp_path / "flat", model="m", dim=64, index_type="flat")
    auto = VectorIndex(tmp_path / "auto", model="m", dim=64, index_type="auto", hnsw_threshold=1000)
    small = VectorIndex(tmp_path / "small", model="m", dim=64, index_type="auto", hnsw_threshold=5000)
    for idx in (flat, auto, small):
        idx.add(ids[:500], vecs[:500])
        idx.add(ids[500:], vecs[500:])
    assert is_hnsw(auto.index) and not is_hnsw(flat.index) and not is_hnsw(small.index)
    queries = _unit(rng, 100, 64)
    recall = np.mean([len({i for i, _ in auto.search(q, 10)} & {i for i, _ in flat.search(q, 10)}) / 10
                      for q in queries])
    assert recall >= 0.97
    auto.save()
    loaded, reason = VectorIndex.load(tmp_path / "auto", model="m", dim=64, index_type="auto", hnsw_threshold=1000)
    assert reason is None and is_hnsw(loaded.index) and loaded.search(queries[0], 10) == auto.search(queries[0], 10)
    assert auto.remove(ids[:10]) == 10 and len(auto) == 2990 and is_hnsw(auto.index)
    assert not set(ids[:10]) & {i for i, _ in auto.search(vecs[0], 10)}


def test_hnsw_loaded_with_a_delta_searches_it_exactly_beside_the_graph(tmp_path):
    """A load does not insert the delta file's rows into the graph (seconds at 100k passages): they
    are searched flat beside it, until the first change puts them in."""
    rng = np.random.default_rng(5)
    vecs, ids = _unit(rng, 1300, 32), list(range(500, 1800))
    kw = dict(model="m", dim=32, index_type="auto", hnsw_threshold=1000)
    idx = VectorIndex(tmp_path, **kw)
    idx.add(ids[:1200], vecs[:1200])
    idx.save()  # the graph, written whole
    idx.add(ids[1200:], vecs[1200:])
    idx.save()  # 100 rows: the delta file only
    loaded, reason = VectorIndex.load(tmp_path, **kw)
    assert reason is None and is_hnsw(loaded.index) and loaded.index.ntotal == 1200 and len(loaded) == 1300
    assert loaded.ids().tolist() == ids and loaded.has(np.asarray(ids[-3:])).all()
    for j in (7, 1250):  # in the graph, in the side: each vector is its own nearest neighbour
        assert loaded.search(vecs[j], 5)[0][0] == ids[j]
    assert np.allclose(loaded.vectors([ids[1250], ids[3]]), vecs[[1250, 3]])
    allowed = ids[1190:1210]  # straddles graph and side
    found = loaded.search(vecs[1205], 30, allowed=allowed)
    assert {i for i, _ in found} == set(allowed) and found[0][0] == ids[1205]
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    work = loaded.clone()
    work.add([9999], vecs[:1])  # a new article: beside the graph too, saved as the delta
    assert work.index.ntotal == 1200 and work.ids().tolist() == [*ids, 9999]
    assert len(loaded) == 1300 and loaded.ids().tolist() == ids  # the readers' copy is untouched
    work.save()
    again, reason = VectorIndex.load(tmp_path, **kw)
    assert reason is None and len(again) == 1301 and again.search(vecs[1250], 1)[0][0] == ids[1250]
    # the delta merged into the graph (past DELTA_MAX, or on demand): the same rows, found the same
    again.add(list(range(5000, 5030)), _unit(rng, 30, 32))
    assert again.index.ntotal == 1200 and len(again) == 1331
    again.merge()
    assert again.index.ntotal == 1331 and len(again) == 1331
    assert sorted(again.ids().tolist()) == sorted([*ids, 9999, *range(5000, 5030)])
    assert again.search(vecs[1250], 1)[0][0] == ids[1250] and again.search(vecs[7], 1)[0][0] == ids[7]


@pytest.mark.parametrize("backend", ["onnx"])
def test_onnx_token_spans_agree_with_torch(encoder, backend, tmp_path_factory):
    from embeddings.encoder import create_encoder

    onnx = create_encoder(backend=backend, cache_dir=tmp_path_factory.mktemp("onnx-spans"))
    passages = [passage(1, P1), passage(2, P3)]
    _, torch_sents = embed_batch(encoder, passages)
    _, onnx_sents = embed_batch(onnx, passages)
    for p in passages:
        cos = (torch_sents[p.id].astype(np.float32) * onnx_sents[p.id].astype(np.float32)).sum(axis=1)
        assert (cos >= 0.99).all()


def test_a_small_addition_saves_only_the_delta_and_loads_whole(tmp_path):
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 300, 16)
    idx = VectorIndex(tmp_path, model="m", dim=16)
    idx.add(list(range(200)), vecs[:200])
    idx.merge()  # into the main index (a small index otherwise lives in its delta)
    idx.save()
    whole = (tmp_path / "index.faiss").stat().st_mtime_ns
    idx.add(list(range(200, 300)), vecs[200:])
    idx.save()
    assert (tmp_path / "index.faiss").stat().st_mtime_ns == whole  # not rewritten
    loaded, reason = VectorIndex.load(tmp_path, model="m", dim=16)
    assert reason is None and len(loaded) == 300 and loaded.search(vecs[250], 1)[0][0] == 250
    loaded.remove([5])
    loaded.save()  # a removal is a tombstone in the delta file: the main file stays as it is
    assert (tmp_path / "index.faiss").stat().st_mtime_ns == whole
    again, reason = VectorIndex.load(tmp_path, model="m", dim=16)
    assert reason is None and len(again) == 299 and 5 not in set(again.ids().tolist())
    assert 5 not in {i for i, _ in again.search(vecs[5], 3)}


def test_clones_are_independent_working_copies(tmp_path):
    rng = np.random.default_rng(5)
    vecs = _unit(rng, 40, 16)
    idx = VectorIndex(tmp_path, model="m", dim=16)
    idx.add(list(range(20)), vecs[:20])
    work = idx.clone()
    work.add(list(range(20, 40)), vecs[20:])
    work.remove([0])
    assert len(idx) == 20 and 0 in set(idx.ids().tolist()) and len(work) == 39
    from embeddings.sentence_index import SentenceIndex

    sx = SentenceIndex(tmp_path / "sentences", model="m", embed_format="f")
    sx.add({1: vecs[:2], 2: vecs[2:3]})
    copy_ = sx.clone()
    copy_.add({3: vecs[3:5]})
    copy_.remove([1])
    assert len(sx) == 2 and sx.get(1) is not None and len(copy_) == 2 and copy_.get(3).shape == (2, 16)


def test_best_sentence_cosines_in_one_pass_equal_the_per_passage_products(tmp_path):
    """The blend's lookup for every candidate at once gives what one `get` and one product per
    passage gave (to a float ulp: one product per segment rounds a row by its place); a passage
    without sentence vectors is NaN."""
    from embeddings.sentence_index import SentenceIndex

    rng = np.random.default_rng(3)
    sx = SentenceIndex(tmp_path / "sentences", model="m", embed_format="f")
    for start in (0, 40):  # two segments, the second saved (memory-mapped) after the first
        sx.add({i: _unit(rng, int(rng.integers(1, 7)), 48) for i in range(start, start + 40)})
        sx.save()
    q = _unit(rng, 1, 48)[0]
    ids = [5, 77, 12345, 41, 0]
    got = sx.best_cosines(ids, q)
    want = [float((np.asarray(sx.get(i), dtype=np.float32) @ q).max()) if sx.get(i) is not None else None
            for i in ids]
    assert np.isnan(got[2]) and want[2] is None
    assert np.allclose([g for n, g in enumerate(got) if n != 2], [w for n, w in enumerate(want) if n != 2],
                       rtol=0, atol=1e-6)
