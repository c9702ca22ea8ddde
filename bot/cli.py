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
from rich.table import Table

from bot.settings import Settings, SettingsError
from bot.serve import TokenError
from bot.service import IngestReport, RoundupService, ServiceError
from corpus.periods import PERIOD_HELP, PeriodError
from corpus.readers import CorpusError
from embeddings.digest import MAX_ITEMS, Digest, DigestError, check_topic
from embeddings.encoder import EncoderError
from embeddings.evaluation import EvalError
from embeddings.search import MODES, Answer, QuestionError, check_question
from embeddings.trend import Trend

log = logging.getLogger(__name__)

DEMO_QUESTION = "Where does TikTok say it keeps American users' data?"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
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

    p = sub.add_parser("ask", parents=[common], help="answer a question from the roundups")
    p.add_argument("question", help="the question, or - to read one question a line from stdin")
    p.add_argument("-k", "--results", type=results_count, default=None, help="how many passages (default 5)")
    p.add_argument("--since", type=iso_date, help="only roundups published on or after this date")
    p.add_argument("--until", type=iso_date, help="only roundups published on or before this date")
    p.add_argument("--json", action="store_true", help="print JSON (one object a line in batch mode)")
    p.add_argument("--mode", choices=MODES, help="retrieval: dense, bm25 or hybrid (default: the retrieval setting)")
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
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("trend", parents=[common], help="a bar chart of how often the roundups mention a name")
    p.add_argument("name", help="a company, product or subject, e.g. Huawei")
    p.add_argument("--out", type=Path, help="where to write the PNG (default trend-NAME.png)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("status", parents=[common], help="what the bot knows")
    p.add_argument("--json", action="store_true")
    sub.add_parser("chat", parents=[common], help="interactive questions and answers in the terminal")
    p = sub.add_parser("serve", parents=[common], help="run the Discord bot (token from DISCORD_TOKEN)")
    p.add_argument("--guild", type=int, default=None, help="also sync commands to this guild at once (development)")
    p.add_argument("--sync", action="store_true", help="sync slash commands even if they look unchanged")
    p = sub.add_parser("rebuild", parents=[common], help="re-embed every passage into a new index")
    p.add_argument("--json", action="store_true")
    return parser


# -- rendering -------------------------------------------------------------------------------

def print_answer(console: Console, answer: Answer) -> None:
    if not answer.answered:
        console.print(f"[yellow]Not found in the roundups.[/] Nothing scored above the relevance floor for "
                      f"[i]{escape(answer.question)}[/].")
        for note in answer.notes:
            console.print(f"[dim]({escape(note)})[/]")
        if answer.hits:
            h = answer.hits[0]
            console.print(f"Closest, but weak ({h.score:.2f}): {escape(h.passage.title)} ({h.passage.published})")
        return
    for n, hit in enumerate(answer.hits, 1):
        p = hit.passage
        where = " · ".join(x for x in (p.published, p.section) if x)
        console.print(f"[bold cyan]{n}.[/] [bold]{escape(p.title)}[/] [dim]({escape(where)}) score {hit.score:.2f}[/]")
        text = escape(p.text)
        if hit.best_sentence and hit.best_sentence in p.text:
            text = text.replace(escape(hit.best_sentence), f"[bold]{escape(hit.best_sentence)}[/]", 1)
        console.print(f"   {text}")
        console.print(f"   [blue]{escape(p.url)}[/]")
        console.print()
    for note in answer.notes:
        console.print(f"[dim]({escape(note)})[/]")
    console.print(f"[dim]{answer.elapsed_ms:.0f} ms[/]")


def print_digest(console: Console, digest: Digest) -> None:
    about = f" on [bold]{escape(digest.topic)}[/]" if digest.topic else ""
    span = f"{digest.period.since} to {digest.period.until}"
    dates = "" if digest.period.label == span else f" [dim]({span})[/]"
    console.rule(f"[bold]Digest[/]{about}: {escape(digest.period.label)}{dates}", align="left")
    if digest.empty:
        console.print(f"[yellow]{escape(digest.note or 'nothing to show')}[/]")
        return
    for n, item in enumerate(digest.items, 1):
        console.print(f"[bold cyan]{n}.[/] [bold]{escape(item.label)}[/]")
        for sentence in item.sentences:
            console.print(f"   {escape(sentence)}")
        for src in item.sources:
            console.print(f"   [dim]- {escape(src.title)} ({src.published or 'undated'})[/] "
                          f"[blue][link={src.url}]{escape(src.url)}[/link][/]")
        console.print()
    console.print(f"[dim]Drawn from {digest.passages} passage{'s' * (digest.passages != 1)} in "
                  f"{digest.articles} roundup{'s' * (digest.articles != 1)}.[/]")


def print_trend(console: Console, trend: Trend, chart: Path | None) -> None:
    active = [(m, n) for m, n in trend.months if n]
    how = "by name" if trend.mode == "name" else "by meaning"
    console.print(f"[bold]{escape(trend.name)}[/]: {trend.total} passages in {len(active)} of "
                  f"{len(trend.months)} months [dim](matched {how})[/]")
    if active:
        top = max(n for _, n in active)
        for m, n in active:
            bar = "\u2588" * max(1, round(20 * n / top))
            console.print(f"  {m} {bar} {n}")
    for p in trend.peaks:
        console.print(f"[bold]{p.month}[/] ({p.count}):")
        for h in p.headlines:
            console.print(f"   {escape(h.title)} [dim]({h.published})[/] [blue]{escape(h.url)}[/]")
    if chart:
        console.print(f"Chart saved to [bold]{escape(str(chart))}[/]")


def print_ingest(console: Console, report: IngestReport) -> None:
    for src in report.sources:
        bits = [f"{src.added} added", f"{src.updated} updated", f"{src.unchanged} unchanged",
                f"{src.passages_added} new passages"]
        if src.duplicates:
            bits.append(f"{src.duplicates} republished copies skipped")
        mark = "[red]failed[/]" if src.failed else ("[yellow]partly[/]" if src.errors else "[green]ok[/]")
        kind = f"{src.kind} " if src.kind in ("feed", "page") else ""
        console.print(f"{mark} {kind}{escape(src.source)}: {', '.join(bits)}")
        for note in src.notes:
            console.print(f"   [dim]note:[/] {escape(note)}")
        for err in src.errors:
            console.print(f"   [red]error:[/] {escape(err)}")
    t = report.totals()
    console.print(f"[bold]{t['articles_added']} articles added, {t['articles_updated']} updated, "
                  f"{t['articles_unchanged']} unchanged; {t['passages_embedded']} passages embedded, "
                  f"{len(report.errors)} errors[/] in {report.elapsed_s:.1f}s")


def print_status(console: Console, st: dict) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("data dir", st["data_dir"])
    table.add_row("articles", str(st["articles"]))
    table.add_row("passages", str(st["passages"]))
    table.add_row("covers", f"{st['first_published'] or '-'} to {st['last_published'] or '-'}")
    table.add_row("model", st["model"])
    idx = st["index"]
    table.add_row("index", f"{idx['type']}, {idx.get('vectors') or 0} vectors, {idx.get('bytes', 0) / 1024:.0f} KiB, "
                           f"built {idx.get('built_at') or 'never'}")
    kw = idx.get("keyword") or {}
    table.add_row("retrieval", f"{idx.get('retrieval', 'dense')}; keyword index "
                               + (f"{kw.get('passages') or 0} passages, built {kw.get('built_at') or 'never'}"
                                  if kw and "error" not in kw else kw.get("error", "not built yet")))
    table.add_row("sources", "; ".join(f"{s['source']} ({s['articles']})" for s in st["sources"]) or "-")
    last = st["last_ingest"]
    table.add_row("last ingest", f"{last['at']} {last['source']} ({last['status']})" if last else "never")
    console.print(table)


# -- commands ---------------------------------------------------------------------------------

def _progress(console: Console):
    """A progress bar on a terminal, nothing otherwise (the final report says it all)."""
    if not console.is_terminal:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True)
    task = progress.add_task("embedding passages", total=None)
    return progress, (lambda done, total: progress.update(task, completed=done, total=total))


