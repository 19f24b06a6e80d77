"""Hand-built `PromotionEvidence` for unit tests of the rule checks.

`by_the_book()` is one complete promotion of MR evenergi/vemo-core!42 to staging done exactly
as the runbook says; every other evidence here is derived from it by changing one thing
(`dataclasses.replace` plus the small helpers below). No GitLab, no simulator, no clock:
all times are fixed offsets from `T0`, the moment the MR merged.

Timeline of the by-the-book promotion:
    T0-2d    MR opened          T0-1h    approved by alice     T0      merged into main
    T0+1h    pick on release    T0+1h10  orchestration #500    T0+1h15 `01 release vemo-core`
    T0+1h20  deployment 90 to staging (pipeline #700) finished T0+1h40
    T0+1h42  `smoke staging` (finished T0+1h55)
    T0+2h    validation note    T0+2h10  `Validated in Staging` label
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from auditor.config import Policy, Service
from auditor.derive import Clock
from auditor.evidence import (
    Approval,
    Approvals,
    CherryPick,
    Commit,
    Deployment,
    Job,
    LabelEvent,
    MergeRequest,
    MRRef,
    Note,
    OrchestrationRun,
    Pipeline,
    PromotionEvidence,
    ReleaseScope,
    Revert,
    ScopeCommit,
    Unavailable,
)

H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # the MR merged
PICK_AT = T0 + 1 * H
RUN_AT = T0 + 1 * H + 10 * M
RELEASE_JOB_AT = T0 + 1 * H + 15 * M
DEPLOY_AT = T0 + 1 * H + 20 * M
DEPLOY_DONE = T0 + 1 * H + 40 * M
SMOKE_AT = T0 + 1 * H + 42 * M
SMOKE_DONE = T0 + 1 * H + 55 * M
NOTE_AT = T0 + 2 * H
LABEL_AT = T0 + 2 * H + 10 * M
REVERT_AT = T0 + 3 * H

AFTER_GRACE = Clock(PICK_AT + 3 * D)
IN_GRACE = Clock(PICK_AT + 6 * H)

MERGE_SHA = "a1" * 20  # the MR's merge commit on main
PICK_SHA = "b2" * 20  # the cherry-pick on release
DEPLOY_SHA = "c3" * 20  # the release tip deployed to staging; contains the pick
BASE_SHA = "d4" * 20  # what staging ran before
REVERT_SHA = "e5" * 20  # a revert of the pick on release
OTHER_SHA = "f6" * 20  # some commit without the hotfix
EXTRA_SHA = "0a" * 20  # a commit that slipped onto release

PROJECT = "evenergi/vemo-core"
ORCHESTRATION = "evenergi/develop"
LABEL = "Validated in Staging"

ORCH_PIPELINE = 500
RELEASE_JOB_ID = 5001
CUT_OFF_JOB_ID = 5002
DOWNSTREAM = 700
DEPLOY_JOB_ID = 7001
SMOKE_JOB_ID = 7002
DEPLOYMENT_ID = 900

SERVICE = Service(name="vemo-core", project=PROJECT, policy=Policy())

_FINISHED = frozenset({"success", "failed", "canceled"})


def url(path: str) -> str:
    return f"https://gitlab.example.com/{path}"


def commit(sha: str, title: str, message: str = "", parents: tuple[str, ...] = ()) -> Commit:
    return Commit(
        id=sha,
        short_id=sha[:8],
        title=title,
        message=message or title,
        parent_ids=parents or (BASE_SHA,),
        authored_date=PICK_AT,
        committed_date=PICK_AT,
        web_url=url(f"{PROJECT}/-/commit/{sha}"),
    )


def job(
    job_id: int,
    name: str,
    status: str,
    pipeline_id: int,
    at: datetime,
    *,
    took: timedelta = 5 * M,
    user: str | None = "carol",
    downstream: int | None = None,
) -> Job:
    """A job created at `at`; started then if it was played, finished `took` later if done."""
    played = status not in ("manual", "created", "skipped", "scheduled")
    return Job(
        id=job_id,
        name=name,
        status=status,
        stage=None,
        pipeline_id=pipeline_id,
        created_at=at,
        started_at=at if played else None,
        finished_at=at + took if status in _FINISHED else None,
        web_url=url(f"-/jobs/{job_id}"),
        user=user if played else None,
        downstream_pipeline_id=downstream,
    )


def deployment(
    dep_id: int,
    sha: str,
    status: str,
    pipeline_id: int | None,
    at: datetime,
    *,
    took: timedelta = 20 * M,
    deployable_id: int | None = None,
) -> Deployment:
    done = at + took if status in _FINISHED else None
    return Deployment(
        id=dep_id,
        iid=dep_id,
        environment="staging",
        status=status,
        sha=sha,
        ref="release",
        created_at=at,
        updated_at=done or at,
        finished_at=done,
        deployable_id=deployable_id,
        deployable_name="deploy staging" if deployable_id else None,
        pipeline_id=pipeline_id,
        web_url=url(f"{PROJECT}/-/environments/1/deployments/{dep_id}"),
    )


def orchestration_run(
    pipeline_id: int,
    at: datetime,
    release_jobs: tuple[Job, ...] = (),
    cut_off_jobs: tuple[Job, ...] = (),
) -> OrchestrationRun:
    pipeline = Pipeline(
        id=pipeline_id,
        project=ORCHESTRATION,
        ref="main",
        sha=None,
        status="success",
        source="web",
        created_at=at,
        updated_at=at,
        web_url=url(f"{ORCHESTRATION}/-/pipelines/{pipeline_id}"),
    )
    return OrchestrationRun(pipeline, release_jobs, cut_off_jobs)


def note(
    note_id: int, body: str, at: datetime, *, system: bool = False, author: str = "bob"
) -> Note:
    return Note(
        id=note_id,
        body=body,
        author=author,
        created_at=at,
        system=system,
        web_url=url(f"{PROJECT}/-/merge_requests/42#note_{note_id}"),
    )


def label_event(
    event_id: int, at: datetime, action: str = "add", label: str | None = LABEL
) -> LabelEvent:
    return LabelEvent(id=event_id, label=label, action=action, created_at=at, user="bob")  # type: ignore[arg-type]


def mr_ref(iid: int, state: str = "merged") -> MRRef:
    return MRRef(
        project=PROJECT,
        iid=iid,
        title=f"fix {iid}",
        state=state,
        source_branch=f"fix-{iid}",
        target_branch="main",
        merged_at=T0 - D if state == "merged" else None,
        merge_commit_sha=OTHER_SHA if state == "merged" else None,
        web_url=url(f"{PROJECT}/-/merge_requests/{iid}"),
    )


# -- the parts of the by-the-book promotion ---------------------------------------------
MR = MergeRequest(
    id=4242,
    iid=42,
    project=PROJECT,
    project_id=17,
    title="Fix charge session rounding",
    web_url=url(f"{PROJECT}/-/merge_requests/42"),
    state="merged",
    source_branch="fix-rounding",
    target_branch="main",
    default_branch="main",
    created_at=T0 - 2 * D,
    updated_at=T0,
    merged_at=T0,
    merge_commit_sha=MERGE_SHA,
    squash_commit_sha=None,
    sha="9f" * 20,
    labels=(LABEL,),
    author="dave",
)

MR_COMMIT = commit("9f" * 20, "Fix charge session rounding", parents=(BASE_SHA,))
PICK_COMMIT = commit(
    PICK_SHA,
    "Fix charge session rounding",
    f"Fix charge session rounding\n\n(cherry picked from commit {MERGE_SHA})",
)
PICK = CherryPick(
    commit=PICK_COMMIT, method="trailer", picked_from=MERGE_SHA, reached_release_at=PICK_AT
)

RELEASE_JOB = job(
    RELEASE_JOB_ID,
    "01 release vemo-core",
    "success",
    ORCH_PIPELINE,
    RELEASE_JOB_AT,
    downstream=DOWNSTREAM,
)
CUT_OFF_JOB = job(CUT_OFF_JOB_ID, "cut-off", "manual", ORCH_PIPELINE, RUN_AT)
RUN = orchestration_run(ORCH_PIPELINE, RUN_AT, (RELEASE_JOB,), (CUT_OFF_JOB,))

DEPLOYMENT = deployment(
    DEPLOYMENT_ID, DEPLOY_SHA, "success", DOWNSTREAM, DEPLOY_AT, deployable_id=DEPLOY_JOB_ID
)
PREVIOUS_DEPLOYMENT = deployment(800, BASE_SHA, "success", 600, T0 - D)
DEPLOY_JOB = job(DEPLOY_JOB_ID, "deploy staging", "success", DOWNSTREAM, DEPLOY_AT, took=20 * M)
SMOKE_JOB = job(SMOKE_JOB_ID, "smoke staging", "success", DOWNSTREAM, SMOKE_AT, took=13 * M)

VALIDATION_NOTE = note(
    101, "Validated vemo-core on staging: rounding of charge sessions is fixed.", NOTE_AT
)
LABEL_ADD = label_event(201, LABEL_AT)

SCOPE = ReleaseScope(
    deployment_id=DEPLOYMENT_ID,
    base_sha=BASE_SHA,
    head_sha=DEPLOY_SHA,
    commits=(ScopeCommit(PICK_COMMIT, picked_from=MERGE_SHA, reverts=None, source_mrs=None),),
)

REVERT_COMMIT = commit(
    REVERT_SHA,
    'Revert "Fix charge session rounding"',
    f'Revert "Fix charge session rounding"\n\nThis reverts commit {PICK_SHA}.',
    parents=(DEPLOY_SHA,),
)
REVERT = Revert(commit=REVERT_COMMIT, reverted_sha=PICK_SHA, at=REVERT_AT)


def by_the_book() -> PromotionEvidence:
    """A complete promotion done exactly as the runbook says: every rule passes except
    SH13/SH14, which do not apply (validation passed, nothing was rolled back)."""
    return PromotionEvidence(
        service=SERVICE,
        mr=MR,
        approvals=Approvals(
            approved_by=(Approval("alice", T0 - H),), approvals_required=1, approvals_left=0
        ),
        notes=(VALIDATION_NOTE,),
        label_events=(LABEL_ADD,),
        picks=(PICK,),
        suspected_picks=(),
        reverts=(),
        orchestration_runs=(RUN,),
        deployments=(DEPLOYMENT,),
        previous_deployment=PREVIOUS_DEPLOYMENT,
        pipeline_jobs={DOWNSTREAM: (DEPLOY_JOB, SMOKE_JOB)},
        pipeline_bridges={DOWNSTREAM: ()},
        ancestry={(PICK_SHA, DEPLOY_SHA): True},
        scope=SCOPE,
        mr_commits=(MR_COMMIT,),
        later_deployments=(),
    )


# -- one-thing-changed helpers ----------------------------------------------------------
def with_release_jobs(ev: PromotionEvidence, *jobs: Job) -> PromotionEvidence:
    """The by-the-book orchestration run, with these attempts of the release job."""
    return replace(ev, orchestration_runs=(replace(RUN, release_jobs=jobs),))


def release_job(status: str, **changes: object) -> Job:
    fresh = job(
        RELEASE_JOB_ID,
        RELEASE_JOB.name,
        status,
        ORCH_PIPELINE,
        RELEASE_JOB_AT,
        downstream=DOWNSTREAM if status not in ("manual", "created") else None,
    )
    return replace(fresh, **changes)  # type: ignore[arg-type]


def with_cut_off(
    ev: PromotionEvidence, cut_off: Job, *, in_run: int = ORCH_PIPELINE, run_at: datetime = RUN_AT
) -> PromotionEvidence:
    """Add a cut-off job: into the release pipeline, or into a separate pipeline `in_run`."""
    if in_run == ORCH_PIPELINE:
        return replace(ev, orchestration_runs=(replace(RUN, cut_off_jobs=(cut_off,)),))
    other = orchestration_run(in_run, run_at, (), (replace(cut_off, pipeline_id=in_run),))
    return replace(ev, orchestration_runs=(RUN, other))


def with_deployment(ev: PromotionEvidence, **changes: object) -> PromotionEvidence:
    """The by-the-book staging deployment with some fields changed."""
    return replace(ev, deployments=(replace(DEPLOYMENT, **changes),))  # type: ignore[arg-type]


def with_smoke(ev: PromotionEvidence, *smoke: Job) -> PromotionEvidence:
    """The downstream pipeline's jobs: the deploy job plus these smoke/acceptance jobs."""
    jobs = dict(ev.pipeline_jobs)
    jobs[DOWNSTREAM] = (DEPLOY_JOB, *smoke)
    return replace(ev, pipeline_jobs=jobs)


