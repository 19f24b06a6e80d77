"""SH14 rollback-revalidated. Runbook, Rollback And Recovery: "Deployed to staging and must be
backed out: revert the cherry-pick from `release`, push the corrected `release`, rerun the
relevant `release <service name>` job, revalidate staging before using it for further
checks."

Only for attempts reverted after staging ran them (a revert names the pick, the MR's merge
or squash commit, or one of its commits, or undoes its patch): a later played, successful
release job, a successful staging deployment containing the revert, and passing checks on
it. A pick reverted before any deployment is the runbook's "not yet deployed: stop".
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    commit_link,
    deployment_link,
    failed,
    job_link,
    lifecycle_of,
    not_applicable,
    passed,
    unavailable,
    unknown,
)
from auditor.derive import Checks, Clock, checks_of, latest_attempts
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.lifecycle import Attempt, made_before

RULE_ID = "SH14"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.reverts, ev.deployments)
    if isinstance(life, Outcome):
        return life
    backed_out = [a for a in life.attempts if a.revert is not None and a.carried]
    unsure = [a for a in life.attempts if a.revert is not None and a.undetermined]
    if unsure and not backed_out:
        revert = unsure[0].revert
        assert revert is not None  # chosen for having one
        return unknown(
            f"reverted by {revert.commit.short_id}; could not establish whether "
            "staging ran the hotfix before that",
            deployment_link(unsure[0].undetermined[0]),
        )
    if not backed_out:
        if any(a.stopped for a in life.attempts):
            return not_applicable("the pick was reverted before any deployment (stopped)")
        return not_applicable("the hotfix was not reverted after deploying")
    if isinstance(ev.orchestration_runs, Unavailable):
        return unavailable(ev.orchestration_runs)
    results = [_revalidated(ev, clock, a) for a in backed_out]
    bad = [r for r in results if r.status != "pass"]
    return bad[0] if bad else results[-1]


def _revalidated(ev: PromotionEvidence, clock: Clock, attempt: Attempt) -> Outcome:
    revert = attempt.revert
    assert revert is not None
    within = clock.now - revert.at < ev.service.policy.grace_period
    lacking = failed if not within else unknown
    runs = ev.orchestration_runs if isinstance(ev.orchestration_runs, tuple) else ()
    reruns = [
        j
        for r in sorted(runs, key=lambda r: r.pipeline.created_at)
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
    deployments = ev.deployments if isinstance(ev.deployments, tuple) else ()
    for later in sorted(deployments, key=lambda d: d.id):
        if later.status != "success" or later.created_at < revert.at:
            continue
        has = made_before(ev, revert.commit.id, revert.at, later)
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
    checks = checks_of(ev, redeploy)
    if not isinstance(checks, Checks):
        return unknown(
            f"staging redeployed ({redeploy.iid}); its checks could not be read",
            deployment_link(redeploy),
        )
    if checks.outcome == "passed":
        return passed(
            f"reverted at {at(revert.at)}; `{reruns[0].name}` rerun and deployment "
            f"{redeploy.iid} revalidated",
            commit_link(revert.commit),
            job_link(reruns[0]),
            deployment_link(redeploy),
        )
    if checks.outcome == "failed":
        return failed(
            "staging redeployed after the revert but its checks failed", deployment_link(redeploy)
        )
    return lacking(
        f"staging redeployed after the revert ({redeploy.iid}) but not revalidated",
        deployment_link(redeploy),
    )