_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class _WebProgress:
    """Fetch progress: a rich bar on a terminal, one plain line per URL otherwise."""

    def __init__(self, console: Console):
        self.console = console
        self.done = self.total = 0
        self.progress = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=console, transient=True)
            self.fetch_task = self.progress.add_task("fetching", total=0)
            self.embed_task = self.progress.add_task("embedding passages", total=None, visible=False)

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def event(self, kind: str, url: str, detail) -> None:
        if kind == "queued":
            self.total += 1
            if self.progress:
                self.progress.update(self.fetch_task, total=self.total)
            return
        self.done += 1
        if self.progress:
            self.progress.update(self.fetch_task, completed=self.done)
            return
        self.console.print(f"[{self.done}/{self.total}] {_describe(detail)} {url}", markup=False, highlight=False)

    def embedding(self, done: int, total: int) -> None:
        if self.progress:
            self.progress.update(self.embed_task, completed=done, total=total, visible=True)


def _describe(detail) -> str:
    """One word or phrase for a finished URL (a feed, a page, an entry or a failure)."""
    from corpus.feeds import Fetched, SourceResult, UrlFailure

    if isinstance(detail, UrlFailure):
        return f"failed ({detail.reason}):"
    if isinstance(detail, Fetched):
        return "unchanged" if detail.article is None else "fetched"
    if isinstance(detail, SourceResult):
        if detail.failures and not detail.fetched and detail.kind != "feed":
            return f"failed ({detail.failures[0].reason}):"
        if detail.status == 304:
            return f"{detail.kind} not modified:"
        return f"{detail.kind} done:" if detail.kind == "feed" else "fetched"
    return "done"


