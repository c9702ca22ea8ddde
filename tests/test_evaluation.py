"""The eval file format: parsing, label resolution and the errors a bad file gets."""
from __future__ import annotations

import json

import pytest

from corpus.model import Passage
from embeddings.evaluation import EvalError, first_relevant_rank, load_questions, parse_questions, resolve_labels

EVAL_FILE = __import__("pathlib").Path(__file__).parent / "eval" / "questions.jsonl"


def _p(pid, article, text):
    return Passage(id=pid, article_id=article, position=0, section=None, text=text, title="t", url="u",
                   published="2020-01-01")


def test_the_project_eval_set_has_what_the_issue_asks():
    questions = load_questions(EVAL_FILE)
    answerable = [q for q in questions if q.answerable]
    assert len(answerable) >= 60 and len(questions) - len(answerable) >= 10
    assert sum("zh" in q.tags for q in questions) >= 3
    assert {"typo", "date", "paraphrase", "product"} <= {t for q in questions for t in q.tags}
    # both versions of the 2019-11-03 roundup are accepted wherever both answer
    both = [q for q in questions if {lab.article for lab in q.labels} >= {"cr-2019-11-03", "seed-2019-11-03"}]
    assert len(both) >= 10


def test_labels_resolve_by_article_and_snippet():
    passages = [_p(1, "a", "Huawei shipped 10 million phones."), _p(2, "a", "Tencent streams NBA games."),
                _p(3, "b", "Huawei\u2019s   shipped phones again.")]
    qs = parse_questions([
        json.dumps({"id": "x", "question": "huawei phones", "answers": [
            {"article": "a", "snippet": "huawei shipped"}, {"article": "b", "snippet": "Huawei's shipped"}]}),
        json.dumps({"id": "y", "question": "anything from a?", "answers": [{"article": "a"}]}),
        json.dumps({"id": "z", "question": "banana bread", "answers": []}),
    ])
    assert resolve_labels(qs, passages) == {"x": {1, 3}, "y": {1, 2}, "z": set()}
    assert [q.answerable for q in qs] == [True, True, False]
    assert first_relevant_rank([9, 3, 1], {1, 3}) == 2 and first_relevant_rank([9], {1}) is None


def test_a_label_that_matches_nothing_names_the_question():
    qs = parse_questions([json.dumps({"id": "q7", "question": "x", "answers": [{"article": "a", "snippet": "zzz"}]})])
    with pytest.raises(EvalError, match="question q7: no passage of article 'a' with 'zzz'"):
        resolve_labels(qs, [_p(1, "a", "text")])


@pytest.mark.parametrize("lines, message", [
    (["{oops"], "f.jsonl:1: not JSON"),
    (["", json.dumps({"question": ""})], "f.jsonl:2: needs a non-empty \"question\""),
    ([json.dumps({"id": "a", "question": "x"}), json.dumps({"id": "a", "question": "y"})], "duplicate id 'a'"),
    ([json.dumps({"question": "x", "answers": {"article": "a"}})], "must be a list"),
    ([json.dumps({"question": "x", "answers": [{"snippet": "a"}]})], "needs an \"article\""),
    (["   "], "no questions"),
])
def test_bad_eval_files_get_one_line_with_the_place(lines, message):
    with pytest.raises(EvalError) as exc:
        parse_questions(lines, source="f.jsonl")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(EvalError, match="not found"):
        load_questions(tmp_path / "nope.jsonl")


def test_json_of_a_split_report_names_no_test_question():
    """The frozen test split is reported as aggregates only, in every part of `eval --json`."""
    from bot.evaluate import EvalReport
    from embeddings.evaluation import ModeSummary

    def summary(ids):
        return ModeSummary("hybrid", 0.3, 2, 1, 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                           misses=list(ids), wrong_answers=list(ids), unanswered=list(ids))

    report = EvalReport({"hybrid": summary(["dev-1", "test-1"])},
                        splits={"dev": {"hybrid": summary(["dev-1"])}, "test": {"hybrid": summary(["test-1"])}})
    text = json.dumps(report.to_dict())
    assert "test-1" not in text
    assert report.to_dict()["splits"]["dev"]["hybrid"]["misses"] == ["dev-1"]  # dev keeps its ids to tune on
