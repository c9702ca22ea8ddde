"""`roundup-bot`: the terminal face of the bot. Every command also speaks JSON for scripts."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot import community
from bot.charts import chart_filename
from bot.cli_sources import add_parsers, cmd_crawl, cmd_feeds, cmd_remove, guild_id, owner_of
from bot.console import (FirstRun, _progress, _WebProgress, print_answer, print_digest, print_eval, print_ingest, show,
                         print_status, print_trend)
from bot.guild_feeds import GuildFeeds
from bot.reports import IngestReport
from bot.private import private_umask
from bot.service import RoundupService, ServiceError
from bot.settings import Settings, SettingsError
from corpus.bundled import bundled_roundups
from corpus.errors import InputError, RoundupError
from corpus.text import clean_question, strip_controls
from digests.periods import PERIOD_HELP, PeriodError
from digests.summary import MAX_ITEMS, check_topic
from embeddings.search import MODES, QuestionError, check_question

log = logging.getLogger(__name__)

DEMO_QUESTION = "Where does TikTok say it keeps American users' data?"
QUIT_WORDS = frozenset({":q", ":quit", "/q", "/quit", "/exit", "exit", "quit"})  # chat: leave, never ask
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(InputError):
    pass


def iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def items_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= n <= MAX_ITEMS:
        raise argparse.ArgumentTypeError(f"choose between 1 and {MAX_ITEMS} items")
    return n


def results_count(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= k <= 50:
        raise argparse.ArgumentTypeError("choose between 1 and 50 results")
    return k


def member_id(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Discord member id (a number)") from None
    if n <= 0:
        raise argparse.ArgumentTypeError("a member id is a positive number")
    return n


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage dump
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    # Options shared by every command; SUPPRESS lets them sit before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help="where the store and index live (env ROUNDUP_DATA_DIR, default ./data)")
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="a TOML settings file")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging")
    common.add_argument("--no-sample", action="store_true", default=argparse.SUPPRESS,
                        help="leave the bundled sample roundups out (setting: sample = false)")

    parser = _Parser(prog="roundup-bot", parents=[common],
                     description="Answers questions about Chinese tech from China Roundup-style weekly digests.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("run", parents=[common], help="the main job: the Discord bot with a token, else the terminal chat")
    p = sub.add_parser("ingest", parents=[common],
                       help="add roundups from files, directories, article URLs or RSS/Atom feeds")
    p.add_argument("paths", nargs="*", metavar="PATH_OR_URL",
                   help="files, directories, article or feed URLs (none: the feeds in the settings)")
    p.add_argument("--force", action="store_true",
                   help="re-fetch URLs without conditional requests and re-read feed entries seen before")
    p.add_argument("--title", help="title for a plain-text or Markdown file without metadata")
    p.add_argument("--url", help="source link for a file without metadata")
    p.add_argument("--published", type=iso_date, help="publication date (YYYY-MM-DD) for a file without metadata")
    p.add_argument("--source", help="publication or series name")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.add_argument("--crawl", metavar="URL", help="backfill a column's archive from its listing page or sitemap")
    p.add_argument("--max-pages", type=int, help="--crawl: listing/sitemap pages this run (setting crawl_max_pages)")
    p.add_argument("--since", type=iso_date, help="--crawl: only articles published on or after this date")
    p.add_argument("--newest-first", action="store_true", help="--crawl: fetch the newest articles first")
    p.add_argument("--guild", type=guild_id, help="the articles belong to this Discord server (default: shared)")

    p = sub.add_parser("ask", parents=[common], help="answer a question from the roundups")
    p.add_argument("question", help="the question, or - to read one question a line from stdin")
    p.add_argument("-k", "--results", type=results_count, default=None, help="how many passages (default 5)")
    p.add_argument("--since", type=iso_date, help="only roundups published on or after this date")
    p.add_argument("--until", type=iso_date, help="only roundups published on or before this date")
    p.add_argument("--json", action="store_true", help="print JSON (one object a line in batch mode)")
    p.add_argument("--mode", choices=MODES, help="retrieval: dense, bm25 or hybrid (default: the retrieval setting)")
    p.add_argument("--guild", type=guild_id, help="answer from what this Discord server sees")
    p.add_argument("--no-diversity", action="store_true",
                   help="let one roundup fill the top results (by default the top three come from different ones)")

    p = sub.add_parser("eval", parents=[common],
                       help="measure retrieval on a labelled question file (dense, BM25 and hybrid side by side)")
    p.add_argument("file", type=Path, metavar="FILE",
                   help="questions, one JSON object a line (tests/eval/questions.jsonl), or a held-out directory "
                        "(tests/eval/heldout: its own articles beside the bundled sample, dev and test side by side)")
    p.add_argument("--systems", help="comma-separated systems to run (default: dense,bm25,hybrid; "
                                     "hybrid only for a held-out directory)")
    p.add_argument("--fit-answerability", type=Path, metavar="OUT", dest="fit_answerability",
                   help="held-out directory only: fit the answerability model on the dev split and write it to OUT")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--calibrate", action="store_true",
                   help="also find each system's relevance floor that maximises correct answers plus refusals")
    p.add_argument("--ablation", action="store_true",
                   help="add each retriever with query understanding, and hybrid without it")
    p.add_argument("--details", action="store_true", help="list the questions each system got wrong")

    p = sub.add_parser("digest", parents=[common], help="a cited summary of a period, optionally on a topic")
    p.add_argument("--period", help=f"{PERIOD_HELP}; default latest (all roundups with --topic)")
    p.add_argument("--since", type=iso_date, help="start date instead of --period")
    p.add_argument("--until", type=iso_date, help="end date instead of --period")
    p.add_argument("--topic", help="only what is about this company or subject, e.g. Huawei")
    p.add_argument("--items", type=items_count, default=None, help="how many items (default 5)")
    p.add_argument("--guild", type=guild_id, help="of what this Discord server sees")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("trend", parents=[common], help="a bar chart of how often the roundups mention a name")
    p.add_argument("name", help="a company, product or subject, e.g. Huawei")
    p.add_argument("--out", type=Path, help="where to write the PNG (default trend-NAME.png)")
    p.add_argument("--guild", type=guild_id, help="in what this Discord server sees")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("status", parents=[common], help="what the bot knows")
    p.add_argument("--guild", type=guild_id, help="what this Discord server sees, and what it owns")
    p.add_argument("--json", action="store_true")
    add_parsers(sub, common, iso_date)
    sub.add_parser("chat", parents=[common], help="interactive questions and answers in the terminal")
    p = sub.add_parser("serve", parents=[common], help="run the Discord bot (token from DISCORD_TOKEN)")
    p.add_argument("--guild", type=int, default=None, help="also sync commands to this guild at once (development)")
    p.add_argument("--sync", action="store_true", help="sync slash commands even if they look unchanged")
    p = sub.add_parser("rebuild", parents=[common], help="re-embed every passage into a new index")
    p.add_argument("--json", action="store_true")
    community.add_parsers(sub, common, iso_date)
    p = sub.add_parser("forget", parents=[common],
                       help="delete everything kept about one Discord member (questions, answers, votes)")
    p.add_argument("--user", type=member_id, required=True, metavar="ID", help="the member's Discord id")
    p.add_argument("--json", action="store_true")
    return parser


# -- commands ---------------------------------------------------------------------------------

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def cmd_ingest(svc: RoundupService, args, out: Console, err: Console) -> int:
    if args.crawl:
        return cmd_crawl(svc, args, out, err)
    owners = {}
    targets = list(args.paths)
    if not targets:  # every feed, as the bot's refresh reads them: each for the servers following it
        feeds = GuildFeeds(svc.store)
        targets = feeds.all_urls(svc.settings.feeds)
        owners = {u: feeds.owners(u, svc.settings.feeds) for u in targets}
        for url, who in owners.items():
            feeds.grant_read(url, who)
    if not targets and svc.index_lag() > 0:
        return finish_indexing(svc, args, out, err)
    if not targets:
        err.print("roundup-bot: error: nothing to ingest: give files, directories or URLs, or list feeds "
                  "in the settings (ROUNDUP_FEEDS)", markup=False, highlight=False)
        return EXIT_USAGE
    urls = [t for t in targets if _URL_RE.match(t)]
    paths = [t for t in targets if not _URL_RE.match(t)]
    overrides = {k: getattr(args, k) for k in ("title", "url", "published", "source") if getattr(args, k)}
    if overrides and urls:
        log.warning("--title/--url/--published/--source apply to files only, not to URLs")
    reports: list[IngestReport] = []
    if paths:
        progress, cb = _progress(err)
        if progress:
            with progress:
                reports.append(svc.ingest(paths, overrides=overrides or None, on_progress=cb,
                                          owners=(owner_of(args),)))
        else:
            reports.append(svc.ingest(paths, overrides=overrides or None, owners=(owner_of(args),)))
    if urls:
        with _WebProgress(err) as web:
            owners = {u: owners.get(u, (owner_of(args),)) for u in urls}
            reports.append(asyncio.run(svc.ingest_urls(urls, force=args.force, on_event=web.event,
                                                       on_progress=web.embedding, owners=owners)))
        svc.ensure_ready()  # whatever an earlier, interrupted ingest left out is indexed here too
    report = IngestReport.merged(reports)
    if args.json:
        print(json.dumps({
            "totals": report.totals(), "elapsed_s": round(report.elapsed_s, 3), "errors": report.errors,
            "sources": [{"source": s.source, "kind": s.kind, "http_status": s.http_status, "added": s.added,
                         "updated": s.updated, "unchanged": s.unchanged, "duplicates": s.duplicates,
                         "passages_added": s.passages_added, "errors": s.errors, "notes": s.notes}
                        for s in report.sources],
        }, ensure_ascii=False))
    else:
        print_ingest(out, report)
    return EXIT_OK if report.ok else EXIT_FAILED


def finish_indexing(svc: RoundupService, args, out: Console, err: Console) -> int:
    """`ingest` with nothing to add: embed what an interrupted ingest left out."""
    progress, cb = _progress(err)
    if progress:
        with progress:
            index = svc.ensure_ready(cb)
    else:
        index = svc.ensure_ready()
    if args.json:
        print(json.dumps({"indexed": len(index)}))
    else:
        out.print(f"The index is in step with the store: {len(index)} passages.", markup=False)
    return EXIT_OK


def stdin_lines():
    """stdin one line at a time, invalid UTF-8 replaced (never a UnicodeDecodeError)."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # already text (a test's StringIO, an embedding program)
        yield from sys.stdin
        return
    for raw in buffer:
        yield raw.decode("utf-8", "replace")


