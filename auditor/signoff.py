"""A release manager's sign-off of one service's staging: what is there, what blocks it.

Pure functions over an audited `Report` (and the sweep's extras: drift) plus the service's
current staging deployment, which the caller fetches from GitLab (this module never does IO
or reads the clock). `decide_signoff` gathers every promotion of the service since the last
cut-off and decides whether anything blocks; `signoff_exit_code` maps that to the
contract's codes; `render_signoff_markdown` writes the page with a sign-off block to fill in.

What blocks, and why it is conservative (a false approval is the error that matters):
- a violation: a `non_compliant` promotion, or drift (a commit on staging that no merged MR
  explains; the runbook says to stop and restore `release`) -> exit 1;
- something not yet shown: an `incomplete`, `in_progress` or `not_promoted` promotion, no
  known staging deployment, one still running, or one newer than the run (it finished after
  the audit or after the run's window ended, or the run never saw it: the audit cannot speak
  for it), a gap of the run that concerns the service (evidence it could not read, so it
  cannot say nothing was missed), or a run that cannot be relied on (not finished, or made
  against another GitLab) -> exit 3 when nothing is a violation.
A promotion whose time cannot be told is kept in scope rather than dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from auditor.evidence import Deployment
from auditor.findings import MRSummary, Picked, PromotionResult, Report, Status, Verdict
from auditor.gaps import Gap
from auditor.release_line import CutOff, Drift, SweepExtras
from auditor.timestamps import format_timestamp
from auditor.timestamps import format_timestamp_or_none as _time
from auditor.timestamps import utc_or_none as _utc

VIOLATION_VERDICTS = frozenset({Verdict.NON_COMPLIANT})
# Contract exit 3: nothing failed, but compliance was not shown.
UNRESOLVED_VERDICTS = frozenset({Verdict.INCOMPLETE, Verdict.IN_PROGRESS, Verdict.NOT_PROMOTED})


@dataclass(frozen=True)
class StagingDeployment:
    """What the service's staging environment runs now (its last successful deployment)."""

    id: int
    sha: str
    finished_at: datetime | None
    url: str | None

    @classmethod
    def from_deployment(cls, deployment: Deployment) -> StagingDeployment:
        return cls(
            id=deployment.id,
            sha=deployment.sha,
            finished_at=deployment.finished_at,
            url=deployment.web_url or None,
        )


@dataclass(frozen=True)
class SignoffPromotion:
    """One promotion in scope, with the time it entered the release line."""

    result: PromotionResult
    promoted_at: datetime | None

    @property
    def mr(self) -> MRSummary:
        return self.result.mr

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    @property
    def failed_rules(self) -> tuple[str, ...]:
        return tuple(f.rule for f in self.result.findings if f.status is Status.FAIL)

    @property
    def unknown_rules(self) -> tuple[str, ...]:
        return tuple(f.rule for f in self.result.findings if f.status is Status.UNKNOWN)


@dataclass(frozen=True)
class SignoffContext:
    """Everything a sign-off page shows and its decision rests on."""

    service: str
    since: datetime | None  # the last cut-off; None: none known, the whole audit is in scope
    until: datetime  # when the audit was made (the report's generated_at)
    staging: StagingDeployment | None
    promotions: tuple[SignoffPromotion, ...]  # every promotion in scope, oldest first
    violations: tuple[SignoffPromotion, ...]  # non_compliant
    unresolved: tuple[SignoffPromotion, ...]  # incomplete, in_progress, not_promoted
    drift: tuple[Drift, ...]  # the service's, since the cut-off
    staging_issues: tuple[str, ...]  # why what is on staging cannot be signed off yet
    gitlab_url: str
    tool_version: str
    gaps: tuple[Gap, ...] = ()  # what the run could not establish for this service
    run_issues: tuple[str, ...] = ()  # why the run itself cannot be relied on

    @property
    def window(self) -> tuple[datetime | None, datetime]:
        return (self.since, self.until)

    @property
    def not_shown(self) -> int:
        """How many things block because they are not shown (not because they failed)."""
        return (
            len(self.unresolved) + len(self.staging_issues) + len(self.gaps) + len(self.run_issues)
        )

    @property
    def blocking(self) -> bool:
        return bool(self.violations or self.drift or self.not_shown)


