"""The answer embed as members read it: the bold answer, short quotes, each source once, within
Discord's limits on every path; the "read as" notes; /help examples that the bot really answers."""
from __future__ import annotations

import json
import re

import discord
import pytest

from bot import render
from bot.app import create_bot
from bot.service import RoundupService
from bot.settings import Settings
from bot_helpers import assert_fits, cited_numbers, show, sources
from corpus.model import Passage
from embeddings.search import Answer, Hit

pytestmark = pytest.mark.simcord(settle_timeout=60)

QUESTIONS = [
    "What did TikTok do in the US?",  # two stored copies of one roundup: one source
    "Huawei smartphone shipments",
    "Where does TikTok say it keeps American users' data?",
    "Why did Tencent stop streaming NBA preseason games?",
]


@pytest.fixture
def world(simcord_env):
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("china-tech")
    members = [guild.add_member(simcord_env.create_user(f"m{i}")) for i in range(4)]
    return simcord_env, guild, channel, members


def check_answer_embed(embed: discord.Embed) -> None:
    """One answer: bold first line, quotes, each article once in Sources numbered by first use."""
    assert_fits(embed)
    assert [f.name for f in embed.fields] == ["Sources"]
    desc = embed.description
    assert desc.startswith("**")
    numbers = cited_numbers(desc)
    assert numbers and numbers[0] == 1
    first_use = list(dict.fromkeys(numbers))
    assert first_use == list(range(1, len(first_use) + 1)), "numbered in order of first use"
    lines = sources(embed)
    assert [int(re.match(r"\*\*\[(\d+)\]\*\*", ln).group(1)) for ln in lines] == first_use
    titles = [re.search(r"\[(.*?)\]\(<", ln).group(1) for ln in lines]
    urls = [re.search(r"\(<(.*?)>\)", ln).group(1) for ln in lines]
    assert len(set(titles)) == len(titles) and len(set(urls)) == len(urls), "each article once"
    for t in titles:  # no citation repeated: the title is only in Sources
        assert t not in desc
    assert all(" · " in ln and re.search(r"\d{4}-\d{2}-\d{2}$", ln) for ln in lines)  # [n] Title · outlet · date
    assert desc.count("\n> ") <= 2  # at most two supporting quotes


@pytest.mark.parametrize("question", QUESTIONS)
async def test_answer_embed_lists_each_article_once(world, question):
    env, _, channel, members = world
    result = await members[0].slash(channel, "ask", question=question)
    embed = result.response.embeds[0]
    show(embed, question)
    check_answer_embed(embed)


async def test_two_copies_of_one_roundup_are_one_source(world, bundled_service):
    """Retrieval keeps the two stored copies of the 2019-11-03 roundup out of one top three; when
    both are shown anyway (More results, --no-diversity), the embed still cites them as one."""
    env, _, channel, members = world
    result = await members[0].slash(channel, "ask", question=QUESTIONS[0])
    embed = result.response.embeds[0]
    assert sum("TikTok stumbles" in ln for ln in sources(embed)) == 1
    copies = [p for p in bundled_service.store.passages()
              if p.article_id in ("cr-2019-11-03", "seed-2019-11-03") and "Singapore" in p.text]
    assert {p.article_id for p in copies} == {"cr-2019-11-03", "seed-2019-11-03"}
    answer = Answer("q", True, [Hit(p, 0.9 - n / 10, best_sentence=None, relevance=0.9) for n, p in enumerate(copies)], 1.0)
    merged = render.answer_embed(answer)
    assert len(sources(merged)) == 1
    assert cited_numbers(merged.description).count(1) >= 2  # both passages cited as [1]


async def test_a_1000_character_question_stays_within_limits_and_echoes_no_mentions(world):
    env, guild, channel, members = world
    role = guild.create_role("Traders")
    head = (f"@everyone <@&{role.id}> <@{members[1].id}> [click here](https://evil.example/x) "
            "Where does TikTok say it keeps American users' data? ")
    question = (head + "Please explain in detail. " * 60)[:1000]
    result = await members[0].slash(channel, "ask", question=question)
    embed = result.response.embeds[0]
    show(embed, "1,000-character question")
    check_answer_embed(embed)
    shown = json.dumps(embed.to_dict(), ensure_ascii=False)
    for echo in ("<@", "@everyone", "evil.example", "](https://evil", "click here]"):
        assert echo not in shown
    assert "Singapore" in embed.description


