"""SH09 staging-runs-hotfix. Runbook, Evidence 5: "the staging environment reflects the
expected commit or build for the hotfix".

The judged deployment's commit holds the last attempt's whole change (every pick is its
ancestor, the attempt's revert is not), and no successful deployment without it replaced it
before validation ended.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    deployment_link,
    failed,
    lifecycle_of,
    missing,
    passed,
    stopped,
    unknown,
)
from auditor.derive import Clock, finished
from auditor.evidence import PromotionEvidence
from auditor.lifecycle import carries

RULE_ID = "SH09"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.deployments)
    if isinstance(life, Outcome):
        return life
    last = life.last
    if last.stopped:
        return stopped("staging never ran it")
    env = ev.service.policy.staging_environment
    d = last.deployment
    if d is None:
        if last.undetermined:
            u = last.undetermined[0]
            return unknown(
                f"could not establish whether {u.sha[:8]} (deployment {u.iid}) contains the hotfix",
                deployment_link(u),
            )
        return missing(ev, clock, f"{env} never ran a commit with the hotfix")
    has = carries(ev, last.picks, last.revert, d)
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
    end = last.closes(clock.now)
    later = ev.deployments if isinstance(ev.deployments, tuple) else ()
    for x in sorted(later, key=lambda x: x.id):
        if x.id <= d.id or x.status != "success" or finished(x) > end:
            continue
        kept = carries(ev, last.picks, last.revert, x)
        if kept is None:
            return unknown(
                f"deployment {x.iid} replaced it before validation finished; could not "
                f"establish whether {x.sha[:8]} contains the hotfix",
                deployment_link(x),
            )
        if not kept:
            return failed(
                f"deployment {x.iid} replaced {env} with {x.sha[:8]} (no hotfix) at "
                f"{at(finished(x))}, before validation finished at {at(end)}",
                deployment_link(d),
                deployment_link(x),
            )
    return passed(
        f"{env} ran the hotfix from {at(finished(d))} (deployment {d.iid}, {d.sha[:8]}) until "
        f"validation ({at(end)})",
        deployment_link(d),
    )
