"""How soon the bot answers after it starts, in a fresh process, against an in-memory Discord (SimCord).

    python benchmarks/bench_start.py DATA_DIR [--json]

The times are from the process's start (imports included): the bot connected and ready, `/help`
answered, the model and indexes loaded (they load in the background; bot/app.py), and a first
`/ask` answered. DATA_DIR is used as it is (build it first, e.g. with bench_scale.py); no token,
no network. Prints one table (or one JSON line); asserts nothing.
"""
from __future__ import annotations

import time

STARTED = time.perf_counter()  # before any import below: a member waits for those too

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from bench_env import ROOT  # noqa: E402,F401  (offline env, import paths: benchmarks/bench_env.py)


def since_start() -> float:
    return time.perf_counter() - STARTED


async def measure(data_dir: Path, question: str) -> dict:
    from simcord import Env

    from bot.app import create_bot
    from bot.settings import Settings

    settings = Settings.load(data_dir=data_dir, auto_ingest_bundled=False)
    bot = create_bot(settings)
    env = Env(bot, strict_sync=False, settle_timeout=60)  # no Discord to sync the commands with
    real_load = bot.load_indexes

    async def load_in_background():  # told to the simulator, so that settling a command does not wait for it
        await env.external_wait(real_load(), reason="the model and indexes load in the background")

    bot.load_indexes = load_in_background
    out: dict[str, float | bool] = {}
    await env.start()
    out["ready_s"] = since_start()
    try:
        guild = env.create_guild()
        channel = guild.create_text_channel("china-tech")
        member = guild.add_member(env.create_user("member"))
        r = await member.slash(channel, "help")
        out["help_s"] = since_start()
        out["help_before_load"] = bool(r.response.embeds) and not bot.indexes_ready
        while not bot.indexes_ready:
            await asyncio.sleep(0.01)
        out["loaded_s"] = since_start()
        asked = await member.slash(channel, "ask", question=question)
        await env.settle()
        out["ask_s"] = since_start()
        out["answered"] = bool(asked.response and asked.response.embeds)
    finally:
        await env.shutdown()
        if bot.session is not None and not bot.session.closed:
            await bot.session.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--question", default="Who fined Alibaba?")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = asyncio.run(measure(args.data_dir, args.question))
    if args.json:
        print(json.dumps(out))
        return
    print("| from process start | s |\n| --- | --- |")
    for key, label in (("ready_s", "bot connected and ready"), ("help_s", "`/help` answered"),
                       ("loaded_s", "model and indexes loaded"), ("ask_s", "first `/ask` answered")):
        print(f"| {label} | {out[key]:.2f} |")
    print(f"\n/help answered before the load finished: {out['help_before_load']}; first /ask answered: {out['answered']}")


if __name__ == "__main__":
    main()