def cmd_ask(svc: RoundupService, args, out: Console, err: Console) -> int:
    kwargs = {"k": args.results, "since": args.since, "until": args.until, "mode": args.mode,
              "diverse": not args.no_diversity, "guild": args.guild}
    if args.question != "-":
        answer = svc.ask(args.question, checked=True, **kwargs)  # main checked it at the edge
        show(out, answer, print_answer, as_json=args.json)
        return EXIT_OK
    failed = False
    for line in stdin_lines():
        question = clean_question(line).strip()
        if not question:
            continue
        try:
            answer = svc.ask(question, **kwargs)
        except (QuestionError, ServiceError) as exc:
            failed = True
            _batch_error(args, err, question, str(exc))
            continue
        except Exception as exc:  # a bug on one line: logged with its traceback, the rest still answered
            log.error("question failed: %r", question[:200], exc_info=True)
            failed = True
            _batch_error(args, err, question, f"internal error ({type(exc).__name__})")
            continue
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        else:
            out.print(f"[bold magenta]Q:[/] {escape(question)}")
            print_answer(out, answer)
    return EXIT_FAILED if failed else EXIT_OK


def _batch_error(args, err: Console, question: str, message: str) -> None:
    if args.json:
        print(json.dumps({"question": question[:200], "error": message}, ensure_ascii=False), flush=True)
    else:
        err.print(f"[red]error:[/] {escape(message)}")


