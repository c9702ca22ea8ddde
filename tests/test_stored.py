"""The stored index parts (FAISS, keyword index, sentence vectors) after damage: a reason, never an exception.

Each part is saved for real, one of its data files is damaged five ways (truncated to 0 bytes, to
half, overwritten with random bytes, one bit flipped in the middle, deleted), and loading must
give a fresh empty part and a reason, which the service logs once before rebuilding.
"""
from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import pytest

from embeddings import stored

from embeddings.index import VectorIndex
from embeddings.sentence_index import SENTENCES_FILE, SentenceIndex
from embeddings.sparse import SparseIndex
from embeddings.stored import STAMP_SUFFIX, StoredManifest
from sample_articles import P1, P2, P3
from sample_articles import article as _art
from sample_articles import write_jsonl as _jsonl

DOCS = {
    11: "Huawei shipped phones in Europe. Sales rose.",
    22: "Tencent streams NBA games in China. Fans pay.",
    33: "Alibaba cloud unit hires staff. It grows.",
}


def _vectors(n: int, dim: int = 8) -> np.ndarray:
    rng = np.random.default_rng(7)
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _encode(texts):
    return _vectors(len(texts)) if texts else np.zeros((0, 8), dtype=np.float32)


def _save_dense(d):
    idx = VectorIndex(d, model="m", dim=8)
    idx.add(sorted(DOCS), _vectors(len(DOCS)))
    idx.save()
    return lambda: VectorIndex.load(d, model="m", dim=8), d / "index.faiss"


def _save_sparse(d):
    idx = SparseIndex(d)
    idx.build(sorted(DOCS), [DOCS[i] for i in sorted(DOCS)])
    idx.save()
    # bit flips in this file loaded silently and broke some questions only (issue 12)
    return lambda: SparseIndex.load(d), d / "sparse" / "indices.csc.index.npy"


def _save_sentences(d):
    sx = SentenceIndex(d / SENTENCES_FILE, model="m", embed_format="f")
    sx.sync(set(DOCS), lambda ids: [DOCS[i] for i in ids], lambda t: t.split(". "), _encode)
    return lambda: SentenceIndex.load(d / SENTENCES_FILE, model="m", embed_format="f"), d / SENTENCES_FILE / "seg-000001.npy"


def _flip_middle(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncate to 0": lambda p: p.write_bytes(b""),
    "truncate to half": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(3).bytes(p.stat().st_size)),
    "bit flip in the middle": _flip_middle,
    "delete": lambda p: p.unlink(),
}
PARTS = {"faiss": _save_dense, "keyword": _save_sparse, "sentences": _save_sentences}


@pytest.mark.parametrize("part", PARTS)
def test_each_part_loads_what_it_saved(tmp_path, part):
    load, _ = PARTS[part](tmp_path)
    loaded, reason = load()
    assert reason is None and len(loaded) == len(DOCS) and loaded.built_at


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("part", PARTS)
def test_a_damaged_part_gives_a_reason_never_an_exception(tmp_path, part, damage):
    load, victim = PARTS[part](tmp_path)
    DAMAGE[damage](victim)
    loaded, reason = load()
    assert reason and "\n" not in reason
    assert len(loaded) == 0