def _merge(reports: list[IngestReport]) -> IngestReport:
    merged = IngestReport()
    for r in reports:
        merged.sources.extend(r.sources)
        merged.embedded += r.embedded
        merged.removed += r.removed
        merged.elapsed_s += r.elapsed_s
    return merged


def cmd_ingest(svc: RoundupService, args, out: Console, err: Console) -> int:
    targets = list(args.paths) or list(svc.settings.feeds)
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
                reports.append(svc.ingest(paths, overrides=overrides or None, on_progress=cb))
        else:
            reports.append(svc.ingest(paths, overrides=overrides or None))
    if urls:
        with _WebProgress(err) as web:
            reports.append(asyncio.run(svc.ingest_urls(urls, force=args.force, on_event=web.event,
                                                       on_progress=web.embedding)))
    report = _merge(reports)
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


def cmd_ask(svc: RoundupService, args, out: Console, err: Console) -> int:
    kwargs = {"k": args.results, "since": args.since, "until": args.until, "mode": args.mode,
              "diverse": not args.no_diversity}
    if args.question != "-":
        answer = svc.ask(args.question, **kwargs)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            print_answer(out, answer)
        return EXIT_OK
    failed = False
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        try:
            answer = svc.ask(question, **kwargs)
        except QuestionError as exc:
            failed = True
            payload = {"question": question[:200], "error": str(exc)}
            if args.json:
                print(json.dumps(payload, ensure_ascii=False), flush=True)
            else:
                err.print(f"[red]error:[/] {escape(str(exc))}")
            continue
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        else:
            out.print(f"[bold magenta]Q:[/] {escape(question)}")
            print_answer(out, answer)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_digest(svc: RoundupService, args, out: Console, err: Console) -> int:
    digest = svc.digest(args.period, topic=args.topic, items=args.items, since=args.since, until=args.until)
    if args.json:
        print(json.dumps(digest.to_dict(), ensure_ascii=False))
    else:
        print_digest(out, digest)
    return EXIT_OK


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^\w]+", "-", name.lower()).strip("-")[:60] or "trend"


def cmd_trend(svc: RoundupService, args, out: Console, err: Console) -> int:
    trend = svc.trend(args.name)
    chart = None
    if trend.png:
        chart = args.out or Path(f"trend-{_slug(trend.name)}.png")
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
    st = svc.status()
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
    if not sys.stdin.isatty():
        # Piped or empty stdin (e.g. `make run </dev/null`): answer what comes, or one demo question.
        questions = [line.strip() for line in sys.stdin if line.strip()] or [DEMO_QUESTION]
        for q in questions:
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
    st = svc.status()
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
            if q in {":q", ":quit", "exit", "quit"}:
                break
            if not q:
                continue
            try:
                print_answer(out, svc.ask(check_question(q), k=3))
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


