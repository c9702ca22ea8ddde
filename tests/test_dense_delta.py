"""The dense index's delta and tombstones (issue 11, write side): a writer's new vectors go to a
small side index beside a shared main index, removals are tombstones, and searches over both
equal one index rebuilt from the live vectors. Real FAISS, real SQLite, the real model; syncs
read the store's change feed. Brute-force numpy scores are the reference."""
from __future__ import annotations

import numpy as np
import pytest

from embeddings.days import DayTable
from embeddings.index import OVERFETCH_MAX, VectorIndex, is_hnsw
from sample_articles import P1, P2, P3
from sample_articles import article as _art
from sample_articles import write_jsonl as _jsonl

DIM = 32


def _unit(rng, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(vectors: dict[int, np.ndarray], q: np.ndarray, k: int, allowed=None) -> list[int]:
    ids = [i for i in vectors if allowed is None or i in allowed]
    scores = {i: float(vectors[i] @ q) for i in ids}
    return sorted(ids, key=lambda i: -scores[i])[:k]


def _split_index(tmp_path, rng, n_main: int = 300, n_new: int = 60, **kw) -> tuple[VectorIndex, VectorIndex, dict]:
    """(the saved and loaded main-only index, a clone with a delta and tombstones, its live vectors)."""
    vecs = _unit(rng, n_main + n_new)
    ids = list(range(1000, 1000 + n_main + n_new))
    base = VectorIndex(tmp_path, model="m", dim=DIM, **kw)
    base.add(ids[:n_main], vecs[:n_main])
    base.merge()  # a small index lives in its delta until it passes DELTA_MAX: make it the main one
    assert base.index.ntotal == n_main and base._delta.ntotal == 0
    base.save()
    base, reason = VectorIndex.load(tmp_path, model="m", dim=DIM, **kw)
    assert reason is None
    work = base.clone()
    work.add(ids[n_main:], vecs[n_main:])
    gone = ids[:20] + ids[n_main:n_main + 5]  # main rows (tombstones) and delta rows
    assert work.remove(gone) == 25
    live = {i: v for i, v in zip(ids, vecs) if i not in set(gone)}
    return base, work, live


@pytest.mark.parametrize("n_dead", [5, OVERFETCH_MAX + 40])  # over-fetching past tombstones, or the bitmap
def test_main_plus_delta_search_equals_brute_force_and_hides_removed(tmp_path, n_dead):
    rng = np.random.default_rng(7)
    base, work, live = _split_index(tmp_path, rng)
    extra = [i for i in list(live)[20:20 + n_dead] if i < 1300]
    work.remove(extra)
    for i in extra:
        live.pop(i)
    assert len(work) == len(live) and set(work.ids().tolist()) == set(live)
    assert work.index is base.index and work.index.ntotal == 300  # the main index was neither copied nor changed
    allowed = np.asarray(sorted(live)[::3], dtype=np.int64)
    for q in _unit(rng, 25):
        got = work.search(q, 10)
        assert [i for i, _ in got] == _brute(live, q, 10)
        assert np.allclose([s for _, s in got], [float(live[i] @ q) for i, _ in got], atol=1e-5)
        assert [i for i, _ in work.search(q, 10, allowed=allowed)] == _brute(live, q, 10, set(allowed.tolist()))
    assert len(base) == 300 and set(base.ids().tolist()) == set(range(1000, 1300))  # the reader's copy is whole


def test_date_bounds_filter_both_parts(tmp_path):
    rng = np.random.default_rng(8)
    _, work, live = _split_index(tmp_path, rng)
    ids = np.asarray(sorted(set(range(1000, 1360))), dtype=np.int64)
    days = (737000 + (ids % 7)).astype(np.int32)  # seven publication days, spread over main and delta
    table = DayTable(ids, days)
    bound = table.between("2018-11-04", None)  # day 737000 is 2018-11-02: the last five days pass
    passing = {int(i) for i, d in zip(ids, days) if d >= 737002 and int(i) in live}
    for q in _unit(rng, 10):
        got = [i for i, _ in work.search(q, 15, allowed=bound)]
        assert got == _brute(live, q, 15, passing)


def test_merge_keeps_results_and_saved_parts_load_equal(tmp_path):
    rng = np.random.default_rng(9)
    base, work, live = _split_index(tmp_path, rng)
    queries = _unit(rng, 10)
    before = [work.search(q, 10) for q in queries]
    work.save()  # main untouched on disk, the delta and tombstones beside it
    loaded, reason = VectorIndex.load(tmp_path, model="m", dim=DIM)
    assert reason is None and [loaded.search(q, 10) for q in queries] == before
    assert loaded.index.ntotal == 300 and loaded._delta.ntotal == 55 and loaded._dead.size == 20
    work.merge()
    assert work.index is not base.index and base.index.ntotal == 300  # merged into a copy: readers keep theirs
    assert work.index.ntotal == len(live) and work._delta.ntotal == 0 and work._dead.size == 0
    for q, old in zip(queries, before):
        new = work.search(q, 10)
        assert [i for i, _ in new] == [i for i, _ in old] and np.allclose([s for _, s in new], [s for _, s in old])
    np.testing.assert_allclose(work.vectors(sorted(live)), np.stack([live[i] for i in sorted(live)]), atol=1e-6)


def test_hnsw_main_keeps_tombstones_and_takes_the_delta(tmp_path):
    rng = np.random.default_rng(10)
    base, work, live = _split_index(tmp_path, rng, n_main=600, n_new=100, index_type="auto", hnsw_threshold=400)
    assert is_hnsw(base.index) and work.index is base.index
    hits = [len(set(i for i, _ in work.search(q, 10)) & set(_brute(live, q, 10))) / 10 for q in _unit(rng, 30)]
    assert np.mean(hits) >= 0.97
    work.merge()  # the delta goes into (a copy of) the graph; few tombstones stay tombstones
    assert is_hnsw(work.index) and work.index.ntotal == 600 + 95 and work._dead.size == 20
    assert base.index.ntotal == 600
    dead = set(range(1000, 1020))
    assert not any(i in dead for q in _unit(rng, 10) for i, _ in work.search(q, 20))


def test_growth_past_the_delta_size_merges_in_place_when_owned(tmp_path, monkeypatch):
    import embeddings.index as index_mod

    monkeypatch.setattr(index_mod, "DELTA_MAX", 50)
    rng = np.random.default_rng(12)
    vecs = _unit(rng, 200)
    idx = VectorIndex(tmp_path, model="m", dim=DIM)
    for start in range(0, 200, 40):
        idx.add(list(range(start, start + 40)), vecs[start:start + 40])
    assert len(idx) == 200 and idx._delta.ntotal <= 50 and idx.index.ntotal >= 150
    shared = idx.clone()
    main = shared.index
    shared.add(list(range(200, 260)), _unit(rng, 60))  # past DELTA_MAX: merged into a copy
    assert shared.index is not main and idx.index is main and len(idx) == 200 and len(shared) == 260


# -- the service: one article does not copy the main index; syncs read the change feed -----------


FULL_IDS = "SELECT id FROM passages"  # Store.passage_ids: every id, the full comparison


def _statements(store) -> list[str]:
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)
    return seen


