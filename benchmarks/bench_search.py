"""Search speed on the bundled corpus: `ask` latency for dense, BM25 and hybrid, and where the time goes.

Run: `.venv/bin/python benchmarks/bench_search.py [--rounds N]` (also part of `make bench`).
Every question of tests/eval/questions.jsonl is asked N times per mode through the service
(query understanding, retrieval, fusion, diversity and best sentence: what /ask waits for).
Prints tables; the target is hybrid p50 under 30 ms. Asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_env import ROOT  # noqa: E402  (offline env, import paths: benchmarks/bench_env.py)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bot.service import RoundupService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from embeddings.encoder import encoder_for  # noqa: E402
from embeddings.evaluation import load_questions  # noqa: E402
from embeddings.search import embed_text  # noqa: E402
from embeddings.sparse import SparseIndex, query_terms  # noqa: E402

TARGET_P50_MS = 30.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="times each question is asked per mode")
    args = parser.parse_args()
    console = Console()
    settings = Settings.load(env={})
    encoder = encoder_for(settings.encoder)
    encoder.encode_query("warm up")
    questions = [q.question for q in load_questions(ROOT / "tests" / "eval" / "questions.jsonl")]

    with tempfile.TemporaryDirectory() as tmp:
        svc = RoundupService(Settings.load(env={}, data_dir=Path(tmp)), encoder=encoder)
        t0 = time.perf_counter()
        svc.ensure_ready()
        first_s = time.perf_counter() - t0
        passages = svc.store.passages()
        ids, texts = [p.id for p in passages], [embed_text(p) for p in passages]
        builds = [timed(SparseIndex(Path(tmp) / "scratch").build, ids, texts) for _ in range(5)]
        retriever = svc.retriever()
        sparse = retriever.sparse

        for q in questions[:10]:  # warm caches and lazy imports
            for mode in ("dense", "bm25", "hybrid"):
                svc.ask(q, mode=mode)
        ask: dict[str, list[float]] = {m: [] for m in ("dense", "bm25", "hybrid", "hybrid, no best sentence",
                                                        "hybrid, support re-rank off")}
        on = svc.settings
        off = on.replace(support_rerank_weight=0.0)
        parts: dict[str, list[float]] = {"query understanding": [], "encode question": [], "BM25 scores": []}
        for _ in range(args.rounds):
            for q in questions:
                for mode in ("dense", "bm25", "hybrid"):
                    ask[mode].append(timed(svc.ask, q, mode=mode))
                ask["hybrid, no best sentence"].append(timed(svc.ask, q, with_best_sentence=False))
                svc.settings = off  # the same question without token-level support re-ranking: its cost
                ask["hybrid, support re-rank off"].append(timed(svc.ask, q))
                svc.settings = on
                t0 = time.perf_counter()
                u = retriever.understand(q)
                parts["query understanding"].append((time.perf_counter() - t0) * 1000)
                parts["encode question"].append(timed(encoder.encode_query, u.dense_text))
                terms, _ = query_terms(u.phrases)
                parts["BM25 scores"].append(timed(sparse.scores, terms))
        svc.close()

    build = Table(title=f"Keyword index on the bundled corpus ({len(passages)} passages)")
    build.add_column("measure")
    build.add_column("value", justify="right")
    build.add_row("first run: ingest, embed passages and sentences, build both indexes", f"{first_s:.2f} s")
    build.add_row("BM25 index build (median of 5)", f"{statistics.median(builds):.1f} ms")
    console.print(build)

    n = len(questions) * args.rounds
    lat = Table(title=f"ask latency: {len(questions)} eval questions x {args.rounds} rounds = {n} asks per row")
    for col in ("path", "p50 ms", "p99 ms", "mean ms"):
        lat.add_column(col, justify="left" if col == "path" else "right")
    for label, values in {**ask, **{f"  part: {k}": v for k, v in parts.items()}}.items():
        lat.add_row(label, f"{pct(values, 50):.1f}", f"{pct(values, 99):.1f}", f"{statistics.mean(values):.1f}")
    console.print(lat)
    p50 = pct(ask["hybrid"], 50)
    verdict = "[green]meets[/]" if p50 < TARGET_P50_MS else "[red]misses[/]"
    console.print(f"hybrid ask p50 {p50:.1f} ms {verdict} the {TARGET_P50_MS:.0f} ms target "
                  f"(encoder threads: {settings.encoder.threads or 'torch default'}; cores: {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
