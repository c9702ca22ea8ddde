"""The terminal's renderers and progress UI (the rich twin of bot/render.py for Discord).

`bot/cli.py` parses and runs commands; everything that draws on a rich Console lives here.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.reports import IngestReport
from bot.stats import Stats
from bot.timeline import Timeline
from corpus.text import strip_controls
from digests.summary import Digest
from embeddings.search import Answer
from digests.trend import Trend

_MARKS = {"failed": "[red]failed[/]", "partial": "[yellow]partly[/]", "ok": "[green]ok[/]"}


# -- results -------------------------------------------------------------------------------


def show(console: Console, result, printer, *, as_json: bool, **to_dict) -> None:
    """One result, as JSON on stdout for scripts (`--json`) or through its rich `printer` for people."""
    if as_json:
        print(json.dumps(result.to_dict(**to_dict), ensure_ascii=False), flush=True)
    else:
        printer(console, result)


def plural(n: int, word: str) -> str:
    """`1 passage`, `3 passages`: counts read as English."""
    return f"{n} {word}{'' if n == 1 else 's'}"

def _safe(text: object) -> str:
    """Stored or fetched text for the terminal: no escape sequences or controls, markup escaped."""
    return escape(strip_controls(str(text), keep="\n"))


def print_answer(console: Console, answer: Answer) -> None:
    if not answer.answered:
        why = (f"no passage answers it with enough confidence ({answer.confidence:.0%})"
               if answer.confidence is not None else "nothing scored above the relevance floor")
        console.print(f"[yellow]Not found in the roundups:[/] {why}. [dim]Asked: {_safe(answer.question)}[/]")
        for note in answer.notes:
            console.print(f"[dim]({_safe(note)})[/]")
        if answer.hits:
            h = answer.hits[0]
            console.print(f"Closest, but weak ({h.score:.2f}): {_safe(h.passage.title)} ({h.passage.published})")
        return
    for n, hit in enumerate(answer.hits, 1):
        p = hit.passage
        where = " · ".join(x for x in (p.published, p.section) if x)
        console.print(f"[bold cyan]{n}.[/] [bold]{_safe(p.title)}[/] [dim]({_safe(where)}) score {hit.score:.2f}[/]")
        text = _safe(p.text)
        if hit.best_sentence and hit.best_sentence in p.text:
            text = text.replace(_safe(hit.best_sentence), f"[bold]{_safe(hit.best_sentence)}[/]", 1)
        console.print(f"   {text}")
        console.print(f"   [blue]{_safe(p.url)}[/]")
        console.print()
    for note in answer.notes:
        console.print(f"[dim]({_safe(note)})[/]")
    console.print(f"[dim]{answer.elapsed_ms:.0f} ms[/]")


def print_digest(console: Console, digest: Digest) -> None:
    about = f" on [bold]{_safe(digest.topic)}[/]" if digest.topic else ""
    console.rule(f"[bold]Digest[/]{about}: {_safe(digest.period.heading)}", align="left")
    if digest.empty:
        console.print(f"[yellow]{_safe(digest.note or 'nothing to show')}[/]")
        return
    for n, item in enumerate(digest.items, 1):
        console.print(f"[bold cyan]{n}.[/] [bold]{_safe(item.label)}[/]")
        for sentence in item.sentences:
            console.print(f"   {_safe(sentence)}")
        for src in item.sources:
            console.print(f"   [dim]- {_safe(src.title)} ({src.published or 'undated'})[/] "
                          f"[blue][link={_safe(src.url)}]{_safe(src.url)}[/link][/]")
        console.print()
    console.print(f"[dim]Drawn from {digest.passages} passage{'s' * (digest.passages != 1)} in "
                  f"{digest.articles} roundup{'s' * (digest.articles != 1)}.[/]")


def print_trend(console: Console, trend: Trend, chart: Path | None) -> None:
    active = [(m, n) for m, n in trend.months if n]
    how = "by name" if trend.mode == "name" else "by meaning"
    console.print(f"[bold]{_safe(trend.name)}[/]: {plural(trend.total, 'passage')} in {len(active)} of "
                  f"{len(trend.months)} months [dim](matched {how})[/]")
    if active:
        top = max(n for _, n in active)
        for m, n in active:
            bar = "\u2588" * max(1, round(20 * n / top))
            console.print(f"  {m} {bar} {n}")
    for p in trend.peaks:
        console.print(f"[bold]{p.month}[/] ({p.count}):")
        for h in p.headlines:
            console.print(f"   {_safe(h.title)} [dim]({h.published})[/] [blue]{_safe(h.url)}[/]")
    if chart:
        console.print(f"Chart saved to [bold]{_safe(str(chart))}[/]")


def print_ingest(console: Console, report: IngestReport) -> None:
    for src in report.sources:
        bits = [f"{src.added} added", f"{src.updated} updated", f"{src.unchanged} unchanged",
                f"{src.passages_added} new passages"]
        if src.duplicates:
            bits.append(f"{src.duplicates} republished copies skipped")
        mark = _MARKS[src.status]
        kind = f"{src.kind} " if src.kind in ("feed", "page") else ""
        console.print(f"{mark} {kind}{_safe(src.source)}: {', '.join(bits)}")
        for note in src.notes:
            console.print(f"   [dim]note:[/] {_safe(note)}")
        for err in src.errors:
            console.print(f"   [red]error:[/] {_safe(err)}")
    t = report.totals()
    console.print(f"[bold]{t['articles_added']} articles added, {t['articles_updated']} updated, "
                  f"{t['articles_unchanged']} unchanged; {t['passages_embedded']} passages embedded, "
                  f"{plural(len(report.errors), 'error')}[/] in {report.elapsed_s:.1f}s")


def print_status(console: Console, st: dict) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("data dir", _safe(st["data_dir"]))
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
    table.add_row("sources", "; ".join(f"{_safe(s['source'])} ({s['articles']})" for s in st["sources"]) or "-")
    last = st["last_ingest"]
    table.add_row("last ingest", f"{last['at']} {_safe(last['source'])} ({last['status']})" if last else "never")
    if not st.get("sample", True):
        table.add_row("sample", "switched off")
    owned = st.get("owned")
    if owned is not None:
        table.add_row(f"server {st['guild']} owns", f"{owned['articles']} articles, {owned['passages']} passages: "
                      + ("; ".join(f"{s['source']} ({s['articles']})" for s in owned["sources"]) or "-"))
    console.print(table)


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


def print_timeline(console: Console, tl: Timeline) -> None:
    if not tl.entries:
        console.print(f"The roundups don't mention [bold]{escape(tl.name)}[/]"
                      + (f" between {tl.since or 'the start'} and {tl.until or 'now'}" if tl.since or tl.until else "")
                      + ".")
        if tl.suggestions:
            console.print("Names they do cover: " + ", ".join(escape(s) for s in tl.suggestions))
        return
    read = f" [dim](read {escape(repr(tl.asked))} as {escape(tl.name)})[/]" if tl.asked.lower() != tl.name.lower() else ""
    console.print(f"[bold]{escape(tl.name)}[/]: {plural(len(tl.entries), 'roundup')}{read}")
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


# -- progress ------------------------------------------------------------------------------

def _progress(console: Console):
    """A progress bar on a terminal, nothing otherwise (the final report says it all)."""
    if not console.is_terminal:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True)
    task = progress.add_task("embedding passages", total=None)
    return progress, (lambda done, total: progress.update(task, completed=done, total=total))


class BarProgress:
    """A context manager holding a rich progress bar on a terminal, and nothing otherwise (piped
    output gets plain lines from the subclass instead)."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=console, transient=True)

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()