def smoke(
    status: str,
    *,
    job_id: int = SMOKE_JOB_ID,
    name: str = "smoke staging",
    at: datetime = SMOKE_AT,
    took: timedelta = 13 * M,
) -> Job:
    return job(job_id, name, status, DOWNSTREAM, at, took=took)


FAILURE_NOTE = note(102, "Smoke for vemo-core failed on staging; reverting the pick.", NOTE_AT)


def failed_validation() -> PromotionEvidence:
    """Deployed fine, the smoke job failed, nobody labelled it; nothing done about it yet."""
    ev = with_smoke(by_the_book(), smoke("failed"))
    return replace(ev, notes=(FAILURE_NOTE,), label_events=())


def failed_and_reverted() -> PromotionEvidence:
    """Validation failed and the pick was reverted from release (runbook: Decision Points)."""
    return replace(failed_validation(), reverts=(REVERT,))


RERUN_PIPELINE = 501
RERUN_JOB_ID = 5011
REDEPLOY_PIPELINE = 701
REDEPLOY_ID = 901
RERUN_AT = REVERT_AT + 10 * M
REDEPLOY_AT = REVERT_AT + 20 * M


def rerun(status: str = "success") -> OrchestrationRun:
    """An orchestration pipeline after the revert whose release job has `status`."""
    rerun_job = job(
        RERUN_JOB_ID,
        RELEASE_JOB.name,
        status,
        RERUN_PIPELINE,
        RERUN_AT + 2 * M,
        downstream=REDEPLOY_PIPELINE if status == "success" else None,
    )
    return orchestration_run(RERUN_PIPELINE, RERUN_AT, (rerun_job,))


