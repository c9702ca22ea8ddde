"""Speed and memory at the sizes a community reaches: 10k and 100k passages.

    python benchmarks/bench_scale.py --passages 10000,100000

For each size it builds a store of synthetic roundups (benchmarks/synth_roundups.py) and prints
one table. Ingest is measured with the real model on `--ingest-sample` passages, beside raw
sentence-transformers (torch, every core) encoding the same texts in the same run; the big
store's vectors come from a fast stand-in encoder (a random projection of the words: clustered
like real embeddings, no model cost; the output says so). Questions always use the real model.
Latency, steady memory and the one-article ingest run in a fresh child process, cold start in
`python -m bot ask` subprocesses, the Discord bot's start in a benchmarks/bench_start.py
subprocess (SimCord). The synthetic questions all name a company and meet passages about it,
so each runs the support re-ranking (a worst case); the "real questions" row then adds
the held-out eval corpus's dev articles to the store (real model) and asks its dev questions as
members typed them (benchmarks/heldout_dev.py; never the test split). Prints tables; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from bench_env import ROOT, pct  # noqa: E402  (offline env, import paths: benchmarks/bench_env.py)

import numpy as np  # noqa: E402
import bm25s  # noqa: E402,F401  (imported here: on import it sets its own logger to DEBUG)
import heldout_dev  # noqa: E402
import synth_roundups  # noqa: E402
from corpus.passages import split_article  # noqa: E402
from embeddings.search import embed_text  # noqa: E402

logging.getLogger("bm25s").setLevel(logging.WARNING)  # not a debug line per index build
QUESTIONS = 100


def rss_mb(field: str = "VmRSS") -> float:
    text = open("/proc/self/status").read()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1)) / 1024


class StandInEncoder:
    """Vectors without a model: each word a fixed random direction, a text the normalised sum.
    Clustered like real embeddings (shared words, shared direction); used to fill big stores."""

    name = "stand-in"
    dim = 384
    max_tokens = 256

    def __init__(self):
        self.encoded = 0
        self._words: dict[str, np.ndarray] = {}

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in text.lower().split():
            row = self._words.get(w)
            if row is None:
                rng = np.random.default_rng(zlib.crc32(w.encode()))
                row = self._words[w] = rng.standard_normal(self.dim).astype(np.float32)
            v += row
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        return self.encode_queries(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])

    def encode_with_spans(self, texts, spans):
        vecs = self.encode(texts)
        return vecs, [[self._vec(t[a:b]) for a, b in sp] for t, sp in zip(texts, spans)]

    def encode_with_tokens(self, texts, spans, token_from=None, max_tokens=None):
        """As `encode_with_spans`, with each word's vector as a "token" (the token part's size and
        read path are the real ones; its vectors mean nothing to the real model's questions)."""
        from embeddings.spans import TokenVectors

        vecs, per = self.encode_with_spans(texts, spans)
        toks = []
        for t, a in zip(texts, token_from or [0] * len(texts)):
            words = [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", t) if m.start() >= a][:max_tokens]
            toks.append(TokenVectors(np.stack([self._vec(t[x:y]) for x, y in words]).reshape(-1, self.dim), words))
        return vecs, per, toks


def synthetic(passages: int, start: int = 0) -> tuple[list, int]:
    """Articles from `start` on until they hold `passages` passages; (articles, passages)."""
    arts, n = [], 0
    for art in synth_roundups.articles(start):
        if n >= passages:
            break
        arts.append(art)
        n += len(split_article(art))
    return arts, n


def settings_for(data_dir: Path):
    from bot.settings import Settings

    return Settings.load(data_dir=data_dir, auto_ingest_bundled=False)


def measure_ingest(work: Path, sample: int) -> dict:
    """Real-model ingest (store, one pass, BM25, saves) vs raw sentence-transformers encode of the same texts."""
    from bot.service import RoundupService
    from embeddings.encoder import create_encoder
    from embeddings.jobs import batch_threads

    arts, n = synthetic(sample, start=900_000)
    texts = [embed_text(p) for a in arts for p in split_article(a)]
    raw = create_encoder(backend="torch")
    raw.encode_query("warm up")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(batch_threads())
    t0 = time.perf_counter()
    raw.model.encode(texts, batch_size=64, show_progress_bar=False)
    raw_rate = len(texts) / (time.perf_counter() - t0)
    torch.set_num_threads(before)
    svc = RoundupService(settings_for(work / "ingest"))
    svc.encoder.encode_query("warm up")  # model load (and ONNX export) is not ingest
    t0 = time.perf_counter()
    svc.ingest_articles(arts, origin="bench")
    rate = n / (time.perf_counter() - t0)
    backend = svc.settings.encoder.backend
    svc.close()
    return {"ingest_rate": rate, "raw_rate": raw_rate, "sample": n, "backend": backend}


def build_store(data_dir: Path, passages: int) -> dict:
    from bot.service import RoundupService

    arts, n = synthetic(passages)
    svc = RoundupService(settings_for(data_dir), encoder=StandInEncoder())
    t0 = time.perf_counter()
    svc.ingest_articles(arts, origin="bench")
    build_s = time.perf_counter() - t0
    svc.close()
    from embeddings.encoder import encoder_for

    s = settings_for(data_dir)
    encoder_for(s.encoder, cache_dir=data_dir / "models").encode_query("export")  # ONNX export, once
    return {"passages": n, "build_s": build_s}


def disk_per_1k(data_dir: Path, passages: int) -> tuple[float, dict]:
    parts: dict[str, int] = {}
    for p in data_dir.rglob("*"):
        if p.is_file() and "models" not in p.relative_to(data_dir).parts:
            key = p.relative_to(data_dir).parts[0]
            parts[key] = parts.get(key, 0) + p.stat().st_size
    return sum(parts.values()) / passages * 1000 / 1e6, parts


def cold_start(data_dir: Path, runs: int = 3) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of `python -m bot ask` from start to answer.
    CPU time shows what the process needs; wall time on a shared machine includes waiting for a core."""
    env = dict(os.environ, ROUNDUP_DATA_DIR=str(data_dir), ROUNDUP_AUTO_INGEST_BUNDLED="false")
    walls, cpus = [], []
    for q in synth_roundups.questions(runs, seed=99):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "ask", q, "--json"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def child(data_dir: Path, questions: int) -> None:
    """In a fresh process: load, question latency (plain and date-bounded), steady RSS, one new article."""
    from bot.service import RoundupService
    from embeddings.index import is_hnsw

    svc = RoundupService(settings_for(data_dir))
    t0 = time.perf_counter()
    svc.ensure_ready()
    load_s = time.perf_counter() - t0
    qs = synth_roundups.questions(questions)
    counts = svc.store.counts()
    first, last = int(counts["first"][:4]), int(counts["last"][:4])
    since = first + (last - first) // 2  # "since <the middle year>": about half the store qualifies
    for q in qs[:5]:
        svc.ask(q)
    svc.ask(f"{qs[0]} since {since}")  # the publication days are read on the first bounded question
    plain, bounded, cpu = [], [], []
    for q in qs:
        t0, c0 = time.perf_counter(), time.thread_time()
        svc.ask(q)
        plain.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        t0 = time.perf_counter()
        svc.ask(f"{q} since {since}")
        bounded.append((time.perf_counter() - t0) * 1000)
    steady = rss_mb()
    peak = [steady]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.002)

    art = synth_roundups.article(5_000_000)
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    report = svc.ingest_articles([art], origin="bench")
    one_s = time.perf_counter() - t0
    done.set()
    watcher.join()
    print(json.dumps({"load_s": load_s, "p50": pct(plain, 50), "p99": pct(plain, 99), "date_p50": pct(bounded, 50),
                      "cpu_p50": pct(cpu, 50), "cpu_p99": pct(cpu, 99),
                      "date_p99": pct(bounded, 99), "steady_mb": steady, "one_s": one_s, "one_peak_mb": peak[0],
                      "one_embedded": report.embedded, "index": svc.status()["index"]["type"],
                      "dense": "HNSW" if is_hnsw(svc.snapshot().index.index) else "flat", "since": since}))


def child_real(data_dir: Path) -> None:
    """In a fresh process: the held-out dev questions, as typed, against the store holding their articles."""
    from bot.service import RoundupService

    svc = RoundupService(settings_for(data_dir))
    svc.ensure_ready()
    qs = heldout_dev.dev_questions()
    for q in qs[:5]:
        svc.ask(q)
    from embeddings import search

    looked_up = [0]  # calls for passages' token vectors (stored or encoded): the re-ranking ran
    real_lookup = search.passage_tokens

    def counted(*args, **kwargs):
        looked_up[0] += 1
        return real_lookup(*args, **kwargs)

    search.passage_tokens = counted
    times, cpu, supported = [], [], 0
    for q in qs:
        before = looked_up[0]
        t0, c0 = time.perf_counter(), time.thread_time()
        svc.ask(q)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        supported += looked_up[0] > before
    print(json.dumps({"questions": len(qs), "p50": pct(times, 50), "p99": pct(times, 99), "cpu_p50": pct(cpu, 50),
                      "supported": supported / len(qs)}))


def run_child(data_dir: Path, questions: int, *, real: bool = False, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(data_dir), "--questions", str(questions),
                          *(["--real"] if real else [])],
                         cwd=ROOT, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


def bot_start(data_dir: Path) -> dict:
    """The Discord bot started in a fresh process against SimCord (benchmarks/bench_start.py)."""
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("bench_start.py")), str(data_dir), "--json"],
                         cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_real(data_dir: Path) -> dict:
    """The dev articles into the store (real model), then the dev questions, with the support re-ranking as
    shipped and without it."""
    from bot.service import RoundupService

    svc = RoundupService(settings_for(data_dir))
    added = heldout_dev.add_dev_articles(svc)
    svc.close()
    shipped = run_child(data_dir, 0, real=True)
    bare = run_child(data_dir, 0, real=True, env={"ROUNDUP_SUPPORT_RERANK_WEIGHT": "0"})
    return {**shipped, "added": added, "bare_p50": bare["p50"], "bare_p99": bare["p99"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", default="10000", help="comma-separated store sizes")
    ap.add_argument("--ingest-sample", type=int, default=1000, help="passages ingested with the real model")
    ap.add_argument("--questions", type=int, default=QUESTIONS)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--real", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_real(args.child) if args.real else child(args.child, args.questions)
        return
    sizes = [int(s) for s in args.passages.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        ingest = measure_ingest(work, args.ingest_sample)
        print(f"ingest ({ingest['backend']} backend, {ingest['sample']} passages, real model): "
              f"{ingest['ingest_rate']:.1f} passages/s; raw sentence-transformers (torch, all cores) "
              f"{ingest['raw_rate']:.1f}/s", flush=True)
        for size in sizes:
            data_dir = work / f"store-{size}"
            built = build_store(data_dir, size)
            measured = run_child(data_dir, args.questions)
            inline = run_child(data_dir, args.questions, env={"ROUNDUP_PARALLEL_RETRIEVAL": "false"})
            measured["inline_p50"], measured["inline_p99"] = inline["p50"], inline["p99"]
            cold = cold_start(data_dir)
            measured["start"] = bot_start(data_dir)
            disk, parts = disk_per_1k(data_dir, built["passages"])
            measured["real"] = measure_real(data_dir)  # after the rest: it adds the dev articles to the store
            rows.append((built, measured, cold, disk, parts))
            print(f"{built['passages']} passages built in {built['build_s']:.0f} s (stand-in vectors); "
                  f"{json.dumps(measured)}; disk {json.dumps(parts)}", flush=True)
    print_table(ingest, rows)


def print_table(ingest: dict, rows: list) -> None:
    print()
    head = ["figure", *[f"{b['passages']:,} passages" for b, *_ in rows]]
    lines = [
        ("ingest, end to end (real model)", lambda *r: f"{ingest['ingest_rate']:.0f}/s = "
         f"{ingest['ingest_rate'] / ingest['raw_rate']:.1f}x raw torch ({ingest['raw_rate']:.0f}/s)"),
        ("`ask` p50 / p99", lambda b, m, c, d, p: f"{m['p50']:.1f} / {m['p99']:.1f} ms"),
        ("`ask` p50 / p99, keyword side in line (parallel_retrieval = false)", lambda b, m, c, d, p:
         f"{m['inline_p50']:.1f} / {m['inline_p99']:.1f} ms"),
        ("`ask` p50 / p99, real questions", lambda b, m, c, d, p:
         f"{m['real']['p50']:.1f} / {m['real']['p99']:.1f} ms (support re-ranking on {m['real']['supported']:.0%}; "
         f"without it {m['real']['bare_p50']:.1f} / {m['real']['bare_p99']:.1f})"),
        ("`ask` CPU time p50 / p99 (the asking thread; the keyword side runs on another)", lambda b, m, c, d, p: f"{m['cpu_p50']:.1f} / {m['cpu_p99']:.1f} ms"),
        ("`ask` with a date bound p50 / p99", lambda b, m, c, d, p:
         f"{m['date_p50']:.1f} / {m['date_p99']:.1f} ms (since {m['since']})"),
        ("one new article: time, peak RSS", lambda b, m, c, d, p:
         f"{m['one_s']:.2f} s, {m['one_peak_mb']:.0f} MB (steady {m['steady_mb']:.0f} MB)"),
        ("steady RSS (after 200 questions)", lambda b, m, c, d, p: f"{m['steady_mb']:.0f} MB"),
        ("load indexes in process", lambda b, m, c, d, p: f"{m['load_s']:.2f} s"),
        ("cold `ask` (new process to answer): wall, CPU", lambda b, m, c, d, p: f"{c[0]:.2f} s, {c[1]:.2f} s CPU"),
        ("bot ready / `/help` answered / first `/ask` answered (from process start; SimCord)", lambda b, m, c, d, p:
         f"{m['start']['ready_s']:.2f} / {m['start']['help_s']:.2f} / {m['start']['ask_s']:.2f} s"),
        ("disk per 1k passages", lambda b, m, c, d, p: f"{d:.2f} MB"),
        ("dense index", lambda b, m, c, d, p: m["dense"]),
    ]
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join("---" for _ in head) + " |")
    for label, fn in lines:
        print("| " + " | ".join([label, *[fn(*r) for r in rows]]) + " |")
    print(f"\nencoder backend: {ingest['backend']}; big stores' vectors from a stand-in encoder, questions "
          f"and the ingest sample ({ingest['sample']} passages) with the real model; {os.cpu_count()} cores")
    real = rows[0][1]["real"] if rows else None
    if real:
        print(f"`ask` p50 / p99 asks {QUESTIONS} synthetic questions, each naming a company (with the support "
              f"re-ranking on, every one runs it); \"real questions\" are the {real['questions']} dev questions of the held-out eval "
              f"(tests/eval/heldout, never the test split) as members typed them, their articles "
              f"({real['added']} passages, real model) added to the synthetic store")


if __name__ == "__main__":
    main()
