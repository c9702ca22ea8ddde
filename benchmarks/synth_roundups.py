"""Synthetic roundup-like articles for scale benchmarks: weekly digests of Chinese tech news.

Deterministic for a seed. Each article is a week's roundup (one date, 2010-2024) with 3-4
sections named for companies or themes and 1-3 paragraphs each of 3-6 sentences (40-120 words)
built from templates: companies, products, numbers, regulators, places. Not real news: text
with the statistics retrieval cares about (a long-tailed vocabulary, names, numbers, dates).
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from corpus.model import Article, Section

COMPANIES = ["Huawei", "Tencent", "Alibaba", "ByteDance", "Baidu", "Xiaomi", "Meituan", "JD.com", "Pinduoduo",
             "NetEase", "Kuaishou", "Didi", "SenseTime", "DJI", "BYD", "Nio", "Xpeng", "Li Auto", "Ant Group",
             "Weibo", "Bilibili", "iQiyi", "Lenovo", "Oppo", "Vivo", "ZTE", "SMIC", "CATL", "Trip.com", "Zhihu"]
PRODUCTS = ["smartphones", "cloud services", "short videos", "mobile games", "electric cars", "chips",
            "payments", "food delivery", "ride hailing", "livestream shopping", "robotaxis", "drones",
            "smart speakers", "search ads", "music streaming", "online education", "batteries", "5G base stations"]
REGULATORS = ["the Cyberspace Administration of China", "the State Administration for Market Regulation",
              "the People's Bank of China", "the Ministry of Industry and Information Technology",
              "the China Securities Regulatory Commission", "Beijing's municipal government"]
PLACES = ["Shenzhen", "Hangzhou", "Beijing", "Shanghai", "Wuhan", "Chengdu", "Guangzhou", "Hong Kong",
          "Singapore", "Europe", "India", "Indonesia", "the United States", "Brazil", "Japan"]
VERBS = ["announced", "launched", "reported", "cut", "expanded", "invested in", "acquired", "suspended",
         "tested", "shipped", "raised", "delayed", "opened", "closed", "partnered on"]
THEMES = ["Regulation", "Funding", "Earnings", "Overseas", "Hardware", "Gaming", "E-commerce", "Mobility",
          "Semiconductors", "Social media", "Fintech", "AI"]
SENTENCES = [
    "{c} {v} {p} in {pl}, according to a statement on {day}.",
    "The company said revenue from {p} rose {n} percent year on year to {m} billion yuan.",
    "{r} told {c} to fix problems with {p} within {k} days or face a fine.",
    "Analysts at {c2} expect {c} to sell {m} million units of {p} this year.",
    "{c} has {k},000 employees working on {p}, up from {k2},000 a year earlier.",
    "Shares of {c} fell {n} percent in Hong Kong after the news.",
    "A spokesperson for {c} declined to comment on the report about {p}.",
    "The deal values {c2} at about {m} billion dollars, people familiar with the matter said.",
    "{c} plans to open {k} new offices in {pl} by the end of the year.",
    "Users in {pl} complained that {p} from {c} were hard to cancel.",
    "The move follows a similar push by {c2} into {p} last quarter.",
    "{c} said it would spend {m} billion yuan on research into {p} over five years.",
]


def _sentence(rng: random.Random, company: str) -> str:
    text = rng.choice(SENTENCES).format(
        c=company, c2=rng.choice(COMPANIES), v=rng.choice(VERBS), p=rng.choice(PRODUCTS), pl=rng.choice(PLACES),
        r=rng.choice(REGULATORS), n=rng.randint(2, 60), m=rng.randint(1, 900), k=rng.randint(2, 90),
        k2=rng.randint(1, 80), day=rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]))
    return text[0].upper() + text[1:]


def article(n: int, seed: int = 1) -> Article:
    """The n-th synthetic roundup (the same for the same n and seed)."""
    rng = random.Random(seed * 1_000_003 + n)
    day = date(2010, 1, 3) + timedelta(days=7 * (n % 780) + rng.randint(0, 6))
    sections = []
    for _ in range(rng.randint(3, 4)):
        company = rng.choice(COMPANIES)
        heading = rng.choice([company, rng.choice(THEMES)])
        paragraphs = tuple(" ".join(_sentence(rng, company) for _ in range(rng.randint(3, 6)))
                           for _ in range(rng.randint(1, 3)))
        sections.append(Section(heading, paragraphs))
    lead = sections[0].heading
    return Article(id=f"synth-{seed}-{n}", title=f"China Roundup #{n}: {lead} and more",
                   url=f"https://example.com/roundups/{seed}/{n}", published=day.isoformat(),
                   sections=tuple(sections), source="Synthetic Roundup")


def articles(start: int = 0, seed: int = 1) -> Iterator[Article]:
    n = start
    while True:
        yield article(n, seed)
        n += 1


def questions(count: int, seed: int = 7) -> list[str]:
    """Roundup-style questions over the same vocabulary."""
    rng = random.Random(seed)
    forms = ["What did {c} say about {p}?", "how many {p} did {c} sell", "why did {r} fine {c}",
             "{c} {p} {pl}", "Which company invested in {p} in {pl}?", "did {c} cut jobs in {p}",
             "{c} shares fall", "who acquired a stake in {c}"]
    return [rng.choice(forms).format(c=rng.choice(COMPANIES), p=rng.choice(PRODUCTS), pl=rng.choice(PLACES),
                                     r=rng.choice(REGULATORS)) for _ in range(count)]
