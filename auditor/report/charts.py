"""Charts for the HTML/PDF reports: matplotlib (Agg) drawn to SVG text, inlined in the page.

Why SVG text inline: the reports must be self-contained (no image files, no URL to load) and
the same markup feeds WeasyPrint, which draws inline SVG as vectors. Why these settings:
- `svg.hashsalt` fixed and no `Date` (or any other) metadata: the same data gives the same
  bytes, so two renders of one run can be diffed and the tests can compare them.
- `svg.fonttype = "none"`: labels stay real `<text>` (searchable, copyable from the PDF,
  smaller than glyph outlines); matplotlib escapes `&`, `<` and `>` in them.
- `text.parse_math = False`: a `$` in anything GitLab-derived (a project path, a title) is
  then plain text, never mathtext that could fail to parse and abort the report.
- Every `id` is prefixed per chart: a page holds hundreds of these SVGs, and matplotlib's
  `patch_1`, `clip...` and marker ids would otherwise collide, letting one chart's
  `clip-path: url(#...)` pick up another chart's clip box.

Functions take plain, already-decided data (times, counts, hours) and return SVG markup or
None when there is nothing to draw; what the data means is decided in `html.py`.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import matplotlib

# Before pyplot or any backend is touched anywhere in this process: no display, no GUI.
matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402 - must follow matplotlib.use
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from auditor.timestamps import utc  # noqa: E402

# Colours by status/verdict; the CSS uses the same palette so charts and tables agree.
GREEN = "#2e7d32"
RED = "#c62828"
AMBER = "#b26a00"
GREY = "#757575"
BLUE = "#1f5fa8"
STATUS_COLOURS = {
    "pass": GREEN,
    "fail": RED,
    "warn": AMBER,
    "unknown": AMBER,
    "not_applicable": GREY,
}

_RC: dict[Any, Any] = {  # Any keys: matplotlib types rcParams names as Literals
    "svg.hashsalt": "auditor-report",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.size": 8,
    # One family, not matplotlib's ten-name fallback list: it is repeated in every <text>
    # and every renderer parses it again (in WeasyPrint, measurably so at 200 charts).
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 72,
}
# No `Date` (changes every run) and none of the RDF block (it names matplotlib's website in
# an attribute, an http URL the page has no reason to carry).
_METADATA: dict[str, str | None] = {"Date": None, "Creator": None, "Format": None, "Type": None}

_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.S)
# matplotlib's `<style>*{stroke-linejoin: round; stroke-linecap: butt}</style>`: inline in
# HTML it becomes a stylesheet of the whole page (a `*` rule per chart, matched against
# every element); the same two properties go on the <svg> itself, where they inherit.
_STYLE = re.compile(r"<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>\s*")
_ROOT_STYLE = "stroke-linejoin:round;stroke-linecap:butt"
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
_BETWEEN_TAGS = re.compile(r">\s+<")
_ID_ATTR = re.compile(r'\bid="([^"]+)"')
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_HREF_REF = re.compile(r'(xlink:href|href)="#([^"]+)"')
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class TimelinePoint:
    """One step of a promotion on its timeline chart (`status` colours the marker)."""

    label: str
    at: datetime | None
    status: str


@dataclass(frozen=True)
class WeekCounts:
    """Promotions deployed in the ISO week starting `week` (a Monday), by verdict."""

    week: date
    compliant: int
    non_compliant: int
    other: int  # incomplete, in progress, not promoted

    @property
    def total(self) -> int:
        return self.compliant + self.non_compliant + self.other


def _svg(fig: Figure, chart_id: str, title: str) -> str:
    """The figure as inline-ready SVG: no XML prologue or DOCTYPE (not allowed inside HTML),
    ids made unique to this chart, an accessible name."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="svg", metadata=_METADATA)
    text = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    text = _STYLE.sub("", text, count=1)
    # matplotlib indents and breaks path data over lines; a page with 200 charts parses
    # faster without it (XML whitespace between tags and inside `d` means nothing).
    text = _BETWEEN_TAGS.sub("><", _LINE_BREAK.sub(" ", text))
    prefix = _SAFE_ID.sub("-", chart_id)
    text = _ID_ATTR.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = _URL_REF.sub(lambda m: f"url(#{prefix}-{m.group(1)})", text)
    text = _HREF_REF.sub(lambda m: f'{m.group(1)}="#{prefix}-{m.group(2)}"', text)
    label = html.escape(title, quote=True)
    root = f'<svg class="chart" role="img" aria-label="{label}" style="{_ROOT_STYLE}" '
    return text.replace("<svg ", root, 1).strip()


