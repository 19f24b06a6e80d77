"""The report for people in a terminal, drawn with rich.

`render` returns plain text (no colour, no escape codes) at a fixed width, for tests and for
files; `print_table` draws on the CLI's console, with colour and clickable links on a TTY.
GitLab-derived text is never parsed as rich markup: it is escaped with `rich.markup.escape`
where markup is built, or passed as `Text`, and control characters are neutralised so a
hostile title cannot move the cursor or recolour the terminal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from io import StringIO
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.style import Style
from rich.table import Table
from rich.text import Text

from auditor.findings import PromotionResult, Report, Status, Verdict
from auditor.gaps import Gap, gaps_from_rows
from auditor.timestamps import format_timestamp

VERDICT_LABELS: dict[Verdict, str] = {
    Verdict.COMPLIANT: "COMPLIANT",
    Verdict.NON_COMPLIANT: "NON-COMPLIANT",
    Verdict.INCOMPLETE: "INCOMPLETE",
    Verdict.IN_PROGRESS: "IN PROGRESS",
    Verdict.NOT_PROMOTED: "NOT PROMOTED",
}
VERDICT_STYLES: dict[Verdict, str] = {
    Verdict.COMPLIANT: "bold green",
    Verdict.NON_COMPLIANT: "bold red",
    Verdict.INCOMPLETE: "bold yellow",
    Verdict.IN_PROGRESS: "bold cyan",
    Verdict.NOT_PROMOTED: "bold magenta",
}
STATUS_STYLES: dict[Status, str] = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.WARN: "yellow",
    Status.UNKNOWN: "bold yellow",
    Status.NOT_APPLICABLE: "dim",
}

# ESC and friends would reach the terminal as-is (rich strips only a few); bidi overrides
# can make a title read differently from what it is.
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029\t]+")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """One printable line of `text`."""
    return _CONTROL.sub("\ufffd", _LINE_BREAKS.sub(" ", str(text)))


def _status_text(status: Status) -> Text:
    return Text(str(status), style=STATUS_STYLES[status])


def _header(result: PromotionResult) -> Text:
    mr = result.mr
    verdict = result.verdict
    merged = format_timestamp(mr.merged_at) if mr.merged_at else "not merged"
    markup = (
        f"[bold]{escape(printable(str(mr.mr_id)))}[/bold] {escape(printable(mr.title))}\n"
        f"  service {escape(printable(result.service))} · merged {merged} · "
        f"[{VERDICT_STYLES[verdict]}]{VERDICT_LABELS[verdict]}[/]"
    )
    # emoji=False: `:name:` in a title must print as typed, not as a picture.
    return Text.from_markup(markup, emoji=False)


# Below this many columns the rule's name moves above its summary, so the summary keeps
# most of the line instead of wrapping a few words at a time beside three fixed columns.
NARROW = 100


def _rules_table(result: PromotionResult, width: int) -> Table:
    narrow = width < NARROW
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("Rule", no_wrap=True)
    if not narrow:
        table.add_column("Name", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Summary", ratio=1, overflow="fold")
    for finding in result.findings:
        summary = Text(printable(finding.summary))
        if narrow:
            summary = Text.assemble((printable(finding.name), "bold"), "\n", summary)
            table.add_row(Text(printable(finding.rule)), _status_text(finding.status), summary)
        else:
            table.add_row(
                Text(printable(finding.rule)),
                Text(printable(finding.name)),
                _status_text(finding.status),
                summary,
            )
    return table


def _evidence_lines(result: PromotionResult, links: bool) -> Iterator[Text]:
    for finding in result.findings:
        for item in finding.evidence:
            when = f" {format_timestamp(item.at)}" if item.at else ""
            what = f"{finding.rule} {item.kind} {item.id}"
            line = Text(f"  {printable(what)}{when}: ")
            if item.url:
                url = printable(item.url)
                # The URL is printed whole either way; on a TTY an http(s) URL also becomes an
                # OSC 8 link (a Style object: a style string would choke on spaces in a URL).
                clickable = links and url.lower().startswith(("https://", "http://"))
                line.append(url, style=Style(link=url) if clickable else None)
            else:
                line.append("(no URL)", style="dim")
            yield line


def verdict_tally(report: Report) -> Text:
    """The closing line: how many promotions got each verdict."""
    if not report.promotions:
        return Text("No promotions audited.")
    counts = Counter(p.verdict for p in report.promotions)
    noun = "promotion" if len(report.promotions) == 1 else "promotions"
    line = Text(f"{len(report.promotions)} {noun}: ")
    parts = [v for v in Verdict if counts[v]]
    for index, verdict in enumerate(parts):
        if index:
            line.append(", ")
        line.append(f"{counts[verdict]} {VERDICT_LABELS[verdict]}", style=VERDICT_STYLES[verdict])
    return line


def _draw(report: Report, console: Console, *, links: bool, gaps: tuple[Gap, ...] = ()) -> None:
    for result in report.promotions:
        console.print(_header(result))
        for attempt in result.attempts:
            # indented as a block, so a wrapped line does not start at the margin
            described = Text(printable(attempt.describe(format_timestamp)), style="dim")
            console.print(Padding(described, (0, 0, 0, 2)))
        console.print(_rules_table(result, console.width))
        evidence = list(_evidence_lines(result, links))
        if evidence:
            console.print(Text("Evidence:", style="bold"))
            for line in evidence:
                # soft_wrap: never break a URL across lines, so it can be copied or clicked.
                console.print(line, soft_wrap=True)
        console.print()
    console.print(verdict_tally(report))
    if gaps:
        console.print(Text(f"Could not be established ({len(gaps)}):", style="bold red"))
        for gap in gaps:
            console.print(Text(f"  {gap}"))


def render(report: Report, width: int = 100, gaps: Iterable[Mapping[str, Any] | Gap] = ()) -> str:
    """The report as plain text `width` columns wide (URLs may run past it, unbroken)."""
    buffer = StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=False,
        no_color=True,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    _draw(report, console, links=False, gaps=gaps_from_rows(gaps))
    return buffer.getvalue()


def print_table(report: Report, console: Console) -> None:
    """Draw the report on `console`, in colour and with clickable links when it is a TTY."""
    _draw(report, console, links=console.is_terminal)
