"""Issue 12, point 1 end to end: every derived file damaged five ways; the next `ask` answers right.

A small corpus is ingested by the real service (real model, FAISS, bm25s, SQLite); one derived
file is damaged; a fresh service (as a new CLI process would be) answers a question with the
right passage and logs exactly one line about it. The store is the truth, so nothing is lost.
"""
from __future__ import annotations

import logging
import os
import random
import shutil

import pytest

from bot.service import RoundupService
from conftest import FACTS, write_corpus

# Every data file kind (FAISS, sentence vectors, the keyword index's ids and matrix) and a manifest.
FILES = ["index.faiss", "index-delta.npz", "index.json", "sentences/seg-000001.npy", "sparse/ids.npy", "sparse/indices.csc.index.npy"]


def _truncate_zero(p):
    p.write_bytes(b"")


def _truncate_half(p):
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])


def _random_bytes(p):
    p.write_bytes(random.Random(3).randbytes(max(64, p.stat().st_size)))


def _bit_flip(p):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x10
    p.write_bytes(bytes(data))


def _delete(p):
    os.remove(p)


DAMAGE = {"truncate-0": _truncate_zero, "truncate-half": _truncate_half, "random-bytes": _random_bytes,
          "bit-flip": _bit_flip, "delete": _delete}


@pytest.fixture(scope="module")
def template(tmp_path_factory, encoder):
    """A data dir with the small corpus ingested, copied for each case."""
    from bot.settings import Settings

    root = tmp_path_factory.mktemp("damage")
    corpus = write_corpus(root / "corpus.jsonl", articles=6, paragraphs=3)
    svc = RoundupService(Settings.load(env={}, data_dir=root / "data", auto_ingest_bundled=False), encoder=encoder)
    report = svc.ingest([corpus])
    assert report.ok and report.embedded > 20
    svc.close()
    return root / "data"


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("victim", FILES)
def test_damaged_file_next_ask_answers_and_logs_one_line(template, tmp_path, make_service, caplog, victim, damage):
    data = tmp_path / "data"
    shutil.copytree(template, data)
    DAMAGE[damage](data / victim)
    svc = make_service(data, auto_ingest_bundled=False)
    fact, question = FACTS["quasar"]
    with caplog.at_level(logging.WARNING):
        answer = svc.ask(question)
    assert answer.answered and answer.hits[0].passage.text.startswith(fact)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "from the store" in warnings[0].getMessage()
    # healed on disk: the next process loads without a word
    caplog.clear()
    again = make_service(data, auto_ingest_bundled=False)
    with caplog.at_level(logging.WARNING):
        assert again.ask(question).hits[0].passage.text.startswith(fact)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
