"""The sign-off page as GitLab-flavoured Markdown (`auditor signoff --format markdown`).

The decision is `auditor.signoff`'s; this module only writes it, so a page can never decide
differently from the exit code.
"""

from __future__ import annotations

from auditor.findings import Status
from auditor.report.markdown import VERDICT_MARKERS, escape_md, md_link
from auditor.signoff import SignoffContext, SignoffPromotion, signoff_exit_code
from auditor.timestamps import format_timestamp
from auditor.timestamps import format_timestamp_or_none as _time

# --------------------------------------------------------------------------------------
# Markdown (GitLab-flavoured, to paste in an issue or MR note). Everything from GitLab goes
# through markdown.escape_md / markdown.md_link (the report's own, so both pages escape the
# same way): a hostile MR title cannot add links, HTML, @-mentions or tick a box.
# --------------------------------------------------------------------------------------


def _ref(p: SignoffPromotion) -> str:
    return md_link(str(p.mr.mr_id), p.mr.web_url)


def _rules_line(p: SignoffPromotion, status: Status, label: str) -> list[str]:
    return [
        f"  - {label} {escape_md(f.rule)} {escape_md(f.name)}: {escape_md(f.summary)}"
        for f in p.result.findings
        if f.status is status
    ]


def _blocking_lines(ctx: SignoffContext) -> list[str]:
    lines: list[str] = []
    for p in ctx.violations:
        lines.append(f"- **Violation**: {_ref(p)} {escape_md(p.mr.title)}: **NON-COMPLIANT**")
        lines += _rules_line(p, Status.FAIL, "failed")
        lines += _rules_line(p, Status.UNKNOWN, "unknown")
    for d in ctx.drift:
        when = f" deployed {format_timestamp(d.deployed_at)}" if d.deployed_at else ""
        title = escape_md(d.title) if d.title else "(no title)"
        lines.append(
            f"- **Violation**: drift {escape_md(d.sha)} in {escape_md(d.project)}{when}: {title} "
            "(on staging, explained by no merged MR)"
        )
    for p in ctx.unresolved:
        marker = VERDICT_MARKERS[p.verdict]
        lines.append(f"- **Not shown yet**: {_ref(p)} {escape_md(p.mr.title)}: **{marker}**")
        lines += _rules_line(p, Status.UNKNOWN, "unknown")
    for issue in ctx.staging_issues:
        lines.append(f"- **Not shown yet**: {escape_md(issue)}")
    for issue in ctx.run_issues:
        lines.append(f"- **Not shown yet**: {escape_md(issue)}")
    for gap in ctx.gaps:
        lines.append(
            f"- **Not shown yet**: the run could not establish {escape_md(gap.what)}: "
            f"{escape_md(gap.reason)}"
        )
    return lines


def _promotion_row(p: SignoffPromotion) -> str:
    cells = [
        _ref(p),
        escape_md(p.mr.title),
        _time(p.promoted_at) or "unknown",
        VERDICT_MARKERS[p.verdict],
        escape_md(" ".join(p.failed_rules)) or "-",
        escape_md(" ".join(p.unknown_rules)) or "-",
    ]
    return "| " + " | ".join(cells) + " |"


def render_signoff_markdown(ctx: SignoffContext) -> str:
    """The sign-off page as GitLab-flavoured Markdown, ending in a newline."""
    service = escape_md(ctx.service)
    code = signoff_exit_code(ctx)
    if code == 0:
        headline = "**Ready for sign-off**: nothing blocks."
    else:
        counts = []
        if ctx.violations or ctx.drift:
            counts.append(f"{len(ctx.violations) + len(ctx.drift)} violation(s)")
        if ctx.not_shown:
            counts.append(f"{ctx.not_shown} not shown yet")
        headline = f"**BLOCKED**: {', '.join(counts)}."
    scope = (
        f"since the last cut-off at {format_timestamp(ctx.since)}"
        if ctx.since
        else "in the whole audit (no cut-off known)"
    )
    lines = [
        f"## Staging sign-off: {service}",
        "",
        headline,
        "",
        f"Promotions of {service} {scope}, audited as of {format_timestamp(ctx.until)} by "
        f"auditor {escape_md(ctx.tool_version)} from {escape_md(ctx.gitlab_url)}.",
        "",
        "### On staging now",
        "",
    ]
    if ctx.staging is None:
        lines.append("Unknown: no successful staging deployment could be read.")
    else:
        s = ctx.staging
        finished = _time(s.finished_at) or "not finished"
        lines.append(
            f"{md_link(f'deployment {s.id}', s.url)} · commit {escape_md(s.sha)} · "
            f"finished {finished}"
        )
    lines += ["", "### What blocks sign-off", ""]
    lines += _blocking_lines(ctx) or ["Nothing."]
    lines += ["", "### Promotions in scope", ""]
    if ctx.promotions:
        lines += [
            "| MR | Title | Promoted | Verdict | Failed | Unknown |",
            "|---|---|---|---|---|---|",
            *(_promotion_row(p) for p in ctx.promotions),
        ]
    else:
        lines.append("None.")
    approve_note = (
        " (the audit blocks approval: approve only with a recorded exception)"
        if ctx.blocking
        else ""
    )
    lines += [
        "",
        "### Sign-off",
        "",
        f"Release manager for {service}, fill in:",
        "",
        "- Name: ",
        "- Role: ",
        "- Date (UTC): ",
        "- Decision (tick one):",
        f"  - [ ] approve: staging of {service} may go on toward production{approve_note}",
        f"  - [ ] reject: staging of {service} must not go on",
        "- Reason / exception: ",
    ]
    return "\n".join(lines) + "\n"
