"""The terminal side of the community features: `roundup-bot timeline NAME` and `roundup-bot stats`.

Kept beside bot/cli.py so the CLI module only wires them in (parser, dispatch); their renderers
are in bot/console.py with the others.
"""
from __future__ import annotations

import json

from rich.console import Console

from bot.cli_sources import guild_id
from bot.console import print_stats, print_timeline, show
from bot.service import RoundupService
from bot.stats import collect


def add_parsers(sub, common, iso_date) -> None:
    p = sub.add_parser("timeline", parents=[common],
                       help="what the roundups said about a company, person or topic, roundup by roundup")
    p.add_argument("name", help="e.g. Huawei, 华为, ant group, pdd")
    p.add_argument("--since", type=iso_date, help="only roundups on or after this date")
    p.add_argument("--until", type=iso_date, help="only roundups on or before this date")
    p.add_argument("--guild", type=guild_id, help="in what this Discord server sees")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("stats", parents=[common],
                       help="questions per day, answered share, feedback and unanswered questions (from the bot)")
    p.add_argument("--guild", type=guild_id, help="only what members of this Discord server asked")
    p.add_argument("--since", type=iso_date, help="only questions asked on or after this date")
    p.add_argument("--csv", action="store_true", help="print questions per day as CSV")
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_timeline(svc: RoundupService, args, out: Console, err: Console) -> int:
    tl = svc.timeline(args.name, since=args.since, until=args.until, guild=args.guild)
    show(out, tl, print_timeline, as_json=args.json)
    return 0 if tl.entries else 1


def cmd_stats(svc: RoundupService, args, out: Console, err: Console) -> int:
    stats = collect(svc, guild_id=args.guild, since=args.since)
    if args.csv:
        print(stats.csv(), end="")
    elif args.json:
        print(json.dumps(stats.to_dict(), ensure_ascii=False))
    else:
        print_stats(out, stats)
    return 0