def _figure(width: float, height: float, *, constrained: bool = True) -> Figure:
    # Figure() directly, never pyplot: no global figure registry to leak or share between
    # threads, and nothing to close.
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained" if constrained else None)


def timeline_svg(points: Sequence[TimelinePoint], chart_id: str) -> str | None:
    """A promotion's steps against time as inline SVG (see `timeline_figure`)."""
    fig = timeline_figure(points)
    return None if fig is None else _svg(fig, chart_id, "timeline of the promotion's steps")


def timeline_figure(points: Sequence[TimelinePoint]) -> Figure | None:
    """A promotion's steps against time: one row per step, in runbook order.

    Rows, not labels beside markers: steps minutes apart would print over each other, and a
    step out of order (a label added before the deployment) shows as the connecting line
    running backwards. One dated step sits in the middle of an hour either side of it.
    """
    timed = [(i, p) for i, p in enumerate(points) if p.at is not None]
    if not timed:
        return None
    with matplotlib.rc_context(_RC):
        height = 0.6 + 0.2 * len(points)
        fig = _figure(7.2, height, constrained=False)
        # Fixed margins instead of a layout engine: the row labels are our own fixed words,
        # so their width is known, and skipping the layout pass halves the time per chart
        # (a 200-promotion report draws 200 of these).
        fig.subplots_adjust(left=1.15 / 7.2, right=0.97, top=1 - 0.1 / height, bottom=0.5 / height)
        ax = fig.add_subplot()
        xs = [mdates.date2num(utc(p.at)) for _, p in timed]  # type: ignore[arg-type]
        ys = [i for i, _ in timed]
        ax.plot(xs, ys, color="#9e9e9e", linewidth=1, zorder=1)
        ax.scatter(
            xs,
            ys,
            c=[STATUS_COLOURS.get(p.status, GREY) for _, p in timed],
            s=28,
            zorder=2,
            edgecolors="white",
            linewidths=0.5,
        )
        ax.set_yticks(range(len(points)), [p.label for p in points])
        ax.set_ylim(len(points) - 0.5, -0.5)
        span = max(xs) - min(xs)
        pad = span * 0.05 if span else 1 / 24
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
        locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))
        ax.set_xlabel("UTC")
        ax.grid(axis="x", color="#e0e0e0", linewidth=0.5)
        ax.tick_params(axis="y", length=0)
        return fig


def trend_svg(weeks: Sequence[WeekCounts], chart_id: str) -> str | None:
    """The weekly trend as inline SVG (see `trend_figure`)."""
    fig = trend_figure(weeks)
    return None if fig is None else _svg(fig, chart_id, "weekly compliance trend")


# Fewer weeks than this are drawn centred among this many slots: one or two weeks then draw
# as bars of a readable width in the middle, not a wall of colour or a sliver at the edge.
_MIN_WEEK_SLOTS = 6