class FirstRun(BarProgress):
    """The first command on an empty data directory: one line saying what happens while the
    bundled sample is indexed (a bar on a terminal, a plain line otherwise), then what was done."""

    def __init__(self, console: Console, roundups: int):
        super().__init__(console)
        self.roundups = roundups
        self.start = time.perf_counter()
        what = f"First run: indexing {plural(roundups, 'bundled roundup')}"
        if self.progress:  # short enough for the bar to fit an 80-column terminal
            self.task = self.progress.add_task(f"{what} · loading the model", total=None)
        else:
            console.print(f"{what} into the search index (loading the model, then embedding)...", markup=False,
                          highlight=False)
        self.what = what

    def embedding(self, done: int, total: int) -> None:
        if self.progress:
            self.progress.update(self.task, description=f"{self.what} · embedding", completed=done, total=total)

    def finished(self, passages: int) -> None:
        self.console.print(f"Indexed {plural(self.roundups, 'bundled sample roundup')} ({plural(passages, 'passage')}) "
                           f"in {time.perf_counter() - self.start:.1f}s.", markup=False, highlight=False)


class _WebProgress(BarProgress):
    """Fetch progress: a rich bar on a terminal, one plain line per URL otherwise."""

    def __init__(self, console: Console):
        super().__init__(console)
        self.done = self.total = 0
        if self.progress:
            self.fetch_task = self.progress.add_task("fetching", total=0)
            self.embed_task = self.progress.add_task("embedding passages", total=None, visible=False)

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
        line = strip_controls(f"[{self.done}/{self.total}] {_describe(detail)} {url}", keep="")
        self.console.print(line, markup=False, highlight=False)

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