def test_one_article_ingest_shares_the_main_index_and_reads_only_the_change_feed(make_service, tmp_path, monkeypatch):
    import embeddings.index as index_mod

    monkeypatch.setattr(index_mod, "DELTA_MAX", 1)  # the first ingest's vectors go into the main index
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2021-01-03", [P1, P2])])])
    svc.ensure_ready()
    old = svc.current()
    main, held = old.index.index, old.index.index.ntotal
    assert held == 2
    monkeypatch.setattr(index_mod, "DELTA_MAX", 5_000)
    seen = _statements(svc.store)
    report = svc.ingest([_jsonl(tmp_path / "b.jsonl", [_art("b1", "2022-06-01", [P3])])])
    svc.store._conn.set_trace_callback(None)
    new = svc.current()
    assert report.embedded == 1 and len(new.index) == 3 and len(old.index) == 2
    assert new.index.index is main and main.ntotal == held  # no copy of, no insert into, the main index
    assert not any(s.strip() == FULL_IDS for s in seen)  # no full id list
    assert any("passage_changes" in s for s in seen)
    b_ids = {p.id for p in svc.store.passages() if p.article_id == "b1"}
    assert new.seq == svc.store.change_seq() and set(new.index.ids().tolist()) == svc.store.passage_ids()
    assert {h.passage.id for h in svc.ask("Baidu robotaxi permit in Wuhan", k=1).hits} <= b_ids
    svc.store.delete_article("a1")
    seen = _statements(svc.store)
    svc.ingest([])
    svc.store._conn.set_trace_callback(None)
    snap = svc.current()
    assert set(snap.index.ids().tolist()) == b_ids == set(snap.sparse.ids.tolist()) == set(snap.sentences.ids().tolist())
    assert snap.index.index is main and not any(s.strip() == FULL_IDS for s in seen)
    assert all(h.passage.id in b_ids for h in svc.ask("TikTok data stored in the United States").hits)


