"""What a check returns, and the evidence links checks build from evidence objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auditor.derive import Clock
from auditor.evidence import (
    CherryPick,
    Commit,
    Deployment,
    Job,
    Note,
    Pipeline,
    PromotionEvidence,
    Unavailable,
)
from auditor.findings import EvidenceLink, Status
from auditor.lifecycle import Lifecycle, lifecycle
from auditor.timestamps import format_minute


@dataclass(frozen=True)
class Outcome:
    status: Status
    summary: str
    evidence: tuple[EvidenceLink, ...] = ()


def passed(summary: str, *evidence: EvidenceLink) -> Outcome:
    return Outcome(Status.PASS, summary, evidence)


def failed(summary: str, *evidence: EvidenceLink) -> Outcome:
    return Outcome(Status.FAIL, summary, evidence)


def warned(summary: str, *evidence: EvidenceLink) -> Outcome:
    return Outcome(Status.WARN, summary, evidence)


def unknown(summary: str, *evidence: EvidenceLink) -> Outcome:
    return Outcome(Status.UNKNOWN, summary, evidence)


def not_applicable(summary: str) -> Outcome:
    return Outcome(Status.NOT_APPLICABLE, summary)


def unavailable(fact: Unavailable) -> Outcome:
    return unknown(f"could not read {fact.what}: {fact.reason}")


def missing(ev: PromotionEvidence, clock: Clock, what: str, *evidence: EvidenceLink) -> Outcome:
    """Absent evidence: not yet (unknown) inside the grace period, a failure after it."""
    if clock.within_grace(ev):
        grace = ev.service.policy.grace_period
        return unknown(f"not yet: {what} (inside the {_human(grace)} grace period)", *evidence)
    return failed(what, *evidence)


def cannot_judge(ev: PromotionEvidence, *facts: object) -> Outcome | None:
    """Why a rule about the release flow has nothing to judge: no pick of the MR was
    established, or one of the evidence fields it reads (`facts`) could not be read."""
    if isinstance(ev.picks, Unavailable) or not ev.picks:
        return no_pick(ev)
    for fact in facts:
        if isinstance(fact, Unavailable):
            return unavailable(fact)
    return None


def lifecycle_of(ev: PromotionEvidence, *facts: object) -> Lifecycle | Outcome:
    """The promotion's attempts, or the outcome that says why there is nothing to judge."""
    if (stop := cannot_judge(ev, *facts)) is not None:
        return stop
    life = lifecycle(ev)
    return life if life is not None else no_pick(ev)


def stopped(what: str) -> Outcome:
    """The runbook's "not yet deployed: revert the pick and stop" was followed."""
    return not_applicable(f"the promotion was stopped before deployment (pick reverted); {what}")


def no_pick(ev: PromotionEvidence) -> Outcome:
    if isinstance(ev.picks, Unavailable):
        return unavailable(ev.picks)
    return unknown("no cherry-pick of this MR onto release was established")


def _human(delta: object) -> str:
    seconds = int(getattr(delta, "total_seconds", lambda: 0)())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def at(t: object) -> str:
    return f"{format_minute(t)} UTC" if isinstance(t, datetime) else "?"


# -- links ------------------------------------------------------------------------------
def mr_link(ev: PromotionEvidence) -> EvidenceLink:
    return EvidenceLink("merge_request", ev.mr.iid, ev.mr.web_url, ev.mr.merged_at)


def commit_link(c: Commit) -> EvidenceLink:
    return EvidenceLink("commit", c.id, c.web_url, c.committed_date)


def pick_link(p: CherryPick) -> EvidenceLink:
    return EvidenceLink("commit", p.commit.id, p.commit.web_url, p.reached_release_at)


def note_link(n: Note) -> EvidenceLink:
    return EvidenceLink("note", n.id, n.web_url, n.created_at)


def job_link(j: Job) -> EvidenceLink:
    return EvidenceLink("job", j.id, j.web_url, j.finished_at or j.started_at or j.created_at)


def pipeline_link(p: Pipeline) -> EvidenceLink:
    return EvidenceLink("pipeline", p.id, p.web_url, p.created_at)


def deployment_link(d: Deployment) -> EvidenceLink:
    return EvidenceLink("deployment", d.id, d.web_url or None, d.finished_at or d.created_at)