def _picked(result: PromotionResult) -> Picked | None:
    m = result.milestones
    return m.picked if m is not None and isinstance(m.picked, Picked) else None


def promoted_at(result: PromotionResult) -> datetime | None:
    """When the promotion entered the release line: when the judged attempt's change reached
    `release` (its milestone; for a run stored before milestones were kept, its last
    attempt's); else, the pick not established, the latest time any finding cites; else
    when the MR merged; else None.

    The latest, not the earliest: a hotfix picked again after a cut-off belongs to the new
    line, and keeping it in scope can only block, never wrongly approve. The same holds for
    the fallback: it only bounds the pick from above, it does not claim it.
    """
    if (picked := _picked(result)) is not None:
        return _utc(picked.at)
    if result.milestones is None and result.attempts:
        return _utc(result.attempts[-1].reached_release_at)
    cited = [at for f in result.findings for e in f.evidence if (at := _utc(e.at))]
    if cited:
        return max(cited)
    return _utc(result.mr.merged_at)


def last_cut_off(cut_offs: Iterable[CutOff], *, until: datetime | None = None) -> datetime | None:
    """The latest `at` among the sweep's cut-offs, at or before `until`. None when the run
    saw none: the caller then decides how far back to go."""
    limit = _utc(until)
    times = [_utc(c.at) for c in cut_offs]
    eligible = [t for t in times if t is not None and (limit is None or t <= limit)]
    return max(eligible) if eligible else None


def _in_scope(at: datetime | None, since: datetime | None) -> bool:
    return since is None or at is None or at >= since


def _staging_issues(
    staging: StagingDeployment | None,
    until: datetime,
    window_end: datetime | None = None,
    staging_seen: int | None = None,
) -> list[str]:
    """Why what staging runs now is not what the run audited: `window_end` is the end of
    the run's window (a deployment after it was never looked at), `staging_seen` the newest
    staging deployment the run looked at (a newer one was not)."""
    if staging is None:
        return ["what staging runs now could not be established (no successful deployment read)"]
    finished = _utc(staging.finished_at)
    if finished is None:
        return [f"staging deployment {staging.id} has not finished"]
    again = "run auditor sweep again over a window that covers it before signing off"
    if finished > until:
        return [
            f"staging runs deployment {staging.id} ({staging.sha[:12]}), finished at "
            f"{format_timestamp(finished)}, after the audit ({format_timestamp(until)}); {again}"
        ]
    end = _utc(window_end)
    if end is not None and finished > end:
        return [
            f"staging runs deployment {staging.id} ({staging.sha[:12]}), finished at "
            f"{format_timestamp(finished)}, after the audited window ended "
            f"({format_timestamp(end)}): the run never looked at it; {again}"
        ]
    if staging_seen is not None and staging.id > staging_seen:
        return [
            f"staging runs deployment {staging.id} ({staging.sha[:12]}), newer than the "
            f"newest deployment the run looked at ({staging_seen}); {again}"
        ]
    return []