async def test_read_as_notes_are_in_the_footer(world):
    env, _, channel, members = world
    result = await members[0].slash(channel, "ask", question="华为 smartphone shipments")
    embed = result.response.embeds[0]
    show(embed, "华为")
    assert "read '华为' as Huawei" in embed.footer.text
    assert "read '" not in embed.description
    assert "Huawei" in embed.description


def _hit(n: int, *, title: str, text: str, best: str | None, url: str | None = None) -> Hit:
    p = Passage(id=n, article_id=f"a{n}", position=0, section="第一节" * 40, text=text, title=title,
                url=url or f"https://example.com/{'路径' * 20}/{n}", published="2021-09-18", source="来源 " * 30)
    return Hit(p, 0.9 - n / 100, best_sentence=best, relevance=0.5)


def test_long_titles_long_passages_and_chinese_text_fit():
    """The renderer under the worst inputs: 2,000-character Chinese passages, 400-character titles."""
    chinese = "北京正在拆除数字“围墙花园”，要求各大平台在九月十七日之前解除对彼此链接的屏蔽。" * 40
    hits = [_hit(i, title="极长的标题" * 80 + f" {i}", text=chinese, best=chinese[:600] if i % 2 else None,
                 url=("https://example.com/" + "x" * 500) if i == 3 else None) for i in range(1, 6)]
    answer = Answer("华为" * 500, True, hits, 12.0, notes=["read '华为' as Huawei"] * 50)
    for shown in (1, 2, 3):
        embed = render.answer_embed(answer, shown=shown, follow_up_of="之前的问题" * 300)
        show(embed, f"worst case, {shown} shown")
        assert_fits(embed)
        assert len(sources(embed)) == shown
    more = render.more_embed(answer, start=4)
    assert_fits(more)
    refused = render.not_found_embed(Answer("问" * 1000, False, hits, 1.0, notes=["n" * 3000] * 3),
                                     first="2013-09-29", last="2021-09-18")
    assert_fits(refused)


# -- /help ---------------------------------------------------------------------------------------

async def test_help_examples_are_questions_the_bot_answers(world):
    env, _, channel, members = world
    result = await members[0].slash(channel, "help")
    embed = result.response.embeds[0]
    show(embed, "/help")
    examples = [ln[2:] for ln in next(f for f in embed.fields if f.name == "Try").value.splitlines()]
    assert len(examples) == 3 and len(set(examples)) == 3
    headings = {r[0].lower() for r in env.bot.service.store.execute(
        "SELECT DISTINCT section FROM passages WHERE section IS NOT NULL")}
    known = env.bot.service.known_names()
    for q in examples:
        q = q.replace("\\", "")
        assert q.endswith("?")
        assert not any(h in q.lower() for h in headings if len(h) > 6), f"{q!r} is built from a heading"
        assert any(name in q for name in known), f"{q!r} names nothing the corpus mentions"
    assert any(re.search(r"in \w+ \d{4}\?$", q) for q in examples), "one is about a recent roundup"
    for member, q in zip(members[1:], examples):  # each example, asked, is answered
        answer = await member.slash(channel, "ask", question=q.replace("\\", ""))
        embed = answer.response.embeds[0]
        show(embed, q)
        assert "isn't in the roundups" not in (embed.description or "")
        assert sources(embed)


async def test_help_on_an_empty_corpus_has_no_examples(world, tmp_path, encoder):
    env, _, channel, members = world
    settings = Settings.load(env={}, data_dir=tmp_path / "empty", auto_ingest_bundled=False)
    bot = create_bot(settings, service=RoundupService(settings, encoder=encoder))
    try:
        await env.restart_bot(bot)
        result = await members[0].slash(channel, "help")
        embed = result.response.embeds[0]
        show(embed, "/help, empty corpus")
        assert "Try" not in [f.name for f in embed.fields]
        assert "/ask" in embed.fields[0].value
    finally:
        if bot.session is not None and not bot.session.closed:
            await bot.session.close()
        bot.service.close()


