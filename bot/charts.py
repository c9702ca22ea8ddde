"""Pictures for people who would rather look than read: the trend bar chart as PNG bytes.

matplotlib is imported on first use, with the Agg backend (no display, thread-safe enough when
each chart gets its own Figure): the CLI and the bot only pay for it when a chart is asked for.
"""
from __future__ import annotations

import io
import logging
import hashlib
import re
import textwrap
import threading
import warnings

from digests.trend import Trend

log = logging.getLogger(__name__)

_lock = threading.Lock()  # matplotlib's font cache and text layout are not re-entrant


# Used when installed, for Chinese names and headlines; DejaVu Sans (bundled) has no CJK glyphs.
_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
              "Microsoft YaHei", "PingFang SC", "SimHei")


def chart_filename(name: str) -> str:
    """`trend-tiktok.png`: the one file name for a trend chart, saved by the CLI or attached in Discord.

    ASCII only: Discord rewrites other characters in attachment names, which would break the
    embed's `attachment://` reference. A name with no ASCII letters (华为) gets a short hash of
    itself, so two such charts never overwrite each other.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    if not slug:
        slug = "chart-" + hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"trend-{slug}.png"


def _figure_class():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    installed = {f.name for f in font_manager.fontManager.ttflist}
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", *(f for f in _CJK_FONTS if f in installed)]
    return Figure


def _tick_positions(months: list[str], max_ticks: int = 12) -> list[int]:
    """Januaries on long spans (every few years if need be), every few months on short ones."""
    if len(months) <= max_ticks:
        return list(range(len(months)))
    januaries = [i for i, m in enumerate(months) if m.endswith("-01")]
    if len(januaries) >= 2:
        step = -(-len(januaries) // max_ticks)
        return januaries[::step]
    step = -(-len(months) // max_ticks)
    return list(range(0, len(months), step))


def trend_png(trend: Trend, *, width: float = 9.0, dpi: int = 110) -> bytes:
    """A bar per month of the corpus; the peak months labelled, their headlines listed underneath."""
    months = [m for m, _ in trend.months]
    counts = [n for _, n in trend.months]
    peak_months = {p.month for p in trend.peaks}
    lines: list[str] = []
    for p in trend.peaks:
        for h in p.headlines:
            lines.extend(textwrap.wrap(f"{p.month}: {h.title}", 110) or [""])
    chart_in, line_in = 4.0, 0.2  # inches: the chart, then one line of headlines
    text_in = (0.45 + line_in * len(lines)) if lines else 0.0
    height = chart_in + text_in + 0.1
    with _lock:
        Figure = _figure_class()
        fig = Figure(figsize=(width, height), dpi=dpi)
        bottom = (text_in + 0.55) / height  # room for the month labels under the bars
        ax = fig.add_axes((0.08, bottom, 0.9, (chart_in - 1.0) / height))
        colours = ["#d9534f" if m in peak_months else "#4a7fb5" for m in months]
        ax.bar(range(len(months)), counts, color=colours, width=0.8)
        ticks = _tick_positions(months)
        ax.set_xticks(ticks)
        ax.set_xticklabels([months[i] if len(ticks) == len(months) or not months[i].endswith("-01")
                            else months[i][:4] for i in ticks], rotation=0, fontsize=8)
        ax.set_xlim(-0.6, len(months) - 0.4)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("passages")
        verb = "mentioning" if trend.mode == "name" else "about"
        ax.set_title(f"Roundup passages {verb} \u201c{trend.name}\u201d, per month", fontsize=11)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for i, (m, n) in enumerate(trend.months):
            if m in peak_months:
                ax.annotate(m, (i, n), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
        if lines:
            top = (text_in + 0.05) / height
            fig.text(0.02, top, "Peak months' headlines:", fontsize=9, weight="bold", va="top")
            fig.text(0.02, top - 0.3 / height, "\n".join(lines), fontsize=8, va="top", linespacing=1.55)
        buf = io.BytesIO()
        with warnings.catch_warnings():  # without a CJK font, such glyphs show as boxes: not worth a warning each
            warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
            fig.savefig(buf, format="png")
    return buf.getvalue()