def print_eval(console: Console, report, *, details: bool = False) -> None:
    names = list(report.summaries)
    first = report.summaries[names[0]]
    console.print(f"[bold]{first.questions} questions[/] ({first.answerable} answerable, {first.unanswerable} not) "
                  f"over {report.passages} passages. dense and bm25 search the question as typed; hybrid is "
                  f"what `ask` does; +qu/-qu: with/without query understanding (names, dates).")
    table = Table(show_lines=False, header_style="bold")
    table.add_column("metric")
    for n in names:
        table.add_column(n, justify="right", style="bold green" if n == "hybrid" else None)

    def row(label: str, fn, fmt: str = "{:.3f}") -> None:
        table.add_row(label, *(fmt.format(fn(n)) for n in names))

    s = report.summaries
    row("recall@1", lambda n: s[n].recall_at_1)
    row("recall@5", lambda n: s[n].recall_at_5)
    row("MRR@10", lambda n: s[n].mrr_at_10)
    row("floor", lambda n: s[n].floor)
    row("answered", lambda n: s[n].answer_rate, "{:.0%}")
    row("answered right", lambda n: s[n].correct_answer_rate, "{:.0%}")
    row("refused", lambda n: s[n].refusal_rate, "{:.0%}")
    row("story twice@3", lambda n: s[n].duplicate_rate, "{:.0%}")
    row("p50 ms", lambda n: s[n].p50_ms, "{:.1f}")
    row("p99 ms", lambda n: s[n].p99_ms, "{:.1f}")
    if report.calibrated:
        c = report.calibrated
        table.add_section()
        table.add_row("[i]at each system's best floor[/]", *([""] * len(names)))
        row("best floor", lambda n: c[n]["floor"])
        row("answered", lambda n: c[n]["summary"].answer_rate, "{:.0%}")
        row("refused", lambda n: c[n]["summary"].refusal_rate, "{:.0%}")
        table.add_row("right calls", *(f"{c[n]['correct']}/{c[n]['of']}" for n in names))
        table.add_row(" leave-1-out", *(f"{c[n]['loo']}/{c[n]['of']}" for n in names))
    console.print(table)
    if details:
        for n in names:
            m = s[n]
            console.print(f"[bold]{n}[/]: no right passage in the top 5: {', '.join(m.misses) or '-'}; "
                          f"refused answerable: {', '.join(m.unanswered) or '-'}; "
                          f"answered unanswerable: {', '.join(m.wrong_answers) or '-'}")


def cmd_eval(svc: RoundupService, args, out: Console, err: Console) -> int:
    from bot.evaluate import run_eval

    from bot.evaluate import heldout_service, load_eval_set

    questions, article_files = load_eval_set(args.file)
    systems = [x.strip() for x in args.systems.split(",") if x.strip()] if args.systems else None
    if article_files:
        from bot.eval_console import run_heldout

        return run_heldout(svc, args, questions, article_files, systems, out, err)
    with err.status("running the evaluation...") if err.is_terminal else _nullcontext():
        report = run_eval(svc, questions, systems=systems, calibrate=args.calibrate, ablation=args.ablation)
    if args.json:
        print(json.dumps(report.to_dict(details=args.details), ensure_ascii=False))
    else:
        print_eval(out, report, details=args.details)
    return EXIT_OK


def _nullcontext():
    from contextlib import nullcontext

    return nullcontext()


COMMANDS = {"ingest": cmd_ingest, "ask": cmd_ask, "status": cmd_status, "chat": cmd_chat,
            "rebuild": cmd_rebuild, "run": cmd_run, "serve": cmd_serve, "digest": cmd_digest,
            "trend": cmd_trend, "eval": cmd_eval}


def configure_logging(verbosity: int, level_name: str) -> None:
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else getattr(
        logging, level_name.upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
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
                                 data_dir=getattr(args, "data_dir", None))
    except SettingsError as exc:
        err.print(f"roundup-bot: error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    configure_logging(getattr(args, "verbose", 0), settings.log_level)
    try:  # bad input is refused in milliseconds, before the model loads
        if command == "ask" and args.question != "-":
            check_question(args.question)
        if command == "digest":
            check_topic(args.topic)
            if args.period and (args.since or args.until):
                raise PeriodError("give either --period or --since/--until, not both")
        if command == "trend":
            check_topic(args.name)
    except (QuestionError, DigestError, PeriodError) as exc:
        err.print(f"roundup-bot: error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    svc = RoundupService(settings)
    try:
        return COMMANDS[command](svc, args, out, err)
    except (ServiceError, CorpusError, EncoderError, QuestionError, SettingsError, TokenError, DigestError,
            PeriodError, EvalError) as exc:
        err.print(f"roundup-bot: error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE if isinstance(exc, (QuestionError, DigestError, PeriodError, EvalError)) else EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    finally:
        svc.close()