@pytest.mark.parametrize("part", PARTS)
def test_a_damaged_manifest_gives_a_reason(tmp_path, part):
    load, _ = PARTS[part](tmp_path)
    manifest = next(p for p in tmp_path.glob("*.json"))
    # One bit flipped in the middle of the file list (a flip in `built_at` would be harmless).
    data = bytearray(manifest.read_bytes())
    start = data.index(b'"files"')
    data[(start + data.index(b"}", start)) // 2] ^= 0x10
    manifest.write_bytes(bytes(data))
    loaded, reason = load()
    assert reason and len(loaded) == 0


def _age(directory, seconds: float = 60) -> None:
    """Every file as if written a minute ago (older than the stamp's racy window)."""
    past = time.time() - seconds
    for p in directory.rglob("*"):
        if p.is_file():
            os.utime(p, (past, past))


def _counting_digests(monkeypatch) -> list:
    hashed: list = []
    real = stored.file_digest
    monkeypatch.setattr(stored, "file_digest", lambda p: hashed.append(p) or real(p))
    return hashed


@pytest.mark.parametrize("part", PARTS)
def test_a_verified_load_leaves_a_stamp_and_the_next_load_hashes_nothing(tmp_path, part, monkeypatch):
    load, _ = PARTS[part](tmp_path)
    _age(tmp_path)
    hashed = _counting_digests(monkeypatch)
    assert load()[1] is None and hashed  # the first load verifies every file
    assert len(list(tmp_path.glob(f"*{STAMP_SUFFIX}"))) == 1
    hashed.clear()
    loaded, reason = load()
    assert reason is None and len(loaded) == len(DOCS) and hashed == []


@pytest.mark.parametrize("damage", [d for d in DAMAGE if d != "delete"])
@pytest.mark.parametrize("part", PARTS)
def test_damage_after_the_stamp_is_still_caught(tmp_path, part, damage):
    load, victim = PARTS[part](tmp_path)
    _age(tmp_path)
    assert load()[1] is None and list(tmp_path.glob(f"*{STAMP_SUFFIX}"))
    DAMAGE[damage](victim)  # a write: a new modification time, whatever the size
    loaded, reason = load()
    assert reason and "does not match" in reason and len(loaded) == 0


def test_files_written_just_now_are_not_stamped_and_a_bad_stamp_means_hashing(tmp_path, monkeypatch):
    load, victim = _save_dense(tmp_path)
    stamp = tmp_path / f"index.json{STAMP_SUFFIX}"
    assert load()[1] is None and not stamp.exists()  # a change in the same clock tick could pass unseen
    _age(tmp_path)
    assert load()[1] is None and set(json.loads(stamp.read_text())) == {"index.faiss", "index-delta.npz"}
    stamp.write_bytes(b"\x00garbage")
    hashed = _counting_digests(monkeypatch)
    assert load()[1] is None and victim in hashed and json.loads(stamp.read_text())


def test_a_reader_that_raises_anything_is_a_reason(tmp_path, monkeypatch):
    """Whatever a library raises on bytes that pass the checksum (IndexError here) is contained."""
    load, _ = _save_sparse(tmp_path)

    def boom(*args, **kwargs):
        raise IndexError("index 9 is out of bounds")

    monkeypatch.setattr("bm25s.BM25.load", boom)
    loaded, reason = load()
    assert reason and "IndexError" in reason and len(loaded) == 0


def test_manifest_keeps_build_parameters_at_the_top_and_a_checksum_per_file(tmp_path):
    _save_sparse(tmp_path)
    m = StoredManifest.from_json((tmp_path / "sparse.json").read_text())
    assert m.params["tokenizer"] and m.count == 3 and "sparse/ids.npy" in m.files
    assert set(m.files) == {f"sparse/{p.name}" for p in (tmp_path / "sparse").iterdir()} | {"sparse.delta"}
    assert SparseIndex.describe(tmp_path)["count"] == 3
    assert VectorIndex.describe(tmp_path) == {"count": None, "built_at": None, "bytes": 0, "params": {}}


@pytest.mark.parametrize("victim", ["index.faiss", "sparse/indices.csc.index.npy", f"{SENTENCES_FILE}/seg-000001.npy"])
def test_the_service_answers_after_damage_and_logs_one_line(make_service, tmp_path, caplog, victim):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1, P2, P3])])])
    _flip_middle(svc.settings.data_dir / victim)
    fresh = make_service(svc.settings.data_dir, auto_ingest_bundled=False)
    with caplog.at_level(logging.WARNING):
        answer = fresh.ask("Baidu robotaxi permit in Wuhan")
    assert answer.hits[0].passage.text == P3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "does not match" in warnings[0].getMessage()
    st = fresh.status()["index"]
    assert st["vectors"] == 3 and st["keyword"]["passages"] == 3 and st["sentences"]["passages"] == 3
