"""Issue 10: the answerability model, the answer-type sentence scorer, the typo reader's restraint,
model prompts, and the held-out eval's loader and answer-in-bold metric."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from corpus.aliases import AliasTable, Entity, default_table
from corpus.words import english_words, is_english
from embeddings.answerability import (FEATURES, MONOTONE, Signals, assign_folds, choose_threshold, fit_model,
                                      load_model, name_share, question_names)
from embeddings.evaluation import EvalError, EvalQuestion, Label, Outcome, parse_questions, summarise_outcomes
from embeddings.extract import SentenceWeights, holds_kind, question_kind, score_sentences
from embeddings.query import understand
from embeddings.sparse import tokenize
from sample_articles import focus

HELDOUT = Path(__file__).parent / "eval" / "heldout"
BASE = Signals(cosine=0.6, coverage=0.6, focus_coverage=0.5, sentence_coverage=0.5, missing_max=0.2, names_passage=1.0,
               names_article=1.0, names_pool=1.0, year_match=1.0, kind_match=1.0, margin=0.2, length=1.7,
               sentence_cosine=0.6)


# --- answerability -----------------------------------------------------------------------------

def test_shipped_model_loads_with_its_provenance():
    model = load_model()
    assert set(model.coefficients) == set(FEATURES)
    assert model.provenance["split"] == "dev" and model.provenance["questions"] > 200
    assert "cv" in model.provenance and 0 < model.threshold < 1


@pytest.mark.parametrize("signal", ["cosine", "coverage", "focus_coverage", "sentence_cosine", "names_passage",
                                    "names_article"])
def test_confidence_never_falls_as_a_main_signal_rises(signal):
    model = load_model()
    values = np.linspace(0.0, 1.0, 6)
    conf = [model.confidence(dataclasses.replace(BASE, **{signal: float(v)})) for v in values]
    assert all(b >= a for a, b in zip(conf, conf[1:]))
    if signal in ("focus_coverage", "sentence_cosine"):
        # The dense and the lexical evidence each carry real weight, not just a zero coefficient
        # (the fit may give it to these rather than to the correlated passage cosine and coverage).
        assert conf[-1] > conf[0]


def test_fit_keeps_main_signals_monotone_even_when_the_data_pull_the_other_way():
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for _ in range(200):
        y = rng.random() < 0.6
        cos = rng.uniform(0.5, 0.9) if y else rng.uniform(0.2, 0.6)
        names = 0.0 if y else 1.0  # a perverse sample: names found only where it is unanswerable
        rows.append(dataclasses.replace(BASE, cosine=cos, names_passage=names, names_article=names))
        labels.append(y)
    model, cv = fit_model(rows, labels, folds=4)
    assert model.coefficients["cosine"] > 0
    assert all(model.coefficients[f] >= 0 for f in MONOTONE)
    assert cv["balanced_accuracy"] > 0.8
    assert json.loads(model.to_json())["provenance"]["rows"] == 200


def test_grouped_folds_keep_each_article_s_questions_together():
    groups = [f"article{i % 7}" for i in range(40)] + [f"q{i}" for i in range(10)]
    folds = assign_folds(len(groups), 5, seed=3, groups=groups)
    for g in set(groups):
        assert len({int(f) for f, h in zip(folds, groups) if h == g}) == 1
    assert set(folds.tolist()) == set(range(5))
    assert sorted(np.bincount(assign_folds(50, 5)).tolist()) == [10] * 5  # ungrouped: round-robin


def test_threshold_keeps_the_answered_share_it_is_asked_for():
    conf = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    answerable = np.array([0, 0, 1, 0, 1, 1, 1, 1, 1, 1], dtype=bool)
    t, cv = choose_threshold(conf, answerable, min_answered=0.95)
    assert cv["answered"] == 1.0 and 0.2 < t < 0.3
    t2, cv2 = choose_threshold(conf, answerable)
    assert cv2["balanced_accuracy"] >= cv["balanced_accuracy"] and t2 > t


def test_question_names_and_where_they_are_found():
    names = question_names("Did Zorblax raise money from Tencent?", [("Tencent",)])
    assert ("zorblax",) in names and ("tencent",) in names and ("did",) not in names
    assert name_share(names, "tencent invested in a startup") == 0.5
    assert name_share([("alibaba film unit",)], "alibaba's film unit agreed to work with huayi") == 1.0
    assert name_share([], "anything") == 1.0


def test_refuses_a_question_about_a_company_no_roundup_names(bundled_service):
    for question in ("How much did Zorblax Robotics raise in its Series B?", "what did pinduoduo report in 2019"):
        answer = bundled_service.ask(question)
        assert not answer.answered, question
        assert answer.to_dict()["answered"] is False
    known = bundled_service.ask("Where does TikTok say it keeps American users' data?")
    assert known.answered and 0.0 <= known.confidence <= 1.0
    assert known.to_dict()["confidence"] == round(known.confidence, 3)
    assert "Singapore" in known.hits[0].best_sentence


def test_focus_words_are_what_is_asked_not_who_nor_the_question_form():
    qf = focus("how much did Zorblax spend on research")
    assert set(qf.focus) == set(tokenize("spend research"))  # not "zorblax", not "much"
    assert "zorblax" in qf.name_terms


def test_focus_share_counts_close_forms_and_rises_with_the_words_held():
    qf = focus("who were the founders of the acquired startup")
    passages = ["The weather was mild.", "The startup was founded in 2011.",
                "Its founders sold the startup; the acquisition closed in May."]
    shares = [qf.focus_share(tokenize(p)) for p in passages]
    # "founded" meets "founders", "acquisition" meets "acquired"
    assert shares[0] == 0.0 and 0.0 < shares[1] < shares[2] <= 1.0
    assert focus("so, Zorblax?").focus_share(tokenize("nothing")) == 1.0  # no focus words


# --- the answer, not just the passage ------------------------------------------------------------

@pytest.mark.parametrize("question, kind", [
    ("who bought musical.ly", "person_org"), ("which company makes the kirin chip", "person_org"),
    ("when did huawei unveil harmonyos", "date"), ("what year did ofo raise its series c", "date"),
    ("where does tiktok keep us data", "place"), ("how much did apple put into didi", "amount"),
    ("how many rides a day did didi do", "number"), ("why did tencent stop the nba games", "reason"),
    ("did jd give a number", "yesno"), ("huawei net profit for 2018?", "amount"), ("tiktok ban news", None),
    ("did the firm fire the staff who read the files", "yesno"), ("is it known where the data is kept", "yesno"),
])
def test_question_kind(question, kind):
    assert question_kind(question) == kind


def test_holds_kind():
    assert holds_kind("Apple put $1 billion into Didi.", "amount")
    assert holds_kind("Revenue was 721.2 billion yuan.", "amount")
    assert not holds_kind("Apple invested in Didi.", "amount")
    assert holds_kind("The deal closed on May 13, 2016.", "date")
    assert holds_kind("It keeps a backup in Singapore.", "place")
    assert holds_kind("The app was founded by Su Hua and Cheng Yixiao.", "person_org")
    assert not holds_kind("it was founded by two engineers.", "person_org")
    assert not holds_kind("Who founded Kuaishou?", "person_org", "who founded kuaishou")
    assert not holds_kind("Sales in 2018 were up.", "date", "what happened in 2018")


def _score(question, sentences, dense=None):
    qterms = {t: 1.0 for t in tokenize(question)}
    dense = dense if dense is not None else [0.5] * len(sentences)
    return score_sentences(sentences, dense, [tokenize(s) for s in sentences], qterms, question_kind(question),
                           question=question)


def test_scorer_picks_the_sentence_holding_the_expected_kind():
    sents = ["Huawei released its annual report on Friday, giving its revenue for the year.",
             "Net profit rose 25 percent to 59.3 billion yuan."]
    assert int(np.argmax(_score("how much profit did huawei make", sents))) == 1
    where = ["TikTok said the data was safe.", "The data is stored in Singapore."]
    assert int(np.argmax(_score("where is tiktok data stored", where))) == 1


def test_scorer_reads_close_forms_and_weighs_what_is_asked_above_the_name():
    question = "who were zorblax's founders"
    sents = ["Zorblax, a Zorblax-branded robot maker, said Zorblax would expand.",
             "It was founded in 2011 by two engineers, Li Wei and Zhang Min."]
    qterms = {t: 1.0 for t in tokenize(question)}
    names = set(tokenize("zorblax"))
    terms = [tokenize(x) for x in sents]
    scores = score_sentences(sents, [0.5, 0.5], terms, qterms, question_kind(question), question=question,
                             name_terms=names)
    assert int(np.argmax(scores)) == 1
    exact = score_sentences(sents, [0.5, 0.5], terms, qterms, None,
                            dataclasses.replace(SentenceWeights(), variants=False, names=1.0), question, names)
    assert int(np.argmax(exact)) == 0  # without close forms and name weighting, only the name matches


def test_a_sentence_that_only_restates_the_question_scores_low():
    sents = ["Who founded Kuaishou?", "Kuaishou was founded in 2011 by Su Hua and Cheng Yixiao, two engineers."]
    scores = _score("who founded kuaishou", sents, dense=[0.9, 0.7])
    assert scores[1] > scores[0]


# --- reading questions without misreading them ---------------------------------------------------

@pytest.mark.parametrize("word", ["whats", "us", "it", "ai", "apple", "ant", "govt", "hasnt", "apps"])
def test_ordinary_words_are_english(word):
    assert is_english(word)


def test_word_list_is_the_shipped_one():
    assert 40_000 <= len(english_words()) <= 60_000
    assert not is_english("tencnet") and not is_english("xiomi")


@pytest.mark.parametrize("question", [
    "whats new with tiktok", "did the us ban it", "is ai big in china", "apple and ant news",
    "whats the weather in shanghai", "what did they say about it",
])
def test_typo_reader_never_turns_ordinary_words_into_names(question):
    u = understand(question, aliases=default_table(), known=lambda w: False)
    fuzzy = [(a, b) for a, b in u.rewrites if a.lower() in question.split() and b in {
        e.name for e in default_table().entities.values()}]
    typed = set(question.split())
    assert all(a not in typed or a in {"ai"} for a, _ in fuzzy), fuzzy


@pytest.mark.parametrize("typo, name", [("tencnet", "Tencent"), ("xiomi", "Xiaomi"), ("hauwei", "Huawei")])
def test_typo_reader_still_corrects_real_typos(typo, name):
    u = understand(f"{typo} revenue 2019", aliases=default_table(), known=lambda w: False)
    assert name in u.names and (typo, name) in u.rewrites


def test_typo_reader_leaves_words_the_corpus_knows_and_ambiguous_typos_alone():
    u = understand("nio deliveries", aliases=default_table(), known=lambda w: w == "nio")
    assert not u.rewrites
    table = AliasTable([Entity("Zorbax"), Entity("Zorbex")])
    assert table.closest_name("zorbix") is None  # as close to both: not guessed
    assert table.closest_name("zorbaxx").name == "Zorbax"


# --- model prompts -------------------------------------------------------------------------------

def test_prompts_change_the_vectors_as_the_model_prescribes(encoder):
    from embeddings.encoder import SentenceTransformerEncoder

    prompted = SentenceTransformerEncoder(query_prompt="query: ", passage_prompt="passage: ")
    prompted._model = encoder.model  # the same weights; the prompts are applied per call
    plain_q = encoder.encode_queries(["huawei revenue 2019"])
    q = prompted.encode_queries(["huawei revenue 2019"])
    assert (plain_q @ q.T).item() < 0.999  # different from the unprompted vector...
    assert (q @ encoder.encode_queries(["query: huawei revenue 2019"]).T).item() == pytest.approx(1.0, abs=1e-5)
    p = prompted.encode(["Huawei's revenue rose."])
    assert (p @ encoder.encode_queries(["passage: Huawei's revenue rose."]).T).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("prompt", ["", "query: "])
def test_the_question_vector_and_its_tokens_come_from_one_pass_as_two_would_give(encoder, prompt):
    """torch backend: `encode_query_tokens` runs the model once (it used to run it twice per
    question), bit for bit what `encode_query` and `encode_tokens` give apart, prompt included."""
    from embeddings.encoder import SentenceTransformerEncoder

    enc = SentenceTransformerEncoder(query_prompt=prompt)
    enc._model = encoder.model
    runs = []
    handle = enc.model[0].register_forward_hook(lambda *_: runs.append(1))
    try:
        for q in ["how much did huawei spend on r&d in 2018", "  Who fined Alibaba?", "小米 revenue 2018"]:
            runs.clear()
            vec, tokens = enc.encode_query_tokens(q)
            assert len(runs) == 1
            alone = enc.encode_tokens([q])[0]
            assert np.array_equal(vec, enc.encode_query(q)) and tokens.offsets == alone.offsets
            assert np.array_equal(tokens.vectors, alone.vectors)
            assert q[slice(*tokens.offsets[0])].lower() in {"how", "who", "小"}
    finally:
        handle.remove()


def test_changing_a_prompt_rebuilds_the_index(make_service, bundled_copy, caplog):
    from embeddings.encoder import SentenceTransformerEncoder

    plain = make_service(bundled_copy)
    plain.ensure_ready()
    before = json.loads((bundled_copy / "index.json").read_text())["embed_format"]
    enc = SentenceTransformerEncoder(query_prompt="query: ", passage_prompt="passage: ")
    enc._model = plain.encoder.model
    prompted = make_service(bundled_copy, query_prompt="query: ", passage_prompt="passage: ")
    prompted._encoder = enc
    caplog.set_level("WARNING")
    prompted.ensure_ready()
    after = json.loads((bundled_copy / "index.json").read_text())["embed_format"]
    assert after != before and "prompts:" in after
    assert enc.encoded == prompted.store.counts()["passages"]  # every passage re-embedded
    assert any("rebuilding the index" in r.getMessage() for r in caplog.records)


# --- the held-out eval ---------------------------------------------------------------------------

def test_heldout_loader_reads_both_splits_and_their_articles():
    from bot.evaluate import load_eval_set

    questions, articles = load_eval_set(HELDOUT)
    assert {q.split for q in questions} == {"dev", "test"} and len(articles) >= 2
    assert all(q.answer for q in questions if q.answerable)
    with pytest.raises(EvalError):
        parse_questions(['{"question": "x", "split": "train"}'])


def test_answer_in_bold_needs_the_right_first_passage_and_the_answer_in_bold():
    q = EvalQuestion("q1", "where is the data", (Label("a"),), split="dev", answer="Singapore")
    good = Outcome(q, [1], True, 0.5, 1.0, rank=1, bold="A backup is kept in singapore.")
    wrong_sentence = dataclasses.replace(good, bold="TikTok rejected the claims.")
    wrong_passage = dataclasses.replace(good, rank=2)
    assert good.answer_in_bold and not wrong_sentence.answer_in_bold and not wrong_passage.answer_in_bold
    summary = summarise_outcomes("hybrid", 0.3, [good, wrong_sentence, wrong_passage])
    assert summary.answer_in_bold == pytest.approx(1 / 3)


def test_answerability_is_never_fitted_on_test():
    from bot.evaluate import EvalReport, fit_answerability

    with pytest.raises(EvalError):
        fit_answerability(EvalReport(summaries={}), split="test")


def test_an_unusable_model_file_falls_back_to_the_floor(make_service, bundled_copy, tmp_path, caplog):
    bad = tmp_path / "model.json"
    bad.write_text('{"features": ["cosine"]}')
    svc = make_service(bundled_copy, answerability_model=str(bad))
    caplog.set_level("WARNING")
    answer = svc.ask("Where does TikTok say it keeps American users' data?")
    assert answer.answered and answer.confidence is None  # the floor decided
    assert any("relevance floor" in r.getMessage() for r in caplog.records)


def _tiny_heldout(root: Path) -> Path:
    """A held-out directory of our own: one dev and one test roundup, two questions each."""
    d = root / "heldout"
    d.mkdir()
    articles = [
        {"id": "t-dev-1", "title": "Roundup: Zentrix buys a chip designer", "url": "https://example.com/z1",
         "published": "2022-03-06", "split": "dev", "sections": [{"heading": "Zentrix deal", "paragraphs": [
             "Zentrix Robotics agreed on March 2, 2022 to buy the chip designer Halvane for $1.2 billion in cash. "
             "The deal gives Zentrix its own vision processors for warehouse robots."]}]},
        {"id": "t-test-1", "title": "Roundup: Morvel opens in Lisbon", "url": "https://example.com/m1",
         "published": "2022-05-08", "split": "test", "sections": [{"heading": "Morvel abroad", "paragraphs": [
             "The scooter maker Morvel opened its first European factory in Lisbon on May 3, 2022. "
             "The plant will build 80,000 scooters a year for buyers across Europe."]}]},
    ]
    (d / "articles-x.jsonl").write_text("\n".join(json.dumps(a) for a in articles) + "\n", encoding="utf-8")
    questions = [
        {"id": "x1", "question": "how much did zentrix pay for halvane", "split": "dev", "answer": "$1.2 billion",
         "answers": [{"article": "t-dev-1", "snippet": "for $1.2 billion"}]},
        {"id": "x2", "question": "how much did zentrix pay for its cloud unit", "split": "dev", "answers": []},
        {"id": "x3", "question": "where did morvel open its european factory", "split": "test", "answer": "Lisbon",
         "answers": [{"article": "t-test-1", "snippet": "first European factory in Lisbon"}]},
        {"id": "x4", "question": "when did morvel list its shares", "split": "test", "answers": []},
    ]
    (d / "questions-x.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n", encoding="utf-8")
    return d


def test_eval_command_on_a_heldout_directory_shows_dev_and_test(encoder, tmp_path, capsys, monkeypatch):
    from bot.cli import main

    for key in [k for k in __import__("os").environ if k.startswith("ROUNDUP_")]:
        monkeypatch.delenv(key)
    heldout = _tiny_heldout(tmp_path)
    data = tmp_path / "data"
    assert main(["eval", str(heldout), "--data-dir", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["splits"]) == {"dev", "test"} and "questions" not in out
    for split in ("dev", "test"):
        s = out["splits"][split]["hybrid"]
        assert s["answerable"] == 1 and s["unanswerable"] == 1 and s["answer_in_bold"] is not None
    assert (data / "eval" / "heldout" / "roundup.sqlite3").exists()  # its own data directory
    assert main(["eval", str(heldout), "--data-dir", str(data)]) == 0
    text = capsys.readouterr().out
    assert "dev" in text and "test" in text and "answer in bold" in text and "MRR@10 gap" in text
