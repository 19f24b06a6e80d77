"""Small pure facts several rules share: job roles, check outcomes, what a note says, the
label's history, ancestry lookups and the audit's clock.

Nothing here reads GitLab, the environment or the wall clock. The promotion's attempts, built
from these, live in `auditor.lifecycle`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from auditor.config import Service
from auditor.evidence import (
    Deployment,
    Job,
    Note,
    PromotionEvidence,
    Unavailable,
)
from auditor.notes import DEFAULT_VOCABULARY, NoteReading, Vocabulary, read_note

# GitLab's job statuses for a job that was started and has not ended yet
IN_PROGRESS = frozenset({"created", "pending", "running", "preparing", "waiting_for_resource"})
# a check that ended like this did not pass, whatever `allow_failure` let the pipeline do
FAILED = frozenset({"failed", "canceled"})


# -- jobs by role -------------------------------------------------------------------------
def job_pattern(name: str) -> re.Pattern[str]:
    """A job name with GitLab's optional ordinal prefix: `release x` matches `01 release x`."""
    return re.compile(rf"^(\d+\s+)?{re.escape(name)}$")


def release_job_pattern(service: Service) -> re.Pattern[str]:
    return job_pattern(service.release_job_name)


def cut_off_pattern(service: Service) -> re.Pattern[str]:
    return job_pattern(service.cut_off_job_name)


def latest_attempts(jobs: Iterable[Job]) -> list[Job]:
    """The newest attempt per (pipeline, job name): a retry hides the earlier one in GitLab."""
    newest: dict[tuple[int, str], Job] = {}
    for job in sorted(jobs, key=lambda j: j.id):
        newest[(job.pipeline_id, job.name)] = job
    return list(newest.values())


def finished(d: Deployment) -> datetime:
    return d.finished_at or d.updated_at or d.created_at


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


# -- the checks that validated a deployment ------------------------------------------------
Outcome = Literal["passed", "failed", "pending", "none"]


@dataclass(frozen=True)
class Checks:
    """The smoke and acceptance jobs that checked one deployment: latest attempts, in its
    pipeline and in the child or downstream pipelines that pipeline triggered, started after
    the deployment finished. `unplayed` are matching manual jobs nobody ran."""

    jobs: tuple[Job, ...]
    unplayed: tuple[Job, ...] = ()

    @property
    def outcome(self) -> Outcome:
        if not self.jobs:
            return "none"
        if any(j.status in FAILED for j in self.jobs):
            return "failed"  # allow_failure lets the pipeline pass, not the check
        if all(j.status == "success" for j in self.jobs):
            return "passed"
        return "pending"

    @property
    def failed_at(self) -> datetime | None:
        times = [j.finished_at or j.started_at for j in self.jobs if j.status in FAILED]
        return min((t for t in times if t), default=None)

    @property
    def finished_at(self) -> datetime | None:
        """When the last check finished; None while one has not (or none ran)."""
        times = [j.finished_at for j in self.jobs if j.finished_at is not None]
        return max(times) if times and len(times) == len(self.jobs) else None

    def describe(self) -> str:
        parts = [
            f"{j.name} ({j.status}{', allowed to fail' if j.allow_failure else ''})"
            for j in self.jobs
        ]
        parts += [f"{j.name} (never run)" for j in self.unplayed]
        return ", ".join(parts)


def checks_of(ev: PromotionEvidence, d: Deployment) -> Checks | Unavailable | None:
    """The checks of deployment `d`; None when its pipeline's jobs were not collected."""
    if d.pipeline_id is None:
        return None
    own = ev.pipeline_jobs.get(d.pipeline_id)
    bridges = ev.pipeline_bridges.get(d.pipeline_id)
    if own is None or bridges is None:
        return None
    if isinstance(own, Unavailable):
        return own
    if isinstance(bridges, Unavailable):
        return bridges
    jobs: list[Job] = list(own)
    for bridge in bridges:
        child = bridge.downstream_pipeline_id
        if child is None:
            continue
        child_jobs = ev.pipeline_jobs.get(child)
        if child_jobs is None:
            return None
        if isinstance(child_jobs, Unavailable):
            return child_jobs
        jobs += child_jobs
    patterns = ev.service.policy.smoke_jobs
    matching = [
        j
        for j in latest_attempts(jobs)
        if any(fnmatch.fnmatch(j.name, p) for p in patterns) and j.id != d.deployable_id
    ]
    done = finished(d)
    # a check that started before the deployment finished validated the previous commit
    ran = tuple(j for j in matching if j.played and (j.started_at is None or j.started_at >= done))
    unplayed = tuple(j for j in matching if not j.played)
    return Checks(ran, unplayed)


