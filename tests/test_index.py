"""The FAISS index against a brute-force reference, and its save/load/recovery rules."""
from __future__ import annotations

import json

import numpy as np
import pytest

from embeddings.index import VectorIndex


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def filled(tmp_path):
    rng = np.random.default_rng(7)
    vecs = _unit(rng, 200, 16)
    ids = [int(i) for i in rng.integers(1, 2**62, size=200)]
    idx = VectorIndex(tmp_path, model="m", dim=16)
    idx.add(ids, vecs)
    return idx, ids, vecs, rng


def test_search_matches_brute_force(filled):
    idx, ids, vecs, rng = filled
    for q in _unit(rng, 10, 16):
        got = idx.search(q, 5)
        ref = np.argsort(-(vecs @ q))[:5]
        assert [i for i, _ in got] == [ids[r] for r in ref]
        assert np.allclose([s for _, s in got], (vecs @ q)[ref], atol=1e-5)


def test_allowed_filter_applies_before_the_cut(filled):
    idx, ids, vecs, rng = filled
    allowed = ids[150:]
    q = _unit(rng, 1, 16)[0]
    got = idx.search(q, 5, allowed=allowed)
    scores = vecs[150:] @ q
    ref = np.argsort(-scores)[:5]
    assert [i for i, _ in got] == [allowed[r] for r in ref]
    assert idx.search(q, 5, allowed=[]) == []


def test_remove_and_vectors(filled):
    idx, ids, vecs, _ = filled
    assert idx.remove(ids[:10]) == 10
    assert len(idx) == 190
    assert ids[0] not in [i for i, _ in idx.search(vecs[0], 5)]
    assert np.allclose(idx.vectors([ids[20]])[0], vecs[20])


def test_save_load_round_trip(filled, tmp_path):
    idx, ids, vecs, _ = filled
    idx.save()
    loaded, reason = VectorIndex.load(tmp_path, model="m", dim=16)
    assert reason is None and len(loaded) == 200
    assert loaded.search(vecs[3], 1)[0][0] == ids[3]
    manifest = json.loads((tmp_path / "index.json").read_text())
    assert manifest["model"] == "m" and manifest["count"] == 200 and manifest["dim"] == 16


@pytest.mark.parametrize("change, expect", [
    ({"model": "other"}, "model"),
    ({"dim": 8}, "dim"),
    ({"embed_format": "v2"}, "embed_format"),
])
def test_mismatched_manifest_means_rebuild(filled, tmp_path, change, expect):
    idx, *_ = filled
    idx.save()
    kwargs = {"model": "m", "dim": 16, **change}
    loaded, reason = VectorIndex.load(tmp_path, **kwargs)
    assert reason and expect in reason
    assert len(loaded) == 0


def test_corrupt_or_torn_index_file_means_rebuild(filled, tmp_path):
    idx, *_ = filled
    idx.save()
    path = tmp_path / "index.faiss"
    data = bytearray(path.read_bytes())
    data[100:140] = b"\x00" * 40
    path.write_bytes(bytes(data))
    loaded, reason = VectorIndex.load(tmp_path, model="m", dim=16)
    assert reason and "does not match" in reason and len(loaded) == 0
    path.write_bytes(b"garbage")
    assert VectorIndex.load(tmp_path, model="m", dim=16)[1]
    (tmp_path / "index.json").write_text("{not json")
    assert "manifest" in VectorIndex.load(tmp_path, model="m", dim=16)[1]


def test_sync_embeds_only_what_is_missing(tmp_path, encoder):
    from corpus.model import Passage
    from embeddings.sentence_index import SentenceIndex
    from embeddings.sparse import SparseIndex
    from embeddings.sync import Parts, sync_parts

    def fetch(ids):
        return [Passage(id=i, article_id="a", position=i, section=None, text=f"Passage number {i} is here. It ends.",
                        title="t", url="u", published="2020-01-01") for i in ids]

    def parts():
        return Parts(VectorIndex.load(tmp_path, model="m", dim=encoder.dim)[0],
                     SparseIndex.load(tmp_path)[0], SentenceIndex.load(tmp_path / "sentences", model="m",
                                                                         embed_format="f")[0])

    first = parts()
    before = encoder.encoded
    r1 = sync_parts(first, set(range(1, 21)), fetch, encoder)
    assert (r1.added, r1.removed) == (20, 0) and encoder.encoded - before == 20
    r2 = sync_parts(first, set(range(5, 31)), fetch, encoder)
    assert (r2.added, r2.removed) == (10, 4) and encoder.encoded - before == 30
    assert set(first.index.ids().tolist()) == set(range(5, 31)) == set(first.sparse.ids.tolist())
    # each part saved: a reload sees the same contents and embeds nothing
    again = parts()
    r3 = sync_parts(again, set(range(5, 31)), fetch, encoder)
    assert (r3.added, r3.removed) == (0, 0) and encoder.encoded - before == 30
    assert len(again.sentences) == 26
