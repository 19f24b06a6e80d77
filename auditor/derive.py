"""Facts several rules share, derived purely from a promotion's evidence.

Which pick came first, which release job and staging deployment belong to the promotion,
which smoke jobs validated it and when validation finished: computed once here so that the
rules agree with each other. Nothing here reads GitLab, the environment or the clock.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from auditor.evidence import (
    CherryPick,
    Deployment,
    Job,
    Note,
    OrchestrationRun,
    PromotionEvidence,
    Revert,
    Unavailable,
)

VALIDATION_WORDS = ("validated", "verified", "tested", "checked", "confirmed", "smoke")
FAILURE_WORDS = ("failed", "failing", "broken", "not validated", "does not work", "regression")
# GitLab's job statuses for a job that was started and has not ended yet
IN_PROGRESS = frozenset({"created", "pending", "running", "preparing", "waiting_for_resource"})


def first_pick(ev: PromotionEvidence) -> CherryPick | None:
    if isinstance(ev.picks, Unavailable) or not ev.picks:
        return None
    return min(ev.picks, key=lambda p: p.reached_release_at)


def contains_hotfix(ev: PromotionEvidence, sha: str) -> bool | None:
    """Whether commit `sha` has one of the picks in its history; None when not established."""
    if isinstance(ev.picks, Unavailable):
        return None
    unknown = False
    for pick in ev.picks:
        if pick.commit.id == sha:
            return True
        fact = ev.ancestry.get((pick.commit.id, sha))
        if fact is True:
            return True
        if fact is None or isinstance(fact, Unavailable):
            unknown = True
    return None if unknown else False


def contains(ev: PromotionEvidence, ancestor: str, sha: str) -> bool | None:
    if ancestor == sha:
        return True
    fact = ev.ancestry.get((ancestor, sha))
    return fact if isinstance(fact, bool) else None


def runs_after_pick(ev: PromotionEvidence) -> list[OrchestrationRun]:
    pick = first_pick(ev)
    if pick is None or isinstance(ev.orchestration_runs, Unavailable):
        return []
    return sorted(
        (r for r in ev.orchestration_runs if r.pipeline.created_at >= pick.reached_release_at),
        key=lambda r: r.pipeline.created_at,
    )


def latest_attempts(jobs: tuple[Job, ...] | list[Job]) -> list[Job]:
    """The newest attempt per job name (a retry hides the earlier one in GitLab's UI)."""
    newest: dict[str, Job] = {}
    for job in sorted(jobs, key=lambda j: j.id):
        newest[job.name] = job
    return list(newest.values())


def played_release_jobs(ev: PromotionEvidence) -> list[Job]:
    """Latest attempt of the service's release job in each run after the pick, if played."""
    out = []
    for run in runs_after_pick(ev):
        out += [j for j in latest_attempts(run.release_jobs) if j.played]
    return out


def staging_deployment(ev: PromotionEvidence) -> Deployment | None:
    """The deployment the promotion's release flow made to staging.

    The one in the downstream pipeline of a played release job; failing that (a release
    job that is not a trigger job, or a deployment made some other way), the first
    deployment after the pick whose commit contains the hotfix.
    """
    if isinstance(ev.deployments, Unavailable):
        return None
    pick = first_pick(ev)
    if pick is None:
        return None
    downstream = [j.downstream_pipeline_id for j in played_release_jobs(ev)]
    for pipeline_id in downstream:
        for d in ev.deployments:
            if pipeline_id is not None and d.pipeline_id == pipeline_id:
                return d
    for d in ev.deployments:
        if d.created_at >= pick.reached_release_at and contains_hotfix(ev, d.sha):
            return d
    return None


def bases(
    deployments: Sequence[Deployment], previous: Deployment | None
) -> dict[int, Deployment | None]:
    """Each deployment's base, by id: the last successful deployment before it (what staging
    ran when it started), `previous` for the first. What a deployment added is the compare
    of its base and its commit."""
    out: dict[int, Deployment | None] = {}
    base = previous
    for d in sorted(deployments, key=lambda x: x.id):
        out[d.id] = base
        if d.status == "success":
            base = d
    return out


def deployments_after(ev: PromotionEvidence, d: Deployment) -> list[Deployment]:
    if isinstance(ev.deployments, Unavailable):
        return []
    return [x for x in ev.deployments if x.id > d.id]


def jobs_of(ev: PromotionEvidence, pipeline_id: int | None) -> tuple[Job, ...] | Unavailable | None:
    if pipeline_id is None:
        return None
    return ev.pipeline_jobs.get(pipeline_id)


def smoke_jobs(ev: PromotionEvidence, d: Deployment) -> list[Job] | Unavailable | None:
    """Latest attempts of the smoke/acceptance jobs in the deployment's pipeline that ran
    after it finished (None: the pipeline's jobs were not collected)."""
    jobs = jobs_of(ev, d.pipeline_id)
    if jobs is None or isinstance(jobs, Unavailable):
        return jobs
    patterns = ev.service.policy.smoke_jobs
    matching = [
        j
        for j in latest_attempts(jobs)
        if any(fnmatch.fnmatch(j.name, p) for p in patterns) and j.id != d.deployable_id
    ]
    done = finished(d)
    # a check that started before the deployment finished validated the previous commit
    return [j for j in matching if j.played and (j.started_at is None or j.started_at >= done)]


def smoke_outcome(jobs: list[Job]) -> str:
    """`passed`, `failed` or `pending` for a set of played smoke jobs (none: `none`)."""
    if not jobs:
        return "none"
    if any(j.status in ("failed", "canceled") for j in jobs):
        return "failed"
    if all(j.status == "success" for j in jobs):
        return "passed"
    return "pending"


def mentions_service(body: str, service: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(service)}(?![\w-])", body, re.IGNORECASE) is not None


def validation_notes(ev: PromotionEvidence, after: datetime) -> list[Note]:
    """Human notes after `after` that say something was validated (any service)."""
    if isinstance(ev.notes, Unavailable):
        return []
    return [
        n
        for n in ev.notes
        if not n.system
        and n.created_at >= after
        and any(w in n.body.lower() for w in VALIDATION_WORDS)
    ]


def reports_failure(note: Note) -> bool:
    """A validation note that says the hotfix failed in staging."""
    body = note.body.lower()
    return any(w in body for w in FAILURE_WORDS)


def validation_failed(ev: PromotionEvidence, d: Deployment) -> bool | None:
    """Whether validation of deployment `d` failed: a failed check, or (with no automated
    check) a validation note reporting failure. None when it cannot be told yet."""
    jobs = smoke_jobs(ev, d)
    if jobs is None or isinstance(jobs, Unavailable):
        return None
    outcome = smoke_outcome(jobs)
    if outcome == "failed":
        return True
    if outcome == "pending":
        return None
    if outcome == "none":
        return any(reports_failure(n) for n in validation_notes(ev, finished(d)))
    return False


def label_adds(ev: PromotionEvidence) -> list[datetime]:
    if isinstance(ev.label_events, Unavailable):
        return []
    label = ev.service.policy.validated_label
    return sorted(e.created_at for e in ev.label_events if e.label == label and e.action == "add")


def label_present(ev: PromotionEvidence) -> bool | None:
    """Whether the validated label is on the MR now, by its event history."""
    if isinstance(ev.label_events, Unavailable):
        return None
    label = ev.service.policy.validated_label
    state = False
    for e in sorted(ev.label_events, key=lambda e: (e.created_at, e.id)):
        if e.label == label:
            state = e.action == "add"
    return state


def finished(d: Deployment) -> datetime:
    return d.finished_at or d.updated_at or d.created_at


def validation_end(ev: PromotionEvidence, d: Deployment) -> datetime | None:
    """When validation of deployment `d` finished: the label, else the validation note,
    else the last smoke job. None when nothing says it finished."""
    done = finished(d)
    adds = [t for t in label_adds(ev) if t >= done]
    if adds:
        return adds[0]
    notes = validation_notes(ev, done)
    if notes:
        return notes[0].created_at
    jobs = smoke_jobs(ev, d)
    if isinstance(jobs, list) and jobs and all(j.finished_at for j in jobs):
        return max(j.finished_at for j in jobs if j.finished_at)
    return None


def reverts_after(ev: PromotionEvidence, at: datetime) -> list[Revert]:
    if isinstance(ev.reverts, Unavailable):
        return []
    return sorted((r for r in ev.reverts if r.at >= at), key=lambda r: r.at)


@dataclass(frozen=True)
class Clock:
    """The audit's notion of now and the grace period of the promotion's service."""

    now: datetime

    def within_grace(self, ev: PromotionEvidence) -> bool:
        """Whether the promotion's newest step (its pick, or a later revert) is younger
        than the service's grace period."""
        pick = first_pick(ev)
        start = pick.reached_release_at if pick else ev.mr.merged_at or ev.mr.created_at
        if not isinstance(ev.reverts, Unavailable) and ev.reverts:
            start = max(start, *(r.at for r in ev.reverts))
        return self.now - start < ev.service.policy.grace_period