def cmd_forget(svc: RoundupService, args, out: Console, err: Console) -> int:
    from bot.state import BotState

    counts = BotState(svc.store).forget_user(args.user)
    total = sum(counts.values())
    if args.json:
        print(json.dumps({"user": args.user, "rows": counts}))
    else:
        out.print(f"Forgot member {args.user}: {total} rows ("
                  + ", ".join(f"{n} in {t}" for t, n in counts.items()) + ").", markup=False)
    return EXIT_OK


def apply_retention(settings: Settings) -> None:
    """Delete member data older than `retention_days` (each CLI start and the bot's daily job).
    A store that does not exist yet is not created for this."""
    if settings.retention_days <= 0 or not settings.store_path.exists():
        return
    from bot.state import BotState
    from corpus.store import Store

    try:
        store = Store(settings.store_path)
    except RoundupError as exc:
        log.debug("retention skipped: %s", exc)
        return
    try:
        deleted = BotState(store).expire(settings.retention_days)
        if any(deleted.values()):
            log.info("retention: deleted %s (older than %d days)", deleted, settings.retention_days)
    except Exception as exc:  # a read-only or locked store must not stop the command
        log.warning("retention skipped: %s", exc)
    finally:
        store.close()


def cmd_digest(svc: RoundupService, args, out: Console, err: Console) -> int:
    digest = svc.digest(args.period, topic=args.topic, items=args.items, since=args.since, until=args.until,
                        guild=args.guild)
    show(out, digest, print_digest, as_json=args.json)
    return EXIT_OK


