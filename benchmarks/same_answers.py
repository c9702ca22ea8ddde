"""Every answer's detail written out, to prove two builds answer alike (a speed change must not move any).

    python benchmarks/same_answers.py DATA_DIR OUT.jsonl [--synthetic 300] [--dev] [--bundled]
    diff <(python ... old build ...) <(python ... new build ...)

One JSON line per question: answered, confidence and every answerability signal at full float
precision, and each hit's id, score, relevance and bold sentence, the notes and what was read
from the question. `--synthetic N` asks N synthetic questions (benchmarks/synth_roundups.py)
plain, with a date bound, with a period, as "latest" and as a second page; `--dev` the held-out
dev questions (benchmarks/heldout_dev.py; add the dev articles to the store first, `--add-dev`);
`--bundled` the bundled eval set (tests/eval/questions.jsonl). Run it once per build (e.g. from
`git archive` of the old commit) with the same settings (ROUNDUP_* environment) and compare the
files byte for byte. Runs with PYTHONHASHSEED=0 (it restarts itself so): some signals are float sums
over sets of words, whose order, and so whose last digit, otherwise changes from one process to
the next. Asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

if os.environ.get("PYTHONHASHSEED") != "0":  # see above: the same set order in both builds
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
from bench_env import ROOT  # noqa: E402  (offline env, import paths: benchmarks/bench_env.py)

import heldout_dev  # noqa: E402
import synth_roundups  # noqa: E402


def record(label: str, answer) -> dict:
    """The answer at full precision (floats as repr: the last digit counts)."""
    return {
        "q": label, "answered": answer.answered, "confidence": repr(answer.confidence),
        "signals": {k: repr(v) for k, v in asdict(answer.signals).items()} if answer.signals else None,
        "hits": [[h.passage.id, repr(h.score), repr(h.relevance), h.best_sentence] for h in answer.hits],
        "notes": answer.notes, "understood": answer.understood, "mode": answer.mode,
    }


def synthetic_asks(n: int, since: int) -> list[tuple[str, dict]]:
    qs = synth_roundups.questions(n, seed=11)
    out: list[tuple[str, dict]] = [(q, {}) for q in qs]
    out += [(f"{q} since {since}", {}) for q in qs[: n // 3]]
    out += [(f"{q} in {2011 + i % 13}", {}) for i, q in enumerate(qs[: n // 5])]
    out += [(f"latest on {q}", {}) for q in qs[: n // 10]]
    out += [(q, {"k": 3, "offset": 3}) for q in qs[: n // 10]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--synthetic", type=int, default=0)
    ap.add_argument("--dev", action="store_true")
    ap.add_argument("--add-dev", action="store_true", help="first ingest the held-out dev articles (once)")
    ap.add_argument("--bundled", action="store_true")
    args = ap.parse_args()
    from bot.settings import Settings
    from bot.service import RoundupService

    svc = RoundupService(Settings.load(data_dir=args.data_dir, auto_ingest_bundled=args.bundled))
    svc.ensure_ready()
    if args.add_dev:
        heldout_dev.add_dev_articles(svc)
    asks: list[tuple[str, dict]] = []
    if args.synthetic:
        counts = svc.store.counts()
        first, last = int(counts["first"][:4]), int(counts["last"][:4])
        asks += synthetic_asks(args.synthetic, first + (last - first) // 2)
    if args.dev:
        asks += [(q, {}) for q in heldout_dev.dev_questions()]
    if args.bundled:
        path = ROOT / "tests" / "eval" / "questions.jsonl"
        asks += [(json.loads(line)["question"], {}) for line in path.read_text("utf-8").splitlines() if line.strip()]
    with args.out.open("w", encoding="utf-8") as fh:
        for q, kw in asks:
            label = q + (f" {kw}" if kw else "")
            fh.write(json.dumps(record(label, svc.ask(q, **kw)), ensure_ascii=False) + "\n")
    svc.close()
    print(f"{len(asks)} answers written to {args.out}")


if __name__ == "__main__":
    main()