# held-out eval: dev and test side by side (only aggregates for test)
HELDOUT_ROWS = (("recall@1", "recall_at_1", "{:.3f}"), ("recall@5", "recall_at_5", "{:.3f}"), ("MRR@10", "mrr_at_10", "{:.3f}"),
        ("answered", "answer_rate", "{:.0%}"), ("answered right", "correct_answer_rate", "{:.0%}"),
        ("refused", "refusal_rate", "{:.0%}"), ("answer in bold", "answer_in_bold", "{:.0%}"),
        ("p50 ms", "p50_ms", "{:.1f}"))


def print_splits(console: Console, report, *, details: bool = False) -> None:
    splits = list(report.splits)
    systems = list(report.summaries)
    counts = ", ".join(f"{sp} {next(iter(report.splits[sp].values())).questions} "
                       f"({next(iter(report.splits[sp].values())).unanswerable} unanswerable)" for sp in splits)
    console.print(f"[bold]held-out set[/]: {counts}; {report.passages} passages (held-out roundups and the bundled "
                  "sample). Tune on dev only; test is frozen.")
    table = Table(header_style="bold")
    table.add_column("metric")
    for name in systems:
        for sp in splits:
            table.add_column(f"{name} {sp}" if len(systems) > 1 else sp, justify="right",
                             style="bold green" if sp == "test" else None)
    for label, attr, fmt in HELDOUT_ROWS:
        cells = []
        for name in systems:
            for sp in splits:
                v = getattr(report.splits[sp][name], attr)
                cells.append("-" if v is None else fmt.format(v))
        table.add_row(label, *cells)
    console.print(table)
    if "dev" in report.splits and "test" in report.splits and "hybrid" in systems:
        gap = report.splits["dev"]["hybrid"].mrr_at_10 - report.splits["test"]["hybrid"].mrr_at_10
        console.print(f"dev - test MRR@10 gap (hybrid): {gap:+.3f}")
    if details and "dev" in report.splits:  # per-question lists for dev only: test stays aggregate
        for name in systems:
            m = report.splits["dev"][name]
            console.print(f"[bold]{name} dev[/]: no right passage in the top 5: {', '.join(m.misses) or '-'}; "
                          f"refused answerable: {', '.join(m.unanswered) or '-'}; "
                          f"answered unanswerable: {', '.join(m.wrong_answers) or '-'}")
