"""Helpers for the reliability tests: generated corpora, CLI subprocesses, counts of every part."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from embeddings.index import VectorIndex
from embeddings.sentence_index import SentenceIndex
from embeddings.sparse import SparseIndex

ROOT = Path(__file__).resolve().parents[2]
# The Discord path tests share tests/'s SimCord helpers (bot_helpers, test_bot_timeline's corpus).
if str(ROOT / "tests") not in sys.path:
    sys.path.append(str(ROOT / "tests"))

# Facts a question can find by meaning or by name; the rest of a generated corpus is filler.
FACTS = {
    "quasar": ("Quasar Robotics won a permit to run driverless delivery vans in Shenzhen's Nanshan district.",
               "Which company may run driverless delivery vans in Shenzhen?"),
    "lotus": ("Lotus Pay froze 40,000 merchant accounts after regulators found gambling payments.",
              "Why did a payments firm freeze merchant accounts?"),
    "heron": ("Heron Cloud cut prices for object storage by half to win small game studios.",
              "Who halved object storage prices for game studios?"),
}
WORDS = ("market shipments startup investors regulators quarter revenue smartphone chips cloud retail "
         "logistics platform users growth funding round factory exports batteries payments streaming "
         "province subsidy license drone satellite semiconductor ecommerce livestream").split()


def record(article_id: str, paragraphs: list[str], published: str = "2021-03-07") -> dict:
    return {"id": article_id, "title": f"Roundup {article_id}", "url": f"https://example.com/{article_id}",
            "published": published, "source": "Test Roundup",
            "sections": [{"heading": "News", "paragraphs": paragraphs}]}


def filler(rng: random.Random, n: int = 45) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_corpus(path: Path, *, articles: int, paragraphs: int, seed: int = 7, facts: bool = True) -> Path:
    """A JSONL corpus: the FACTS (one article each) and `articles` articles of filler paragraphs."""
    rng = random.Random(seed)
    lines = []
    if facts:
        for key, (fact, _) in FACTS.items():
            lines.append(record(f"fact-{key}", [fact, filler(rng)]))
    for a in range(articles):
        day = f"2020-{1 + a % 12:02d}-{1 + a % 27:02d}"
        lines.append(record(f"fill-{seed}-{a}", [f"{filler(rng)} Item {a}.{p}." for p in range(paragraphs)], day))
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    return path


def counts(data_dir: Path) -> dict:
    """What a clean run is compared on: store rows and each saved part's manifest count."""
    import sqlite3

    conn = sqlite3.connect(data_dir / "roundup.sqlite3")
    try:
        articles = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        passages = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    finally:
        conn.close()
    return {"articles": articles, "passages": passages,
            "vectors": VectorIndex.describe(data_dir).get("count"),
            "keyword": SparseIndex.describe(data_dir).get("count"),
            "sentences": SentenceIndex.describe(data_dir).get("count")}


def cli_env(data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDUP_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               ROUNDUP_DATA_DIR=str(data_dir), ROUNDUP_AUTO_INGEST_BUNDLED="0", PYTHONPATH=str(ROOT), **extra)
    return env


def cli(data_dir: Path, *args: str, stdin: bytes | None = None, timeout: float = 120, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=cli_env(data_dir, **extra),
                          input=stdin, capture_output=True, timeout=timeout)


def spawn(data_dir: Path, *args: str, **extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=ROOT, env=cli_env(data_dir, **extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture
def settings_for(tmp_path):
    def make(name: str = "data", **kw) -> Settings:
        return Settings.load(env={}, data_dir=tmp_path / name, auto_ingest_bundled=False, **kw)
    return make
