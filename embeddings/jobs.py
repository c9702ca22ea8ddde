"""Threads by job: a batch encode (ingest, rebuild) gets every core; a single question gets one.

Intra-op threads spin: on a busy 2-core machine two threads per question made `ask` p99 ten
times worse, while a batch encode ran 1.7x faster with both cores. So questions run with one
thread (the encoder's setting, FAISS's default set in embeddings/index.py) and a batch job
raises the count for its duration. A question's keyword side runs on a second thread beside its
encode (`keyword_pool`): another core's time, not another intra-op thread. Only one batch job
runs at a time in a process: two would share the same cores and each take twice as long,
holding the write lock meanwhile.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import faiss

log = logging.getLogger(__name__)

_batch = threading.Lock()
_depth = threading.local()
_keywords: ThreadPoolExecutor | None = None
_keywords_lock = threading.Lock()


def batch_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextmanager
def batch_job() -> Iterator[int]:
    """Run a batch encode with all cores, one batch job at a time (re-entrant in its thread)."""
    if getattr(_depth, "n", 0):
        _depth.n += 1
        try:
            yield batch_threads()
        finally:
            _depth.n -= 1
        return
    with _batch:
        _depth.n = 1
        threads = batch_threads()
        torch = sys.modules.get("torch")  # only if the torch backend loaded it: never import it here
        before = torch.get_num_threads() if torch is not None else None
        if torch is not None:
            torch.set_num_threads(threads)
        faiss.omp_set_num_threads(threads)
        try:
            yield threads
        finally:
            if torch is not None:
                torch.set_num_threads(before)
            faiss.omp_set_num_threads(1)
            _depth.n = 0


def in_batch_job() -> bool:
    return bool(getattr(_depth, "n", 0))


def keyword_pool() -> ThreadPoolExecutor | None:
    """Threads that run a question's keyword side while its own thread encodes it
    (embeddings/search.py, `Retriever.candidates`); None on a single core. The model run releases
    the GIL, so the two overlap; the other way round (the encode on a pool thread) was slower, its
    thread waiting for the GIL after the run. One thread per core: concurrent questions do not
    queue behind each other, and an idle pool thread waits without spinning."""
    global _keywords
    if _keywords is None and batch_threads() > 1:
        with _keywords_lock:
            if _keywords is None:
                _keywords = ThreadPoolExecutor(batch_threads(), thread_name_prefix="question-keywords")
    return _keywords


def _forget_keyword_pool() -> None:
    global _keywords
    _keywords = None  # a forked child has none of the pool's threads: it makes its own


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_keyword_pool)
