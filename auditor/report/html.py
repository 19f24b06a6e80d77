"""Per-service HTML reports (and the index across services) from the evidence store.

A service page is written for a person at any size: the summary (cards, counts, charts),
then the promotions that need attention (not compliant, or a finding that failed or could
not be established) in full, then the compliant ones as one row each, whose rule-by-rule
details only the browser page carries (a `<details>` each; the PDF prints the row). The raw
GitLab responses behind the findings are counted, not listed: the evidence bundle holds
them, and a promotion needing attention lists a few (`MAX_LISTED_RESPONSES`). Building is
linear in promotions and one service at a time (`iter_service_pages`).

Pages are rendered from typed, frozen page contexts (`ServicePage`, `IndexPage`) built from
the store alone, never from dicts assembled in a template: what a page can show is visible
here, and a misspelt field fails at build time instead of rendering as nothing.

Safety, because every title, note author, branch and path came from GitLab and may be
hostile:
- Jinja2 with `autoescape=True` and `StrictUndefined`: text is escaped on output, and a
  missing field is an error, not an empty string.
- Only URLs under the run's GitLab URL (http or https) become links (`gitlab_link`);
  anything else is shown as text, so a stored `javascript:` or foreign URL never becomes
  clickable. None do when the store marks the run's GitLab as simulated (`auditor demo`'s,
  gone once the demo ends): the pages say so instead of linking to a dead port.
- The page loads nothing: CSS is inline, charts are inline SVG (matplotlib escapes their
  text), there are no scripts, and a Content-Security-Policy of `default-src 'none'` makes a
  browser refuse any load or script should something slip through anyway.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from auditor.findings import (
    AttemptSummary,
    Deployed,
    EvidenceLink,
    Finding,
    Labelled,
    Picked,
    PromotionResult,
    Report,
    Status,
    Unread,
    ValidationNote,
    Verdict,
)
from auditor.identity import MRId
from auditor.release_line import CutOff, DeployedRevert, Drift, SweepExtras
from auditor.report import charts
from auditor.report.evidence_index import (
    PromotionEvidenceHashes,
    ResponseLookup,
    ResponseReader,
    cited_hashes,
)
from auditor.report.markdown import VERDICT_MARKERS
from auditor.resources import data_dir
from auditor.rulebook import load_rulebook
from auditor.run_record import AuditRun, RunCoverage, RunRecord
from auditor.timestamps import format_minute as fmt_minute
from auditor.timestamps import format_readable as fmt_time

# the same words as the Markdown and table outputs
VERDICT_LABELS: dict[Verdict, str] = VERDICT_MARKERS
STATUS_LABELS: dict[Status, str] = {
    Status.PASS: "pass",
    Status.FAIL: "FAIL",
    Status.WARN: "warn",
    Status.UNKNOWN: "UNKNOWN",
    Status.NOT_APPLICABLE: "n/a",
}


@dataclass(frozen=True)
class TimelineStep:
    """A step of the runbook: when it happened is its milestone (`Milestones.<milestone>`,
    computed with the findings), and the finding of `rule`, which judges the step, colours
    it. No time is read from evidence links: which links a check attaches is its own affair."""

    label: str
    rule: str
    milestone: str  # a field of findings.Milestones


TIMELINE_STEPS: tuple[TimelineStep, ...] = (
    TimelineStep("merged", "SH01", "merged_at"),
    TimelineStep("cherry-picked", "SH03", "picked"),
    TimelineStep("pipeline created", "SH05", "pipeline"),
    TimelineStep("release job", "SH06", "release_job"),
    TimelineStep("deployed", "SH08", "deployed"),
    TimelineStep("smoke checks", "SH10", "checks"),
    TimelineStep("validation note", "SH11", "validated"),
    TimelineStep("label added", "SH12", "labelled"),
)

# What a step without a time says: it did not happen, it could not be established, or the
# run was stored before milestones were kept (never guessed from the findings' links).
NOT_HAPPENED = "—"
UNREAD = "unknown"
NOT_RECORDED = "not recorded for this run"


# A promotion needing attention lists at most this many of the raw responses it rests on;
# the rest are counted, and every one is in the evidence bundle. Hundreds of hash rows per
# promotion made a 200-promotion report 1,888 pages that nobody reads.
MAX_LISTED_RESPONSES = 10

# The weekly trend covers at most this many weeks (about fifteen months, the retention the
# README suggests for a yearly audit).
MAX_WEEKS = 65


class ReportStore(ResponseReader, Protocol):
    """What the pages read from `auditor.store.EvidenceStore` (its public read methods)."""

    def runs(self, limit: int | None = None) -> list[RunRecord]: ...

    def load(self, run_id: int) -> AuditRun: ...

    def report(self, run_id: int) -> Report: ...

    def simulated_gitlab_urls(self) -> frozenset[str]: ...


# --------------------------------------------------------------------------------------
# Page contexts
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceView:
    kind: str
    id: str
    url: str | None  # a GitLab link, or None when the stored URL is not one (shown as text)
    at: str


@dataclass(frozen=True)
class FindingView:
    rule: str
    name: str
    status: str
    status_label: str
    summary: str
    evidence: tuple[EvidenceView, ...]


@dataclass(frozen=True)
class TimelineRow:
    step: str
    rule: str
    status: str
    at: str  # "" when the step has no time: then `missing` says why
    url: str | None  # the GitLab object of the step, when it is a vetted GitLab link
    missing: str  # NOT_HAPPENED, UNREAD or NOT_RECORDED; "" when `at` is set
    reason: str = ""  # why it could not be established (UNREAD)


@dataclass(frozen=True)
class HashRow:
    sha256: str
    method: str
    url: str
    status: int
    fetched_at: str
    size: int


@dataclass(frozen=True)
class RowDates:
    """Merged, deployed to staging, validated: to the minute, UTC (the column says so), so
    that a compliant promotion's row fits one line."""

    merged: str
    deployed: str
    validated: str


