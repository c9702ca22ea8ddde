"""How soon the bot answers after it starts, in a fresh process, against an in-memory Discord (SimCord).

    python benchmarks/bench_start.py DATA_DIR [--json]

From the process's start (imports included): the bot connected and ready, `/help` answered
while the model and indexes load in a background thread (bot/cogs/upkeep.py starts that load;
the bot's own, bot/app.py, is held until `/help` has answered, since SimCord settles a command
only once all the work it can see is done), and a first `/ask` answered (it waits for the load);
then how long the first `/help` that shows example questions takes (it asks them). DATA_DIR is used as it is (build it first, e.g. with bench_scale.py); no token,
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
    out: dict[str, float | bool] = {}
    real_load = bot.load_indexes
    gate = asyncio.Event()

    async def held_load():  # held until /help has answered: SimCord settles a command only when all work is done
        await env.external_wait(gate.wait(), reason="the load waits until /help has answered")
        await real_load()

    bot.load_indexes = held_load
    await env.start()
    out["ready_s"] = since_start()
    try:
        guild = env.create_guild()
        channel = guild.create_text_channel("china-tech")
        member = guild.add_member(env.create_user("member"))
        r = await member.slash(channel, "help")
        out["help_s"] = since_start()
        out["help_before_load"] = bool(r.response.embeds) and not bot.indexes_ready
        gate.set()
        await env.settle()
        asked = await member.slash(channel, "ask", question=question)
        out["ask_s"] = since_start()
        out["answered"] = bool(asked.response and asked.response.embeds)
        t0 = since_start()
        r = await member.slash(channel, "help")
        out["help_examples_s"] = since_start() - t0
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
    print("| step | s |\n| --- | --- |")
    for key, label in (("ready_s", "bot connected and ready, from process start (imports included)"),
                       ("help_s", "`/help` answered, from process start"),
                       ("ask_s", "first `/ask` answered, from process start (it waits for the load)"),
                       ("help_examples_s", "then the first `/help` with example questions (asked and checked; cached)")):
        print(f"| {label} | {out[key]:.2f} |")
    print(f"\n/help answered before the load: {out['help_before_load']}; first /ask answered: {out['answered']}")

if __name__ == "__main__":
    main()