def trend_figure(weeks: Sequence[WeekCounts]) -> Figure | None:
    """Stacked bars of promotions per week by verdict, the compliance rate above each bar
    (a line on its own axis past 16 weeks). The legend sits above the axes, outside them,
    so no bar, rate or line can ever be under it."""
    if not weeks:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure(7.2, 2.4)
        ax = fig.add_subplot()
        xs = list(range(len(weeks)))
        compliant = [w.compliant for w in weeks]
        failing = [w.non_compliant for w in weeks]
        other = [w.other for w in weeks]
        ax.bar(xs, compliant, color=GREEN, label="compliant", width=0.6)
        ax.bar(xs, failing, bottom=compliant, color=RED, label="non-compliant", width=0.6)
        ax.bar(
            xs,
            other,
            bottom=[c + f for c, f in zip(compliant, failing, strict=True)],
            color=AMBER,
            label="incomplete / in progress / not promoted",
            width=0.6,
        )
        top = max(w.total for w in weeks) or 1
        rated = [
            (x, 100 * w.compliant / w.total) for x, w in zip(xs, weeks, strict=True) if w.total
        ]
        if len(weeks) <= 16:
            for x, rate in rated:
                total = weeks[x].total
                ax.text(x, total + top * 0.03, f"{rate:.0f}%", ha="center", va="bottom")
        else:
            # Too many bars for a label each: the rate becomes a line on its own axis.
            share = ax.twinx()
            share.plot([x for x, _ in rated], [r for _, r in rated], color="#212121", linewidth=1)
            share.set_ylim(0, 125)
            share.set_yticks([0, 50, 100], ["0%", "50%", "100%"])
            share.set_ylabel("compliant")
        # Headroom for the rate printed above the tallest bar.
        ax.set_ylim(0, top * 1.2)
        spare = max(0, _MIN_WEEK_SLOTS - len(weeks)) / 2
        ax.set_xlim(-0.5 - spare, len(weeks) - 0.5 + spare)
        # Every week gets a tick; past a dozen only every n-th is labelled, so they stay legible.
        step = max(1, math.ceil(len(weeks) / 12))
        labels = [f"wk {w.week.isoformat()}" if i % step == 0 else "" for i, w in enumerate(weeks)]
        ax.set_xticks(xs, labels)
        if len(weeks) > 6:
            ax.tick_params(axis="x", labelrotation=45)
        ax.set_ylabel("promotions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _legend_above(ax)
        return fig


def lead_time_svg(hours: Sequence[float], chart_id: str) -> str | None:
    """The lead-time histogram as inline SVG (see `lead_time_figure`)."""
    fig = lead_time_figure(hours)
    return None if fig is None else _svg(fig, chart_id, "merge-to-validated lead time")


def lead_time_figure(hours: Sequence[float]) -> Figure | None:
    """Histogram of merge-to-validated lead times in hours, with the median marked.

    The bins cover the values, not 0 to the longest: one promotion is a bar in a narrow,
    labelled range around it (`_bin_edges`), and hundreds spread over their range. The
    legend (the median's value) sits above the axes, where neither a bar nor the median
    line can run under it.
    """
    values = sorted(h for h in hours if h >= 0)
    if not values:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure(7.2, 2.2)
        ax = fig.add_subplot()
        edges = _bin_edges(values[0], values[-1])
        ax.hist(values, bins=edges, color=BLUE, edgecolor="white", linewidth=0.5)
        middle = len(values) // 2
        median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        ax.axvline(median, color=RED, linewidth=1, linestyle="--", label=f"median {median:.1f} h")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
        ax.set_xlabel("hours from merge to validated")
        ax.set_ylabel("promotions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _legend_above(ax)
        return fig


def _legend_above(ax: Any) -> None:
    """The legend in a row above the axes' top right corner: outside the axes, so it covers
    no data however the bars fall; the constrained layout makes room for it."""
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
        ncols=4,
        fontsize=7,
        borderaxespad=0.2,
    )


# Bin widths in hours a reader can name (5 min ... a week).
_BIN_WIDTHS = (1 / 12, 1 / 6, 0.25, 0.5, 1.0, 2.0, 4.0, 6.0, 12.0, 24.0, 48.0, 168.0)
_MAX_BINS = 24
_MIN_BINS = 6


def _bin_edges(shortest: float, longest: float) -> list[float]:
    """Bins of one round width covering [shortest, longest]: matplotlib's automatic bins
    give edges like 0.94 h, which hide how long a promotion really took.

    The width is the narrowest one giving at most 24 bins over the values and at most 24
    over 0..longest times four (one value of 26 h gets half-hour bins, not 5 min ones). The
    bins start at 0 when the values do not sit far from it, else at the first bin holding a
    value; fewer than six bins are widened to six, around the values and never below 0, so
    one value is a bar of a sixth of the axes in a labelled range around it (26 h: 25-28 h).
    """
    span = longest - shortest
    width = next(
        (w for w in _BIN_WIDTHS if span / w < _MAX_BINS and longest / w < _MAX_BINS * 4),
        _BIN_WIDTHS[-1],
    )
    first = math.floor(shortest / width)
    if first <= span / width:
        first = 0  # the values reach down towards 0: show it, a lead time starts there
    last = math.floor(longest / width) + 1
    missing = _MIN_BINS - (last - first)
    if missing > 0:
        below = min(first, missing // 2)
        first -= below
        last += missing - below
    return [i * width for i in range(first, last + 1)]
