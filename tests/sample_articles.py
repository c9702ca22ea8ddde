"""Small roundups written on the fly, shared by the service and hybrid retrieval tests."""
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
