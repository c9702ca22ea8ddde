"""The question path's shortcuts answer exactly as the full path: the lean candidate fetch (passages
read only where a stage looks at them), the names check that needs no pool, the bounded-weight LRU
and the lock probe. Real model, FAISS, BM25 and SQLite (the bundled corpus)."""
from __future__ import annotations

import fcntl
import json
import os
import signal
from pathlib import Path

import pytest

from embeddings.answerability import name_share, names_all_in
from embeddings.lru import LruMap
from sample_articles import P1, P2, P3
from sample_articles import article as _art
from sample_articles import write_jsonl as _jsonl

QUESTIONS = Path(__file__).parent / "eval" / "questions.jsonl"


def detail(answer) -> tuple:
    """Everything a member or the eval sees, floats at full precision."""
    return (answer.answered, repr(answer.confidence), repr(answer.signals), answer.notes,
            [(h.passage.id, repr(h.score), repr(h.relevance), h.best_sentence) for h in answer.hits])


class Counting:
    """A passage source that records (and may hide) what it is asked for."""

    def __init__(self, inner, hidden=()):
        self.inner, self.hidden, self.asked = inner, set(hidden), []

    def passages(self, ids=None):
        ids = list(ids)
        self.asked += ids
        return [p for p in self.inner.passages(ids) if p.id not in self.hidden]

    def __getattr__(self, name):
        return getattr(self.inner, name)


def asks() -> list[tuple[str, dict]]:
    qs = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    return ([(q, {}) for q in qs] + [(f"{q} since 2019", {}) for q in qs[:15]]
            + [(f"{q} in 2020", {}) for q in qs[15:25]] + [(f"latest {q}", {}) for q in qs[25:30]]
            + [(q, {"k": 3, "offset": 3}) for q in qs[30:40]] + [(q, {"diverse": False}) for q in qs[40:45]])


def test_the_lean_fetch_answers_as_fetching_every_candidate(bundled_service, monkeypatch):
    """Lean (and the names check vouched for by the first passage) against every candidate fetched
    and the names looked for in the whole pool, as before both."""
    lean, full = bundled_service.retriever(), bundled_service.retriever()
    assert lean.in_step  # the service's snapshot is in step with its store
    full.in_step = False
    fetched = []
    for q, kw in asks():
        lean.store = Counting(bundled_service.passage_source())
        a = lean.search(q, best_sentence=True, **kw)
        with monkeypatch.context() as m:
            m.setattr("embeddings.decide.names_all_in", lambda names, text: not names)  # always the pool
            assert detail(a) == detail(full.search(q, best_sentence=True, **kw)), q
        fetched.append(len(set(lean.store.asked)))
        assert {h.passage.id for h in a.hits} <= set(lean.store.asked)
    # Most questions read a handful of passages, not the hundred candidates.
    assert sorted(fetched)[len(fetched) // 2] <= 20


def test_a_candidate_gone_from_the_store_sends_the_search_back_to_fetching_all(bundled_service):
    full = bundled_service.retriever()
    full.in_step = False
    q = "How much did Ant Group plan to raise in its IPO?"
    top = full.search(q).hits[0].passage.id
    lean, full = bundled_service.retriever(), bundled_service.retriever()
    full.in_step = False
    lean.store = Counting(bundled_service.passage_source(), hidden={top})
    full.store = Counting(bundled_service.passage_source(), hidden={top})
    a = lean.search(q, best_sentence=True)
    assert top not in {h.passage.id for h in a.hits}
    assert detail(a) == detail(full.search(q, best_sentence=True))


def test_the_service_fetches_lean_only_while_its_indexes_are_in_step(make_service, tmp_path):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1, P2])])])
    assert svc.retriever().in_step
    fresh = make_service(data_dir=svc.settings.data_dir, auto_ingest_bundled=False)  # loaded from disk
    assert fresh.retriever().in_step
    # Another writer changes the store; this process's indexes have not caught up yet.
    make_service(data_dir=svc.settings.data_dir, auto_ingest_bundled=False).ingest(
        [_jsonl(tmp_path / "b.jsonl", [_art("a2", "2022-03-07", [P3])])])
    assert not fresh.retriever().in_step
    fresh.ensure_ready()
    assert fresh.retriever().in_step