@dataclass(frozen=True)
class PromotionView:
    """One promotion. One that needs `attention` is printed in full (timeline chart,
    findings, a short list of the responses it rests on); a compliant one is a row of the
    compliant table, its findings in the HTML only (no chart: the steps line says the same
    and a chart per promotion was most of the cost of building a big page)."""

    anchor: str
    ref: str  # project!iid
    project: str
    iid: int
    title: str
    mr_url: str | None
    service: str
    verdict: str
    verdict_label: str
    attention: bool
    merged_at: str
    dates: RowDates  # for the one-row listing
    failing_rules: tuple[str, ...]
    unknown_rules: tuple[str, ...]
    warnings: tuple[str, ...]  # "SH10: summary" for each warn finding
    lead_time: str
    timeline: tuple[TimelineRow, ...]
    timeline_svg: Markup | None
    findings: tuple[FindingView, ...]
    evidence_cited: int  # raw responses the promotion rests on
    hashes: tuple[HashRow, ...]  # the few listed (attention only)
    missing_hashes: tuple[str, ...]  # listed ones no longer in the store
    evidence_missing: int | None  # cited and no longer in the store; None: not looked up
    evidence_unlisted: int  # cited, neither listed nor shown missing: in the bundle


@dataclass(frozen=True)
class VerdictCount:
    verdict: str
    label: str
    count: int


@dataclass(frozen=True)
class RuleTally:
    rule: str
    name: str
    fail: int
    unknown: int
    warn: int


@dataclass(frozen=True)
class DriftView:
    """A `Drift` as a page shows it: with its commit's link, its time formatted."""

    drift: Drift
    url: str | None

    @property
    def short_sha(self) -> str:
        return self.drift.sha[:8]

    @property
    def deployed_at(self) -> str:
        return fmt_time(self.drift.deployed_at)


@dataclass(frozen=True)
class RevertView:
    """A `DeployedRevert` as a page shows it: with its and the reverted commit's links."""

    revert: DeployedRevert
    url: str | None
    reverted_url: str | None

    @property
    def deployed_at(self) -> str:
        return fmt_time(self.revert.deployed_at)


@dataclass(frozen=True)
class CutOffView:
    """A `CutOff` as a page shows it: with its job's link, its time formatted."""

    cut_off: CutOff
    url: str | None

    @property
    def at(self) -> str:
        return fmt_time(self.cut_off.at)


