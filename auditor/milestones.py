"""A promotion's milestones: when each step of the runbook happened, for the judged attempt.

Computed once, from the same derived facts the rules judge (`auditor.lifecycle`'s attempts,
the judged deployment, its checks, the label add that stuck, SH11's validation note), so a
report's timeline, the sign-off's pick time and the JSON say what the findings say, instead
of guessing facts from whichever evidence links a check happened to attach.

Each step is its fact, None when GitLab answered and it did not happen (or was not due), or
`Unread` when it could not be established: an unreadable fact is never shown as if it did
not happen, nor as if it happened.

Pure: nothing here reads GitLab, the environment or the clock.
"""

from __future__ import annotations

from datetime import datetime

from auditor.derive import Checks, LabelHistory
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.findings import (
    ChecksRan,
    Deployed,
    Labelled,
    Milestones,
    Picked,
    PipelineCreated,
    ReleaseJobRan,
    Unread,
    ValidationNote,
)
from auditor.lifecycle import Attempt, Lifecycle, lifecycle
from auditor.notes import Claim


def _unread(fact: Unavailable) -> Unread:
    return Unread(f"could not read {fact.what}: {fact.reason}")


def milestones(ev: PromotionEvidence) -> Milestones:
    """The promotion's milestones (judged attempt: the last, as the rules judge it)."""
    merged_at = ev.mr.merged_at
    life = lifecycle(ev)
    if life is None:
        # no attempt: either GitLab said nothing was picked (nothing followed), or the pick
        # could not be established (nothing after it can be placed either)
        why: Unread | None = None
        if isinstance(ev.picks, Unavailable):
            why = _unread(ev.picks)
        elif ev.suspected_picks:
            s = ev.suspected_picks[0]
            why = Unread(
                f"{s.commit.short_id} looks like this hotfix but is not proven: {s.reason}"
            )
        return Milestones(None, merged_at, why, why, why, why, why, why, why)
    last = life.last
    return Milestones(
        attempt=last.number,
        merged_at=merged_at,
        picked=_picked(last),
        pipeline=_pipeline(ev, last),
        release_job=_release_job(ev, last),
        deployed=_deployed(ev, last),
        checks=_checks(ev, last),
        validated=_validated(ev, life, last),
        labelled=_labelled(ev, life, last),
    )


def _picked(last: Attempt) -> Picked:
    done = max(last.picks, key=lambda p: p.reached_release_at)
    return Picked(
        done.commit.id,
        done.reached_release_at,
        done.commit.web_url or None,
        tuple(p.commit.id for p in last.picks),
    )


def _pipeline(ev: PromotionEvidence, last: Attempt) -> PipelineCreated | Unread | None:
    if isinstance(ev.orchestration_runs, Unavailable):
        return _unread(ev.orchestration_runs)
    run = None if last.stopped else last.orchestration_run
    if run is None:
        return None
    p = run.pipeline
    return PipelineCreated(p.id, p.created_at, p.web_url or None)


def _release_job(ev: PromotionEvidence, last: Attempt) -> ReleaseJobRan | Unread | None:
    if isinstance(ev.orchestration_runs, Unavailable):
        return _unread(ev.orchestration_runs)
    job = None if last.stopped else last.release_job
    if job is None:
        return None
    return ReleaseJobRan(
        job.id, job.status, job.finished_at or job.started_at or job.created_at, job.web_url or None
    )


def _deployed(ev: PromotionEvidence, last: Attempt) -> Deployed | Unread | None:
    if isinstance(ev.deployments, Unavailable):
        return _unread(ev.deployments)
    if last.stopped:
        return None
    d = last.deployment
    if d is None:
        if last.undetermined:
            u = last.undetermined[0]
            return Unread(f"whether deployment {u.iid} carried the hotfix was not established")
        return None
    return Deployed(d.id, d.iid, d.status, d.finished_at or d.created_at, d.web_url or None)


def _checks(ev: PromotionEvidence, last: Attempt) -> ChecksRan | Unread | None:
    deployed = _deployed(ev, last)
    if not isinstance(deployed, Deployed):
        return deployed
    checks = last.checks
    if isinstance(checks, Unavailable):
        return _unread(checks)
    if checks is None:
        d = last.deployment
        pipeline = d.pipeline_id if d is not None else None
        return Unread(f"the jobs of pipeline #{pipeline} were not collected")
    return ChecksRan(checks.outcome, _checks_at(checks))


def _checks_at(checks: Checks) -> datetime | None:
    """When the checks ended: the first failure, else when the last finished, else (still
    running) when the last started; None when none ran."""
    if checks.outcome == "failed":
        return checks.failed_at
    if checks.finished_at is not None:
        return checks.finished_at
    times = [j.started_at for j in checks.jobs if j.started_at is not None]
    return max(times) if times else None


def _validated(
    ev: PromotionEvidence, life: Lifecycle, last: Attempt
) -> ValidationNote | Unread | None:
    deployed = _deployed(ev, last)
    if not isinstance(deployed, Deployed):
        return deployed  # no deployment for a note to follow, or not known which
    if isinstance(ev.notes, Unavailable):
        return _unread(ev.notes)
    n = life.validation_note(last)
    if n is None:
        return None
    outcome = "validated" if n.reading.claim == Claim.VALIDATED else "failed"
    return ValidationNote(n.note.id, n.note.created_at, outcome, n.note.web_url or None)


def _labelled(ev: PromotionEvidence, life: Lifecycle, last: Attempt) -> Labelled | Unread | None:
    if not ev.service.policy.governed:
        return None  # no label is due for ungoverned work
    history = life.label
    if isinstance(history, Unavailable):
        return _unread(history)
    assert isinstance(history, LabelHistory)
    start, end = last.started_at, last.window_end
    url = ev.mr.web_url or None
    added = history.stuck_add(start, end)
    if added is not None:
        return Labelled(added, True, url)
    adds = history.adds(start, end)
    return Labelled(adds[-1], False, url) if adds else None