def cmd_trend(svc: RoundupService, args, out: Console, err: Console) -> int:
    trend = svc.trend(args.name, guild=args.guild)
    chart = None
    if trend.png:
        chart = args.out or Path(chart_filename(trend.name))
        try:
            chart.write_bytes(trend.png)
        except OSError as exc:
            raise ServiceError(f"cannot write the chart to {chart}: {exc.strerror}") from None
    if args.json:
        print(json.dumps({**trend.to_dict(), "chart": str(chart) if chart else None}, ensure_ascii=False))
    elif trend.note:
        err.print(f"[yellow]{escape(trend.note)}[/]")
    else:
        print_trend(out, trend, chart)
    return EXIT_OK if trend.total else EXIT_FAILED


def cmd_status(svc: RoundupService, args, out: Console, err: Console) -> int:
    st = svc.status(args.guild)
    if args.json:
        print(json.dumps(st, ensure_ascii=False, default=str))
    else:
        print_status(out, st)
    return EXIT_OK


def cmd_rebuild(svc: RoundupService, args, out: Console, err: Console) -> int:
    report = svc.rebuild()
    if args.json:
        print(json.dumps({"embedded": report.added}))
    else:
        out.print(f"Rebuilt the index: {report.added} passages embedded.")
    return EXIT_OK