@dataclass(frozen=True)
class Summary:
    promotions: int
    compliant: int
    compliance_rate: str
    verdicts: tuple[VerdictCount, ...]
    rules: tuple[RuleTally, ...]  # rules with any fail, unknown or warn, catalog order
    drift: int
    cut_offs: int
    median_lead_time: str

    @property
    def compliance_class(self) -> str:
        """The compliant card's colour by what it means: green only when every promotion is
        compliant, red when any is not, amber while some could not be shown either way (or
        there was nothing to audit). A "0.0% compliant" card is never green."""
        if self.promotions and self.compliant == self.promotions:
            return "ok"
        if any(v.count for v in self.verdicts if v.verdict == "non_compliant"):
            return "bad"
        return "warn"


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    status: str
    window_from: str
    window_to: str
    gitlab_url: str
    gitlab_link: str | None
    # The GitLab was a simulator that has stopped (`auditor demo`): its URLs are dead, so
    # the pages say so and show them as text.
    simulated: bool
    tool_version: str
    rulebook: str
    rulebook_sha256: str
    started_at: str
    finished_at: str
    generated_at: str
    services: tuple[str, ...]
    coverage: tuple[str, ...]  # what the run could not establish, one line each

    @property
    def link_base(self) -> str | None:
        """What GitLab URLs may link under: the run's GitLab, or none when it was simulated."""
        return None if self.simulated else self.gitlab_url


@dataclass(frozen=True)
class ServicePage:
    service: str
    file_stem: str
    run: RunInfo
    summary: Summary
    promotions: tuple[PromotionView, ...]  # chronological, attention or not
    drift: tuple[DriftView, ...]
    cut_offs: tuple[CutOffView, ...]
    trend_svg: Markup | None
    trend_weeks: int
    lead_time_svg: Markup | None
    hashes_recorded: int  # response hashes cited, summed over the promotions
    hashes_distinct: int  # distinct response hashes cited by the service's promotions
    hashes_missing: int  # distinct ones looked up (attention only) and not in the store
    # None: the run did not record its reverts (stored before they were kept): not shown
    reverts: tuple[RevertView, ...] | None = None

    @property
    def attention(self) -> tuple[PromotionView, ...]:
        return tuple(p for p in self.promotions if p.attention)

    @property
    def compliant(self) -> tuple[PromotionView, ...]:
        return tuple(p for p in self.promotions if not p.attention)


@dataclass(frozen=True)
class ServiceRow:
    service: str
    html: str
    pdf: str
    summary: Summary


@dataclass(frozen=True)
class IndexPage:
    run: RunInfo
    services: tuple[ServiceRow, ...]
    totals: Summary
    cut_offs: tuple[CutOffView, ...]
    trend_svg: Markup | None


# --------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------

# Anything a URL in an attribute has no business containing: whitespace, controls, quotes.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\"'<>\\`]")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ANCHOR_UNSAFE = re.compile(r"[^a-z0-9]+")


def gitlab_link(url: str | None, gitlab_url: str | None) -> str | None:
    """`url` when it is an http(s) URL on the run's GitLab, else None (shown as text).
    No `gitlab_url` (a simulated GitLab that is gone): nothing is a link."""
    if not url or gitlab_url is None or _URL_FORBIDDEN.search(url):
        return None
    base = gitlab_url.rstrip("/")
    try:
        scheme = urlsplit(url).scheme.lower()
        base_scheme = urlsplit(base).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https") or base_scheme not in ("http", "https"):
        return None
    if url != base and not url.startswith(base + "/"):
        return None
    return url


def fmt_hours(hours: float | None) -> str:
    if hours is None:
        return ""
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def rate(compliant: int, total: int) -> str:
    return f"{100 * compliant / total:.1f}%" if total else "n/a"


def file_stems(services: Iterable[str]) -> dict[str, str]:
    """A safe, unique file name stem per service: `[A-Za-z0-9._-]` only, no leading dot,
    never `index`, unique even on case-insensitive file systems."""
    taken: set[str] = {"index"}
    out: dict[str, str] = {}
    for service in services:
        base = _FILE_UNSAFE.sub("_", service).strip("._")[:80] or "service"
        stem, n = base, 1
        while stem.lower() in taken:
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem.lower())
        out[service] = stem
    return out