REDEPLOYMENT = deployment(
    REDEPLOY_ID, REVERT_SHA, "success", REDEPLOY_PIPELINE, REDEPLOY_AT, deployable_id=7101
)


def redeploy_smoke(status: str = "success") -> tuple[Job, ...]:
    return (
        job(7101, "deploy staging", "success", REDEPLOY_PIPELINE, REDEPLOY_AT, took=20 * M),
        job(7102, "smoke staging", status, REDEPLOY_PIPELINE, REDEPLOY_AT + 22 * M),
    )


def rolled_back(
    *,
    rerun_status: str | None = "success",
    redeploy: Deployment | None = REDEPLOYMENT,
    redeploy_jobs: tuple[Job, ...] | Unavailable | None = None,
) -> PromotionEvidence:
    """Failed validation, reverted, then (by default) the release job rerun, staging
    redeployed with the revert and the smoke job passing on it (runbook: Rollback)."""
    ev = failed_and_reverted()
    runs = (RUN,) if rerun_status is None else (RUN, rerun(rerun_status))
    deployments = (DEPLOYMENT,) if redeploy is None else (DEPLOYMENT, redeploy)
    jobs = dict(ev.pipeline_jobs)
    bridges = dict(ev.pipeline_bridges)
    if redeploy is not None and redeploy.pipeline_id is not None:
        jobs[redeploy.pipeline_id] = (
            redeploy_jobs if redeploy_jobs is not None else (redeploy_smoke())
        )
        bridges[redeploy.pipeline_id] = ()
    return replace(
        ev,
        orchestration_runs=runs,
        deployments=deployments,
        pipeline_jobs=jobs,
        pipeline_bridges=bridges,
    )