def decide_signoff(
    report: Report,
    since: datetime | None,
    *,
    service: str,
    staging: StagingDeployment | None,
    extras: SweepExtras | None = None,
    gaps: Sequence[Gap] = (),
    run_issues: Sequence[str] = (),
    window_end: datetime | None = None,
    staging_seen: int | None = None,
) -> SignoffContext:
    """The sign-off context of `service`: its promotions since `since` (the last cut-off).

    `gaps`: the run's (those of other services are left out); `run_issues`: why the run
    cannot be relied on; `window_end` and `staging_seen`: what of staging the run covered.
    """
    cut = _utc(since)
    until = _utc(report.generated_at)
    assert until is not None
    scoped = [
        SignoffPromotion(result, promoted_at(result))
        for result in report.promotions
        if result.service == service
    ]
    scoped = [p for p in scoped if _in_scope(p.promoted_at, cut)]
    # Oldest first; an unknown time sorts last, where a reader looks for what is newest.
    scoped.sort(key=lambda p: (p.promoted_at is None, p.promoted_at or until))
    drift = tuple(
        d
        for d in (extras.drift if extras is not None else ())
        if d.service == service and _in_scope(_utc(d.deployed_at), cut)
    )
    return SignoffContext(
        service=service,
        since=cut,
        until=until,
        staging=staging,
        promotions=tuple(scoped),
        violations=tuple(p for p in scoped if p.verdict in VIOLATION_VERDICTS),
        unresolved=tuple(p for p in scoped if p.verdict in UNRESOLVED_VERDICTS),
        drift=drift,
        staging_issues=tuple(_staging_issues(staging, until, window_end, staging_seen)),
        gitlab_url=report.gitlab_url,
        tool_version=report.tool_version,
        gaps=tuple(g for g in gaps if g.concerns(service)),
        run_issues=tuple(run_issues),
    )


def signoff_exit_code(ctx: SignoffContext) -> int:
    """0 nothing blocks; 1 a violation blocks; 3 only unshown compliance blocks."""
    if ctx.violations or ctx.drift:
        return 1
    if ctx.not_shown:
        return 3
    return 0


def to_dict(ctx: SignoffContext) -> dict[str, Any]:
    """The context as JSON-ready data (for `auditor signoff --format json`)."""

    def promotion(p: SignoffPromotion) -> dict[str, Any]:
        return {
            "project": p.mr.project,
            "iid": p.mr.iid,
            "title": p.mr.title,
            "web_url": p.mr.web_url,
            "verdict": str(p.verdict),
            "promoted_at": _time(p.promoted_at),
            "failed_rules": list(p.failed_rules),
            "unknown_rules": list(p.unknown_rules),
        }

    staging = ctx.staging
    return {
        "service": ctx.service,
        "since": _time(ctx.since),
        "until": _time(ctx.until),
        "gitlab_url": ctx.gitlab_url,
        "tool_version": ctx.tool_version,
        "staging": None
        if staging is None
        else {
            "id": staging.id,
            "sha": staging.sha,
            "finished_at": _time(staging.finished_at),
            "url": staging.url,
        },
        "blocking": ctx.blocking,
        "exit_code": signoff_exit_code(ctx),
        "promotions": [promotion(p) for p in ctx.promotions],
        "violations": [str(p.mr.mr_id) for p in ctx.violations],
        "unresolved": [str(p.mr.mr_id) for p in ctx.unresolved],
        "drift": [
            {
                "project": d.project,
                "sha": d.sha,
                "title": d.title,
                "deployed_at": _time(d.deployed_at),
            }
            for d in ctx.drift
        ],
        "staging_issues": list(ctx.staging_issues),
        "gaps": [g.to_dict() for g in ctx.gaps],
        "run_issues": list(ctx.run_issues),
    }


def restrict_to_release(
    report: Report, extras: SweepExtras, contains: Callable[[str], bool | None]
) -> tuple[Report, SweepExtras]:
    """Only what the release commit being signed off carries: the promotions whose pick
    (the judged attempt's, from its milestones) and the drift commits that `contains(sha)`
    says are in it. Where that cannot be established (None), or the pick is not (unread,
    or not recorded by an older run), the item stays in scope: a sign-off must not lose a
    violation because GitLab did not answer."""

    def kept(result: PromotionResult) -> bool:
        # the judged attempt's picks; none established (or not recorded): kept
        picked = _picked(result)
        picks = list(picked.shas) if picked is not None else []
        answers = [contains(sha) for sha in picks]
        return not picks or any(a is not False for a in answers)

    promotions = tuple(p for p in report.promotions if kept(p))
    drift = tuple(d for d in extras.drift if contains(d.sha) is not False)
    return replace(report, promotions=promotions), replace(extras, drift=drift)
