"""`roundup-bot digest` and `roundup-bot trend` in process, over the bundled corpus."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from bot.cli import main


@pytest.fixture
def data_dir(bundled_copy, monkeypatch):
    monkeypatch.delenv("ROUNDUP_DATA_DIR", raising=False)
    return str(bundled_copy)


def test_digest_json_has_the_issue_shape(data_dir, capsys):
    assert main(["digest", "--period", "month:2020-06", "--items", "3", "--json", "--data-dir", data_dir]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["period"]["since"] == "2020-06-01" and out["period"]["until"] == "2020-06-30"
    assert len(out["items"]) == 3
    for item in out["items"]:
        assert item["label"] and item["sentences"]
        assert all(set(s) == {"title", "url", "published"} for s in item["sources"])
        assert all(s["published"].startswith("2020-06") for s in item["sources"])


def test_digest_rendering_for_people(data_dir, capsys):
    assert main(["digest", "--topic", "Huawei", "--data-dir", data_dir]) == 0
    out = capsys.readouterr().out
    assert "Digest on Huawei: all roundups" in out
    assert "1." in out and "caixinglobal.com" in out
    assert "Drawn from 3 passages in 2 roundups." in out


@pytest.mark.parametrize("argv, heading", [
    ([], "Digest: the week 2021-09-13 to 2021-09-19 (latest)"),
    (["--period", "week:2019-11-03"], "Digest: the week 2019-10-28 to 2019-11-03"),
    (["--period", "year:2019"], "Digest: 2019"),
    (["--since", "2019-10-01"], "Digest: 2019-10-01 to 2021-09-18"),
])
def test_digest_heading_says_each_date_once(data_dir, capsys, argv, heading):
    assert main(["digest", *argv, "--items", "1", "--data-dir", data_dir]) == 0
    first = capsys.readouterr().out.splitlines()[0].rstrip(" \u2500")
    assert first == heading


def test_empty_period_prints_the_coverage(data_dir, capsys):
    assert main(["digest", "--since", "2022-01-01", "--until", "2022-03-31", "--data-dir", data_dir]) == 0
    assert ("no roundups between 2022-01-01 and 2022-03-31; the corpus covers 2013-09-29 to 2021-09-18"
            in capsys.readouterr().out)


@pytest.mark.parametrize("argv, fragment", [
    (["digest", "--period", "fortnight"], "unknown period 'fortnight'"),
    (["digest", "--period", "month:2020-13"], "YYYY-MM"),
    (["digest", "--period", "latest", "--since", "2020-01-01"], "not both"),
    (["digest", "--topic", "   "], "topic is empty"),
    (["digest", "--items", "11"], "between 1 and 10"),
    (["trend", ""], "topic is empty"),
])
def test_bad_digest_input_is_one_line_and_exit_2(data_dir, capsys, argv, fragment):
    try:
        code = main([*argv, "--data-dir", data_dir])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1


def test_trend_writes_a_png_and_lists_the_peaks(data_dir, tmp_path, capsys):
    out_file = tmp_path / "huawei.png"
    assert main(["trend", "Huawei", "--out", str(out_file), "--data-dir", data_dir]) == 0
    text = capsys.readouterr().out
    assert "Huawei: 3 passages in 2 of 97 months (matched by name)" in text
    assert "2019-01 (2)" in text and "Friday Tech Briefing" in text
    with Image.open(out_file) as img:
        assert img.format == "PNG"
    assert main(["trend", "华为", "--json", "--out", str(tmp_path / "alias.png"), "--data-dir", data_dir]) == 0
    alias = json.loads(capsys.readouterr().out)
    assert alias["total"] == 3 and alias["mode"] == "name"  # the Chinese name is an alias of Huawei
    assert [p["month"] for p in alias["peaks"]] == ["2019-01", "2020-06"]


@pytest.mark.parametrize("name", ["Zorblatt Dynamics", "zxqvbn corp", "qwxz"])
def test_trend_of_an_unknown_name_exits_1_without_a_file(data_dir, tmp_path, capsys, name):
    """Neither the alias table nor the corpus knows it: one line, no meaning-matched chart."""
    out_file = tmp_path / "none.png"
    assert main(["trend", name, "--out", str(out_file), "--data-dir", data_dir]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f'no roundup mentions "{name}"; the corpus covers 2013-09-29 to 2021-09-18'
    assert not captured.out and not out_file.exists()
    assert main(["trend", name, "--json", "--out", str(out_file), "--data-dir", data_dir]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["total"] == 0 and shown["note"].startswith("no roundup mentions") and shown["chart"] is None


@pytest.mark.parametrize("name, shown", [("huwaei", "Huawei"), ("pdd", "pdd"), ("electric cars", "electric cars"),
                                         ("Ant Group", "Ant Group")])
def test_trend_of_known_names_typos_and_topics_still_charts(data_dir, tmp_path, capsys, name, shown):
    out_file = tmp_path / "t.png"
    code = main(["trend", name, "--json", "--out", str(out_file), "--data-dir", data_dir])
    result = json.loads(capsys.readouterr().out)
    assert "no roundup mentions" not in result.get("note", "")
    assert result["name"] == shown
    if result["total"]:
        assert code == 0 and out_file.exists()


def test_trend_of_a_subject_the_corpus_talks_about_is_matched_by_meaning(data_dir, tmp_path, capsys):
    assert main(["trend", "electric cars", "--out", str(tmp_path / "e.png"), "--data-dir", data_dir]) == 0
    assert "(matched by meaning)" in capsys.readouterr().out
