"""The held-out eval data (tests/eval/heldout): every label must point at the one passage it means.

The held-out corpus is split by article into `dev` and a frozen `test` part, and each question
carries the short answer it expects. These checks need no model: they read the articles with
the project's own reader and passage splitter, so a label that would silently match nothing
(or the wrong article) in `roundup-bot eval` fails here first.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.passages import split_article
from corpus.readers import read_file
from corpus.text import split_sentences
from embeddings.evaluation import Label, _norm, load_questions

HELDOUT = Path(__file__).parent / "eval" / "heldout"
SAMPLE = Path(__file__).resolve().parents[1] / "corpus" / "data" / "sample_roundups.jsonl"
ARTICLE_FILES = sorted(HELDOUT.glob("articles-*.jsonl"))
QUESTION_FILES = sorted(HELDOUT.glob("questions-*.jsonl"))
SPLITS = {"dev", "test"}


def _raw_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def corpus():
    """Held-out articles (id -> raw JSON, cleaned Article, passages) plus the bundled sample's passages."""
    raw, passages = {}, {}
    for path in ARTICLE_FILES:
        result = read_file(path)
        assert not result.errors, result.errors
        lines = _raw_lines(path)
        assert len(result.articles) == len(lines), f"{path.name}: some lines were not read"
        for obj, article in zip(lines, result.articles):
            assert article.id == obj["id"]
            assert article.id not in raw, f"duplicate article id {article.id}"
            raw[article.id] = obj
            passages[article.id] = split_article(article)
    sample = {a.id: split_article(a) for a in read_file(SAMPLE).articles}
    assert not set(sample) & set(raw), "held-out ids must not reuse the bundled sample's"
    return raw, passages, sample


def test_heldout_files_exist():
    assert ARTICLE_FILES and QUESTION_FILES
    assert {p.name.removeprefix("articles-") for p in ARTICLE_FILES} == {
        p.name.removeprefix("questions-") for p in QUESTION_FILES}


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda p: p.name)
def test_articles_parse_split_and_keep_a_third_for_test(path, corpus):
    raw, passages, _ = corpus
    lines = _raw_lines(path)
    for obj in lines:
        assert obj.get("split") in SPLITS, f"{obj['id']}: split must be dev or test"
        assert passages[obj["id"]], f"{obj['id']}: no passages"
    test_share = sum(obj["split"] == "test" for obj in lines) / len(lines)
    assert test_share >= 1 / 3, f"{path.name}: test share {test_share:.2f} < 1/3"


def _answer_sentence(passage_text: str, answer: str) -> str | None:
    return next((s for s in split_sentences(passage_text) if _norm(answer) in _norm(s)), None)


@pytest.mark.parametrize("path", QUESTION_FILES, ids=lambda p: p.name)
def test_questions_point_at_one_passage_holding_the_answer(path, corpus):
    raw, passages, sample = corpus
    parsed = {q.id: q for q in load_questions(path)}  # the eval's own parser accepts the file
    problems: list[str] = []
    for obj in _raw_lines(path):
        qid, split, answer = obj["id"], obj.get("split"), obj.get("answer")
        if split not in SPLITS:
            problems.append(f"{qid}: split {split!r}")
        if not parsed[qid].answerable:
            if answer is not None or "unanswerable" not in obj.get("tags", []):
                problems.append(f"{qid}: an unanswerable question has answer null and the tag 'unanswerable'")
            continue
        for label in parsed[qid].labels:
            if label.article not in raw:
                problems.append(f"{qid}: unknown article {label.article}")
                continue
            if raw[label.article]["split"] != split:
                problems.append(f"{qid}: split {split} but its article is {raw[label.article]['split']}")
            hits = [p for p in passages[label.article] if label.matches(p)]
            if len(hits) != 1:
                problems.append(f"{qid}: snippet matches {len(hits)} passages of {label.article}")
                continue
            elsewhere = [aid for aid, ps in {**passages, **sample}.items() if aid != label.article
                         and any(Label(aid, label.snippet).matches(p) for p in ps)]
            if elsewhere:
                problems.append(f"{qid}: snippet also found in {elsewhere}")
            if not isinstance(answer, str) or not answer.strip():
                problems.append(f"{qid}: no answer text")
            elif _answer_sentence(hits[0].text, answer) is None:
                problems.append(f"{qid}: answer {answer!r} is in no sentence of its passage")
    assert not problems, "\n".join(problems)


def test_ids_are_unique_across_files():
    ids = [obj["id"] for path in QUESTION_FILES for obj in _raw_lines(path)]
    assert len(ids) == len(set(ids))


def test_answer_check_rejects_an_answer_outside_the_passage():
    """The sentence check above can fail: an answer absent from the passage finds no sentence."""
    text = "Huawei sued the U.S. government in Plano, Texas. Guo Ping announced it."
    assert _answer_sentence(text, "plano, texas") == "Huawei sued the U.S. government in Plano, Texas."
    assert _answer_sentence(text, "Shenzhen") is None
