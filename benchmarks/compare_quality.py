"""Retrieval and best-sentence quality by encoder backend and by how sentence vectors are made.

MRR@10 (hybrid, the floor ignored), answered (share of answerable questions the bot answers)
and answer-in-bold: each returned hit holding a labelled snippet counts as "in bold" when its
best sentence contains the snippet. Sentence vectors come from the passage's own pass
(one-pass) or from encoding each sentence again (separate). Runs on the bundled eval and on
the held-out DEV split only (the test split is frozen: nothing is chosen by looking at it).

    python benchmarks/compare_quality.py --backends torch,onnx,onnx-int8 --sentences one-pass,separate
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_env import ROOT  # noqa: E402  (offline env, import paths: benchmarks/bench_env.py)

from bot.service import RoundupService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from embeddings.encoder import create_encoder  # noqa: E402
from embeddings.evaluation import _norm, parse_questions  # noqa: E402

EVAL = ROOT / "tests" / "eval"


def corpora() -> list[tuple[str, list[Path], list]]:
    bundled = parse_questions((EVAL / "questions.jsonl").read_text("utf-8").splitlines())
    dev_lines = [line for f in sorted((EVAL / "heldout").glob("questions-*.jsonl"))
                 for line in f.read_text("utf-8").splitlines() if line.strip() and json.loads(line).get("split") == "dev"]
    heldout = parse_questions(dev_lines)
    return [("bundled eval", [], bundled),
            ("held-out dev split", sorted((EVAL / "heldout").glob("articles-*.jsonl")), heldout)]


def figures(svc: RoundupService, questions) -> tuple[float, float, int, int]:
    """(MRR@10, answered share, hits with the snippet in bold, hits holding a snippet)."""
    retriever = svc.retriever()
    rr, answered, bold, holding, n = 0.0, 0, 0, 0, 0
    for q in questions:
        if not q.answerable:
            continue
        n += 1
        full = retriever.search(q.question, k=10, keep_below_floor=True)
        rank = next((r for r, h in enumerate(full.hits, 1) if any(lb.matches(h.passage) for lb in q.labels)), None)
        rr += 1 / rank if rank else 0.0
        answer = svc.ask(q.question, k=5)
        answered += answer.answered
        for hit in answer.hits:
            label = next((lb for lb in q.labels if lb.snippet and lb.matches(hit.passage)), None)
            if label is not None:
                holding += 1
                bold += _norm(label.snippet) in _norm(hit.best_sentence or "")
    return rr / max(n, 1), answered / max(n, 1), bold, holding


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="torch")
    ap.add_argument("--sentences", default="separate,one-pass")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for backend in args.backends.split(","):
            encoder = create_encoder(backend=backend, cache_dir=Path(cache))
            encoder.encode_query("warm up")
            for name, files, questions in corpora():
                for mode in args.sentences.split(","):
                    with tempfile.TemporaryDirectory() as tmp:
                        settings = Settings.load(env={}, data_dir=Path(tmp), sentence_vectors=mode,
                                                 encoder_backend=backend, auto_ingest_bundled=not files)
                        svc = RoundupService(settings, encoder=encoder)
                        t0 = time.perf_counter()
                        if files:
                            svc.ingest(files)
                        svc.ensure_ready()
                        build = time.perf_counter() - t0
                        passages = svc.store.counts()["passages"]
                        mrr, answered, bold, total = figures(svc, questions)
                        svc.close()
                    rows.append((name, backend, mode, passages, build, mrr, answered, bold, total))
                    print(rows[-1], flush=True)
    print("| corpus | backend | sentences | passages | ingest s | MRR@10 | answered | answer in bold |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, backend, mode, passages, build, mrr, answered, bold, total in rows:
        print(f"| {name} | {backend} | {mode} | {passages} | {build:.1f} | {mrr:.3f} | {answered:.3f} | "
              f"{bold}/{total} = {bold / max(total, 1):.3f} |")


if __name__ == "__main__":
    main()
