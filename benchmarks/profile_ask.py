"""Where one `ask` spends its time, stage by stage, on a data directory already built.

    python benchmarks/profile_ask.py DATA_DIR [--questions 200] [--since 2017] [--cprofile OUT]

Each search stage (embeddings/search.py) and the service's own steps around it are wrapped with
a timer (wall and thread CPU time), then synthetic questions (benchmarks/synth_roundups.py) are
asked through `RoundupService.ask`, as the bot asks them. A stage nested in another counts in
both (the table is inclusive). Build a store first, e.g. with benchmarks/bench_scale.py's
`build_store`, or `--build N` here. Prints a table; asserts nothing.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import time
from collections import defaultdict
from pathlib import Path

from bench_env import pct  # offline env, import paths: benchmarks/bench_env.py
import synth_roundups

TIMES: dict[str, list[tuple[float, float]]] = defaultdict(list)


def timed(name: str, fn):
    """Wall time only: reading a thread's CPU clock is a system call (~2 us, far more under load),
    which would swell the stages it wraps; CPU time is taken for the whole question only."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name].append(((time.perf_counter() - t0) * 1000, 0.0))
    return wrapper


def instrument(svc) -> None:
    """Timers around the stages; on classes and on the loaded objects (so every retriever has them)."""
    from embeddings.search import Retriever

    for name in ("prepare", "bounds", "candidates", "_dense_candidates", "_sparse_candidates", "_score_candidates",
                 "_blend_sentences", "fuse", "diversify", "_rerank_by_support", "answerable",
                 "_mark_best_sentences"):
        setattr(Retriever, name, timed(name.lstrip("_"), getattr(Retriever, name)))
    snap = svc.snapshot()
    enc = svc.encoder
    enc.encode_query = timed("  question encode", enc.encode_query)
    if hasattr(enc, "encode_query_tokens"):
        enc.encode_query_tokens = timed("  question encode (+tokens)", enc.encode_query_tokens)
    if hasattr(enc, "encode_tokens"):
        enc.encode_tokens = timed("  support: passage token encode", enc.encode_tokens)
    snap.index.search = timed("  FAISS search", snap.index.search)
    snap.sparse.scores = timed("  BM25 scores", snap.sparse.scores)
    snap.sparse.coverage = timed("  BM25 coverage", snap.sparse.coverage)
    store = svc.store
    store.passages = timed("  SQLite fetch", store.passages)
    svc.retriever = timed("service: retriever()", svc.retriever)
    svc.lag_notes = timed("service: lag_notes()", svc.lag_notes)
    svc.visible = timed("service: visible()", svc.visible)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--since", default=None, help="also ask each question '... since YEAR'")
    ap.add_argument("--build", type=int, default=0, help="first build a synthetic store of this many passages")
    ap.add_argument("--cprofile", type=Path, help="write a cProfile of the timed asks here")
    args = ap.parse_args()
    from bench_scale import build_store, settings_for
    from bot.service import RoundupService

    if args.build and not (args.data_dir / "roundup.sqlite3").exists():
        print(build_store(args.data_dir, args.build), flush=True)
    svc = RoundupService(settings_for(args.data_dir))
    t0 = time.perf_counter()
    svc.snapshot()
    svc.encoder.encode_query("warm up")
    print(f"load {time.perf_counter() - t0:.2f} s; {len(svc.snapshot().index)} passages")
    qs = synth_roundups.questions(args.questions)
    if args.since:
        qs = [f"{q} since {args.since}" for q in qs]
    for q in qs[:10]:
        svc.ask(q)
    instrument(svc)
    total: list[tuple[float, float]] = []
    prof = cProfile.Profile() if args.cprofile else None
    for q in qs:
        if prof:
            prof.enable()
        t0, c0 = time.perf_counter(), time.thread_time()
        svc.ask(q)
        total.append(((time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000))
        if prof:
            prof.disable()
    if prof:
        prof.dump_stats(str(args.cprofile))
    print(f"\n{len(qs)} questions{' since ' + args.since if args.since else ''}; ms per question (inclusive)")
    print(f"| {'stage':32} | wall mean | wall p50 | wall p99 | CPU mean | CPU p99 |")
    print("| --- | --- | --- | --- | --- | --- |")  # CPU: the whole question only
    rows = [("ask (whole)", total), *TIMES.items()]
    for name, vals in rows:
        per_q = len(vals) / len(qs)
        wall = [w for w, _ in vals]
        cpu = [c for _, c in vals]
        note = f" (x{per_q:.1f})" if abs(per_q - 1) > 0.01 else ""
        cpu_cells = f"{sum(cpu) / len(qs):8.2f} | {pct(cpu, 99):7.2f}" if any(cpu) else f"{'':8} | {'':7}"
        print(f"| {name + note:32} | {sum(wall) / len(qs):9.2f} | {pct(wall, 50):8.2f} | {pct(wall, 99):8.2f} "
              f"| {cpu_cells} |")


if __name__ == "__main__":
    main()