def _anchor(n: int, project: str, iid: int) -> str:
    slug = _ANCHOR_UNSAFE.sub("-", project.lower()).strip("-")[:60]
    return f"p{n}-{slug}-{iid}"


def _evidence_view(link: EvidenceLink, gitlab_url: str | None) -> EvidenceView:
    return EvidenceView(
        link.kind, str(link.id), gitlab_link(link.url, gitlab_url), fmt_time(link.at)
    )


def _by_rule(result: PromotionResult) -> dict[str, Finding]:
    return {f.rule: f for f in result.findings}


@dataclass(frozen=True)
class StepTime:
    """One timeline step of a promotion: its time and GitLab URL, or why it has none."""

    step: TimelineStep
    finding: Finding | None
    at: datetime | None
    url: str | None
    missing: str  # "" when `at` is set
    reason: str = ""


def _step_time(result: PromotionResult, step: TimelineStep, finding: Finding | None) -> StepTime:
    m = result.milestones
    if step.milestone == "merged_at" and m is None:
        # the MR's own field, recorded by every run
        at = result.mr.merged_at
        return StepTime(step, finding, at, result.mr.web_url, "" if at else NOT_HAPPENED)
    if m is None:
        return StepTime(step, finding, None, None, NOT_RECORDED)
    fact = getattr(m, step.milestone)
    if fact is None:
        return StepTime(step, finding, None, None, NOT_HAPPENED)
    if isinstance(fact, Unread):
        return StepTime(step, finding, None, None, UNREAD, fact.reason)
    if isinstance(fact, datetime):
        return StepTime(step, finding, fact, result.mr.web_url, "")
    at = fact.at
    url = getattr(fact, "web_url", None)
    return StepTime(step, finding, at, url, "" if at else NOT_HAPPENED)


def step_times(result: PromotionResult) -> list[StepTime]:
    """Each timeline step with its finding and its time from the promotion's milestones."""
    findings = _by_rule(result)
    return [_step_time(result, step, findings.get(step.rule)) for step in TIMELINE_STEPS]


def _last_attempt(result: PromotionResult) -> AttemptSummary | None:
    return result.attempts[-1] if result.attempts else None


def merged_time(result: PromotionResult) -> datetime | None:
    return result.mr.merged_at


def deployed_time(result: PromotionResult) -> datetime | None:
    """When the judged deployment finished; for a run stored before milestones were kept,
    the last attempt's (stored with the run, not guessed from links)."""
    m = result.milestones
    if m is None:
        last = _last_attempt(result)
        return last.deployed_at if last else None
    return m.deployed.at if isinstance(m.deployed, Deployed) else None


def validated_time(result: PromotionResult) -> datetime | None:
    """When the promotion was recorded as validated: the label's addition (the runbook's
    formal mark for governed work), else the validation note (ungoverned services have no
    label, only the note). A run stored before milestones were kept: the last attempt's
    `validated_at` (the label add that stuck, or the note)."""
    m = result.milestones
    if m is None:
        last = _last_attempt(result)
        return last.validated_at if last else None
    if isinstance(m.labelled, Labelled):
        return m.labelled.at
    if isinstance(m.validated, ValidationNote) and m.validated.outcome == "validated":
        return m.validated.at
    return None


def lead_time_hours(result: PromotionResult) -> float | None:
    merged, validated = merged_time(result), validated_time(result)
    if merged is None or validated is None:
        return None
    return (validated - merged).total_seconds() / 3600


def activity_time(result: PromotionResult) -> datetime | None:
    """When the promotion happened, for weekly buckets: its staging deployment, else the
    pick, else the merge."""
    deployed = deployed_time(result)
    if deployed is not None:
        return deployed
    m = result.milestones
    if m is not None and isinstance(m.picked, Picked):
        return m.picked.at
    last = _last_attempt(result)
    if m is None and last is not None:
        return last.reached_release_at
    return merged_time(result)


def _chronological(result: PromotionResult) -> tuple[datetime, str, int]:
    """Sort key: by merge time (unmerged last), then MR, so the report reads as a history."""
    merged = merged_time(result) or datetime.max.replace(tzinfo=UTC)
    return merged, result.mr.project, result.mr.iid


