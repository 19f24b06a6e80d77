"""SH08 staging-deploy-succeeded: the release flow's staging deployment succeeded."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    cannot_judge,
    deployment_link,
    failed,
    missing,
    passed,
    unknown,
)
from auditor.derive import Clock, staging_deployment
from auditor.evidence import PromotionEvidence

RULE_ID = "SH08"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.deployments)) is not None:
        return stop
    env = ev.service.policy.staging_environment
    d = staging_deployment(ev)
    if d is None:
        return missing(ev, clock, f"no deployment to {env} followed the pick")
    if d.status == "success":
        return passed(f"deployment {d.iid} to {env} succeeded ({d.sha[:8]})", deployment_link(d))
    if d.status in ("failed", "canceled", "skipped", "blocked"):
        return failed(f"deployment {d.iid} to {env} ended {d.status}", deployment_link(d))
    return unknown(f"deployment {d.iid} to {env} is {d.status}", deployment_link(d))
