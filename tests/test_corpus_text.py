"""corpus.text (normalising, sentences, words) and corpus.clean (furniture, fragments, dupes)."""
from __future__ import annotations

import pytest

from corpus.clean import clean_article, is_furniture
from corpus.model import Article, Section
from corpus.text import has_final_punctuation, normalize_text, split_sentences, word_count

# --- normalize_text ------------------------------------------------------------------------


def test_normalize_quotes_spaces_and_invisibles():
    raw = "  \u201cTikTok\u2019s\u201d\u00a0troubles\u200b,\u2009in\t\n the\u3000U.S. "
    assert normalize_text(raw) == "\"TikTok's\" troubles, in the U.S."


def test_normalize_nfkc_folds_fullwidth_and_ellipsis():
    assert normalize_text("\uff21\uff22\uff23 \uff11\uff12 wait\u2026") == "ABC 12 wait..."


def test_normalize_removes_zero_width_inside_words():
    assert normalize_text("Byte\u200dDance\ufeff and Ten\u00adcent") == "ByteDance and Tencent"


def test_normalize_empty():
    assert normalize_text(" \u00a0\u200b\n ") == ""


# --- split_sentences -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "The U.S. and the U.K. agreed. Then Mr. Smith left.",
            ["The U.S. and the U.K. agreed.", "Then Mr. Smith left."],
        ),
        (
            "Apple Inc. reported results. Shares rose 3.5% to $8.5 billion. Good.",
            ["Apple Inc. reported results.", "Shares rose 3.5% to $8.5 billion.", "Good."],
        ),
        (
            "Huawei Technologies Co. Ltd. shipped phones, e.g. the Mate 30, i.e. flagships. Sales rose.",
            [
                "Huawei Technologies Co. Ltd. shipped phones, e.g. the Mate 30, i.e. flagships.",
                "Sales rose.",
            ],
        ),
        (
            "J. K. Rowling wrote. Dr. Li met St. Peter on Jan. 5 vs. Feb. 3. No. 1 was fine.",
            ["J. K. Rowling wrote.", "Dr. Li met St. Peter on Jan. 5 vs. Feb. 3.", "No. 1 was fine."],
        ),
        (
            'He said "we are done." Then he left! Did he? Yes.',
            ['He said "we are done."', "Then he left!", "Did he?", "Yes."],
        ),
        (
            "Market share hit 8.5% in Q3. Xiaomi Corp. was second.",
            ["Market share hit 8.5% in Q3.", "Xiaomi Corp. was second."],
        ),
        (
            "Sales of the iPhone fell. iPhone sales fell again. eBay too.",
            ["Sales of the iPhone fell.", "iPhone sales fell again.", "eBay too."],
        ),
        ("It is approx. the same.", ["It is approx. the same."]),
        ("Shipments rose... The end", ["Shipments rose...", "The end"]),
        ("Done in 2019. The next one", ["Done in 2019.", "The next one"]),
        ("(He left.) She stayed.", ["(He left.)", "She stayed."]),
        ("", []),
        ("   ", []),
        ("No final punctuation", ["No final punctuation"]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_split_sentences_cjk():
    text = normalize_text("我们很高兴。你好吗？是的！\u201c好的。\u201d然后呢")
    assert split_sentences(text) == ["我们很高兴。", "你好吗?", "是的!", '"好的。"', "然后呢"]


def test_split_sentences_cjk_keeps_closing_quote():
    text = normalize_text("他说：\u201c我们来了！\u201d大家笑了。")
    assert split_sentences(text) == ['他说:"我们来了!"', "大家笑了。"]


def test_split_sentences_mixed_cjk_and_latin():
    assert split_sentences("华为发布新手机。It sold well. 销量很好。") == [
        "华为发布新手机。",
        "It sold well.",
        "销量很好。",
    ]


# --- word_count / has_final_punctuation -----------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello world", 2),
        ("  spaced   out\ttext\n", 3),
        ("中国科技 news 2019", 6),
        ("这是一个测试。", 6),
        ("TikTok 在美国", 4),
        ("a \u2014 b", 2),
        ("", 0),
    ],
)
def test_word_count(text, expected):
    assert word_count(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("TikTok's troubles within the U.S.", False),
        ("Apple Inc.", False),
        ("Looking beyond the U.S", False),
        ("Huawei shipments surge", False),
        ("Huawei shipments surge.", True),
        ('He said "yes."', True),
        ("Is this the end?", True),
        ("Here is what happened:", True),
        ("华为出货量激增。", True),
    ],
)
def test_has_final_punctuation(text, expected):
    assert has_final_punctuation(text) is expected


