"""The report charts read well with one sample, a few and hundreds (issue 10 item 5).

Checked on the drawn figure, in display coordinates (what a reader sees), not on the code's
intent: the legend's window extent is compared with every data artist's (bars, the median
line, the rate labels and line, markers), one sample's bar must take a readable share of the
axes and sit inside them, tick labels must not print over each other, and the SVG the
report inlines stays byte-identical between two renders of the same data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import matplotlib
import pytest
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from auditor.report import charts

SIZES = (1, 2, 300)


def lead_hours(n: int) -> list[float]:
    """`n` lead times: one day and a bit; then a short one beside it; then a long-tailed
    spread like a busy quarter's (seeded, so every run draws the same)."""
    if n == 1:
        return [26.0]
    if n == 2:
        return [0.9, 26.0]
    rng = random.Random(7)
    return [round(rng.lognormvariate(2.5, 0.9), 2) for _ in range(n)]


def week_counts(n: int) -> list[charts.WeekCounts]:
    rng = random.Random(11)
    monday = date(2026, 11, 16)
    return [
        charts.WeekCounts(
            monday - timedelta(weeks=n - 1 - i), rng.randint(0, 9), rng.randint(0, 3), i % 2
        )
        for i in range(n)
    ]


def timeline_points(n: int) -> list[charts.TimelinePoint]:
    at = datetime(2026, 11, 18, 10, tzinfo=UTC)
    statuses = ("pass", "fail", "unknown", "warn")
    return [
        charts.TimelinePoint(f"step {i}", at + timedelta(minutes=7 * i), statuses[i % 4])
        for i in range(n)
    ]


def draw(fig: Figure) -> RendererBase:
    """Lay the figure out and draw it as the SVG export does (same rc settings)."""
    with matplotlib.rc_context(charts._RC):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return canvas.get_renderer()


def only_axes(fig: Figure) -> Axes:
    return fig.axes[0]


def data_extents(ax: Axes, renderer: RendererBase) -> list[tuple[str, Bbox]]:
    """Every drawn data artist of `ax` and its twins: bars with a height, lines, texts
    placed in data coordinates, scatter markers."""
    out: list[tuple[str, Bbox]] = []
    for axes in [ax, *ax.get_shared_x_axes().get_siblings(ax)]:
        for patch in axes.patches:
            if isinstance(patch, Rectangle) and patch.get_height() > 0:
                out.append((f"bar at {patch.get_x():.2f}", patch.get_window_extent(renderer)))
        for line in axes.lines:
            out.append((f"line {line.get_label()}", line.get_window_extent(renderer)))
        for text in axes.texts:
            out.append((f"text {text.get_text()}", text.get_window_extent(renderer)))
        for collection in axes.collections:
            out.append(("markers", collection.get_window_extent(renderer)))
    return out


def assert_legend_clear(fig: Figure, renderer: RendererBase) -> None:
    ax = only_axes(fig)
    legend = ax.get_legend()
    assert legend is not None
    box = legend.get_window_extent(renderer)
    for name, extent in data_extents(ax, renderer):
        assert not box.overlaps(extent), f"legend {box} covers {name} {extent}"
    # and it is on the page, not cut off by the figure's edge
    page = fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1


def assert_no_overlap(extents: Sequence[Bbox], what: str) -> None:
    for a, b in zip(extents, extents[1:], strict=False):
        assert not a.overlaps(b), f"{what} print over each other: {a} {b}"


def visible_tick_labels(labels: Iterable[matplotlib.text.Text], renderer: RendererBase) -> list:
    return [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]


# -- lead time --------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_lead_time_legend_never_covers_the_bars_or_the_median(n: int) -> None:
    fig = charts.lead_time_figure(lead_hours(n))
    assert fig is not None
    renderer = draw(fig)
    assert_legend_clear(fig, renderer)
    ax = only_axes(fig)
    median = next(line for line in ax.lines if line.get_label().startswith("median"))
    # the median line is inside the axes, not on (or past) their edge
    x = median.get_window_extent(renderer).x0
    axes_box = ax.get_window_extent(renderer)
    assert axes_box.x0 < x < axes_box.x1


@pytest.mark.parametrize("n", SIZES)
def test_lead_time_bars_fill_a_readable_share_of_the_axes(n: int) -> None:
    fig = charts.lead_time_figure(lead_hours(n))
    assert fig is not None
    renderer = draw(fig)
    ax = only_axes(fig)
    axes_box = ax.get_window_extent(renderer)
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
    assert sum(b.get_height() for b in bars) == n  # every promotion is counted once
    extents = [b.get_window_extent(renderer) for b in bars]
    left = min(e.x0 for e in extents)
    right = max(e.x1 for e in extents)
    # the axes span the data, not mostly empty space beside it
    assert (right - left) / axes_box.width >= 0.15, (left, right, axes_box)
    widest = max(e.width for e in extents)
    # one value: a sixth of the axes; more: at most 24 bins, each a visible bar
    assert widest / axes_box.width >= (0.12 if n == 1 else 0.03)
    if n == 1:
        # one value: a bar in the middle of a labelled range around it
        middle = (left + right) / 2
        assert abs(middle - (axes_box.x0 + axes_box.x1) / 2) <= axes_box.width * 0.15
        ticks = visible_tick_labels(ax.get_xticklabels(), renderer)
        inside = [t for t in ticks if axes_box.x0 - 1 <= (t.x0 + t.x1) / 2 <= axes_box.x1 + 1]
        assert len(inside) >= 3
    assert_no_overlap(visible_tick_labels(ax.get_xticklabels(), renderer), "x tick labels")


