"""SH08 staging-deploy-succeeded: the release flow's staging deployment succeeded."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    deployment_link,
    failed,
    missing,
    no_pick,
    passed,
    unavailable,
    unknown,
)
from auditor.derive import Clock, first_pick, staging_deployment
from auditor.evidence import PromotionEvidence, Unavailable

RULE_ID = "SH08"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if first_pick(ev) is None:
        return no_pick(ev)
    if isinstance(ev.deployments, Unavailable):
        return unavailable(ev.deployments)
    env = ev.service.policy.staging_environment
    d = staging_deployment(ev)
    if d is None:
        return missing(ev, clock, f"no deployment to {env} followed the pick")
    if d.status == "success":
        return passed(f"deployment {d.iid} to {env} succeeded ({d.sha[:8]})", deployment_link(d))
    if d.status in ("failed", "canceled", "skipped", "blocked"):
        return failed(f"deployment {d.iid} to {env} ended {d.status}", deployment_link(d))
    return unknown(f"deployment {d.iid} to {env} is {d.status}", deployment_link(d))
