"""The `auditor.report/v1` JSON document, exactly as the contract shows it.

`to_dict` is the single place that turns the findings model into the contract's shape;
other writers and the store may reuse it. Keys are emitted in the contract's order so a
diff between two reports reads naturally.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.findings import (
    AttemptSummary,
    EvidenceLink,
    Finding,
    Milestones,
    MRSummary,
    PromotionResult,
    Report,
    Unread,
    Verdict,
)
from auditor.gaps import Gap, gaps_from_rows
from auditor.timestamps import format_timestamp, format_timestamp_or_none
from auditor.timestamps import parse_timestamp as parse_timestamp  # re-exported for old callers

SCHEMA_ID = "auditor.report/v1"
TOOL_NAME = "auditor"
SCHEMA_PATH: Path = Path(__file__).resolve().parent.parent / "schemas" / "report-v1.json"

# Rows the sweep adds: plain mappings or dataclasses, with these keys in this order.
DRIFT_KEYS = ("project", "service", "sha", "title", "deployed_at")
CUT_OFF_KEYS = ("project", "pipeline_id", "job_id", "at", "by")
REVERT_KEYS = ("project", "service", "sha", "reverts", "deployed_at")
GAP_KEYS = ("service", "what", "reason")


def _mr(mr: MRSummary) -> dict[str, Any]:
    return {
        "project": mr.project,
        "iid": mr.iid,
        "title": mr.title,
        "web_url": mr.web_url,
        "merged_at": format_timestamp_or_none(mr.merged_at),
    }


def _evidence(link: EvidenceLink) -> dict[str, Any]:
    return {
        "kind": link.kind,
        "id": link.id,
        "url": link.url,
        "at": format_timestamp_or_none(link.at),
    }


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "name": finding.name,
        "status": str(finding.status),
        "summary": finding.summary,
        "evidence": [_evidence(e) for e in finding.evidence],
    }


def _attempt(attempt: AttemptSummary) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "state": attempt.state,
        "picks": list(attempt.picks),
        "reached_release_at": format_timestamp(attempt.reached_release_at),
        "release_job_id": attempt.release_job_id,
        "release_job_status": attempt.release_job_status,
        "deployment_iid": attempt.deployment_iid,
        "deployment_status": attempt.deployment_status,
        "deployed_at": format_timestamp_or_none(attempt.deployed_at),
        "checks": attempt.checks,
        "validated_at": format_timestamp_or_none(attempt.validated_at),
        "reverted_by": attempt.reverted_by,
        "reverted_at": format_timestamp_or_none(attempt.reverted_at),
    }


def _step(value: object) -> dict[str, Any] | None:
    """A milestone step: its fact's fields, `{"unread": reason}`, or null (did not happen)."""
    if value is None:
        return None
    if isinstance(value, Unread):
        return {"unread": value.reason}
    return {
        k: _jsonable(v) if not isinstance(v, tuple) else list(v) for k, v in vars(value).items()
    }


def _milestones(m: Milestones | None) -> dict[str, Any] | None:
    if m is None:
        return None  # a run stored before milestones were kept
    return {
        "attempt": m.attempt,
        "merged_at": _step(m.merged_at)
        if isinstance(m.merged_at, Unread)
        else _optional_timestamp(m.merged_at),
        "picked": _step(m.picked),
        "pipeline": _step(m.pipeline),
        "release_job": _step(m.release_job),
        "deployed": _step(m.deployed),
        "checks": _step(m.checks),
        "validated": _step(m.validated),
        "labelled": _step(m.labelled),
    }


def _promotion(result: PromotionResult) -> dict[str, Any]:
    return {
        "mr": _mr(result.mr),
        "service": result.service,
        "verdict": str(result.verdict),
        "findings": [_finding(f) for f in result.findings],
        "attempts": [_attempt(a) for a in result.attempts],
        "milestones": _milestones(result.milestones),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value


def _row(item: Mapping[str, Any] | Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """One sweep row in contract key order; extra keys follow, since the contract allows them."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        data: Mapping[str, Any] = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    else:
        data = item
    missing = [k for k in keys if k not in data]
    if missing:
        # A row without a contract field would make a document that fails its own schema.
        raise ValueError(f"sweep row is missing {', '.join(missing)}: {data!r}")
    ordered = {k: _jsonable(data[k]) for k in keys}
    ordered.update({k: _jsonable(v) for k, v in data.items() if k not in ordered})
    return ordered


def coverage_of(report: Report, gaps: Iterable[Gap]) -> dict[str, Any]:
    """The sweep's `coverage` object: whether anything was left unread, and counts."""
    listed = list(gaps)
    return {
        "status": "incomplete" if listed else "complete",
        "promotions": len(report.promotions),
        "incomplete_promotions": sum(
            1 for p in report.promotions if p.verdict is Verdict.INCOMPLETE
        ),
        "gaps": len(listed),
    }


def to_dict(
    report: Report,
    *,
    drift: Iterable[Mapping[str, Any] | Any] | None = None,
    cut_offs: Iterable[Mapping[str, Any] | Any] | None = None,
    reverts: Iterable[Mapping[str, Any] | Any] | None = None,
    gaps: Iterable[Mapping[str, Any] | Gap] | None = None,
) -> dict[str, Any]:
    """The report as plain JSON-ready data; `drift`/`cut_offs` (the contract's sweep
    arrays) and `reverts`, `gaps` and `coverage` (our additions) only when given.

    `gaps` lists what the sweep could not establish outside a promotion's findings
    ({service, what, reason}; service null: every service); `coverage.status` is
    `incomplete` whenever there is one, so a reader never takes "no promotions" for "none
    there" when the sweep could not look."""
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "tool": {"name": TOOL_NAME, "version": report.tool_version},
        "gitlab_url": report.gitlab_url,
        "generated_at": format_timestamp(report.generated_at),
        "promotions": [_promotion(p) for p in report.promotions],
    }
    if drift is not None:
        doc["drift"] = [_row(d, DRIFT_KEYS) for d in drift]
    if cut_offs is not None:
        doc["cut_offs"] = [_row(c, CUT_OFF_KEYS) for c in cut_offs]
    if reverts is not None:
        doc["reverts"] = [_row(r, REVERT_KEYS) for r in reverts]
    if gaps is not None:
        listed = gaps_from_rows(gaps)
        doc["gaps"] = [_row(g.to_dict(), GAP_KEYS) for g in listed]
        doc["coverage"] = coverage_of(report, listed)
    return doc


def render(
    report: Report,
    *,
    drift: Iterable[Mapping[str, Any] | Any] | None = None,
    cut_offs: Iterable[Mapping[str, Any] | Any] | None = None,
    reverts: Iterable[Mapping[str, Any] | Any] | None = None,
    gaps: Iterable[Mapping[str, Any] | Gap] | None = None,
) -> str:
    """The JSON document, two-space indented, ending in a newline."""
    # ASCII output: the document survives any stdout encoding or CI log viewer unchanged.
    doc = to_dict(report, drift=drift, cut_offs=cut_offs, reverts=reverts, gaps=gaps)
    return json.dumps(doc, indent=2) + "\n"


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every document `render` produces satisfies."""
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema
