"""CSV exports (`--format csv`) for spreadsheets: one row per promotion, or one per finding.

Built with pandas so the quoting of commas, quotes and line breaks inside MR titles and
summaries is the csv module's, not ours. Every text cell is guarded against formula
injection (OWASP "CSV Injection"): a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading `'`, so a spreadsheet shows an MR titled `=HYPERLINK(...)`
as text instead of evaluating it. Titles, project paths, summaries (which quote GitLab
text) and URLs all come from GitLab, so nothing textual is exempt; our own values (verdicts,
rule ids, timestamps) never start with those characters and so pass unchanged.

A sweep's gaps (what it could not establish outside any promotion) are rows too, so a sheet
of a sweep that could not look is never a clean sheet: in the promotions CSV a row with
verdict `incomplete`, no iid and the gap in `title` and `unknown_rules`; in the findings CSV
a row with status `unknown`, name `gap` and the gap as the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from auditor.findings import PromotionResult, Report, Status, Verdict
from auditor.gaps import Gap, gaps_from_rows
from auditor.timestamps import format_timestamp

PROMOTION_COLUMNS = (
    "project",
    "iid",
    "service",
    "verdict",
    "title",
    "web_url",
    "merged_at",
    "failed_rules",
    "unknown_rules",
)
FINDING_COLUMNS = (
    "project",
    "iid",
    "service",
    "rule",
    "name",
    "status",
    "summary",
    "evidence",
)

# The characters spreadsheet programs treat as the start of a formula (or, for tab and CR,
# that let one hide behind leading whitespace).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """`value` made inert for a spreadsheet: text starting a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _rules(result: PromotionResult, status: Status) -> str:
    # Space-separated, as `auditor history --format csv` writes them.
    return " ".join(f.rule for f in result.findings if f.status is status)


def _csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    # pandas here, not at the top: `auditor history` imports this module for `neutralise`
    # and must start fast.
    import pandas as pd

    # Fixed columns even with no rows, so a week without promotions still has a header.
    frame = pd.DataFrame(
        [{c: neutralise(row[c]) for c in columns} for row in rows], columns=list(columns)
    )
    # CRLF as RFC 4180 has it, and not only for Excel: the csv module quotes a cell only for
    # the characters of the line terminator, so with a bare "\n" a title holding a lone CR
    # would go out unquoted and split its row in any reader.
    text: str = frame.to_csv(index=False, lineterminator="\r\n", na_rep="")
    return text


Gaps = Iterable[Mapping[str, Any] | Gap]


def _gap_promotion_row(gap: Gap) -> dict[str, Any]:
    return {
        "project": None,
        "iid": None,
        "service": gap.service,
        "verdict": str(Verdict.INCOMPLETE),
        "title": f"could not be established: {gap.what}",
        "web_url": None,
        "merged_at": None,
        "failed_rules": "",
        "unknown_rules": f"gap: {gap.reason}",
    }


def promotion_rows(report: Report, gaps: Gaps = ()) -> list[dict[str, Any]]:
    """The promotions CSV's rows before neutralising (tests compare against them)."""
    return [
        *_promotion_rows(report),
        *(_gap_promotion_row(g) for g in gaps_from_rows(gaps)),
    ]


def _promotion_rows(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "project": r.mr.project,
            "iid": r.mr.iid,
            "service": r.service,
            "verdict": str(r.verdict),
            "title": r.mr.title,
            "web_url": r.mr.web_url,
            "merged_at": format_timestamp(r.mr.merged_at) if r.mr.merged_at else None,
            "failed_rules": _rules(r, Status.FAIL),
            "unknown_rules": _rules(r, Status.UNKNOWN),
        }
        for r in report.promotions
    ]


def finding_rows(report: Report, gaps: Gaps = ()) -> list[dict[str, Any]]:
    """The findings CSV's rows before neutralising."""
    gap_rows = [
        {
            "project": None,
            "iid": None,
            "service": g.service,
            "rule": None,
            "name": "gap",
            "status": str(Status.UNKNOWN),
            "summary": f"could not be established: {g.what}: {g.reason}",
            "evidence": "",
        }
        for g in gaps_from_rows(gaps)
    ]
    return [*_finding_rows(report), *gap_rows]


def _finding_rows(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "project": r.mr.project,
            "iid": r.mr.iid,
            "service": r.service,
            "rule": f.rule,
            "name": f.name,
            "status": str(f.status),
            "summary": f.summary,
            "evidence": " ".join(e.url for e in f.evidence if e.url),
        }
        for r in report.promotions
        for f in r.findings
    ]


def promotions_csv(report: Report, gaps: Gaps = ()) -> str:
    """One row per (MR, service) with its verdict and the rules that failed or were unknown;
    then one per gap."""
    return _csv(promotion_rows(report, gaps), PROMOTION_COLUMNS)


def findings_csv(report: Report, gaps: Gaps = ()) -> str:
    """One row per finding: every rule of every promotion, evidence URLs space-separated;
    then one per gap."""
    return _csv(finding_rows(report, gaps), FINDING_COLUMNS)


def render(report: Report) -> str:
    """The `--format csv` writer for `auditor.report.writer`: the promotions CSV."""
    return promotions_csv(report)