def _week(at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def weekly_counts(results: Iterable[PromotionResult]) -> list[charts.WeekCounts]:
    """Per ISO week (Monday) with any promotion, the verdict counts, oldest first; weeks in
    between with no promotion are shown as empty so the axis is true to time."""
    return _weekly((activity_time(r), r.verdict) for r in results)


def _weekly(points: Iterable[tuple[datetime | None, Verdict]]) -> list[charts.WeekCounts]:
    buckets: dict[date, Counter[str]] = {}
    for at, verdict in points:
        if at is None:
            continue
        buckets.setdefault(_week(at), Counter())[verdict.value] += 1
    if not buckets:
        return []
    last = max(buckets)
    # At most MAX_WEEKS back from the newest: the store keeps a year and more, and a stray
    # ancient timestamp must not stretch the chart over decades of empty weeks.
    first = max(min(buckets), last - timedelta(weeks=MAX_WEEKS - 1))
    out = []
    week = first
    while week <= last:
        c = buckets.get(week, Counter())
        compliant = c[Verdict.COMPLIANT.value]
        failing = c[Verdict.NON_COMPLIANT.value]
        out.append(
            charts.WeekCounts(week, compliant, failing, sum(c.values()) - compliant - failing)
        )
        week += timedelta(days=7)
    return out


# --------------------------------------------------------------------------------------
# Building the contexts from the store
# --------------------------------------------------------------------------------------


def _coverage_lines(coverage: RunCoverage | None) -> tuple[str, ...]:
    if coverage is None:
        return ()
    lines: list[str] = []
    if coverage.error:
        lines.append(f"the run ended with an error: {coverage.error}")
    for gap in coverage.gaps:
        lines.append(f"could not be established: {gap}")
    unknown = coverage.unknown_findings_by_rule
    if unknown:
        parts = ", ".join(f"{rule} ×{count}" for rule, count in sorted(unknown.items()))
        lines.append(f"findings that could not be established: {parts}")
    return tuple(lines)


def _rulebook_text(sha256: str) -> str:
    book = load_rulebook()
    if book.sha256 == sha256:
        return f"{book.name} v{book.version}"
    # The run used another catalog than the installed one: say so instead of implying it.
    return "a rulebook other than the installed one"


def _run_info(row: RunRecord, generated_at: datetime, simulated: frozenset[str]) -> RunInfo:
    gitlab_url = row.gitlab_url
    is_simulated = gitlab_url.rstrip("/") in {url.rstrip("/") for url in simulated}
    return RunInfo(
        run_id=row.id,
        status=row.status,
        window_from=fmt_time(row.window_from),
        window_to=fmt_time(row.window_to),
        gitlab_url=gitlab_url,
        gitlab_link=None if is_simulated else gitlab_link(gitlab_url, gitlab_url),
        simulated=is_simulated,
        tool_version=row.tool_version,
        rulebook=_rulebook_text(row.rulebook_sha256),
        rulebook_sha256=row.rulebook_sha256,
        started_at=fmt_time(row.started_at),
        finished_at=fmt_time(row.finished_at),
        generated_at=fmt_time(generated_at),
        services=row.services,
        coverage=_coverage_lines(row.coverage),
    )


def _summary(results: Sequence[PromotionResult], drift: int, cut_offs: int) -> Summary:
    counts = Counter(r.verdict for r in results)
    tallies: dict[str, Counter[Status]] = {}
    names: dict[str, str] = {}
    for result in results:
        for f in result.findings:
            names.setdefault(f.rule, f.name)
            tallies.setdefault(f.rule, Counter())[f.status] += 1
    order = [r.id for r in load_rulebook().rules]
    rules = tuple(
        RuleTally(rule, names[rule], t[Status.FAIL], t[Status.UNKNOWN], t[Status.WARN])
        for rule, t in sorted(
            tallies.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0])
        )
        if t[Status.FAIL] or t[Status.UNKNOWN] or t[Status.WARN]
    )
    leads = [h for h in (lead_time_hours(r) for r in results) if h is not None]
    compliant = counts[Verdict.COMPLIANT]
    return Summary(
        promotions=len(results),
        compliant=compliant,
        compliance_rate=rate(compliant, len(results)),
        verdicts=tuple(VerdictCount(v.value, VERDICT_LABELS[v], counts[v]) for v in Verdict),
        rules=rules,
        drift=drift,
        cut_offs=cut_offs,
        median_lead_time=fmt_hours(statistics.median(leads)) if leads else "",
    )


