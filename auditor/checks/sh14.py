"""SH14 rollback-revalidated: a hotfix reverted after deploying was followed by a rerun
release job and a revalidated staging."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    cannot_judge,
    commit_link,
    deployment_link,
    failed,
    job_link,
    not_applicable,
    passed,
    unavailable,
    unknown,
)
from auditor.derive import (
    Clock,
    contains,
    finished,
    latest_attempts,
    reverts_after,
    smoke_jobs,
    smoke_outcome,
    staging_deployment,
)
from auditor.evidence import PromotionEvidence, Unavailable

RULE_ID = "SH14"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.reverts, ev.deployments)) is not None:
        return stop
    d = staging_deployment(ev)
    if d is None:
        return not_applicable("the hotfix was never deployed to staging")
    reverts = reverts_after(ev, finished(d))
    if not reverts:
        return not_applicable("the hotfix was not reverted after deploying")
    revert = reverts[0]
    if isinstance(ev.orchestration_runs, Unavailable):
        return unavailable(ev.orchestration_runs)
    within = clock.now - revert.at < ev.service.policy.grace_period
    lacking = failed if not within else unknown

    reruns = [
        j
        for r in ev.orchestration_runs
        if r.pipeline.created_at >= revert.at
        for j in latest_attempts(r.release_jobs)
        if j.played and j.status == "success"
    ]
    if not reruns:
        return lacking(
            f"reverted by {revert.commit.short_id} at {at(revert.at)}, but "
            f"`{ev.service.release_job_name}` was not rerun afterwards",
            commit_link(revert.commit),
        )
    redeploys = []
    undetermined = False
    for later in ev.deployments:
        if later.status != "success" or later.created_at < revert.at:
            continue
        has = contains(ev, revert.commit.id, later.sha)
        if has:
            redeploys.append(later)
        elif has is None:
            undetermined = True
    if not redeploys:
        if undetermined:
            return unknown(
                "could not establish whether staging was redeployed with the revert",
                commit_link(revert.commit),
            )
        return lacking(
            "release job rerun, but staging was not redeployed with the revert", job_link(reruns[0])
        )
    redeploy = redeploys[0]
    jobs = smoke_jobs(ev, redeploy)
    if jobs is None or isinstance(jobs, Unavailable):
        return unknown(
            f"staging redeployed ({redeploy.iid}); its checks could not be read",
            deployment_link(redeploy),
        )
    outcome = smoke_outcome(jobs)
    if outcome == "passed":
        return passed(
            f"reverted at {at(revert.at)}; `{reruns[0].name}` rerun and deployment "
            f"{redeploy.iid} revalidated",
            commit_link(revert.commit),
            job_link(reruns[0]),
            deployment_link(redeploy),
        )
    if outcome == "failed":
        return failed(
            "staging redeployed after the revert but its checks failed", deployment_link(redeploy)
        )
    return lacking(
        f"staging redeployed after the revert ({redeploy.iid}) but not revalidated",
        deployment_link(redeploy),
    )
