"""Core speed on the bundled corpus: encode throughput, index build, `ask` latency.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_core.py`). Prints tables; asserts nothing.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import bench_env  # noqa: E402,F401  (offline env, import paths: benchmarks/bench_env.py)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bot.service import RoundupService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from embeddings.encoder import create_encoder  # noqa: E402
from embeddings.search import embed_text  # noqa: E402

QUESTIONS = [
    "Where does TikTok say it keeps American users' data?",
    "how many phones did huawei ship",
    "why did tencent stop showing nba games",
    "alibaba cloud hiring",
    "beijing walled gardens links",
    "sichuan bitcoin miners",
    "xiaomi going abroad",
    "weibo ipo",
    "what did evergrande buy",
    "kuaishou and bytedance",
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    console = Console()
    encoder = create_encoder()
    t0 = time.perf_counter()
    encoder.encode_query("warm up")
    load_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        svc = RoundupService(Settings.load(env={}, data_dir=Path(tmp)), encoder=encoder)
        t0 = time.perf_counter()
        svc.ensure_ready()
        first_build_s = time.perf_counter() - t0
        passages = svc.store.passages()
        texts = [embed_text(p) for p in passages]

        batch = (texts * (512 // len(texts) + 1))[:512]
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            encoder.encode(batch)
            runs.append(time.perf_counter() - t0)
        throughput = len(batch) / statistics.median(runs)

        rebuilds = []
        for _ in range(3):
            t0 = time.perf_counter()
            svc.rebuild()
            rebuilds.append(time.perf_counter() - t0)

        reload_s = []
        for _ in range(3):
            fresh = RoundupService(svc.settings, encoder=encoder)
            t0 = time.perf_counter()
            fresh.ensure_ready()
            reload_s.append(time.perf_counter() - t0)
            fresh.close()

        for q in QUESTIONS:  # warm caches
            svc.ask(q)
        timings: dict[str, list[float]] = {"ask (with best sentence)": [], "ask (passages only)": [],
                                           "ask --since 2019-01-01": []}
        for _ in range(20):
            for q in QUESTIONS:
                for label, kw in (("ask (with best sentence)", {}),
                                  ("ask (passages only)", {"with_best_sentence": False}),
                                  ("ask --since 2019-01-01", {"since": "2019-01-01"})):
                    t0 = time.perf_counter()
                    svc.ask(q, **kw)
                    timings[label].append((time.perf_counter() - t0) * 1000)
        svc.close()

    table = Table(title=f"Roundup Bot core on the bundled corpus ({len(passages)} passages)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("model load + first encode", f"{load_s:.2f} s")
    table.add_row("first run: ingest bundled corpus + build index", f"{first_build_s:.2f} s")
    table.add_row("encode throughput (512 passages, median of 3)", f"{throughput:.0f} passages/s")
    table.add_row("index rebuild from store (median of 3)", f"{statistics.median(rebuilds) * 1000:.0f} ms")
    table.add_row("load saved index + check store (median of 3)", f"{statistics.median(reload_s) * 1000:.1f} ms")
    console.print(table)

    lat = Table(title=f"ask latency, {len(QUESTIONS)} questions x 20 runs")
    for col in ("path", "p50 ms", "p99 ms", "mean ms"):
        lat.add_column(col, justify="right" if col != "path" else "left")
    for label, values in timings.items():
        lat.add_row(label, f"{pct(values, 50):.1f}", f"{pct(values, 99):.1f}", f"{statistics.mean(values):.1f}")
    console.print(lat)


if __name__ == "__main__":
    main()