@pytest.mark.parametrize("names, texts, vouched", [
    ([("alibaba",), ("ant group", "ant financial")], ["alibaba backed ant group.", "other news"], [True, False]),
    ([("jd.com", "jd")], ["shares of jd.com rose", "jd's rival"], [True, True]),
    ([("li auto",)], ["li auto's sales", "auto li"], [True, True]),
    ([("tencent",)], ["nothing here", "tencent's games"], [False, True]),
])
def test_names_all_in_vouches_only_for_what_the_pool_names_too(names, texts, vouched):
    assert [names_all_in(names, first) for first in texts] == vouched
    for first in (t for t, v in zip(texts, vouched) if v):
        for others in (texts, texts[::-1], [first]):
            assert name_share(names, " ".join(others)) == 1.0


def test_names_all_in_does_not_vouch_for_an_s_the_join_removes():
    names = [("rival s",)]
    assert name_share(names, "news of a rival's") == 1.0  # alone, "'s" at the end leaves the word "s"
    assert name_share(names, "news of a rival's more news") == 0.0  # joined, "'s " is dropped
    assert not names_all_in(names, "news of a rival's")


def test_lru_by_weight_keeps_at_most_its_size_of_summed_weights():
    lru = LruMap(10, weight=len)
    lru.get_many(["a", "b"], lambda ks: {k: "x" * 4 for k in ks})
    lru.get_many(["a"], lambda ks: pytest.fail("a is kept"))  # a is now the most recent
    lru.get_many(["c"], lambda ks: {"c": "x" * 5})  # 13 > 10: b, the least recent, goes
    assert lru.total == 9 and len(lru) == 2
    assert lru.get_many(["b"], lambda ks: {"b": "y"}) == {"b": "y"}
    big = lru.get_many(["d"], lambda ks: {"d": "z" * 30})  # too heavy to keep, still returned
    assert big == {"d": "z" * 30} and lru.total <= 10


def test_writer_running_sees_another_process_s_lock(make_service):
    svc = make_service(auto_ingest_bundled=False)
    lock = svc.settings.data_dir / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    if lock.exists():
        lock.unlink()
    assert not svc.writer_running()  # no lock file yet
    lock.touch()
    assert not svc.writer_running()
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a writer in another process holds it
        assert svc.writer_running()
    finally:
        os.close(fd)
    assert not svc.writer_running()


def test_the_keyword_side_beside_the_encode_answers_as_one_thread(bundled_service, monkeypatch):
    """`parallel` (embeddings/jobs.py, keyword_pool): the keyword search runs on a pool thread while
    the asking thread encodes the question; every answer equals the one-thread path's."""
    import dataclasses
    import threading

    from embeddings.search import Retriever

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the keyword side runs in line")
    threads: list[str] = []
    real = Retriever._sparse_candidates

    def recording(self, s):
        threads.append(threading.current_thread().name)
        return real(self, s)

    monkeypatch.setattr(Retriever, "_sparse_candidates", recording)
    both, one = bundled_service.retriever(), bundled_service.retriever()
    one.config = dataclasses.replace(one.config, parallel=False)
    assert both.config.parallel
    for q, kw in asks()[:60]:
        threads.clear()
        a = both.search(q, best_sentence=True, **kw)
        assert threads and all(t.startswith("question-keywords") for t in threads), q
        threads.clear()
        assert detail(a) == detail(one.search(q, best_sentence=True, **kw)), q
        assert threads == [threading.current_thread().name]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_makes_its_own_keyword_pool(bundled_service):
    """A child forked after the pool exists has none of its threads: it must not queue work there."""
    from embeddings.jobs import keyword_pool

    bundled_service.ask("Who fined Alibaba?")
    pool = keyword_pool()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer a question, report, leave at once
        try:
            signal.alarm(60)  # a question queued on a pool without threads would wait forever
            os.close(r)
            ok = keyword_pool() is not pool and bool(bundled_service.ask("Who fined Alibaba?").hits)
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        got = fh.read()
    os.waitpid(pid, 0)
    assert got == b"1"
