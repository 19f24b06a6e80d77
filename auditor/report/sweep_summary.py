"""The sweep's closing summary for people: a row per service, then what needs attention."""

from __future__ import annotations

import textwrap
from io import StringIO

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from auditor.findings import Status, Verdict
from auditor.report.table import printable
from auditor.sweep import SweepResult
from auditor.timestamps import format_minute

_ATTENTION = (Verdict.NON_COMPLIANT, Verdict.INCOMPLETE, Verdict.IN_PROGRESS, Verdict.NOT_PROMOTED)


# Below this many columns, or when the wide table would not fit, the table drops its requests
# and time columns (the caption keeps the totals) and breaks its long headers, so that it
# fits 80 columns without cutting a name.
NARROW = 100
_COUNTS = (
    ("promotions", "promo-\ntions"),
    ("compliant", "compliant"),
    ("non-compliant", "non-\ncompliant"),
    ("incomplete", "incom-\nplete"),
    ("in progress", "in\nprogress"),
    ("drift", "drift"),
)


def summary_table(result: SweepResult, width: int = 120) -> Table:
    longest = max((len(name) for name in result.summaries), default=0)
    # the wide table's columns are each their header or name wide, plus borders and padding
    wide_width = longest + 4 + sum(len(wide) + 3 for wide, _ in _COUNTS) + len("requests time") + 6
    narrow = width < max(NARROW, wide_width)
    table = Table(
        title="auditor sweep",
        title_justify="left",
        box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
        show_edge=not narrow,
        padding=(0, 1, 0, 0) if narrow else (0, 1),
        caption_justify="left",
    )
    # The counts as narrow as their headers' longest lines; the service gets the rest, and a
    # name longer than that is wrapped at its hyphens, never cut to "vemo-…".
    # (each column: its text, one space of padding and the one-space column separator)
    counts_width = sum(max(map(len, short.split("\n"))) + 2 for _, short in _COUNTS)
    name_width = max(12, width - counts_width - 1)
    table.add_column("service", min_width=12 if narrow else None)
    for wide, short in _COUNTS:
        if narrow:
            own = max(map(len, short.split("\n")))
            table.add_column(short, justify="right", width=own, no_wrap=True)
        else:
            table.add_column(wide, justify="right")
    if not narrow:
        table.add_column("requests", justify="right")
        table.add_column("time", justify="right")
    for s in result.summaries.values():
        counts = [
            s.promotions,
            s.verdicts["compliant"],
            s.verdicts["non_compliant"],
            s.verdicts["incomplete"],
            s.verdicts["in_progress"],
            s.drift,
        ]
        name = _wrapped(s.service, name_width) if narrow else s.service
        cells = [escape(name), *map(str, counts)]
        if not narrow:
            cells += [str(s.requests), f"{s.seconds:.1f}s"]
        table.add_row(*cells)
    table.caption = (
        f"{result.requests} requests to GitLab ({result.cache_hits} answers reused from the "
        f"store), {result.seconds:.1f}s"
    )
    return table


def _wrapped(name: str, width: int) -> str:
    return "\n".join(textwrap.wrap(name, width, break_on_hyphens=True)) or name


def _line(console: Console, indent: int, markup: str) -> None:
    """A line whose continuation lines keep its indent instead of starting at the margin.
    GitLab's text in it (titles, usernames, gaps) is escaped as markup by the caller and
    made printable here: an escape sequence in a commit title must not reach the terminal."""
    shown = Text.from_markup(printable(markup), emoji=False)
    console.print(Padding(shown, (0, 0, 0, indent)))


def print_summary(result: SweepResult, console: Console) -> None:
    console.print(summary_table(result, console.width))
    attention = [p for p in result.report.promotions if p.verdict in _ATTENTION]
    if attention:
        console.print("[bold]Promotions that need attention[/]")
        for p in attention:
            bad = [f for f in p.findings if f.status in (Status.FAIL, Status.UNKNOWN)]
            _line(
                console,
                2,
                f"{escape(str(p.mr.mr_id))} {escape(p.service)} [bold]{p.verdict.value.upper()}[/]",
            )
            # on a line of its own and never broken, so it can be clicked or copied whole
            console.print(Text(f"    {printable(p.mr.web_url)}"), soft_wrap=True)
            if bad:
                # the rule ids in a column of their own: a wrapped summary stays beside its id
                findings = Table.grid(padding=(0, 1))
                findings.add_column(no_wrap=True)
                findings.add_column()
                for f in bad:
                    text = printable(f"{f.name} {f.status.value}: {f.summary}")
                    findings.add_row(f.rule, Text(text))
                console.print(Padding(findings, (0, 0, 0, 4)))
    if result.discovery.drift:
        console.print("[bold]Drift[/] (on release, deployed, explained by no merged MR)")
        for d in result.discovery.drift:
            _line(
                console,
                2,
                f"{escape(d.service)} {d.sha[:12]} {escape(d.title)} "
                f"(deployed {format_minute(d.deployed_at)} UTC)",
            )
    if result.discovery.cut_offs:
        console.print("[bold]Cut-offs[/]")
        for c in result.discovery.cut_offs:
            _line(
                console,
                2,
                f"pipeline #{c.pipeline_id} job {c.job_id} at "
                f"{format_minute(c.at)} UTC by {escape(c.by or '?')}",
            )
    if result.gaps:
        console.print(
            f"[bold]Could not be established[/] ({len(result.gaps)} gap(s): the run is "
            "incomplete; these are unknown, never pass)"
        )
        for g in result.gaps:
            _line(console, 2, escape(str(g)))


def render(result: SweepResult, width: int = 120) -> str:
    out = StringIO()
    print_summary(result, Console(file=out, width=width, no_color=True, force_terminal=False))
    return out.getvalue()
