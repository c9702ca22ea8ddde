"""corpus.passages: one passage per paragraph, short ones merged, long ones split, stable ids."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from corpus.model import Article, Section, passage_id
from corpus.passages import split_article
from corpus.readers import read_file
from corpus.text import split_sentences, word_count

DATA = Path(__file__).resolve().parents[1] / "corpus" / "data"


def _words(n: int, word: str = "Word") -> str:
    """A sentence of exactly n words (capitalised: a lower-case start would not split)."""
    return " ".join([word] * (n - 1) + [word + "."])


def _article(*sections: Section) -> Article:
    return Article(
        id="art-1",
        title="China Roundup",
        url="https://example.com/r",
        published="2020-01-01",
        sections=sections,
        source="Example",
    )


LONG_A = "Huawei shipped a record number of smartphones in the third quarter of the year, Canalys said."
LONG_B = "Alibaba is preparing for its annual Singles Day shopping festival on November 11 this year."
LONG_C = "Tencent resumed showing NBA preseason games on a Monday in October after public anger cooled."
SHORT_1 = "Deals were scarce."
SHORT_2 = "Xiaomi was quiet too."


def _texts(article: Article, **kw) -> list[str]:
    return [p.text for p in split_article(article, **kw)]


def test_one_passage_per_paragraph_with_metadata():
    article = _article(Section(None, (LONG_A,)), Section("Deals", (LONG_B, LONG_C)))
    passages = split_article(article)
    assert [(p.position, p.section, p.text) for p in passages] == [
        (0, None, LONG_A),
        (1, "Deals", LONG_B),
        (2, "Deals", LONG_C),
    ]
    p = passages[1]
    assert (p.article_id, p.title, p.url, p.published, p.source) == (
        "art-1",
        "China Roundup",
        "https://example.com/r",
        "2020-01-01",
        "Example",
    )
    assert p.id == passage_id("art-1", LONG_B)


def test_short_paragraph_merges_with_following():
    article = _article(Section("S", (SHORT_1, LONG_A, LONG_B)))
    assert _texts(article) == [f"{SHORT_1} {LONG_A}", LONG_B]


def test_consecutive_short_paragraphs_merge_forward_together():
    article = _article(Section("S", (SHORT_1, SHORT_2, LONG_A)))
    assert _texts(article) == [f"{SHORT_1} {SHORT_2} {LONG_A}"]


def test_last_short_paragraph_joins_previous():
    article = _article(Section("S", (LONG_A, LONG_B, SHORT_1)))
    assert _texts(article) == [LONG_A, f"{LONG_B} {SHORT_1}"]


def test_lone_short_paragraph_stays_and_merging_never_crosses_sections():
    article = _article(Section("A", (LONG_A,)), Section("B", (SHORT_1,)), Section("C", (SHORT_2, LONG_C)))
    passages = split_article(article)
    assert [(p.section, p.text) for p in passages] == [
        ("A", LONG_A),
        ("B", SHORT_1),
        ("C", f"{SHORT_2} {LONG_C}"),
    ]


def test_short_paragraphs_merge_into_one_when_section_has_only_shorts():
    article = _article(Section("S", (SHORT_1, SHORT_2)))
    assert _texts(article) == [f"{SHORT_1} {SHORT_2}"]


def test_min_words_zero_disables_merging():
    article = _article(Section("S", (SHORT_1, SHORT_2)))
    assert _texts(article, min_words=0) == [SHORT_1, SHORT_2]


def test_long_paragraph_split_at_sentences_into_balanced_chunks():
    sentences = [_words(25, f"W{i}") for i in range(10)]  # 250 words
    article = _article(Section("S", (" ".join(sentences),)))
    texts = _texts(article, max_words=180)
    assert texts == [" ".join(sentences[:5]), " ".join(sentences[5:])]
    assert [word_count(t) for t in texts] == [125, 125]


def test_long_paragraph_split_uneven_sentences_stays_under_max():
    sizes = [40, 70, 30, 90, 20, 60, 45, 35]  # 390 words -> at least 3 chunks
    sentences = [_words(n, f"S{i}") for i, n in enumerate(sizes)]
    paragraph = " ".join(sentences)
    texts = _texts(_article(Section(None, (paragraph,))), max_words=180)
    assert [word_count(t) for t in texts] == [140, 110, 140]
    assert " ".join(texts) == paragraph
    assert all(split_sentences(t)[-1].endswith(".") for t in texts)


def test_single_overlong_sentence_split_at_words():
    sentence = " ".join(f"w{i}" for i in range(400)) + "."
    texts = _texts(_article(Section(None, (sentence,))), max_words=180)
    assert [word_count(t) for t in texts] == [134, 134, 132]
    assert " ".join(texts) == sentence


def test_cjk_paragraph_split_without_adding_spaces():
    first = "华为第三季度智能手机出货量创下纪录。"  # 17 CJK words
    second = "阿里巴巴为双十一购物节做准备。"  # 14 CJK words
    paragraph = first * 6 + second * 7  # 102 + 98 = 200 words
    texts = _texts(_article(Section(None, (paragraph,))), max_words=180)
    assert texts == [first * 6, second * 7]


def test_every_bundled_passage_within_limits():
    articles = read_file(DATA / "sample_roundups.jsonl").articles
    articles += read_file(DATA / "seeds" / "000_a486d6ca8c2bef93.txt").articles
    for article in articles:
        passages = split_article(article)
        assert [p.position for p in passages] == list(range(len(passages)))
        assert all(12 <= word_count(p.text) <= 180 for p in passages)
        assert len({p.id for p in passages}) == len(passages)
    seed = articles[-1]
    assert [p.section for p in split_article(seed)] == [None] + ["TikTok's troubles within the U.S."] * 5


def test_ids_stable_across_runs_and_insertions():
    article = _article(Section("S", (LONG_A, LONG_B)), Section("T", (LONG_C,)))
    first = split_article(article)
    assert [p.id for p in split_article(article)] == [p.id for p in first]

    inserted = "A brand new paragraph about ByteDance was inserted at the very top here."
    edited = replace(article, sections=(Section("S", (inserted, LONG_A, LONG_B)), Section("T", (LONG_C,))))
    second = split_article(edited)
    assert [p.text for p in second] == [inserted, LONG_A, LONG_B, LONG_C]
    assert [p.id for p in second[1:]] == [p.id for p in first]
    assert [p.position for p in second] == [0, 1, 2, 3]


def test_identical_passages_kept_once_positions_contiguous():
    article = _article(Section("S", (LONG_A, LONG_B)), Section("T", (LONG_A, LONG_C)))
    passages = split_article(article)
    assert [(p.position, p.section, p.text) for p in passages] == [
        (0, "S", LONG_A),
        (1, "S", LONG_B),
        (2, "T", LONG_C),
    ]


def test_ids_depend_on_article():
    a = _article(Section(None, (LONG_A,)))
    b = replace(a, id="art-2")
    assert split_article(a)[0].id != split_article(b)[0].id


@pytest.mark.parametrize("kw", [{"max_words": 0}, {"min_words": -1}, {"min_words": 200, "max_words": 100}])
def test_bad_limits_rejected(kw):
    with pytest.raises(ValueError):
        split_article(_article(Section(None, (LONG_A,))), **kw)