def chinese_roundups(path):
    """Three Chinese-language roundups (an English lead-in names the story) with long paragraphs and titles."""
    from local_site import CHINESE_PARAGRAPHS

    lines = []
    for n in range(3):
        day = f"2022-0{n + 1}-1{n}"
        lead = f"Huawei said its smartphone shipments grew {60 + n}% in the quarter, Chinese media reported: "
        body = [lead + CHINESE_PARAGRAPHS[1] * 4, CHINESE_PARAGRAPHS[0] * 6,
                "华为的芯片供应仍受美国限制。" + CHINESE_PARAGRAPHS[1] * 3]
        lines.append(json.dumps({
            "id": f"zh-{n}", "title": "中国科技周报：" + "华为手机出货量持续增长，字节跳动迁移海外数据" * 6 + f"（第{n + 1}期）",
            "url": f"https://example.cn/{'zhoubao/' * 20}{n}", "published": day, "source": "科技周报" * 10,
            "sections": [{"heading": "华为" * 30, "paragraphs": body}]}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_chinese_passages_stay_within_limits(world, tmp_path):
    import asyncio

    env, _, channel, members = world
    report = await asyncio.to_thread(env.bot.service.ingest, [chinese_roundups(tmp_path / "zh.jsonl")])
    assert report.ok, report.errors
    long_q = "华为 " * 300
    result = await members[1].slash(channel, "ask", question=long_q[:1000], since="2022-01-01")
    embed = result.response.embeds[0]
    show(embed, "Chinese, 1,000 characters")
    assert_fits(embed)
    assert embed.to_dict().__repr__().count("'华为' as Huawei") == 1  # each reading noted once
    for member, q in zip(members, ["华为智能手机出货量增长了多少？"]):
        result = await member.slash(channel, "ask", question=q, since="2022-01-01")
        embed = result.response.embeds[0]
        show(embed, f"Chinese: {q[:20]}")
        check_answer_embed(embed)
        assert all("中国科技周报" in line for line in sources(embed))
        assert re.search("[\u4e00-\u9fff]", embed.description + sources(embed)[0])


async def test_help_after_an_ingest_shows_the_held_examples_and_makes_new_ones_in_the_background(world, tmp_path,
                                                                                                   monkeypatch):
    """Making the examples takes seconds on a big corpus and every ingest moves the generation:
    /help answers with the examples it holds and refreshes them behind the answer."""
    import bot.cogs.info as info
    from sample_articles import P3
    from sample_articles import article as _art
    from sample_articles import write_jsonl as _jsonl

    env, guild, channel, members = world
    first = await members[0].slash(channel, "help")
    cog = env.bot.get_cog("Info")
    (scope, (generation, held)), = cog._examples.items()
    assert len(held) == 3 and generation == env.bot.service.store.generation()
    env.bot.service.ingest([_jsonl(tmp_path / "new.jsonl", [_art("new-1", "2021-10-01", [P3])])])
    assert env.bot.service.store.generation() != generation
    real = info.example_questions
    with monkeypatch.context() as m:
        m.setattr(info, "example_questions", lambda *a, **k: pytest.fail("made while a member waits"))
        assert cog._held_examples(scope) == (held, True)
    made = []
    monkeypatch.setattr(info, "example_questions", lambda *a, **k: made.append(1) or real(*a, **k))
    second = await members[1].slash(channel, "help")
    await env.settle()
    assert second.response.embeds[0].fields[-1].value == first.response.embeds[0].fields[-1].value
    assert made == [1] and cog._examples[scope][0] == env.bot.service.store.generation()
    third = await members[2].slash(channel, "help")
    assert made == [1] and third.response.embeds[0].fields[-1].name == "Try"
