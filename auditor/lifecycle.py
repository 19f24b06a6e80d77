"""A promotion's life as data: its attempts, in order, each judged on its own.

Real release days are not one pick, one release job, one deployment: a deployment fails and
is rerun, a hotfix is rolled back and picked again, the label comes and goes. An *attempt*
starts with a pick of the MR's change onto `release` and lasts until the change is reverted
from `release` and picked again (further picks before a revert, such as the rest of a
multi-commit MR, belong to the same attempt). Each attempt collects what followed it: the
orchestration runs and release jobs, every staging deployment that carried its picks (and
the ones its release jobs made), the checks, the notes and the label.

Rules judge the promotion's final state on the last attempt and earlier attempts through
SH13 (failed validations contained) and SH14 (rollbacks revalidated). The moments the rules
share are defined once, here:

- when the hotfix reached `release`: the pick that completed the attempt's change;
- the deployment judged: the last successful deployment carrying the change that finished
  before validation was declared (the label add that stuck, or for ungoverned work the note
  recording a successful validation), so that a failed deployment followed by a successful
  rerun is judged on the rerun;
- when validation ended: that label add (governed) or that note (ungoverned).

Pure: nothing here reads GitLab, the environment or the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.derive import (
    Checks,
    LabelHistory,
    ReadNote,
    checks_of,
    contains,
    finished,
    human_notes,
    label_history,
    latest_attempts,
)
from auditor.evidence import (
    CherryPick,
    Commit,
    Deployment,
    Job,
    MergeRequest,
    Note,
    OrchestrationRun,
    PromotionEvidence,
    Revert,
    Unavailable,
)
from auditor.lineage import picked_from, sha_in
from auditor.notes import Claim

# Commit dates come from the committer's machine, deployment times from GitLab: a commit
# dated more than this after a deployment started is taken as not in it. The collector asks
# GitLab about every closer pair.
CLOCK_SKEW = timedelta(hours=1)


@dataclass(frozen=True)
class Coverage:
    """How much of the MR's change a set of picks carries."""

    whole: bool | None  # None: could not be established
    missing: tuple[Commit, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class FailedValidation:
    """A deployment of the hotfix whose validation failed: a failed check, or a note."""

    deployment: Deployment
    at: datetime
    jobs: tuple[Job, ...] = ()
    note: Note | None = None
    # how the failure was contained: the revert, or a later deployment that passed
    reverted_by: Revert | None = None
    replaced_by: Deployment | None = None

    @property
    def rerun_only(self) -> bool:
        """Replaced by a redeploy of the very same commit: the checks passed on a second
        run, but no corrected hotfix followed the failure."""
        return self.replaced_by is not None and self.replaced_by.sha == self.deployment.sha

    @property
    def contained_at(self) -> datetime | None:
        if self.reverted_by is not None:
            return self.reverted_by.at
        if self.replaced_by is not None:
            return finished(self.replaced_by)
        return None


@dataclass(frozen=True)
class Attempt:
    number: int
    picks: tuple[CherryPick, ...]
    coverage: Coverage
    started_at: datetime  # the attempt's first pick
    reached_release_at: datetime  # the pick that completed its change on release
    until: datetime | None  # when the next attempt started
    revert: Revert | None  # the revert that ended it
    runs: tuple[OrchestrationRun, ...]  # orchestration pipelines created during it
    release_jobs: tuple[Job, ...]  # the service's release jobs played during it (latest tries)
    tries: tuple[Job, ...]  # every played try of them, retried ones included
    deployments: tuple[Deployment, ...]  # its staging deployments, oldest first
    carried: tuple[Deployment, ...]  # the successful ones that held its change
    deployment: Deployment | None  # the one judged
    checks: Checks | Unavailable | None  # the judged deployment's checks
    validated_at: datetime | None  # when validation ended (label add, or note)
    failures: tuple[FailedValidation, ...]
    # staging deployments during it whose content could not be established
    undetermined: tuple[Deployment, ...] = ()

    @property
    def window_end(self) -> datetime | None:
        """When the attempt stopped being the live change on release."""
        return self.revert.at if self.revert is not None else self.until

    @property
    def stopped(self) -> bool:
        """Reverted before staging ran it: the runbook's "not yet deployed" rollback."""
        return (
            self.revert is not None
            and not self.carried
            and not any(d.created_at <= self.revert.at for d in self.deployments)
        )

    @property
    def closed_at(self) -> datetime | None:
        """When the attempt's validation window closed: when validation was declared; if it
        never was, when the judged deployment's checks finished (the last evidence of
        validation), else when the attempt ended; None while it is still open."""
        if self.validated_at is not None:
            return self.validated_at
        if isinstance(self.checks, Checks) and self.checks.finished_at is not None:
            return self.checks.finished_at
        return self.window_end

    def closes(self, now: datetime) -> datetime:
        """The end of the attempt's validation window (SH07, SH09): `closed_at`, else now."""
        return self.closed_at or now

    def release_job_for(self, d: Deployment) -> Job | None:
        """The try of the release job whose downstream pipeline made deployment `d` (a
        later retry may hide it in GitLab's UI; it is still the one that deployed)."""
        made = [j for j in self.tries if j.downstream_pipeline_id == d.pipeline_id]
        return max(made, key=lambda j: j.id) if made else None

    @property
    def orchestration_run(self) -> OrchestrationRun | None:
        """The orchestration pipeline the attempt is judged on (SH05): created after its
        change reached release, the one whose release job made the judged deployment, else
        one where the release job was played, else one with the job, else any."""
        runs = [r for r in self.runs if r.pipeline.created_at >= self.reached_release_at]
        job = self.release_job_for(self.deployment) if self.deployment else None
        made_it = [r for r in runs if job is not None and r.pipeline.id == job.pipeline_id]
        played = [r for r in runs if any(j.played for j in r.release_jobs)]
        with_job = [r for r in runs if r.release_jobs]
        chosen = made_it or played or with_job or runs
        return chosen[0] if chosen else None

    @property
    def release_job(self) -> Job | None:
        """The try of the release job the attempt is judged on (SH06): the one that made the
        judged deployment, else the first played after the pick that succeeded, else the
        last played; None when none was played after the pick."""
        reached = self.reached_release_at
        made_it = self.release_job_for(self.deployment) if self.deployment else None
        if made_it is not None and (made_it.started_at or made_it.created_at or reached) >= reached:
            return made_it
        played = [
            j for j in self.release_jobs if (j.started_at or j.created_at or reached) >= reached
        ]
        ok = [j for j in played if j.status == "success"]
        return ok[0] if ok else (played[-1] if played else None)

    @property
    def state(self) -> str:
        if self.stopped:
            return "stopped"
        if self.revert is not None:
            return "reverted"
        if any(f.contained_at is None for f in self.failures):
            return "failed"
        if self.validated_at is not None:
            return "validated"
        if self.deployment is not None and self.deployment.status == "success":
            return "deployed"
        return "picked"


@dataclass(frozen=True)
class Lifecycle:
    attempts: tuple[Attempt, ...]
    label: LabelHistory | Unavailable
    notes: tuple[ReadNote, ...]

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    def notes_after(self, attempt: Attempt) -> list[ReadNote]:
        """The human notes that follow the attempt's judged deployment while it is the live
        attempt (SH11's): where what was validated is recorded."""
        if attempt.deployment is None:
            return []
        done = finished(attempt.deployment)
        return [
            n
            for n in self.notes
            if n.note.created_at >= done
            and (attempt.until is None or n.note.created_at < attempt.until)
        ]

    def validation_note(self, attempt: Attempt) -> ReadNote | None:
        """The first note after the judged deployment that records the outcome of validating
        this service (a success or a reported failure) and names it (SH11's)."""
        return next(
            (
                n
                for n in self.notes_after(attempt)
                if n.reading.claim in (Claim.VALIDATED, Claim.FAILED) and n.reading.names_service
            ),
            None,
        )

    @property
    def first_pick(self) -> CherryPick:
        return min((p for a in self.attempts for p in a.picks), key=lambda p: p.reached_release_at)


# -- the MR's change ---------------------------------------------------------------------
def change_coverage(
    mr: MergeRequest,
    mr_commits: tuple[Commit, ...] | Unavailable | None,
    picks: Sequence[CherryPick],
) -> Coverage:
    """Whether the picks carry the MR's whole change: its merge commit (picked with `-m 1`)
    or squash commit, or every one of its own commits (merges inside the MR excepted)."""
    whole = [s for s in (mr.merge_commit_sha, mr.squash_commit_sha) if s]
    named: list[str] = []
    for p in picks:
        # a pick squashed from several `-x` picks names each of them
        named += [p.picked_from] if p.picked_from else []
        named += picked_from(p.commit.message)
    if any(sha_in(s, whole) for s in named):
        return Coverage(True)
    if mr_commits is None or isinstance(mr_commits, Unavailable):
        reason = str(mr_commits) if isinstance(mr_commits, Unavailable) else "not read"
        return Coverage(None, reason=f"the MR's commits could not be read ({reason})")
    needed = [c for c in mr_commits if len(c.parent_ids) <= 1]
    if not needed:
        return Coverage(None, reason="the MR lists no commits of its own")
    missing = tuple(c for c in needed if not sha_in(c.id, named))
    return Coverage(not missing, missing)


# -- attempts ------------------------------------------------------------------------------
def _groups(picks: Sequence[CherryPick], reverts: Sequence[Revert]) -> list[list[CherryPick]]:
    """Picks grouped into attempts: a pick after a revert of the live attempt starts anew."""
    groups: list[list[CherryPick]] = []
    for p in sorted(picks, key=lambda p: p.reached_release_at):
        if groups:
            start = groups[-1][0].reached_release_at
            if not any(start <= r.at <= p.reached_release_at for r in reverts):
                groups[-1].append(p)
                continue
        groups.append([p])
    return groups


def made_before(ev: PromotionEvidence, sha: str, at: datetime, d: Deployment) -> bool | None:
    """Whether commit `sha` (made at `at`) is in deployment `d`. A commit made well after
    the deployment started cannot be in it; for the rest the collected ancestry decides."""
    fact = contains(ev, sha, d.sha)
    if fact is None and at > d.created_at + CLOCK_SKEW:
        return False
    return fact


def carries(
    ev: PromotionEvidence, picks: Sequence[CherryPick], revert: Revert | None, d: Deployment
) -> bool | None:
    """Whether deployment `d` holds the attempt's change: every pick, and not its revert."""
    unknown = False
    for p in picks:
        has = made_before(ev, p.commit.id, p.reached_release_at, d)
        if has is False:
            return False
        unknown = unknown or has is None
    if unknown:
        return None
    if revert is None:
        return True
    undone = made_before(ev, revert.commit.id, revert.at, d)
    return None if undone is None else not undone


def _claims(notes: Sequence[ReadNote], claim: Claim) -> list[ReadNote]:
    """Notes making `claim` about this service: naming it, or naming no service at all."""
    return [n for n in notes if n.reading.claim == claim]


def _failures(
    ev: PromotionEvidence,
    notes: Sequence[ReadNote],
    carried: Sequence[Deployment],
    revert: Revert | None,
    end: datetime | None,
) -> list[FailedValidation]:
    found: dict[int, FailedValidation] = {}
    for d in carried:
        checks = checks_of(ev, d)
        if isinstance(checks, Checks) and checks.outcome == "failed":
            bad = tuple(j for j in checks.jobs if j.status not in ("success",))
            found[d.id] = FailedValidation(d, checks.failed_at or finished(d), jobs=bad)
    for n in _claims(notes, Claim.FAILED):
        at = n.note.created_at
        if end is not None and at >= end:
            continue
        live = [d for d in carried if finished(d) <= at]
        if live and live[-1].id not in found:
            found[live[-1].id] = FailedValidation(live[-1], at, note=n.note)
    out = []
    for f in sorted(found.values(), key=lambda f: f.at):
        if revert is not None and revert.at >= f.at:
            out.append(FailedValidation(f.deployment, f.at, f.jobs, f.note, reverted_by=revert))
            continue
        replacement = next(
            (
                later
                for later in carried
                if later.id > f.deployment.id
                and later.id not in found
                and isinstance(c := checks_of(ev, later), Checks)
                and c.outcome == "passed"
            ),
            None,
        )
        out.append(FailedValidation(f.deployment, f.at, f.jobs, f.note, replaced_by=replacement))
    return out


def _attempt(
    ev: PromotionEvidence,
    number: int,
    picks: list[CherryPick],
    until: datetime | None,
    reverts: Sequence[Revert],
    label: LabelHistory | Unavailable,
    notes: Sequence[ReadNote],
) -> Attempt:
    start = picks[0].reached_release_at
    revert = next((r for r in reverts if r.at >= start and (until is None or r.at < until)), None)
    end = revert.at if revert is not None else until

    def during(at: datetime) -> bool:
        return at >= start and (until is None or at < until)

    every = ev.orchestration_runs if isinstance(ev.orchestration_runs, tuple) else ()
    # every played try of the release job during the attempt (a pipeline created before the
    # pick may still play it after), and the latest try of each
    tries = tuple(
        j
        for r in every
        for j in r.release_jobs
        if j.played and during(j.started_at or j.created_at or r.pipeline.created_at)
    )
    newest = {j.id for r in every for j in latest_attempts(r.release_jobs)}
    release_jobs = tuple(j for j in tries if j.id in newest)
    releasing = {j.pipeline_id for j in tries}
    runs = tuple(
        sorted(
            (r for r in every if during(r.pipeline.created_at) or r.pipeline.id in releasing),
            key=lambda r: r.pipeline.created_at,
        )
    )
    downstream = {j.downstream_pipeline_id for j in tries} - {None}

    deployments: list[Deployment] = []
    undetermined: list[Deployment] = []
    carried: list[Deployment] = []
    if not isinstance(ev.deployments, Unavailable):
        for d in sorted(ev.deployments, key=lambda d: d.id):
            if not during(d.created_at):
                continue
            has = carries(ev, picks, revert, d)
            if has is True or d.pipeline_id in downstream:
                deployments.append(d)
            elif has is None:
                undetermined.append(d)
            if has is True and d.status == "success":
                carried.append(d)

    governed = ev.service.policy.governed
    window_notes = [n for n in notes if during(n.note.created_at)]
    failures = _failures(ev, window_notes, carried, revert, end)
    validated_notes = [
        n
        for n in _claims(window_notes, Claim.VALIDATED)
        if carried and n.note.created_at >= finished(carried[0])
    ]
    stuck = label.stuck_add(start, end) if isinstance(label, LabelHistory) else None
    declared = stuck if governed and stuck is not None else None
    if declared is None and validated_notes:
        declared = validated_notes[0].note.created_at
    judged: Deployment | None
    if carried:
        # the first deployment that carried it, or the rerun that replaced one whose
        # validation failed (until validation was declared)
        failed_ids = {f.deployment.id for f in failures}
        judged = carried[0]
        for later in carried[1:]:
            if judged.id not in failed_ids or (declared and finished(later) > declared):
                break
            judged = later
    else:
        # nothing carried it successfully: judge the attempt's last try before its revert
        tried = [d for d in deployments if end is None or d.created_at < end] or deployments
        judged = tried[-1] if tried else None

    if governed:
        # a label added before the deployment finished did not end its validation: then the
        # note recording it does, if there is one
        early = stuck is not None and (judged is None or stuck < finished(judged))
        validated_at = stuck if not early else _first_named(validated_notes, judged)
    else:
        validated_at = _first_named(validated_notes, judged)
    return Attempt(
        number=number,
        picks=tuple(picks),
        coverage=change_coverage(ev.mr, ev.mr_commits, picks),
        started_at=start,
        reached_release_at=max(p.reached_release_at for p in picks),
        until=until,
        revert=revert,
        runs=runs,
        release_jobs=release_jobs,
        tries=tries,
        deployments=tuple(deployments),
        carried=tuple(carried),
        deployment=judged,
        checks=checks_of(ev, judged) if judged is not None else None,
        validated_at=validated_at,
        failures=tuple(failures),
        undetermined=tuple(undetermined),
    )


def _first_named(notes: Sequence[ReadNote], judged: Deployment | None) -> datetime | None:
    """The first note naming the service that records its validation after `judged`."""
    if judged is None:
        return None
    done = finished(judged)
    return next(
        (n.note.created_at for n in notes if n.note.created_at >= done and n.reading.names_service),
        None,
    )


# Every rule asks for the same promotion's attempts in turn: the last answer is kept, for
# the very same (immutable) evidence object only.
_last: tuple[PromotionEvidence, Lifecycle | None] | None = None


def lifecycle(ev: PromotionEvidence) -> Lifecycle | None:
    """The promotion's attempts, oldest first; None when no pick was established."""
    global _last
    kept = _last
    if kept is not None and kept[0] is ev:
        return kept[1]
    life = _derive(ev)
    _last = (ev, life)
    return life


def _derive(ev: PromotionEvidence) -> Lifecycle | None:
    if isinstance(ev.picks, Unavailable) or not ev.picks:
        return None
    reverts = sorted(ev.reverts, key=lambda r: r.at) if isinstance(ev.reverts, tuple) else []
    groups = _groups(ev.picks, reverts)
    label = label_history(ev)
    notes = tuple(human_notes(ev))
    attempts = tuple(
        _attempt(
            ev,
            n + 1,
            group,
            groups[n + 1][0].reached_release_at if n + 1 < len(groups) else None,
            reverts,
            label,
            notes,
        )
        for n, group in enumerate(groups)
    )
    return Lifecycle(attempts, label, notes)
