"""Passages' token vectors kept at ingest for the support re-ranking (embeddings/token_index.py):
the product-quantised codes rank as the exact vectors do, the part follows the store through
adds and removals, a damaged part is rebuilt, and a data directory without one still answers
(real model, FAISS, SQLite)."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import embeddings.token_index as ti
from embeddings.evaluation import load_questions
from embeddings.query import STOPWORDS
from embeddings.sparse import tokenize
from embeddings.support import asked_words, support
from embeddings.spans import TokenVectors
from embeddings.sync import content_tokens, embed_with_tokens
from embeddings.token_cache import encode_alone, passage_tokens
from embeddings.token_index import TOKENS_FILE, TokenIndex
from sample_articles import P1, P2, P3, passage
from sample_articles import article as _art
from sample_articles import write_jsonl as _jsonl

QUESTIONS = Path(__file__).parent / "eval" / "questions.jsonl"


def _part(path: Path, codes: int = 48) -> TokenIndex:
    return TokenIndex(path / TOKENS_FILE, model="m", embed_format="f", codes=codes)


def _exact_and_coded(bundled_service, encoder, tmp_path, monkeypatch, n: int = 160):
    """The first `n` bundled passages' token vectors from the ingest pass, exact and through a codebook."""
    monkeypatch.setattr(ti, "TRAIN_MIN", 2_000)
    passages = bundled_service.store.passages()[:n]
    _, _, exact = embed_with_tokens(encoder, passages, max_tokens=64)
    part = _part(tmp_path)
    part.add(exact)
    assert part.codebook is not None and all(m.dtype == np.uint8 for m in part._segments.values())
    return passages, exact, part


def _rank_agreement(encoder, passages, exact, coded) -> tuple[float, float]:
    """Over the bundled questions: how often the passage with the best support is the same with
    exact and decoded vectors, and the mean rank correlation of the supports."""
    same, corr = [], []
    for q in load_questions(QUESTIONS)[:40]:
        _, qt = encoder.encode_query_tokens(q.question)
        asked = asked_words(q.question, qt, {}, set(), tokenize, STOPWORDS)
        if not asked:
            continue
        a = np.array([support(qt, asked, TokenVectors(exact[p.id], [])) for p in passages])
        b = np.array([support(qt, asked, TokenVectors(coded(p.id), [])) for p in passages])
        same.append(int(np.argmax(a)) == int(np.argmax(b)))
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        corr.append(float(np.corrcoef(ra, rb)[0, 1]))
    return float(np.mean(same)), float(np.mean(corr))


def test_coded_token_vectors_rank_passages_as_the_exact_ones(bundled_service, encoder, tmp_path, monkeypatch):
    """Decoded codes against the exact ingest vectors: the best-supported passage among 160 is the
    same for most questions and the supports' order nearly so; a 6-code book does measurably worse
    (so the comparison can tell a good codec from a poor one)."""
    passages, exact, part = _exact_and_coded(bundled_service, encoder, tmp_path, monkeypatch)
    top, corr = _rank_agreement(encoder, passages, exact, part.get)
    assert top >= 0.85 and corr >= 0.95, (top, corr)
    coarse = _part(tmp_path / "coarse", codes=6)
    coarse.add(exact)
    top6, corr6 = _rank_agreement(encoder, passages, exact, coarse.get)
    assert corr6 < corr, (corr6, corr)
    cos = [float(np.mean((part.get(p.id) * exact[p.id]).sum(axis=1))) for p in passages]
    assert np.mean(cos) >= 0.85  # each decoded token near its exact vector


def test_ingest_tokens_are_the_passage_s_first_text_tokens(encoder):
    """The ingest pass keeps the text's tokens (not the heading's), at most the cap, near what a
    live encode of the passage alone gives (the context differs: heading and the whole passage)."""
    p = passage(7, P1, "Markets", position=0)
    _, _, toks = embed_with_tokens(encoder, [p], max_tokens=64)
    live_all = encode_alone(encoder, [P1], 64)[0]
    live = content_tokens(live_all, P1)
    assert toks[7].shape == live.shape and 0 < len(live) < len(live_all.vectors)  # punctuation, stop words out
    words = {P1[a:b].lower() for a, b in live_all.offsets}
    assert "the" in words or "its" in words  # ... which the passage has
    assert np.allclose(np.linalg.norm(toks[7], axis=1), 1, atol=1e-4)
    assert float(np.mean((toks[7] * live).sum(axis=1))) >= 0.85
    _, _, capped = embed_with_tokens(encoder, [p], max_tokens=5)
    assert 1 <= capped[7].shape[0] <= 5


