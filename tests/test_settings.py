"""Settings: the flat ROUNDUP_* / TOML keys people set land in the nested parts that own the defaults."""
from __future__ import annotations

import pytest

from bot.settings import NESTED, Settings, SettingsError
from corpus.fetch import FetchConfig
from embeddings.encoder import EncoderConfig
from embeddings.search import SearchConfig


def test_defaults_come_from_the_parts_themselves():
    s = Settings.load(env={})
    assert s.search == SearchConfig() and s.fetch == FetchConfig() and s.encoder == EncoderConfig()


def test_environment_keys_reach_their_parts():
    s = Settings.load(env={"ROUNDUP_DENSE_WEIGHT": "0.4", "ROUNDUP_RELEVANCE_FLOOR": "0.31",
                           "ROUNDUP_RETRIEVAL": "bm25", "ROUNDUP_USER_AGENT": "Tester/1.0",
                           "ROUNDUP_FETCH_TIMEOUT": "7", "ROUNDUP_ALLOWED_PRIVATE_HOSTS": "a.lan, b.lan:1200",
                           "ROUNDUP_ALLOW_PRIVATE_URLS": "yes", "ROUNDUP_MODEL": "some/model",
                           "ROUNDUP_ENCODER_THREADS": "2", "ROUNDUP_TOP_K": "3"})
    assert (s.search.dense_weight, s.search.floor, s.search.mode) == (0.4, 0.31, "bm25")
    assert (s.fetch.user_agent, s.fetch.total_timeout, s.fetch.allow_private) == ("Tester/1.0", 7.0, True)
    assert s.fetch.allowed_hosts == frozenset({"a.lan", "b.lan:1200"})
    assert s.encoder == EncoderConfig(model="some/model", threads=2)
    assert s.top_k == 3
    assert s.relevance_floor == 0.31 and s.model == "some/model"  # the flat names still read


def test_toml_keys_reach_their_parts_and_the_environment_wins(tmp_path):
    config = tmp_path / "roundup.toml"
    config.write_text('dense_weight = 0.6\ncandidate_pool = 80\nfetch_retries = 1\n'
                      'encoder_threads = 0\nallowed_private_hosts = ["rsshub.lan"]\n', encoding="utf-8")
    s = Settings.load(env={"ROUNDUP_CANDIDATE_POOL": "90"}, config=config)
    assert (s.search.dense_weight, s.search.pool) == (0.6, 90)
    assert s.fetch.retries == 1 and s.fetch.allowed_hosts == frozenset({"rsshub.lan"})
    assert s.encoder.threads == 0


def test_every_flat_key_names_a_real_field_of_its_part():
    parts = {"search": SearchConfig(), "fetch": FetchConfig(), "encoder": EncoderConfig()}
    for key, (part, attr) in NESTED.items():
        assert hasattr(parts[part], attr), key
        env = {f"ROUNDUP_{key.upper()}": "1"} if key not in ("retrieval", "fusion", "model", "encoder_backend", "user_agent",
                                                              "allowed_private_hosts", "answerability_model",
                                                              "query_prompt", "passage_prompt") else {}
        if env:
            value = getattr(getattr(Settings.load(env=env), part), attr)
            assert value in (1, 1.0, True), key


def test_prompt_and_answerability_settings_reach_their_parts():
    s = Settings.load(env={"ROUNDUP_QUERY_PROMPT": "query: ", "ROUNDUP_PASSAGE_PROMPT": "passage: ",
                           "ROUNDUP_ANSWERABILITY": "off"})
    assert (s.encoder.query_prompt, s.encoder.passage_prompt) == ("query: ", "passage: ")
    assert s.search.answerability is False


def test_overrides_and_replace_take_flat_names():
    s = Settings.load(env={}, relevance_floor=0.2, fetch_per_host=4)
    assert s.search.floor == 0.2 and s.fetch.per_host == 4
    t = s.replace(fusion="rrf", top_k=2)
    assert t.search.fusion == "rrf" and t.search.floor == 0.2 and t.top_k == 2 and s.search.fusion == "weighted"


def test_bad_values_name_the_key_people_set(tmp_path):
    with pytest.raises(SettingsError, match="ROUNDUP_FETCH_RETRIES"):
        Settings.load(env={"ROUNDUP_FETCH_RETRIES": "many"})
    with pytest.raises(SettingsError, match="unknown setting 'floor'"):
        Settings.load(env={}, floor=0.3)


@pytest.mark.parametrize("key, value, accepted", [
    ("RETRIEVAL", "foo", "use dense, bm25 or hybrid"),
    ("TOP_K", "0", "use a whole number from 1 to 50"),
    ("TOP_K", "-2", "use a whole number from 1 to 50"),
    ("TOP_K", "five", "use a whole number from 1 to 50"),
    ("ENCODER_BACKEND", "tensorflow", "use torch, onnx or onnx-int8"),
    ("INDEX_TYPE", "ivf", "use flat, auto or hnswM"),
    ("SENTENCE_VECTORS", "twice", "use one-pass or separate"),
    ("DENSE_WEIGHT", "1.5", "use a number between 0 and 1"),
    ("DENSE_WEIGHT", "nan", "use a number between 0 and 1"),
    ("FETCH_TIMEOUT", "0", "use a number over 0"),
    ("CANDIDATE_POOL", "lots", "use a whole number of at least 1"),
    ("DIGEST_POST_HOUR", "24", "use a whole number from 0 to 23"),
    ("LOG_LEVEL", "loud", "use DEBUG, INFO, WARNING, ERROR or CRITICAL"),
])
def test_out_of_range_values_are_refused_at_load_in_one_line(key, value, accepted):
    with pytest.raises(SettingsError) as info:
        Settings.load(env={f"ROUNDUP_{key}": value})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"bad value for ROUNDUP_{key}: ") and value in message, message
    assert accepted in message, message


def test_toml_values_are_checked_and_named_with_their_file(tmp_path):
    config = tmp_path / "roundup.toml"
    config.write_text('top_k = 2.5\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"bad value for top_k in .*roundup.toml: 2.5 is not a whole number"):
        Settings.load(env={}, config=config)
    config.write_text('index_type = "ivf-pq"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"index_type in .*: 'ivf-pq'; use flat, auto or hnswM"):
        Settings.load(env={}, config=config)
    config.write_text('index_type = "hnsw16"\ntop_k = 7\nlog_level = "info"\n', encoding="utf-8")
    s = Settings.load(env={}, config=config)
    assert (s.index_type, s.top_k, s.log_level) == ("hnsw16", 7, "info")


def test_the_defaults_pass_their_own_rules():
    from bot.setting_rules import RULES

    s = Settings.load(env={})
    assert all(rule.ok(getattr(s, key)) for key, rule in RULES.items())
    assert set(RULES) <= set(NESTED) | set(Settings.__dataclass_fields__)


@pytest.mark.parametrize("command", [["status"], ["ask", "huawei"], ["stats"], ["timeline", "Huawei"]])
def test_every_command_refuses_a_bad_setting_with_exit_2(tmp_path, monkeypatch, capsys, command):
    from bot.cli import main

    monkeypatch.setenv("ROUNDUP_RETRIEVAL", "foo")
    assert main([*command, "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "roundup-bot: error: bad value for ROUNDUP_RETRIEVAL: 'foo'; use dense, bm25 or hybrid"
    assert not (tmp_path / "d").exists()  # refused before anything was created
