"""The sweep's closing summary for people: a row per service, then what needs attention."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from auditor.findings import Status, Verdict
from auditor.sweep import SweepResult

_ATTENTION = (Verdict.NON_COMPLIANT, Verdict.INCOMPLETE, Verdict.IN_PROGRESS, Verdict.NOT_PROMOTED)


def summary_table(result: SweepResult) -> Table:
    table = Table(title="auditor sweep", title_justify="left")
    for name in (
        "service",
        "promotions",
        "compliant",
        "non-compliant",
        "incomplete",
        "in progress",
        "drift",
        "requests",
        "time",
    ):
        table.add_column(name, justify="left" if name == "service" else "right")
    for s in result.summaries.values():
        table.add_row(
            escape(s.service),
            str(s.promotions),
            str(s.verdicts["compliant"]),
            str(s.verdicts["non_compliant"]),
            str(s.verdicts["incomplete"]),
            str(s.verdicts["in_progress"]),
            str(s.drift),
            str(s.requests),
            f"{s.seconds:.1f}s",
        )
    table.caption = (
        f"{result.requests} requests to GitLab ({result.cache_hits} answers reused from the "
        f"store), {result.seconds:.1f}s"
    )
    return table


def print_summary(result: SweepResult, console: Console) -> None:
    console.print(summary_table(result))
    attention = [p for p in result.report.promotions if p.verdict in _ATTENTION]
    if attention:
        console.print("[bold]Promotions that need attention[/]")
        for p in attention:
            bad = [f for f in p.findings if f.status in (Status.FAIL, Status.UNKNOWN)]
            console.print(
                f"  {escape(p.mr.project)}!{p.mr.iid} {escape(p.service)} "
                f"[bold]{p.verdict.value.upper()}[/] {escape(p.mr.web_url)}"
            )
            for f in bad:
                console.print(f"    {f.rule} {f.name} {f.status.value}: {escape(f.summary)}")
    if result.discovery.drift:
        console.print("[bold]Drift[/] (on release, deployed, explained by no merged MR)")
        for d in result.discovery.drift:
            console.print(
                f"  {escape(d.service)} {d.sha[:12]} {escape(d.title)} "
                f"(deployed {d.deployed_at:%Y-%m-%d %H:%M} UTC)"
            )
    if result.discovery.cut_offs:
        console.print("[bold]Cut-offs[/]")
        for c in result.discovery.cut_offs:
            console.print(
                f"  pipeline #{c.pipeline_id} job {c.job_id} at "
                f"{c.at:%Y-%m-%d %H:%M} UTC by {escape(c.by or '?')}"
            )
    if result.gaps:
        console.print(
            f"[bold]Could not be established[/] ({len(result.gaps)} gap(s): the run is "
            "incomplete; these are unknown, never pass)"
        )
        for g in result.gaps:
            console.print(f"  {escape(str(g))}")


def render(result: SweepResult, width: int = 120) -> str:
    out = StringIO()
    print_summary(result, Console(file=out, width=width, no_color=True, force_terminal=False))
    return out.getvalue()