def cmd_chat(svc: RoundupService, args, out: Console, err: Console) -> int:
    first_run(svc, err)
    if not sys.stdin.isatty():
        # Piped or empty stdin (e.g. `make run </dev/null`): answer what comes, or one demo question.
        svc.ensure_ready()  # `run` finishes what an interrupted ingest left out, before questions
        questions = [q for q in (clean_question(line).strip() for line in stdin_lines()) if q] or [DEMO_QUESTION]
        for q in questions:
            if q.lower() in QUIT_WORDS:
                break
            out.print(f"[bold magenta]Q:[/] {escape(q)}")
            try:
                print_answer(out, svc.ask(q, k=3))
            except QuestionError as exc:
                err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_OK
    import readline  # noqa: F401  (line editing and history for input())

    history = svc.settings.data_dir / ".chat_history"
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    with err.status("loading the model and index..."):
        svc.ensure_ready()
    st = svc.status(args.guild)
    out.print(f"[bold]Roundup Bot[/]: {st['articles']} roundups, {st['first_published']} to "
              f"{st['last_published']}. Ask about Chinese tech; [b]:q[/] to leave.")
    out.print(f"[dim]Try: {DEMO_QUESTION}[/]")
    try:
        while True:
            try:
                q = input("\nyou> ").strip()
            except EOFError:
                break
            except KeyboardInterrupt:
                out.print()
                continue
            if q.lower() in QUIT_WORDS:
                break
            if not q:
                continue
            try:
                print_answer(out, svc.ask(q, k=3))
            except QuestionError as exc:
                err.print(f"[red]error:[/] {escape(str(exc))}")
    finally:
        try:
            readline.set_history_length(1000)
            readline.write_history_file(history)
        except OSError:
            pass
    return EXIT_OK


def cmd_serve(svc: RoundupService, args, out: Console, err: Console) -> int:
    from bot.serve import serve

    svc.close()  # the bot builds its own service
    return serve(svc.settings, dev_guild=getattr(args, "guild", None), force_sync=getattr(args, "sync", False))


def cmd_run(svc: RoundupService, args, out: Console, err: Console) -> int:
    if os.environ.get("DISCORD_TOKEN") or os.environ.get("DISCORD_TOKEN_FILE") or svc.settings.token_file:
        return cmd_serve(svc, args, out, err)
    err.print("[dim]No DISCORD_TOKEN set: starting the terminal chat (see README to run the Discord bot).[/]")
    return cmd_chat(svc, args, out, err)


def cmd_eval(svc: RoundupService, args, out: Console, err: Console) -> int:
    from bot.evaluate import load_eval_set, run_eval

    questions, article_files = load_eval_set(args.file)
    systems = [x.strip() for x in args.systems.split(",") if x.strip()] if args.systems else None
    if article_files:
        return _eval_heldout(svc, args, questions, article_files, systems, out, err)
    with err.status("running the evaluation...") if err.is_terminal else _nullcontext():
        report = run_eval(svc, questions, systems=systems, calibrate=args.calibrate, ablation=args.ablation)
    show(out, report, lambda c, r: print_eval(c, r, details=args.details), as_json=args.json, details=args.details)
    return EXIT_OK


def _eval_heldout(svc: RoundupService, args, questions, article_files, systems, out: Console, err: Console) -> int:
    """The held-out directory: its own data directory (DATA_DIR/eval/heldout), dev and test side by side."""
    from bot.console import print_splits
    from bot.evaluate import fit_answerability, heldout_service, run_eval

    hsvc = heldout_service(svc.settings, article_files, encoder=svc._encoder)
    try:
        with err.status("running the evaluation...") if err.is_terminal else _nullcontext():
            report = run_eval(hsvc, questions, systems=systems or ["hybrid"], ablation=args.ablation)
    finally:
        hsvc.close()
    if args.fit_answerability:
        model, cv = fit_answerability(report, source=str(args.file))
        Path(args.fit_answerability).write_text(model.to_json(), "utf-8")
        err.print(f"answerability model written to {args.fit_answerability}: threshold {model.threshold:.3f}; "
                  f"cross-validated on dev: answered {cv['answered']:.0%}, refused {cv['refused']:.0%}",
                  markup=False, highlight=False)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))  # aggregates only: no per-question test results
    else:
        print_splits(out, report, details=args.details)
    return EXIT_OK


