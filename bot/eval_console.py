"""`roundup-bot eval tests/eval/heldout`: the held-out set, dev and test side by side.

The held-out directory holds its own roundups; they are read into a data directory of their
own (DATA_DIR/eval/heldout) beside the bundled sample, so the set measures the bot on
roundups nobody tuned it on. Only aggregate figures are printed for the test split.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.evaluate import EvalReport, fit_answerability, heldout_service, run_eval

log = logging.getLogger(__name__)

ROWS = (("recall@1", "recall_at_1", "{:.3f}"), ("recall@5", "recall_at_5", "{:.3f}"), ("MRR@10", "mrr_at_10", "{:.3f}"),
        ("answered", "answer_rate", "{:.0%}"), ("answered right", "correct_answer_rate", "{:.0%}"),
        ("refused", "refusal_rate", "{:.0%}"), ("answer in bold", "answer_in_bold", "{:.0%}"),
        ("p50 ms", "p50_ms", "{:.1f}"))


def print_splits(console: Console, report: EvalReport, *, details: bool = False) -> None:
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
    for label, attr, fmt in ROWS:
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


def run_heldout(svc, args, questions, article_files: list[Path], systems, out: Console, err: Console) -> int:
    """Build (or reuse) the held-out data directory, run the systems, print dev and test."""
    hsvc = heldout_service(svc.settings, article_files, encoder=svc._encoder)
    try:
        report = run_eval(hsvc, questions, systems=systems or ["hybrid"], ablation=args.ablation)
    finally:
        hsvc.close()
    if args.fit_answerability:
        model, cv = fit_answerability(report, source=str(args.file))
        Path(args.fit_answerability).write_text(model.to_json(), "utf-8")
        err.print(f"answerability model written to {args.fit_answerability}: threshold {model.threshold:.3f}, "
                  f"cross-validated on dev: answered {cv['answered']:.0%}, refused {cv['refused']:.0%}",
                  markup=False, highlight=False)
    if args.json:
        data = report.to_dict()
        print(json.dumps({k: v for k, v in data.items() if k != "questions"}, ensure_ascii=False))
    else:
        print_splits(out, report, details=args.details)
    return 0