def test_a_pruned_change_feed_falls_back_to_a_full_comparison(make_service, tmp_path):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2021-01-03", [P1, P2])])])
    svc.ingest([_jsonl(tmp_path / "b.jsonl", [_art("b1", "2022-06-01", [P3])])])
    seq = svc.current().seq
    assert svc.store.feed_covers(seq) and not svc.store.feed_covers(-1) and not svc.store.feed_covers(seq + 1)
    svc.store.delete_article("a1")
    assert svc.store.prune_changes(0) > 0  # the feed pruned past the snapshot's number
    assert not svc.store.feed_covers(seq)
    seen = _statements(svc.store)
    svc.ingest([])
    svc.store._conn.set_trace_callback(None)
    assert any(s.strip() == FULL_IDS for s in seen)  # the full comparison ran
    snap = svc.current()
    assert set(snap.index.ids().tolist()) == svc.store.passage_ids() == set(snap.sparse.ids.tolist())
    assert len(snap.index) == 1 and svc.store.feed_covers(snap.seq)


def test_a_crash_between_the_delta_file_and_its_manifest_rebuilds_from_the_store(make_service, tmp_path, monkeypatch):
    import embeddings.stored as stored

    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2021-01-03", [P1, P2])])])
    real = stored.atomic_write_bytes

    def crash_at_the_dense_manifest(path, data):
        if path.name == "index.json":
            raise KeyboardInterrupt("killed")  # the process dies after the data files, before the manifest
        real(path, data)

    monkeypatch.setattr(stored, "atomic_write_bytes", crash_at_the_dense_manifest)
    with pytest.raises(KeyboardInterrupt):
        svc.ingest([_jsonl(tmp_path / "b.jsonl", [_art("b1", "2022-06-01", [P3])])])
    monkeypatch.setattr(stored, "atomic_write_bytes", real)
    svc.close()
    again = make_service(svc.settings.data_dir, auto_ingest_bundled=False)  # the next process
    answer = again.ask("Baidu robotaxi permit in Wuhan", k=1)
    assert answer.hits and answer.hits[0].passage.article_id == "b1"
    assert set(again.current().index.ids().tolist()) == again.store.passage_ids()


def test_a_graph_keeps_a_small_delta_and_a_bulk_sync_leaves_none(make_service, tmp_path, monkeypatch):
    """Every question scans the whole delta beside an HNSW graph (embeddings/index.py, DELTA_MAX_GRAPH):
    a small ingest stays in the delta, a bulk one is folded into the graph, and answers stay the same."""
    import embeddings.index as index_mod
    import embeddings.sync as sync_mod

    monkeypatch.setattr(sync_mod, "BULK_SETTLE", 3)
    svc = make_service(auto_ingest_bundled=False, index_type="hnsw32")
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2021-01-03", [P1])])])
    snap = svc.current()
    assert is_hnsw(snap.index.index) and snap.index._delta.ntotal == 1 and snap.index.index.ntotal == 0
    svc.ingest([_jsonl(tmp_path / "b.jsonl", [_art("b1", "2022-06-01", [P2, P3, P1.replace("Madrid", "Lisbon")])])])
    snap = svc.current()
    assert snap.index._delta.ntotal == 0 and snap.index.index.ntotal == 4 and len(snap.index) == 4
    b_ids = {p.id for p in svc.store.passages() if p.article_id == "b1"}
    assert svc.ask("Baidu robotaxi permit in Wuhan", k=1).hits[0].passage.id in b_ids
    monkeypatch.setattr(index_mod, "DELTA_MAX_GRAPH", 1)  # past the graph's delta size: merged on add
    svc.ingest([_jsonl(tmp_path / "c.jsonl", [_art("c1", "2023-01-01", ["Tencent " + P2, "Alibaba " + P3])])])
    snap = svc.current()
    assert snap.index._delta.ntotal == 0 and snap.index.index.ntotal == 6
    assert set(snap.index.ids().tolist()) == svc.store.passage_ids()