def _nullcontext():
    from contextlib import nullcontext

    return nullcontext()


COMMANDS = {"ingest": cmd_ingest, "ask": cmd_ask, "status": cmd_status, "chat": cmd_chat,
            "rebuild": cmd_rebuild, "run": cmd_run, "serve": cmd_serve, "digest": cmd_digest,
            "trend": cmd_trend, "eval": cmd_eval, "timeline": community.cmd_timeline, "stats": community.cmd_stats,
            "feeds": cmd_feeds, "remove": cmd_remove, "forget": cmd_forget}


class _PlainFormatter(logging.Formatter):
    """One line per event, control characters stripped. A traceback only at debug level or for
    an ERROR (a real bug); a warning that carries an exception ends with its type and message."""

    def __init__(self, *, tracebacks: bool):
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        full = bool(record.exc_info) and (self.tracebacks or record.levelno >= logging.ERROR)
        if record.exc_info and not full:
            exc = record.exc_info[1]
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {str(exc)[:200]})"
            record.args = None
        return strip_controls(super().format(record), keep="\n" if full else "")


def configure_logging(verbosity: int, level_name: str) -> None:
    """One handler on the root logger (ours, replaced on a second call); discord.py's lines go
    through it too, since `serve` no longer lets discord.py add its own (which printed each twice)."""
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else getattr(
        logging, level_name.upper(), logging.WARNING)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "roundup", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.roundup = True  # type: ignore[attr-defined]
    handler.setFormatter(_PlainFormatter(tracebacks=level <= logging.DEBUG))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("sentence_transformers", "transformers", "httpx", "huggingface_hub", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    # soft_wrap: long links stay on one line, so they can be copied and clicked
    out, err = Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        settings = Settings.load(config=getattr(args, "config", None),
                                 data_dir=getattr(args, "data_dir", None),
                                 sample=False if getattr(args, "no_sample", False) else None)
    except SettingsError as exc:
        err.print(f"roundup-bot: error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    configure_logging(getattr(args, "verbose", 0), settings.log_level)
    private_umask(settings)
    apply_retention(settings)
    try:  # bad input is refused in milliseconds, before the model loads
        check_input(command, args)
    except RoundupError as exc:
        err.print(f"roundup-bot: error: {exc.message}", markup=False, highlight=False)
        return exc.exit_code
    svc = RoundupService(settings)
    try:
        if command in FIRST_RUN_COMMANDS:
            first_run(svc, err)
        return COMMANDS[command](svc, args, out, err)
    except RoundupError as exc:
        err.print(f"roundup-bot: error: {exc.message}", markup=False, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    finally:
        svc.close()


# Commands that answer from the index: on an empty data directory they first index the sample
# (`chat`, and `run` without a token, do it in cmd_chat: the Discord bot checks its token first).
FIRST_RUN_COMMANDS = frozenset({"ask", "digest", "trend", "timeline", "rebuild"})


def first_run(svc: RoundupService, err: Console) -> None:
    """An empty data directory: index the bundled sample with one line saying so (a progress bar
    on a terminal), instead of a log record and a silent minute."""
    if not svc.needs_sample():
        return
    with FirstRun(err, bundled_roundups()) as shown:
        index = svc.ensure_ready(shown.embedding)
    shown.finished(len(index))


def check_input(command: str, args) -> None:
    """Refuse bad questions, topics and periods before anything loads; a checked question is
    passed on as `args.question`, so it is not checked again."""
    if command == "ask" and args.question != "-":
        args.question = check_question(args.question)
    if command == "digest":
        check_topic(args.topic)
        if args.period and (args.since or args.until):
            raise PeriodError("give either --period or --since/--until, not both")
    if command in ("trend", "timeline"):
        check_topic(args.name)
    if command == "ingest" and args.crawl and args.paths:
        raise UsageError("give either --crawl URL or paths and URLs to ingest, not both")