def _project_url(gitlab_url: str | None, project: str, tail: str) -> str | None:
    if gitlab_url is None:
        return None
    return gitlab_link(f"{gitlab_url.rstrip('/')}/{quote(project, safe='/')}/-/{tail}", gitlab_url)


def _cut_offs(cut_offs: Sequence[CutOff], gitlab_url: str | None) -> tuple[CutOffView, ...]:
    return tuple(
        CutOffView(c, _project_url(gitlab_url, c.project, f"jobs/{c.job_id}")) for c in cut_offs
    )


def needs_attention(result: PromotionResult) -> bool:
    """Anything short of a clean compliant promotion: a verdict other than compliant, or a
    finding that failed or could not be established (a compliant verdict has neither, but
    the page must not rely on the verdict alone to hide one)."""
    return result.verdict is not Verdict.COMPLIANT or any(
        f.status in (Status.FAIL, Status.UNKNOWN) for f in result.findings
    )


def _promotion_view(
    n: int,
    result: PromotionResult,
    gitlab_url: str | None,
    hashes: Sequence[str],
    lookup: ResponseLookup,
) -> PromotionView:
    mr = result.mr
    anchor = _anchor(n, mr.project, mr.iid)
    attention = needs_attention(result)
    rows = []
    points = []
    for st in step_times(result):
        status = st.finding.status.value if st.finding else Status.UNKNOWN.value
        rows.append(
            TimelineRow(
                step=st.step.label,
                rule=st.step.rule,
                status=status,
                at=fmt_time(st.at),
                url=gitlab_link(st.url, gitlab_url) if st.at else None,
                missing=st.missing,
                reason=st.reason,
            )
        )
        points.append(charts.TimelinePoint(st.step.label, st.at, status))
    key = (mr.project, mr.iid, result.service)
    listed: PromotionEvidenceHashes
    svg = None
    if attention:
        svg = charts.timeline_svg(points, f"tl-{anchor}")
        cited_ids = {
            str(e.id)
            for f in result.findings
            if f.status in (Status.FAIL, Status.UNKNOWN)
            for e in f.evidence
        }
        listed = lookup.listing(key, hashes, limit=MAX_LISTED_RESPONSES, cited_ids=cited_ids)
    else:
        listed = ResponseLookup.counted(key, hashes)
    return PromotionView(
        anchor=anchor,
        ref=str(mr.mr_id),
        project=mr.project,
        iid=mr.iid,
        title=mr.title or "",
        mr_url=gitlab_link(mr.web_url, gitlab_url),
        service=result.service,
        verdict=result.verdict.value,
        verdict_label=VERDICT_LABELS[result.verdict],
        attention=attention,
        merged_at=fmt_time(merged_time(result)),
        dates=RowDates(
            fmt_minute(merged_time(result)),
            fmt_minute(deployed_time(result)),
            fmt_minute(validated_time(result)),
        ),
        failing_rules=tuple(f.rule for f in result.findings if f.status is Status.FAIL),
        unknown_rules=tuple(f.rule for f in result.findings if f.status is Status.UNKNOWN),
        warnings=tuple(
            f"{f.rule}: {f.summary}" for f in result.findings if f.status is Status.WARN
        ),
        lead_time=fmt_hours(lead_time_hours(result)),
        timeline=tuple(rows),
        timeline_svg=Markup(svg) if svg else None,  # matplotlib escaped its text
        findings=tuple(
            FindingView(
                rule=f.rule,
                name=f.name,
                status=f.status.value,
                status_label=STATUS_LABELS[f.status],
                summary=f.summary,
                evidence=tuple(_evidence_view(e, gitlab_url) for e in f.evidence),
            )
            for f in result.findings
        ),
        evidence_cited=listed.cited,
        hashes=tuple(
            HashRow(r.sha256, r.method, r.url, r.status, fmt_time(r.fetched_at), r.size)
            for r in listed.records
        ),
        missing_hashes=listed.missing,
        evidence_missing=listed.missing_total,
        evidence_unlisted=listed.unlisted,
    )


