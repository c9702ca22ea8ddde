"""Small roundups written on the fly, shared by the service and hybrid retrieval tests, and the
hand-made passages, hits and question focus the ranking tests build from them."""
from __future__ import annotations

import json


def write_jsonl(path, articles):
    path.write_text("\n".join(json.dumps(a) for a in articles) + "\n", encoding="utf-8")
    return path


def article(aid, published, paragraphs, heading="News"):
    return {"id": aid, "title": f"Roundup {aid}", "url": f"https://example.com/{aid}", "published": published,
            "source": "Test", "sections": [{"heading": heading, "paragraphs": paragraphs}]}


P1 = ("Xiaomi opened its first flagship store in Madrid this week, selling phones, scooters and smart home "
      "gadgets to European shoppers who queued overnight for discounts.")
P2 = ("Meituan said its food delivery riders completed a record number of orders during the spring festival, "
      "while the company raised fees for restaurants in several large cities.")
P3 = ("Baidu began testing driverless taxis without safety drivers on public roads in Wuhan, the first such "
      "permit granted to a Chinese robotaxi operator by city regulators.")


def passage(i, text, section="News", *, position=None):
    """A stored passage of article "a" (position `i` unless given), for tests below the store."""
    from corpus.model import Passage

    return Passage(id=i, article_id="a", position=i if position is None else position, section=section, text=text,
                   title="t", url="u", published="2020-01-01", source="s")


def hit(text, score):
    """A search hit on a passage of `text`, its score its relevance too."""
    from embeddings.search import Hit

    return Hit(passage(len(text), text, None, position=0), score, relevance=score)


def focus(question):
    """A question's focus with every word weighing 1 (no keyword index); capitalised unknown words
    ("Zorblax") are the names it asks about."""
    from embeddings.decide import question_focus
    from embeddings.query import understand
    from embeddings.sparse import tokenize

    own = set(tokenize(question))
    return question_focus(question, understand(question), None, own, {t: 1.0 for t in own}, None)