def test_lead_time_bins_are_round_and_cover_every_value() -> None:
    for values in (lead_hours(1), lead_hours(2), lead_hours(300), [0.02], [1000.0]):
        edges = charts._bin_edges(min(values), max(values))
        assert edges[0] <= min(values) and max(values) < edges[-1]
        assert 6 <= len(edges) - 1 <= 25
        width = edges[1] - edges[0]
        assert width in charts._BIN_WIDTHS and edges[0] >= 0
    assert charts._bin_edges(26.0, 26.0) == [25.0, 25.5, 26.0, 26.5, 27.0, 27.5, 28.0]


# -- weekly trend -----------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_trend_legend_never_covers_bars_rates_or_the_rate_line(n: int) -> None:
    fig = charts.trend_figure(week_counts(n))
    assert fig is not None
    renderer = draw(fig)
    assert_legend_clear(fig, renderer)


def test_trend_legend_stays_clear_when_the_first_week_is_the_tallest() -> None:
    """A tall first bar and its rate, right under where a legend inside the axes would go."""
    weeks = [charts.WeekCounts(date(2026, 11, 2), 9, 1, 0)] + [
        charts.WeekCounts(date(2026, 11, 9) + timedelta(weeks=i), 1, 0, 0) for i in range(3)
    ]
    fig = charts.trend_figure(weeks)
    assert fig is not None
    assert_legend_clear(fig, draw(fig))


@pytest.mark.parametrize("n", SIZES)
def test_trend_bars_are_readable_and_centred_when_few(n: int) -> None:
    fig = charts.trend_figure(week_counts(n))
    assert fig is not None
    renderer = draw(fig)
    ax = only_axes(fig)
    axes_box = ax.get_window_extent(renderer)
    bars = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, Rectangle)]
    assert all(axes_box.x0 <= b.x0 and b.x1 <= axes_box.x1 + 0.5 for b in bars)
    if n <= 2:
        assert min(b.width for b in bars) / axes_box.width >= 0.08
        middle = (min(b.x0 for b in bars) + max(b.x1 for b in bars)) / 2
        assert abs(middle - (axes_box.x0 + axes_box.x1) / 2) <= axes_box.width * 0.1
    labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    rotation = labels[0].get_rotation()
    if not rotation:
        assert_no_overlap(visible_tick_labels(labels, renderer), "week labels")
    else:
        # Slanted labels are parallel lines of text: their boxes overlap while the words do
        # not; apart means the perpendicular gap between neighbours beats the text height.
        assert n > 6 and rotation == 45
        height = labels[0].get_fontsize() * fig.dpi / 72
        starts = [t.get_window_extent(renderer).x1 for t in labels]
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) * math.sin(math.radians(rotation)) >= height * 1.2, gaps


# -- timeline ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_timeline_markers_inside_and_labels_apart(n: int) -> None:
    fig = charts.timeline_figure(timeline_points(n))
    assert fig is not None
    renderer = draw(fig)
    ax = only_axes(fig)
    assert ax.get_legend() is None  # the rows are labelled; nothing to cover them
    axes_box = ax.get_window_extent(renderer)
    (markers,) = ax.collections
    xy = ax.transData.transform(markers.get_offsets())
    assert len(xy) == n
    for x, y in xy:
        assert axes_box.x0 < x < axes_box.x1 and axes_box.y0 < y < axes_box.y1
    if n == 1:
        assert abs(xy[0][0] - (axes_box.x0 + axes_box.x1) / 2) < 1
    ticks = visible_tick_labels(ax.get_xticklabels(), renderer)
    assert len(ticks) >= 2
    assert_no_overlap(ticks, "time labels")
    rows = sorted(visible_tick_labels(ax.get_yticklabels(), renderer), key=lambda b: b.y0)
    assert_no_overlap(rows, "step labels")


# -- the SVG the page inlines -------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_svg_is_deterministic_for_every_size(n: int) -> None:
    renders = [
        (
            charts.lead_time_svg(lead_hours(n), "lead"),
            charts.trend_svg(week_counts(n), "trend"),
            charts.timeline_svg(timeline_points(n), "tl"),
        )
        for _ in range(2)
    ]
    assert renders[0] == renders[1]
    lead, trend, timeline = renders[0]
    assert lead and trend and timeline
    assert "median" in lead and "non-compliant" in trend