@dataclass(frozen=True)
class _HistoryPoint:
    """What the weekly trend needs of a promotion: a week and a verdict, not its findings
    (a year of runs would otherwise sit in memory while the pages render)."""

    service: str
    at: datetime | None
    verdict: Verdict


def _history(store: ReportStore, run_id: int, current: Report) -> list[_HistoryPoint]:
    """Every promotion of this run and of the earlier finished runs, each (MR, service) once
    with its latest verdict: the data behind the weekly trend. Later runs are left out so a
    report of an old run reads the same whenever it is rendered."""
    latest: dict[tuple[str, MRId], _HistoryPoint] = {}
    runs = sorted(
        r.id for r in store.runs() if r.id < run_id and r.status in ("complete", "incomplete")
    )
    for rid in [*runs, run_id]:
        report = current if rid == run_id else store.report(rid)
        for result in report.promotions:
            latest[(result.service, result.mr.mr_id)] = _HistoryPoint(
                result.service, activity_time(result), result.verdict
            )
    return list(latest.values())


def _svg_markup(svg: str | None) -> Markup | None:
    # matplotlib wrote it and escaped every text node (checked in the tests).
    return Markup(svg) if svg else None


@dataclass(frozen=True)
class RunData:
    """What every page of one run is built from, read from the store once (`load_run`) and
    shared by the index and the service pages."""

    run: RunInfo
    report: Report
    extras: SweepExtras
    services: tuple[str, ...]
    stems: dict[str, str]
    cut_offs: tuple[CutOffView, ...]
    by_service: dict[str, tuple[PromotionResult, ...]]  # the run's promotions, chronological
    history: dict[str, tuple[_HistoryPoint, ...]]  # by service


def _by_service(points: Iterable[_HistoryPoint]) -> dict[str, tuple[_HistoryPoint, ...]]:
    grouped: dict[str, list[_HistoryPoint]] = {}
    for point in points:
        grouped.setdefault(point.service, []).append(point)
    return {service: tuple(group) for service, group in grouped.items()}


def load_run(store: ReportStore, run_id: int, generated_at: datetime | None = None) -> RunData:
    """Read run `run_id` for its pages; `generated_at` (default now) is stamped on them."""
    generated = (generated_at or datetime.now(UTC)).replace(microsecond=0)
    # one snapshot of the run (StoreError, one line, when there is none)
    stored = store.load(run_id)
    run = _run_info(stored.info, generated, store.simulated_gitlab_urls())
    report = stored.report
    services = list(run.services)
    grouped: dict[str, list[PromotionResult]] = {}
    for result in report.promotions:
        if result.service not in services:
            services.append(result.service)
        grouped.setdefault(result.service, []).append(result)
    extras = stored.extras
    return RunData(
        run=run,
        report=report,
        extras=extras,
        services=tuple(services),
        stems=file_stems(services),
        cut_offs=_cut_offs(extras.cut_offs, run.link_base),
        by_service={s: tuple(sorted(rs, key=_chronological)) for s, rs in grouped.items()},
        history=_by_service(_history(store, run_id, report)),
    )


def _drift(loaded: RunData, service: str) -> tuple[DriftView, ...]:
    gitlab_url = loaded.run.link_base
    return tuple(
        DriftView(d, _project_url(gitlab_url, d.project, f"commit/{d.sha}"))
        for d in loaded.extras.drift
        if d.service == service
    )


def _reverts(loaded: RunData, service: str) -> tuple[RevertView, ...] | None:
    if loaded.extras.reverts is None:
        return None
    gitlab_url = loaded.run.link_base
    return tuple(
        RevertView(
            r,
            _project_url(gitlab_url, r.project, f"commit/{r.sha}"),
            _project_url(gitlab_url, r.project, f"commit/{r.reverts}"),
        )
        for r in loaded.extras.reverts
        if r.service == service
    )


