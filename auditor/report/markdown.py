"""Markdown to paste into a GitLab MR note: one section and one table per promotion.

Everything that came from GitLab (titles, project paths, summaries that quote them, evidence
ids and URLs) is treated as hostile: it is kept on one line, HTML-significant characters
become entities, and Markdown punctuation is backslash-escaped, so an MR title cannot break
the table, inject HTML or links, or @-mention people when the note is posted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from auditor.findings import EvidenceLink, Finding, PromotionResult, Report, Status, Verdict
from auditor.gaps import Gap, gaps_from_rows
from auditor.timestamps import format_timestamp

VERDICT_MARKERS: dict[Verdict, str] = {
    Verdict.COMPLIANT: "COMPLIANT",
    Verdict.NON_COMPLIANT: "NON-COMPLIANT",
    Verdict.INCOMPLETE: "INCOMPLETE",
    Verdict.IN_PROGRESS: "IN PROGRESS",
    Verdict.NOT_PROMOTED: "NOT PROMOTED",
}

# Failures and unknowns are bold so a reviewer scanning the table cannot miss them.
STATUS_LABELS: dict[Status, str] = {
    Status.PASS: "pass",
    Status.FAIL: "**FAIL**",
    Status.WARN: "warn",
    Status.UNKNOWN: "**UNKNOWN**",
    Status.NOT_APPLICABLE: "n/a",
}

# `&<>` as entities (so no HTML, and no entity tricks); the rest backslash-escaped:
# `|` splits table cells, `[]` make links, `*_~`` ` `` format, `@` mentions users in GitLab,
# `\` would otherwise escape our own escapes.
_ESCAPES: dict[int, str] = {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    **{ord(c): "\\" + c for c in "\\`*_[]|@~"},
}
# Line and paragraph breaks of every kind would end a table row or open a new block.
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
# Other control characters and bidi overrides can disguise what a title says.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# Characters that would end a link destination or split a table cell, percent-encoded.
_URL_SAFE = ":/?#[]@!$&'*+,;=%~-._"


def escape_md(text: object) -> str:
    """One line of inert Markdown text, whatever `text` contains."""
    flat = _LINE_BREAKS.sub(" ", str(text)).replace("\t", " ")
    flat = _INVISIBLE.sub("\ufffd", flat)
    return flat.translate(_ESCAPES)


def _safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a link destination, or None when it should not be linked."""
    if not url:
        return None
    stripped = _INVISIBLE.sub("", _LINE_BREAKS.sub("", url)).strip()
    try:
        scheme = urlsplit(stripped).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https"):
        # javascript:, data: and friends never become links.
        return None
    return quote(stripped, safe=_URL_SAFE)


def md_link(text: str, url: str | None) -> str:
    safe = _safe_url(url)
    label = escape_md(text)
    return f"[{label}]({safe})" if safe else label


def _evidence(link: EvidenceLink) -> str:
    return md_link(f"{link.kind} {link.id}", link.url)


def _row(finding: Finding) -> str:
    rule = escape_md(f"{finding.rule} {finding.name}")
    cell = escape_md(finding.summary)
    if finding.evidence:
        cell += "<br>" + " · ".join(_evidence(e) for e in finding.evidence)
    return f"| {rule} | {STATUS_LABELS[finding.status]} | {cell} |"


def _promotion(result: PromotionResult) -> list[str]:
    mr = result.mr
    ref = md_link(str(mr.mr_id), mr.web_url)
    merged = format_timestamp(mr.merged_at) if mr.merged_at else "not merged"
    return [
        f"### {ref} · {escape_md(result.service)}: **{VERDICT_MARKERS[result.verdict]}**",
        "",
        f"Title: {escape_md(mr.title)}  ",
        f"Merged: {merged}",
        "",
        *(f"- {escape_md(a.describe(format_timestamp))}" for a in result.attempts),
        *([""] if result.attempts else []),
        "| Rule | Status | Finding |",
        "|---|---|---|",
        *(_row(f) for f in result.findings),
        "",
    ]


def verdict_tally(report: Report) -> str:
    """E.g. `3 promotions: 1 compliant, 1 non-compliant, 1 incomplete`."""
    if not report.promotions:
        return "No promotions audited."
    counts = Counter(p.verdict for p in report.promotions)
    parts = [f"{counts[v]} {VERDICT_MARKERS[v].lower()}" for v in Verdict if counts[v]]
    noun = "promotion" if len(report.promotions) == 1 else "promotions"
    return f"{len(report.promotions)} {noun}: {', '.join(parts)}."


def _gap_lines(gaps: tuple[Gap, ...]) -> list[str]:
    if not gaps:
        return []
    lines = [
        "### Could not be established",
        "",
        f"{len(gaps)} gap(s): the sweep could not look here, so this audit is incomplete.",
        "",
    ]
    for gap in gaps:
        who = escape_md(gap.service) if gap.service else "every service"
        lines.append(f"- {who}: {escape_md(gap.what)}: {escape_md(gap.reason)}")
    return [*lines, ""]


def render(report: Report, gaps: Iterable[Mapping[str, Any] | Gap] = ()) -> str:
    """The report as GitLab-flavoured Markdown, ending in a newline (a sweep's gaps, if
    any, in a section of their own)."""
    lines = [
        "## Staging hotfix audit",
        "",
        f"{verdict_tally(report)} Generated {format_timestamp(report.generated_at)} by "
        f"auditor {escape_md(report.tool_version)} from {escape_md(report.gitlab_url)}.",
        "",
    ]
    for result in report.promotions:
        lines.extend(_promotion(result))
    lines.extend(_gap_lines(gaps_from_rows(gaps)))
    return "\n".join(lines).rstrip("\n") + "\n"
