"""`roundup-bot` commands about where the roundups come from: `ingest --crawl`, `feeds
list|add|remove|import|export`, `remove`, and the `--guild` scope. bot/cli.py registers them.

`--guild ID` acts as that Discord server: its feeds, its own articles, the corpus it sees.
Without it, feeds are the operator's (read for every server, their articles shared) and
`remove` takes articles out for everyone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.backfill import BackfillReport, backfill, crawl_config
from bot.console import BarProgress, show
from bot.guild_feeds import GuildFeeds
from bot.reports import RemovalReport
from bot.service import RoundupService, ServiceError
from corpus.crawl import CrawlEvent
from corpus.errors import InputError
from corpus.opml import export_opml, read_opml
from corpus.store import SHARED

EXIT_OK, EXIT_FAILED = 0, 1


def guild_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a server id is a number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("a server id is a positive number")
    return value


def add_parsers(sub, common: argparse.ArgumentParser, iso_date) -> None:
    """The `feeds` and `remove` subcommands (argparse building, exempt from the 60-line rule)."""
    p = sub.add_parser("feeds", parents=[common], help="the feeds read for every server, or for one (--guild)")
    fs = p.add_subparsers(dest="feeds_command", metavar="{list,add,remove,import,export}", required=True)
    for name, helptext in (("list", "the feeds followed"), ("add", "follow a feed (checked once now)"),
                           ("remove", "stop following a feed (its articles stay)"),
                           ("import", "follow every feed of an OPML file"), ("export", "the feeds as OPML")):
        q = fs.add_parser(name, parents=[common], help=helptext)
        q.add_argument("--guild", type=guild_id, help="a Discord server's feeds (default: the operator's)")
        q.add_argument("--json", action="store_true", help="print JSON")
        if name in ("add", "remove"):
            q.add_argument("url", help="the feed's address")
        if name == "import":
            q.add_argument("file", type=Path, help="an OPML file exported from a feed reader")
        if name == "export":
            q.add_argument("-o", "--out", type=Path, help="write to this file (default: standard output)")

    p = sub.add_parser("remove", parents=[common], help="take articles out: store, vectors and indexes")
    p.add_argument("--url", help="an article's address, or a feed or page it came from")
    p.add_argument("--source", help="a source name, as `status` lists it")
    p.add_argument("--before", type=iso_date, help="articles published before this date")
    p.add_argument("--guild", type=guild_id, help="only this server's own articles, and only its claim on them")
    p.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    p.add_argument("--json", action="store_true", help="print JSON")


def owner_of(args) -> int:
    return getattr(args, "guild", None) or SHARED


# -- ingest --crawl ----------------------------------------------------------------------------

def cmd_crawl(svc: RoundupService, args, out: Console, err: Console) -> int:
    config = crawl_config(svc.settings, max_pages=args.max_pages, since=args.since,
                          newest_first=args.newest_first)
    with _CrawlProgress(err) as bar:
        report = asyncio.run(backfill(svc, args.crawl, config=config, fetch=svc.settings.fetch,
                                      owners=(owner_of(args),), on_event=bar.event))
    show(out, report, print_backfill, as_json=args.json)
    # failed: errors and nothing read at all (a run that finds everything already stored is fine)
    p = report.progress
    return EXIT_FAILED if report.errors and not (report.added or report.updated or report.duplicates or p.skipped) else EXIT_OK


class _CrawlProgress(BarProgress):
    """A rich bar over the articles found (growing as listing pages are read) on a terminal;
    one plain line per listing page and failure otherwise."""

    def __init__(self, console: Console):
        super().__init__(console)
        if self.progress:
            self.task = self.progress.add_task("reading listing pages", total=None)

    def event(self, event: CrawlEvent) -> None:
        p = event.progress
        if self.progress:
            done = p.fetched + p.skipped + p.failed + p.old + p.blocked
            what = "fetching articles" if event.kind in ("article", "failed") else "reading listing pages"
            self.progress.update(self.task, description=what, completed=done, total=max(p.found, done) or None)
            return
        if event.kind in ("page", "failed", "done"):
            self.console.print(f"{event.kind}: {event.url}" + (f" ({event.detail})" if event.detail else ""),
                               markup=False, highlight=False)


def print_backfill(console: Console, report: BackfillReport) -> None:
    p = report.progress
    console.print(f"Backfill of [bold]{escape(report.url)}[/]: [green]{report.added} new[/], {report.updated} "
                  f"updated, {report.duplicates} republished copies, {p.skipped} already stored"
                  + (f" ({report.granted} now owned here too)" if report.granted else "") + ".")
    console.print(f"[dim]{p.pages} listing/sitemap pages ({p.pages_unchanged} unchanged), {p.found} articles "
                  f"found, {p.fetched} fetched, {p.old} older than --since, {p.blocked} disallowed by robots.txt, "
                  f"{p.failed} failed; {report.embedded} passages embedded in {report.elapsed_s:.1f}s[/]")
    for e in report.errors:
        console.print(f"  [red]error:[/] {escape(e)}")


# -- feeds -------------------------------------------------------------------------------------

def cmd_feeds(svc: RoundupService, args, out: Console, err: Console) -> int:
    feeds = GuildFeeds(svc.store)
    owner = owner_of(args)
    sub = args.feeds_command
    if sub == "list":
        return _feeds_list(feeds, owner, svc.settings.feeds if owner == SHARED else (), args, out)
    if sub == "add":
        return _feeds_add(svc, feeds, owner, args, out)
    if sub == "remove":
        if not feeds.remove(owner, args.url.strip()):
            raise InputError(f"{_whose(owner)} feeds do not include {args.url}; see `roundup-bot feeds list`")
        _say(args, out, {"removed": args.url.strip()}, f"Stopped following {args.url.strip()}; its articles stay.")
        return EXIT_OK
    if sub == "import":
        added, already, over = feeds.import_feeds(owner, read_opml(args.file), by=None,
                                                  limit=None if owner == SHARED else feeds_limit())
        _say(args, out, {"added": added, "already": already, "over_limit": over},
             f"Imported {len(added)} feeds ({len(already)} already followed"
             + (f", {len(over)} over the limit of {feeds_limit()} a server" if over else "") + ").")
        return EXIT_OK
    text = export_opml(feeds.export(owner), title=f"Roundup Bot feeds: {_whose(owner)}")
    if args.out:
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ServiceError(f"cannot write {args.out}: {exc.strerror}") from None
        err.print(f"Wrote {len(feeds.export(owner))} feeds to {args.out}", markup=False, highlight=False)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def feeds_limit() -> int:
    from bot.guild_feeds import MAX_FEEDS_PER_GUILD

    return MAX_FEEDS_PER_GUILD


def _whose(owner: int) -> str:
    return "the operator's" if owner == SHARED else f"server {owner}'s"


def _say(args, out: Console, payload: dict, text: str) -> None:
    if args.json:
        print(json.dumps(payload, ensure_ascii=False))
    else:
        out.print(text, markup=False, highlight=False)


def _feeds_list(feeds: GuildFeeds, owner: int, settings_feeds, args, out: Console) -> int:
    rows = [dict(r) for r in feeds.for_guild(owner)]
    if args.json:
        print(json.dumps({"guild": owner or None, "feeds": rows, "settings": list(settings_feeds)},
                         ensure_ascii=False))
        return EXIT_OK
    table = Table("feed", "title", "last read", title=f"Feeds: {_whose(owner)}")
    for r in rows:
        last = f"{r['refreshed_at'][:16]} {r['status']}, {r['added']} new" if r["refreshed_at"] else "not read yet"
        table.add_row(escape(r["url"]), escape(r["title"] or ""), last)
    for url in settings_feeds:
        table.add_row(escape(url), "[dim](settings)[/]", "")
    out.print(table if rows or settings_feeds else "No feeds yet: `roundup-bot feeds add URL`.")
    return EXIT_OK


def _feeds_add(svc: RoundupService, feeds: GuildFeeds, owner: int, args, out: Console) -> int:
    from corpus.feeds import probe_feed
    from corpus.fetch import Fetcher

    url = args.url.strip()

    async def probe():
        async with Fetcher(svc.settings.fetch) as fetcher:
            return await probe_feed(url, fetcher)

    feed = asyncio.run(probe())
    if not feeds.add(owner, url, title=feed.title, by=None):
        _say(args, out, {"added": None, "already": url}, f"Already following {url}.")
        return EXIT_OK
    _say(args, out, {"added": url, "title": feed.title, "entries": len(feed.entries)},
         f"Now following {feed.title or url} ({len(feed.entries)} entries); `roundup-bot ingest` reads it.")
    return EXIT_OK


# -- remove ------------------------------------------------------------------------------------

def cmd_remove(svc: RoundupService, args, out: Console, err: Console) -> int:
    report = svc.remove(url=args.url, source=args.source, before=args.before, guild=args.guild,
                        dry_run=args.dry_run)
    show(out, report, print_removal, as_json=args.json)
    return EXIT_OK


def print_removal(console: Console, report: RemovalReport) -> None:
    if not report.articles:
        console.print("Nothing matches" + (f" among server {report.guild}'s own articles" if report.guild else "")
                      + ".")
        return
    table = Table("published", "title", "source", "passages", "owners")
    for r in report.articles:
        owners = ", ".join({0: "shared", -1: "sample"}.get(o, str(o)) for o in r["owners"])
        table.add_row(r["published"] or "", escape(r["title"]), escape(r["source"] or ""), str(r["passages"]), owners)
    console.print(table)
    n = len(report.articles)
    if report.dry_run:
        console.print(f"[yellow]Dry run:[/] {n} articles would be removed. Run again without --dry-run to do it.")
        return
    kept = n - report.deleted
    console.print(f"Removed {n} articles: {report.deleted} gone ({report.passages} passages, "
                  f"{report.vectors_removed} vectors)" + (f", {kept} kept for their other owners" if kept else "")
                  + ".")