# -- what the notes say --------------------------------------------------------------------
def vocabulary(service: Service) -> Vocabulary:
    p = service.policy
    if p.validation_words is None and p.failure_words is None and p.pending_words is None:
        return DEFAULT_VOCABULARY
    return Vocabulary.with_overrides(p.validation_words, p.failure_words, p.pending_words)


@dataclass(frozen=True)
class ReadNote:
    note: Note
    reading: NoteReading


def human_notes(ev: PromotionEvidence) -> list[ReadNote]:
    """Every human note with what it says about the audited service, oldest first."""
    if isinstance(ev.notes, Unavailable):
        return []
    words = vocabulary(ev.service)
    names = tuple(dict.fromkeys([ev.service.name, *ev.all_services]))
    return [
        ReadNote(n, read_note(n.body, ev.service.name, names, words))
        for n in sorted(ev.notes, key=lambda n: (n.created_at, n.id))
        if not n.system
    ]


# -- the label -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelHistory:
    """The validated label's add and remove events, oldest first. `unsure`: some events name
    a label deleted since (GitLab answers `label: null`), which may have been this one."""

    events: tuple[tuple[datetime, Literal["add", "remove"]], ...]
    unsure: bool

    def stuck_add(self, start: datetime, end: datetime | None) -> datetime | None:
        """The latest add in [start, end) that no remove before `end` took back."""
        kept: datetime | None = None
        for at, action in self.events:
            if end is not None and at >= end:
                break
            if action == "add" and at >= start:
                kept = at
            elif action == "remove":
                kept = None
        return kept

    def adds(self, start: datetime, end: datetime | None = None) -> list[datetime]:
        return [
            at
            for at, action in self.events
            if action == "add" and at >= start and (end is None or at < end)
        ]

    def present_at(self, at: datetime | None) -> bool:
        """Whether the label was on the MR at `at` (None: now)."""
        state = False
        for when, action in self.events:
            if at is not None and when > at:
                break
            state = action == "add"
        return state


def label_history(ev: PromotionEvidence) -> LabelHistory | Unavailable:
    if isinstance(ev.label_events, Unavailable):
        return ev.label_events
    label = ev.service.policy.validated_label
    ordered = sorted(ev.label_events, key=lambda e: (e.created_at, e.id))
    return LabelHistory(
        tuple((e.created_at, e.action) for e in ordered if e.label == label),
        unsure=any(e.label is None for e in ordered),
    )


# -- ancestry ------------------------------------------------------------------------------
def contains(ev: PromotionEvidence, ancestor: str, sha: str) -> bool | None:
    """Whether commit `ancestor` is in the history of `sha`; None when not established."""
    if ancestor == sha:
        return True
    fact = ev.ancestry.get((ancestor, sha))
    return fact if isinstance(fact, bool) else None


# -- the clock -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Clock:
    """The audit's notion of now and the grace period of the promotion's service."""

    now: datetime

    def within_grace(self, ev: PromotionEvidence) -> bool:
        """Whether the promotion's newest step (its latest pick, or a later revert) is
        younger than the service's grace period."""
        start = ev.mr.merged_at or ev.mr.created_at
        if not isinstance(ev.picks, Unavailable) and ev.picks:
            start = max(p.reached_release_at for p in ev.picks)
        if not isinstance(ev.reverts, Unavailable) and ev.reverts:
            start = max(start, *(r.at for r in ev.reverts))
        return self.now - start < ev.service.policy.grace_period