def test_codebook_and_codes_save_and_load_int8_rows_before(tmp_path, encoder, monkeypatch):
    """A small part holds int8 rows (no codebook yet); past TRAIN_MIN tokens it trains one and codes
    everything; both survive a save and load, removals drop rows, compaction copies codes as they are."""
    monkeypatch.setattr(ti, "TRAIN_MIN", 600)
    rng = np.random.default_rng(3)
    mats = {i: rng.standard_normal((int(rng.integers(20, 64)), encoder.dim)).astype(np.float32) for i in range(40)}
    mats = {i: m / np.linalg.norm(m, axis=1, keepdims=True) for i, m in mats.items()}
    part = _part(tmp_path)
    part.add({i: mats[i] for i in range(5)})
    assert part.codebook is None and np.allclose(part.get(3), mats[3], atol=0.02)
    part.add({i: mats[i] for i in range(5, 40)})
    assert part.codebook is not None
    before = {i: part.get(i) for i in range(40)}
    part.save()
    loaded, reason = TokenIndex.load(tmp_path / TOKENS_FILE, model="m", embed_format="f", codes=48)
    assert reason is None and sorted(loaded.ids().tolist()) == list(range(40))
    assert all(np.array_equal(loaded.get(i), before[i]) for i in range(40))
    loaded.remove(range(20))
    loaded.save()  # past a third dead: compacted, codes copied, not coded again
    again, reason = TokenIndex.load(tmp_path / TOKENS_FILE, model="m", embed_format="f", codes=48)
    assert reason is None and again.get(3) is None and all(np.array_equal(again.get(i), before[i]) for i in range(20, 40))
    assert len(list((tmp_path / TOKENS_FILE).glob("seg-*.npy"))) == 1
    _, reason = TokenIndex.load(tmp_path / TOKENS_FILE, model="m", embed_format="f", codes=24)
    assert reason and "codes" in reason  # another setting: rebuilt


def test_token_part_follows_adds_removals_and_updates(make_service, tmp_path, monkeypatch):
    """Every passage the store holds has token rows, none it dropped keeps any; a one-article
    ingest appends a segment and codes it with the saved codebook."""
    monkeypatch.setattr(ti, "TRAIN_MIN", 256)
    svc = make_service(auto_ingest_bundled=False)
    paragraphs = [P1, P2, f"{P1} {P3}", f"{P2} {P3}", f"{P3} {P1}", f"{P2} {P1}", f"{P1} {P2} {P3}",
                  f"{P3} {P2} {P1}", f"{P2} {P3} {P1}"]
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2021-01-03", paragraphs)])])
    tokens = svc.current().tokens
    assert tokens is not None and tokens.codebook is not None
    assert set(tokens.ids().tolist()) == svc.store.passage_ids()
    svc.ingest([_jsonl(tmp_path / "b.jsonl", [_art("b1", "2022-06-01", [P3])])])
    assert set(svc.current().tokens.ids().tolist()) == svc.store.passage_ids()
    old = {p.id for p in svc.store.passages() if p.article_id == "a1"}
    svc.ingest([_jsonl(tmp_path / "a2.jsonl", [_art("a1", "2021-01-03", [P2 + " It said orders doubled.", *paragraphs[1:]])])])
    snap, gone = svc.current(), old - svc.store.passage_ids()  # the edited paragraph's old passage
    assert gone and set(snap.tokens.ids().tolist()) == svc.store.passage_ids()
    assert all(snap.tokens.get(i) is None for i in gone)
    svc.store.delete_article("b1")
    svc.ingest([])
    snap = svc.current()
    assert set(snap.tokens.ids().tolist()) == svc.store.passage_ids() == set(snap.index.ids().tolist())
    fresh = make_service(svc.settings.data_dir, auto_ingest_bundled=False).snapshot()  # as saved
    assert set(fresh.tokens.ids().tolist()) == svc.store.passage_ids()


def _support_runs(svc) -> list[tuple[str, list[int]]]:
    """Bundled questions whose answer ran the support re-ranking, with their first hits."""
    out = []
    for q in load_questions(QUESTIONS)[:40]:
        a = svc.ask(q.question)
        out.append((q.question, [h.passage.id for h in a.hits[:3]]))
    return out


def test_questions_read_stored_tokens_and_encode_none(bundled_service, encoder, monkeypatch):
    """With the token part loaded, the re-ranking encodes no passage at question time."""
    snap = bundled_service.snapshot()
    assert snap.tokens is not None and set(snap.tokens.ids().tolist()) == set(snap.index.ids().tolist())
    import embeddings.token_cache as tc

    calls = []
    monkeypatch.setattr(tc, "encode_alone", lambda *a, **k: calls.append(a) or [])
    read = []
    real_get = type(snap.tokens).get
    monkeypatch.setattr(type(snap.tokens), "get", lambda self, i: read.append(i) or real_get(self, i))
    _support_runs(bundled_service)
    assert read and not calls


