"""SH08 staging-deploy-succeeded. Runbook, Evidence 4: "the target service's staging
deployment completed successfully"; Procedure 7: "Watch the target service deployment to
completion".

The deployment judged for the last attempt (a successful rerun after a failed deployment
counts) has status `success`.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    deployment_link,
    failed,
    lifecycle_of,
    missing,
    passed,
    stopped,
    unknown,
)
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence

RULE_ID = "SH08"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.deployments)
    if isinstance(life, Outcome):
        return life
    last = life.last
    if last.stopped:
        return stopped("nothing was deployed")
    env = ev.service.policy.staging_environment
    d = last.deployment
    if d is None:
        if last.undetermined:
            u = last.undetermined[0]
            return unknown(
                f"could not establish whether deployment {u.iid} to {env} carried the hotfix",
                deployment_link(u),
            )
        return missing(ev, clock, f"no deployment to {env} followed the pick")
    earlier = [x for x in last.deployments if x.id < d.id]
    tries = f" after {len(earlier)} earlier try(s)" if earlier else ""
    if d.status == "success":
        return passed(
            f"deployment {d.iid} to {env} succeeded ({d.sha[:8]}){tries}", deployment_link(d)
        )
    # `blocked` waits for a deployment approval: not finished, not failed
    if d.status in ("failed", "canceled", "skipped"):
        return failed(f"deployment {d.iid} to {env} ended {d.status}", deployment_link(d))
    return unknown(f"deployment {d.iid} to {env} is {d.status}", deployment_link(d))
