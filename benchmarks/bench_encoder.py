"""Encoder backends side by side: torch (sentence-transformers), ONNX fp32, ONNX int8.

Speed: passages/s encoding the bundled corpus's passages in batches, and single-question latency
(p50/p99), at 1 and 2 threads. Quality: the eval (`roundup-bot eval tests/eval/questions.jsonl`)
with ROUNDUP_ENCODER_BACKEND set, each backend in a fresh data directory (its own ingest), plus the
wall time of that first run and of a cold `ask` after it.

Run: `.venv/bin/python benchmarks/bench_encoder.py [--passages N] [--queries N] [--skip-eval]`.
Prints tables; asserts nothing. Numbers from a shared, busy machine move run to run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_env import ROOT  # noqa: E402  (offline env, import paths: benchmarks/bench_env.py)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from embeddings.encoder import DEFAULT_MODEL, SentenceTransformerEncoder  # noqa: E402
from embeddings.onnx_encoder import OnnxEncoder  # noqa: E402
from embeddings.onnx_export import ensure_onnx  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")
EVAL_FILE = ROOT / "tests" / "eval" / "questions.jsonl"
COLD_QUESTION = "Where does TikTok say it keeps American users' data?"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def make_encoder(backend: str, threads: int, cache: Path):
    if backend == "torch":
        return SentenceTransformerEncoder(DEFAULT_MODEL, threads=threads)
    variant = "int8" if backend == "onnx-int8" else "fp32"
    return OnnxEncoder(DEFAULT_MODEL, variant=variant, cache_dir=cache, threads=threads, batch_threads=threads)


def speed_row(backend: str, threads: int, cache: Path, passages: list[str], questions: list[str]) -> list[str]:
    """Model load + first query, batch throughput (median of 3), then single-question latencies."""
    import sentence_transformers  # noqa: F401  (imports are paid before the clock: a cold start is
    import torch  # timed in the eval table, as a new process)

    torch.set_num_threads(threads)  # the torch encoder sets it only on its first load
    enc = make_encoder(backend, threads, cache)
    t0 = time.perf_counter()
    enc.encode_query("warm up")
    load_s = time.perf_counter() - t0
    enc.encode(passages[:64])
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        enc.encode(passages)
        runs.append(time.perf_counter() - t0)
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        enc.encode_query(q)
        ms.append((time.perf_counter() - t0) * 1000)
    return [backend, str(threads), f"{len(passages) / statistics.median(runs):.0f}", f"{pct(ms, 50):.2f}",
            f"{pct(ms, 99):.2f}", f"{load_s:.2f}"]


def corpus_passages(data_dir: Path | None) -> list[str]:
    """The bundled corpus's passages as the index embeds them: from an eval data dir's store, or
    a throwaway ingest (torch) when the eval was skipped."""
    from bot.service import RoundupService
    from bot.settings import Settings
    from corpus.store import Store
    from embeddings.search import embed_text

    if data_dir is not None and (data_dir / "roundup.sqlite3").is_file():
        store = Store(data_dir / "roundup.sqlite3")
        texts = [embed_text(p) for p in store.passages()]
        store.close()
        return texts
    with tempfile.TemporaryDirectory() as tmp:
        svc = RoundupService(Settings.load(env={}, data_dir=Path(tmp)))
        svc.ensure_ready()
        texts = [embed_text(p) for p in svc.store.passages()]
        svc.close()
    return texts


# VmHWM, not getrusage: Linux carries ru_maxrss over from the parent through fork and exec.
RUN_CLI = ("import re, sys\nfrom bot.cli import main\nrc = main(sys.argv[1:])\n"
           "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
           "print(f'maxrss_kb={hwm}', file=sys.stderr)\nsys.exit(rc)\n")


def run_cli(args: list[str], data_dir: Path, backend: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """A new process running the CLI: its output, wall seconds and peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROUNDUP_DATA_DIR": str(data_dir),
           "ROUNDUP_ENCODER_BACKEND": backend}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN_CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = [line.split("=", 1)[1] for line in proc.stderr.splitlines() if line.startswith("maxrss_kb=")]
    return proc, wall, int(rss[-1]) / 1024 if rss else float("nan")


def eval_rows(backend: str, cache: Path, work: Path) -> list[list[str]]:
    """The eval in a fresh data dir (ONNX export copied in, so its time is ingest, not export)."""
    data = work / backend
    if backend != "torch":
        shutil.copytree(cache, data / "models")
    proc, first_s, _ = run_cli(["eval", str(EVAL_FILE), "--json"], data, backend)
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.splitlines() if x.strip() and not x.startswith("maxrss_kb=")]
        return [[backend, "error", lines[-1] if lines else "?"]]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    _, cold_s, cold_mb = run_cli(["ask", COLD_QUESTION], data, backend)
    rows = []
    for system in ("dense", "hybrid"):
        s = report["systems"][system]
        rows.append([backend, system, f"{s['recall_at_1']:.3f}", f"{s['mrr_at_10']:.3f}", f"{s['answer_rate']:.3f}",
                     f"{s['refusal_rate']:.3f}", f"{s['correct_answer_rate']:.3f}", f"{first_s:.0f}",
                     f"{cold_s:.1f}", f"{cold_mb:.0f}"])
    return rows


def table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    t = Table(title=title)
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i < 2 else "right")
    for row in rows:
        t.add_row(*row)
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=0, help="encode at most this many passages (0 = all)")
    parser.add_argument("--queries", type=int, default=200, help="single questions timed per row")
    parser.add_argument("--skip-eval", action="store_true")
    args = parser.parse_args()
    console = Console(width=150)  # a piped run keeps every column
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as tmp:
        cache = Path(tmp) / "onnx"
        t0 = time.perf_counter()
        ensure_onnx(DEFAULT_MODEL, cache, "int8")
        export_s = time.perf_counter() - t0
        eval_dir = Path(tmp) / "eval"
        quality = [] if args.skip_eval else [r for b in BACKENDS for r in eval_rows(b, cache, eval_dir)]
        passages = corpus_passages(None if args.skip_eval else eval_dir / "torch")
        passages = passages[:args.passages] if args.passages else passages
        questions = [json.loads(line)["question"] for line in EVAL_FILE.read_text("utf-8").splitlines() if line]
        questions = (questions * (args.queries // len(questions) + 1))[:args.queries]
        rows = [speed_row(b, n, cache, passages, questions) for n in (1, 2) for b in BACKENDS]
        console.print(table(f"Encoders on {len(passages)} bundled passages, {len(questions)} single questions "
                            f"({os.cpu_count()} cores, shared; export fp32+int8 took {export_s:.1f} s; "
                            "* imports done beforehand)",
                            ["backend", "threads", "passages/s", "query p50 ms", "query p99 ms", "load+1st s*"], rows))
        if quality:
            console.print(table(f"Eval ({EVAL_FILE.relative_to(ROOT)}), each backend in a fresh data dir; "
                                "first run = ingest + eval; cold ask = a new process answering one question (wall, peak RSS)",
                                ["backend", "system", "recall@1", "MRR@10", "answered", "refused", "right answer",
                                 "first run s", "cold ask s", "cold ask MB"], quality))


if __name__ == "__main__":
    main()
