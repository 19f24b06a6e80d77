"""Runs every rule of the catalog over a promotion's evidence.

A check that raises becomes `unknown` naming the error; the other checks still run. The
findings come out in catalog order, one per rule, as the contract requires.
"""

from __future__ import annotations

from auditor.checks import CHECKS
from auditor.checks._outcome import Outcome
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.findings import (
    AttemptSummary,
    Finding,
    MRSummary,
    PromotionResult,
    Status,
    decide_verdict,
)
from auditor.lifecycle import Attempt, lifecycle
from auditor.milestones import milestones
from auditor.rulebook import Rulebook, load_rulebook


def _run(rule_id: str, ev: PromotionEvidence, clock: Clock) -> Outcome:
    try:
        return CHECKS[rule_id](ev, clock)
    except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
        return Outcome(Status.UNKNOWN, f"check failed to run: {type(exc).__name__}: {exc}")


def is_promoted(ev: PromotionEvidence) -> bool:
    """False only when GitLab answered and no pick, not even a suspected one, exists."""
    if isinstance(ev.picks, Unavailable):
        return True
    return bool(ev.picks) or bool(ev.suspected_picks)


def summarize(attempt: Attempt) -> AttemptSummary:
    """The timeline's view of one attempt."""
    d = attempt.deployment
    job = attempt.release_job_for(d) if d is not None else None
    checks = attempt.checks
    return AttemptSummary(
        number=attempt.number,
        state=attempt.state,
        picks=tuple(p.commit.short_id for p in attempt.picks),
        reached_release_at=attempt.reached_release_at,
        release_job_id=job.id if job else None,
        release_job_status=job.status if job else None,
        deployment_iid=d.iid if d else None,
        deployment_status=d.status if d else None,
        deployed_at=(d.finished_at or d.created_at) if d else None,
        checks=checks.outcome
        if checks is not None and not isinstance(checks, Unavailable)
        else None,
        validated_at=attempt.validated_at,
        reverted_by=attempt.revert.commit.short_id if attempt.revert else None,
        reverted_at=attempt.revert.at if attempt.revert else None,
    )


def evaluate(
    ev: PromotionEvidence, clock: Clock, rulebook: Rulebook | None = None
) -> PromotionResult:
    book = rulebook or load_rulebook()
    findings = []
    for rule in book.rules:
        outcome = _run(rule.id, ev, clock)
        findings.append(
            Finding(rule.id, rule.name, outcome.status, outcome.summary, outcome.evidence)
        )
    verdict = decide_verdict(findings, promoted=is_promoted(ev), in_grace=clock.within_grace(ev))
    mr = ev.mr
    life = lifecycle(ev)
    return PromotionResult(
        mr=MRSummary(mr.project, mr.iid, mr.title, mr.web_url, mr.merged_at),
        service=ev.service.name,
        verdict=verdict,
        findings=tuple(findings),
        attempts=tuple(summarize(a) for a in life.attempts) if life else (),
        milestones=milestones(ev),
    )