def _service_page(
    store: ReportStore, loaded: RunData, service: str, lookup: ResponseLookup
) -> ServicePage:
    results = loaded.by_service.get(service, ())
    cited = cited_hashes(store, loaded.run.run_id, service)
    drift = _drift(loaded, service)
    views = tuple(
        _promotion_view(
            n,
            result,
            loaded.run.link_base,
            cited.get((result.mr.project, result.mr.iid, result.service), ()),
            lookup,
        )
        for n, result in enumerate(results, start=1)
    )
    weeks = _weekly((p.at, p.verdict) for p in loaded.history.get(service, ()))
    leads = [h for h in (lead_time_hours(r) for r in results) if h is not None]
    stem = loaded.stems[service]
    return ServicePage(
        service=service,
        file_stem=stem,
        run=loaded.run,
        summary=_summary(results, len(drift), len(loaded.cut_offs)),
        promotions=views,
        drift=drift,
        cut_offs=loaded.cut_offs,
        trend_svg=_svg_markup(charts.trend_svg(weeks, f"trend-{stem}")),
        trend_weeks=len(weeks),
        lead_time_svg=_svg_markup(charts.lead_time_svg(leads, f"lead-{stem}")),
        hashes_recorded=sum(v.evidence_cited for v in views),
        hashes_distinct=len({sha for hashes in cited.values() for sha in hashes}),
        hashes_missing=len(
            lookup.missing(
                sha
                for v in views
                if v.attention
                for sha in cited.get((v.project, v.iid, v.service), ())
            )
        ),
        reverts=_reverts(loaded, service),
    )


def iter_service_pages(
    store: ReportStore,
    run_id: int,
    *,
    generated_at: datetime | None = None,
    loaded: RunData | None = None,
) -> Iterator[ServicePage]:
    """One page per service the run covered (also those with no promotion), in the run's
    service order, built one at a time so that a caller rendering them holds one service's
    page, not all of them."""
    loaded = loaded or load_run(store, run_id, generated_at)
    lookup = ResponseLookup(store)
    for service in loaded.services:
        yield _service_page(store, loaded, service, lookup)


def build_service_pages(
    store: ReportStore, run_id: int, *, generated_at: datetime | None = None
) -> list[ServicePage]:
    """Every service's page (see `iter_service_pages`). `generated_at` (default now) is the
    only input not from the store."""
    return list(iter_service_pages(store, run_id, generated_at=generated_at))


def build_index_page(
    store: ReportStore,
    run_id: int,
    *,
    generated_at: datetime | None = None,
    loaded: RunData | None = None,
) -> IndexPage:
    """The page across the run's services, linking each service's HTML and PDF."""
    loaded = loaded or load_run(store, run_id, generated_at)
    rows = []
    for service in loaded.services:
        results = loaded.by_service.get(service, ())
        stem = loaded.stems[service]
        summary = _summary(results, len(_drift(loaded, service)), len(loaded.cut_offs))
        rows.append(ServiceRow(service, f"{stem}.html", f"{stem}.pdf", summary))
    return IndexPage(
        run=loaded.run,
        services=tuple(rows),
        totals=_summary(loaded.report.promotions, len(loaded.extras.drift), len(loaded.cut_offs)),
        cut_offs=loaded.cut_offs,
        trend_svg=_svg_markup(
            charts.trend_svg(
                _weekly((p.at, p.verdict) for ps in loaded.history.values() for p in ps),
                "trend-all",
            )
        ),
    )


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


@cache
def environment() -> Environment:
    """The report templates: autoescaped, strict about undefined names."""
    return Environment(
        loader=FileSystemLoader(str(data_dir("reports"))),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def stylesheet() -> Markup:
    """The shipped report.css, ready to inline in a page's `<style>` (as `css`)."""
    text = (Path(data_dir("reports")) / "report.css").read_text(encoding="utf-8")
    if "</" in text:
        # Our own file, but a `</style>` in it would end the element early.
        raise ValueError("report.css must not contain '</'")
    return Markup(text)  # our shipped stylesheet, not data


def render_service(page: ServicePage, *, for_print: bool = False) -> str:
    """The service page: for a browser (default), or `for_print` the text the PDF is laid
    out from, which leaves out the compliant promotions' details (a row each is printed)."""
    return "".join(iter_service_html(page, for_print=for_print))


def iter_service_html(page: ServicePage, *, for_print: bool = False) -> Iterator[str]:
    """`render_service` in pieces, to write a big page without holding all of it."""
    template = environment().get_template("service.html.j2")
    return template.generate(page=page, css=stylesheet(), for_print=for_print)


def render_index(page: IndexPage) -> str:
    return environment().get_template("index.html.j2").render(page=page, css=stylesheet())