# --- clean ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Source link",
        "Please enter your comment!",
        "Please enter your name here",
        "You have entered an incorrect email address!",
        "Leave a Reply",
        "Leave a Reply Cancel reply",
        "Share this:",
        "Share on Facebook",
        "Share on Twitter",
        "Click to share on Twitter (Opens in new window)",
        "Facebook Twitter LinkedIn",
        "Read more",
        "Read more: Huawei shipments continue to surge",
        "Related posts",
        "Related",
        "Subscribe to our newsletter",
        "Sign up for our daily newsletter",
        "Advertisement",
        "Tags: China, TikTok, ByteDance",
        "Filed under: Asia",
        "Image Credits: Getty Images",
        "Copyright 2019 Applebytecrunch. All rights reserved.",
        "Save my name, email, and website in this browser for the next time I comment.",
        "  - Share this  ",
        "* * *",
        "\u0394",
        "12 Comments",
    ],
)
def test_is_furniture(line):
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    [
        "Xiaomi",
        "WeChat",
        "Deals",
        "TikTok's troubles within the U.S.",
        "Source: Reuters reported that ByteDance is in talks with regulators.",
        "Read more about the deal in the company's filing, which was published on Monday and "
        "runs to more than 300 pages covering every aspect of the proposed acquisition terms.",
        "Sign up numbers at the app rose 40% in March.",
        "Copyright law in China changed in 2020.",
        "Advertising revenue at Baidu fell 8% in the quarter.",
        "The company said users can share on Facebook and WeChat without limits.",
    ],
)
def test_is_not_furniture(line):
    assert not is_furniture(line)


def _article(*sections: Section, title: str = "T") -> Article:
    return Article(id="a", title=title, url="http://x/", published="2020-01-01", sections=sections)


def test_clean_article_removes_furniture_and_trailing_fragment():
    article = _article(
        Section(None, ("First paragraph here.",)),
        Section(
            "Heading\u00a0one",
            (
                "Second \u201cparagraph\u201d.\nShare this:",
                "Complete sentence ends. The query is, will ByteDance\u2026",
            ),
        ),
        Section("Related posts", ("Source link", "Please enter your comment!\nPlease enter your name here")),
    )
    cleaned = clean_article(article)
    assert cleaned.sections == (
        Section(None, ("First paragraph here.",)),
        Section("Heading one", ('Second "paragraph".', "Complete sentence ends.")),
    )


def test_clean_article_drops_paragraph_that_is_all_fragment():
    article = _article(Section(None, ("Kept.", "And then the company said it would\u2026")))
    assert clean_article(article).sections == (Section(None, ("Kept.",)),)


def test_clean_article_only_trims_fragment_at_the_very_end():
    article = _article(Section(None, ("He paused... Then he went on.", "Middle ends here\u2026", "Last one.")))
    assert clean_article(article).sections[0].paragraphs == (
        "He paused... Then he went on.",
        "Middle ends here...",
        "Last one.",
    )


def test_clean_article_dedupes_across_sections_case_insensitively():
    article = _article(
        Section("A", ("Huawei grew.", "  ", "Tencent fell.")),
        Section("B", ("HUAWEI  GREW.", "Alibaba rose.")),
        Section("C", ("tencent fell.",)),
    )
    cleaned = clean_article(article)
    assert cleaned.sections == (
        Section("A", ("Huawei grew.", "Tencent fell.")),
        Section("B", ("Alibaba rose.",)),
    )


def test_clean_article_normalises_title_and_drops_heading_repeating_title():
    article = _article(
        Section("China  Roundup", ("Intro.",)),
        Section("Deals", ("A deal.",)),
        title=" China\u00a0Roundup ",
    )
    cleaned = clean_article(article)
    assert cleaned.title == "China Roundup"
    assert [s.heading for s in cleaned.sections] == [None, "Deals"]


def test_clean_article_furniture_heading_keeps_prose_with_previous_section():
    article = _article(
        Section("Deals", ("A deal.",)),
        Section("Advertisement", ("Real prose that followed an ad slot.",)),
    )
    assert clean_article(article).sections == (
        Section("Deals", ("A deal.", "Real prose that followed an ad slot.")),
    )


def test_normalize_matches_its_definition_on_any_text():
    """The ASCII shortcut and the split/join spacing give what the full definition gives: controls
    stripped, NFKC, straight quotes, invisibles removed, `\\s+` runs collapsed and stripped."""
    import random
    import re
    import unicodedata

    from corpus.text import _INVISIBLE_RE, _QUOTE_MAP, fix_surrogates, strip_controls

    def reference(s: str) -> str:
        s = unicodedata.normalize("NFKC", strip_controls(fix_surrogates(s))).translate(_QUOTE_MAP)
        return re.sub(r"\s+", " ", _INVISIBLE_RE.sub("", s)).strip()

    rng = random.Random(5)
    alphabet = [chr(c) for c in [*range(0x250), 0x200b, 0x200d, 0xad, 0x2018, 0x2019, 0x201c, 0x3000, 0xa0, 0x85,
                                 0x2028, 0x1b, 0xd800, 0xff21, 0xfb01, 0x2160, 0x202e, 0x1680, 0x180e, 0x4e00]]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert normalize_text(text) == reference(text), repr(text)
