"""Digest and trend timings on the bundled corpus: cold (sentences encoded) and warm (cached).

Prints a table of medians and p50/p99 over repeated runs. Not part of the test suite.
    HF_HUB_OFFLINE=1 python benchmarks/bench_digest.py [--runs 7]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import bench_env  # noqa: E402,F401  (offline env, import paths: benchmarks/bench_env.py)

from bot.service import RoundupService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from digests.summary import SentenceVectors  # noqa: E402

CASES = [("latest", None), ("year:2019", None), ("all", None), (None, "Huawei"), (None, "electric cars")]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = RoundupService(Settings.load(env={}, data_dir=Path(tmp)))
        svc.ensure_ready()
        svc.encoder.encode_query("warm up")
        rows = []
        for period, topic in CASES:
            cold, warm, sentences = [], [], 0
            for _ in range(args.runs):
                svc._sentence_vectors = SentenceVectors(svc.encoder.encode_queries)  # forget cached sentences
                t = time.perf_counter()
                d = svc.digest(period, topic=topic)
                cold.append((time.perf_counter() - t) * 1000)
                sentences = svc.sentence_vectors.encoded
                t = time.perf_counter()
                svc.digest(period, topic=topic)
                warm.append((time.perf_counter() - t) * 1000)
            label = f"digest {period or ''}{' topic=' + topic if topic else ''}".strip()
            rows.append((label, d.passages, sentences, cold, warm))
        trend = []
        for _ in range(args.runs):
            t = time.perf_counter()
            svc.trend("TikTok")
            trend.append((time.perf_counter() - t) * 1000)
        svc.close()
    print(f"{'operation':34} {'passages':>8} {'sentences':>9} {'cold p50':>9} {'cold p99':>9} {'warm p50':>9} {'warm p99':>9}")
    for label, n, s, cold, warm in rows:
        print(f"{label:34} {n:8d} {s:9d} {pct(cold, .5):8.0f}ms {pct(cold, .99):8.0f}ms "
              f"{pct(warm, .5):8.0f}ms {pct(warm, .99):8.0f}ms")
    print(f"{'trend TikTok (with PNG)':34} {'':8} {'':9} {statistics.median(trend):8.0f}ms {pct(trend, .99):8.0f}ms")


if __name__ == "__main__":
    main()
