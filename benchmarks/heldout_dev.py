"""The held-out eval corpus's DEV part (tests/eval/heldout), for benchmarks that want real questions.

`add_dev_articles` ingests the dev articles into a service's store (the test articles and test
questions are never read: the test split is frozen, see README); `dev_questions` are the dev
questions as members typed them. Used by bench_scale.py (real questions in a big haystack) and
same_answers.py.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "eval" / "heldout"


def dev_article_lines() -> list[str]:
    return [line for f in sorted(HELDOUT.glob("articles-*.jsonl")) for line in f.read_text("utf-8").splitlines()
            if line.strip() and json.loads(line).get("split") == "dev"]


def dev_questions() -> list[str]:
    """The dev questions' text, in file order."""
    out = []
    for f in sorted(HELDOUT.glob("questions-*.jsonl")):
        for line in f.read_text("utf-8").splitlines():
            if line.strip() and json.loads(line).get("split") == "dev":
                out.append(json.loads(line)["question"])
    return out


def add_dev_articles(svc) -> int:
    """Ingest the dev articles (real model) into `svc`'s store; the passages it added."""
    with tempfile.TemporaryDirectory(prefix="heldout-dev-") as tmp:
        path = Path(tmp) / "dev-articles.jsonl"
        path.write_text("\n".join(dev_article_lines()) + "\n", "utf-8")
        report = svc.ingest([path])
    if report.errors:
        raise RuntimeError(f"dev articles failed to ingest: {report.errors[0]}")
    return report.embedded
