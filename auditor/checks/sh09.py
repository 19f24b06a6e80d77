"""SH09 staging-runs-hotfix: the deployed commit contains the hotfix and stayed live
until validation finished."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    cannot_judge,
    deployment_link,
    failed,
    missing,
    passed,
    unknown,
)
from auditor.derive import (
    Clock,
    contains_hotfix,
    deployments_after,
    finished,
    staging_deployment,
    validation_end,
)
from auditor.evidence import PromotionEvidence

RULE_ID = "SH09"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.deployments)) is not None:
        return stop
    env = ev.service.policy.staging_environment
    d = staging_deployment(ev)
    if d is None:
        return missing(ev, clock, f"{env} never ran a commit with the hotfix")
    has = contains_hotfix(ev, d.sha)
    if has is None:
        return unknown(
            f"could not establish whether {d.sha[:8]} contains the hotfix", deployment_link(d)
        )
    if not has:
        return failed(
            f"deployment {d.iid} put {d.sha[:8]} on {env}, which does not contain the hotfix",
            deployment_link(d),
        )
    if d.status in ("created", "running", "blocked"):
        return unknown(
            f"deployment {d.iid} with the hotfix is still {d.status}", deployment_link(d)
        )
    if d.status != "success":
        return failed(
            f"deployment {d.iid} with the hotfix did not succeed ({d.status})", deployment_link(d)
        )
    end = validation_end(ev, d) or clock.now
    for later in deployments_after(ev, d):
        if later.status != "success" or finished(later) > end:
            continue
        kept = contains_hotfix(ev, later.sha)
        if kept is None:
            return unknown(
                f"deployment {later.iid} replaced it before validation finished; could not "
                f"establish whether {later.sha[:8]} contains the hotfix",
                deployment_link(later),
            )
        if not kept:
            return failed(
                f"deployment {later.iid} replaced {env} with {later.sha[:8]} (no hotfix) at "
                f"{at(finished(later))}, before validation finished at {at(end)}",
                deployment_link(d),
                deployment_link(later),
            )
    return passed(
        f"{env} ran {d.sha[:8]} with the hotfix from {at(finished(d))} until validation "
        f"({at(end)})",
        deployment_link(d),
    )
