"""The service end to end on the real model, FAISS and SQLite: ingest, ask, filters, recovery."""
from __future__ import annotations

import json

import pytest

from embeddings.search import QuestionError


from sample_articles import P1, P2, P3
from sample_articles import article as _art
from sample_articles import write_jsonl as _jsonl


def test_bundled_corpus_answers_tiktok_question(bundled_service):
    answer = bundled_service.ask("Where does TikTok say it keeps American users' data?")
    assert answer.answered
    top = answer.hits[0]
    assert "Singapore" in top.passage.text
    assert top.passage.url.startswith("http")
    assert top.best_sentence and "Singapore" in top.best_sentence
    assert answer.hits == sorted(answer.hits, key=lambda h: -h.score)


@pytest.mark.parametrize("question, needle", [
    ("How many smartphones did Huawei ship in 2018?", "Huawei"),
    ("Why did Tencent stop streaming NBA games?", "NBA"),
    ("What did Beijing order about blocking links between platforms?", "link"),
    ("Sichuan bitcoin miners told to shut down", "Sichuan"),
])
def test_bundled_corpus_answers_sample_questions(bundled_service, question, needle):
    answer = bundled_service.ask(question)
    assert answer.answered
    assert any(needle.lower() in h.passage.text.lower() for h in answer.hits[:3])


def test_unanswerable_question_is_refused(bundled_service):
    answer = bundled_service.ask("What is a good recipe for banana bread?")
    assert not answer.answered


def test_date_filters_apply_before_the_cut(bundled_service):
    answer = bundled_service.ask("Huawei smartphone shipments", since="2020-01-01", k=5)
    assert answer.hits and all(h.passage.published >= "2020-01-01" for h in answer.hits)
    answer = bundled_service.ask("Huawei smartphone shipments", until="2014-12-31", k=5)
    assert all(h.passage.published <= "2014-12-31" for h in answer.hits)
    assert not bundled_service.ask("Huawei", since="2030-01-01").hits


@pytest.mark.parametrize("bad", ["", "   ", "x" * 1001])
def test_bad_questions_are_refused_with_a_clear_message(bundled_service, bad):
    with pytest.raises(QuestionError) as exc:
        bundled_service.ask(bad)
    assert "\n" not in str(exc.value)


def test_ingest_is_idempotent_and_incremental(make_service, tmp_path, encoder):
    svc = make_service(auto_ingest_bundled=False)
    f1 = _jsonl(tmp_path / "one.jsonl", [_art("a1", "2022-01-03", [P1, P2])])
    f2 = _jsonl(tmp_path / "two.jsonl", [_art("a2", "2022-01-10", [P3])])

    before = encoder.encoded
    r = svc.ingest([f1])
    assert r.ok and r.totals()["passages_added"] == 2 and r.embedded == 2
    assert encoder.encoded - before == 2

    before, status = encoder.encoded, svc.status()
    r = svc.ingest([f1])
    assert r.totals()["articles_unchanged"] == 1 and r.embedded == 0
    assert encoder.encoded == before
    assert svc.status()["passages"] == status["passages"]

    r = svc.ingest([f2])
    assert r.embedded == 1 and encoder.encoded - before == 1
    assert "robotaxi" in svc.ask("driverless taxis in Wuhan").hits[0].passage.text

    # a fresh process over the same data dir loads the saved index and embeds nothing
    before = encoder.encoded
    again = make_service(svc.settings.data_dir, auto_ingest_bundled=False)
    assert again.ask("Xiaomi store in Madrid").hits[0].passage.text == P1
    assert encoder.encoded == before


def test_changed_article_replaces_its_passages(make_service, tmp_path):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1, P2])])])
    r = svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1, P3])])])
    assert r.totals()["articles_updated"] == 1 and r.embedded == 1 and r.removed == 1
    texts = [h.passage.text for h in svc.ask("Meituan delivery riders", k=5).hits]
    assert P2 not in texts


def test_malformed_jsonl_line_reported_rest_ingested(make_service, tmp_path):
    svc = make_service(auto_ingest_bundled=False)
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(_art("a1", "2022-01-03", [P1])) + "\n{oops\n"
                    + json.dumps(_art("a2", "2022-01-04", [P3])) + "\n", encoding="utf-8")
    r = svc.ingest([path])
    assert not r.ok
    assert any(f"{path}:2" in e for e in r.errors)
    assert r.totals()["articles_added"] == 2
    logged = svc.store.last_ingest()
    assert logged["status"] == "partial" and f"{path}:2" in logged["detail"]


def test_missing_file_fails_and_keeps_what_is_stored(make_service, tmp_path):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1])])])
    r = svc.ingest([tmp_path / "nope.jsonl"])
    assert not r.ok and "nope.jsonl" in r.errors[0]
    assert svc.status()["passages"] == 1


def test_corrupt_index_is_rebuilt_from_the_store(make_service, tmp_path, caplog):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1, P2, P3])])])
    index_file = svc.settings.data_dir / "index.faiss"
    index_file.write_bytes(index_file.read_bytes()[:50])
    fresh = make_service(svc.settings.data_dir, auto_ingest_bundled=False)
    with caplog.at_level("WARNING"):
        answer = fresh.ask("Baidu robotaxi permit")
    assert "rebuilding the index" in caplog.text
    assert answer.hits[0].passage.text == P3


def test_model_mismatch_triggers_rebuild_not_wrong_vectors(make_service, tmp_path, caplog):
    svc = make_service(auto_ingest_bundled=False)
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [_art("a1", "2022-01-03", [P1, P2])])])
    manifest = svc.settings.data_dir / "index.json"
    data = json.loads(manifest.read_text())
    data["model"] = "some-other-model"
    manifest.write_text(json.dumps(data))
    fresh = make_service(svc.settings.data_dir, auto_ingest_bundled=False)
    with caplog.at_level("WARNING"):
        fresh.ask("Xiaomi")
    assert "model" in caplog.text and "rebuilding" in caplog.text
    assert json.loads(manifest.read_text())["model"] == fresh.settings.encoder.identity


def test_status_reports_counts_without_loading_anything_heavy(bundled_service):
    st = bundled_service.status()
    assert st["articles"] == 12 and st["passages"] > 40
    assert st["first_published"] == "2013-09-29" and st["last_published"] == "2021-09-18"
    assert st["index"]["vectors"] == st["passages"]
    assert st["last_ingest"]["status"] in {"ok", "partial"}


def test_cached_passages_never_outlive_a_change_to_the_store(make_service, tmp_path):
    """Candidates' passages are remembered between questions, but only while the store's generation
    holds: a retitled roundup (same passage ids) shows its new title in the next answer."""
    svc = make_service(auto_ingest_bundled=False)
    art = _art("a1", "2022-01-03", [P1, P2, P3])
    svc.ingest([_jsonl(tmp_path / "a.jsonl", [art])])
    first = svc.ask("Baidu robotaxi permit in Wuhan").hits[0].passage
    assert first.text == P3 and first.title == "Roundup a1"
    assert svc.ask("Baidu robotaxi permit in Wuhan").hits[0].passage is first  # remembered
    svc.ingest([_jsonl(tmp_path / "b.jsonl", [{**art, "title": "Roundup a1, corrected"}])])
    again = svc.ask("Baidu robotaxi permit in Wuhan").hits[0].passage
    assert again.id == first.id and again.title == "Roundup a1, corrected"
