"""The terminal side of the community features: `roundup-bot timeline NAME` and `roundup-bot stats`.

Kept beside bot/cli.py so the CLI module only wires them in (parser, dispatch).
"""
from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.service import RoundupService
from bot.stats import Stats, collect
from bot.timeline import Timeline


def add_parsers(sub, common, iso_date) -> None:
    p = sub.add_parser("timeline", parents=[common],
                       help="what the roundups said about a company, person or topic, roundup by roundup")
    p.add_argument("name", help="e.g. Huawei, 华为, ant group, pdd")
    p.add_argument("--since", type=iso_date, help="only roundups on or after this date")
    p.add_argument("--until", type=iso_date, help="only roundups on or before this date")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("stats", parents=[common],
                       help="questions per day, answered share, feedback and unanswered questions (from the bot)")
    p.add_argument("--guild", type=int, help="only this Discord server (its id)")
    p.add_argument("--since", type=iso_date, help="only questions asked on or after this date")
    p.add_argument("--csv", action="store_true", help="print questions per day as CSV")
    p.add_argument("--json", action="store_true", help="print JSON")


def print_timeline(console: Console, tl: Timeline) -> None:
    if not tl.entries:
        console.print(f"The roundups don't mention [bold]{escape(tl.name)}[/]"
                      + (f" between {tl.since or 'the start'} and {tl.until or 'now'}" if tl.since or tl.until else "")
                      + ".")
        if tl.suggestions:
            console.print("Names they do cover: " + ", ".join(escape(s) for s in tl.suggestions))
        return
    read = f" [dim](read {escape(repr(tl.asked))} as {escape(tl.name)})[/]" if tl.asked.lower() != tl.name.lower() else ""
    console.print(f"[bold]{escape(tl.name)}[/]: {len(tl.entries)} roundups{read}")
    for e in tl.entries:
        console.print(f"[bold]{e.published}[/] {escape(e.sentence)}")
        console.print(f"           [dim]{escape(e.title)}[/] [blue]{escape(e.url)}[/]")


def print_stats(console: Console, stats: Stats) -> None:
    share = f"{stats.answered_share:.0%}" if stats.answered_share is not None else "n/a"
    conf = f"{stats.median_confidence:.2f}" if stats.median_confidence is not None else "n/a"
    console.print(f"[bold]{stats.asked}[/] questions, {stats.answered} answered ({share}); median confidence {conf}")
    if stats.days:
        table = Table("date", "questions", "answered")
        for d, a, n in stats.days:
            table.add_row(d, str(a), str(n))
        console.print(table)
    reasons = ", ".join(f"{k}: {v}" for k, v in stats.reasons.most_common())
    console.print(f"Feedback: {stats.up} up, {stats.down} down" + (f" ({escape(reasons)})" if reasons else ""))
    for d in stats.details:
        console.print(f"  [dim]> {escape(d)}[/]")
    if stats.gaps:
        console.print("[bold]Not covered yet[/] (unanswered questions, grouped):")
        for g in stats.gaps:
            console.print(f"  {g.count}x {escape(g.question)}")


def cmd_timeline(svc: RoundupService, args, out: Console, err: Console) -> int:
    tl = svc.timeline(args.name, since=args.since, until=args.until)
    if args.json:
        print(json.dumps(tl.to_dict(), ensure_ascii=False))
    else:
        print_timeline(out, tl)
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