def test_a_data_dir_without_token_vectors_answers_by_encoding_then_gains_them(bundled_copy, make_service):
    """A data directory built before token vectors were kept: questions answer at once (support
    encoded live, the same order as stored would mostly give), and the next sync builds the part."""
    (bundled_copy / "tokens.json").unlink()
    for f in (bundled_copy / TOKENS_FILE).iterdir():
        f.unlink()
    svc = make_service(bundled_copy)
    snap = svc.snapshot()
    assert snap.tokens is not None and len(snap.tokens) == 0
    runs = _support_runs(svc)
    assert svc._token_cache.misses > 0 and all(ids for _, ids in runs)
    svc.ensure_ready()
    assert set(svc.current().tokens.ids().tolist()) == svc.store.passage_ids()
    again = _support_runs(svc)
    same = sum(a == b for (_, a), (_, b) in zip(runs, again))
    assert same >= 0.9 * len(runs), (same, len(runs))


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_token_file_is_caught_and_rebuilt(bundled_copy, make_service, caplog, damage):
    seg = sorted((bundled_copy / TOKENS_FILE).glob("seg-*.npy"))[0]
    data = bytearray(seg.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        seg.write_bytes(bytes(data))
    elif damage == "truncate":
        seg.write_bytes(bytes(data[: len(data) // 2]))
    else:
        seg.unlink()
    svc = make_service(bundled_copy)
    with caplog.at_level(logging.WARNING):
        snap = svc.snapshot()
    assert any("token vectors" in r.getMessage() for r in caplog.records)
    assert set(snap.tokens.ids().tolist()) == svc.store.passage_ids()
    assert svc.ask("How much did Huawei spend on research and development?").hits
    fresh = make_service(bundled_copy).snapshot()  # the rebuilt files load cleanly
    assert len(fresh.tokens) == len(snap.tokens)


def test_passage_tokens_falls_back_to_live_for_what_is_not_stored(encoder, tmp_path):
    """Stored rows where held and the cap fits; a passage not held, or a cap above what was kept, encodes."""
    p1 = passage(1, P1, None, position=0)
    p2 = replace(p1, id=2, text=P2)
    _, _, toks = embed_with_tokens(encoder, [p1], max_tokens=64)
    part = _part(tmp_path, codes=0)
    part.add(toks)
    got = passage_tokens(part, None, encoder, [p1, p2], 64)
    assert np.allclose(got[0].vectors, part.get(1), atol=1e-6)
    assert np.allclose(got[1].vectors, encode_alone(encoder, [P2], 64)[0].vectors, atol=1e-5)
    assert len(passage_tokens(part, None, encoder, [p1], 3)[0].vectors) == 3
    wide = passage_tokens(part, None, encoder, [p1], 128)[0]  # more than kept: encoded live
    assert np.allclose(wide.vectors, encode_alone(encoder, [P1], 128)[0].vectors, atol=1e-5)


def test_batches_added_between_saves_are_written_as_one_segment(tmp_path):
    """A long sync adds a segment per batch; a save writes them as one file (each memory-mapped
    segment holds a file descriptor), rows unchanged, and a later save appends one more."""
    rng = np.random.default_rng(5)
    part = _part(tmp_path, codes=0)
    mats = {i: rng.standard_normal((3 + i % 4, 384)).astype(np.float32) for i in range(30)}
    for start in range(0, 30, 10):
        part.add({i: mats[i] for i in range(start, start + 10)})
    before = {i: part.get(i) for i in range(30)}
    part.save()
    assert len(list((tmp_path / TOKENS_FILE).glob("seg-*.npy"))) == 1
    part.add({99: mats[0]})
    part.save()
    loaded, reason = TokenIndex.load(tmp_path / TOKENS_FILE, model="m", embed_format="f", codes=0)
    assert reason is None and len(list((tmp_path / TOKENS_FILE).glob("seg-*.npy"))) == 2
    assert all(np.array_equal(loaded.get(i), before[i]) for i in range(30))
    assert np.array_equal(loaded.get(99), before[0])


def test_a_token_file_deleted_under_a_snapshot_is_still_read_or_encoded(tmp_path, encoder):
    """A later save may compact and delete a segment while questions still read the old snapshot:
    its rows stay readable (the file is held open); a row that cannot be read is encoded live."""
    p1 = passage(1, P1, None, position=0)
    _, _, toks = embed_with_tokens(encoder, [p1], max_tokens=64)
    part = _part(tmp_path, codes=0)
    part.add(toks)
    part.save()
    loaded, _ = TokenIndex.load(tmp_path / TOKENS_FILE, model="m", embed_format="f", codes=0)
    before = loaded.get(1)
    for seg in (tmp_path / TOKENS_FILE).glob("seg-*.npy"):
        seg.unlink()
    assert np.array_equal(loaded.get(1), before)

    class Broken:
        max_tokens = 64

        def get(self, _):
            raise OSError("gone")

    got = passage_tokens(Broken(), None, encoder, [p1], 64)[0]
    assert np.allclose(got.vectors, encode_alone(encoder, [P1], 64)[0].vectors, atol=1e-5)


def test_coding_tokens_inside_an_ingest_leaves_faiss_on_every_core():
    """The codebook's training and coding run inside the ingest's batch job: afterwards FAISS still
    has the job's threads for the index add that follows, not one."""
    import faiss

    from embeddings.jobs import batch_job

    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((ti.TRAIN_MIN, 384)).astype(np.float32)
    with batch_job() as threads:
        book = ti.Codebook.train(vecs, 64)
        assert faiss.omp_get_max_threads() == threads
        book.encode(vecs[:2048])
        assert faiss.omp_get_max_threads() == threads
    assert faiss.omp_get_max_threads() == 1
