"""Best-sentence quality and ingest time: sentence vectors from the passage's own pass vs encoded separately.

For every question with labels, each returned hit that holds a labelled snippet counts as
"in bold" when its best sentence contains the snippet. Run on the bundled eval and on the
held-out DEV split only (the test split is frozen: nothing is chosen by looking at it).

    python benchmarks/compare_sentences.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def in_bold(svc: RoundupService, questions) -> tuple[int, int]:
    hits_with_snippet = bold = 0
    for q in questions:
        if not q.answerable:
            continue
        answer = svc.ask(q.question, k=5)
        for hit in answer.hits:
            for label in q.labels:
                if label.snippet and label.matches(hit.passage):
                    hits_with_snippet += 1
                    bold += _norm(label.snippet) in _norm(hit.best_sentence or "")
                    break
    return bold, hits_with_snippet


def main() -> None:
    encoder = create_encoder()
    encoder.encode_query("warm up")
    rows = []
    for name, files, questions in corpora():
        for mode in ("separate", "one-pass"):
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings.load(env={}, data_dir=Path(tmp), sentence_vectors=mode,
                                         auto_ingest_bundled=not files)
                svc = RoundupService(settings, encoder=encoder)
                t0 = time.perf_counter()
                if files:
                    svc.ingest(files)
                svc.ensure_ready()
                build = time.perf_counter() - t0
                passages = svc.store.counts()["passages"]
                bold, total = in_bold(svc, questions)
                svc.close()
            rows.append((name, mode, passages, build, bold, total))
    print(f"{'corpus':<20} {'sentences':<9} {'passages':>8} {'ingest s':>8} {'answer in bold':>15}")
    for name, mode, passages, build, bold, total in rows:
        print(f"{name:<20} {mode:<9} {passages:>8} {build:>8.1f} {bold:>4}/{total:<4} {bold / max(total, 1):6.1%}")


if __name__ == "__main__":
    main()
