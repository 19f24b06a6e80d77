"""SH13 failed-validation-contained. Runbook, Decision Points: "Staging validation fails: do
not proceed toward production. Either revert the hotfix from `release` or replace it with a
corrected hotfix and rerun the staging deploy."

Only when validation failed, in any attempt (a failed check, or a note reporting failure):
the MR was not labelled validated while the failed change was live, the change reached none
of the environments after staging (`later_environments`, default `production*`) before it
was contained, and it was contained: reverted from `release`, or replaced by a later
staging deployment whose checks passed.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    commit_link,
    deployment_link,
    failed,
    lifecycle_of,
    missing,
    mr_link,
    not_applicable,
    passed,
    unavailable,
    unknown,
    warned,
)
from auditor.derive import Checks, Clock, LabelHistory
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.lifecycle import carries

RULE_ID = "SH13"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.deployments)
    if isinstance(life, Outcome):
        return life
    failures = [(a, f) for a in life.attempts for f in a.failures]
    last = life.last
    if not failures:
        if last.stopped:
            return not_applicable("the promotion was stopped before deployment")
        if last.deployment is None and last.undetermined:
            return unknown(
                "could not establish whether staging ran the hotfix, so whether its "
                "validation failed",
                deployment_link(last.undetermined[0]),
            )
        if last.deployment is None or last.deployment.status != "success":
            return not_applicable("the hotfix was not deployed to staging, so not validated")
        if isinstance(last.checks, Unavailable):
            return unavailable(last.checks)
        if not isinstance(last.checks, Checks) or last.checks.outcome == "pending":
            return unknown(
                "could not tell yet whether validation failed (checks not collected or "
                "still running)"
            )
        return not_applicable("validation did not fail")
    label = life.label
    if isinstance(label, Unavailable):
        return unavailable(label)
    assert isinstance(label, LabelHistory)
    name = ev.service.policy.validated_label
    for attempt, f in failures:
        until = f.contained_at
        claims = list(label.adds(f.at, until))
        if label.present_at(f.at):
            claims.insert(0, f.at)
        if claims:
            return failed(
                f"validation failed at {at(f.at)} (deployment {f.deployment.iid}), yet the MR "
                f"carried `{name}` at {at(claims[0])} while the failed hotfix was live",
                mr_link(ev),
                deployment_link(f.deployment),
            )
        later = ev.later_deployments
        if later is None:
            return unknown("validation failed; the environments after staging were not read")
        if isinstance(later, Unavailable):
            return unavailable(later)
        for d in later:
            if d.created_at < f.at or (until is not None and d.created_at >= until):
                continue
            if d.status in ("canceled", "skipped"):
                continue
            reached = carries(ev, attempt.picks, attempt.revert, d)
            if reached is None:
                return unknown(
                    f"validation failed; could not establish whether deployment {d.iid} to "
                    f"{d.environment} carried the failed hotfix",
                    deployment_link(d),
                )
            if reached:
                return failed(
                    f"validation failed at {at(f.at)}, yet the hotfix was deployed to "
                    f"{d.environment} (deployment {d.iid}, {d.status}) at {at(d.created_at)}",
                    deployment_link(f.deployment),
                    deployment_link(d),
                )
        if until is None:
            if isinstance(ev.reverts, Unavailable):
                return unavailable(ev.reverts)
            return missing(
                ev,
                clock,
                f"validation failed at {at(f.at)} and the hotfix was neither reverted nor replaced",
                deployment_link(f.deployment),
            )
    parts = []
    links = []
    for attempt, f in failures:
        what = "checks failed" if f.jobs else "a note reported failure"
        if f.reverted_by is not None:
            parts.append(f"{what} at {at(f.at)}; reverted by {f.reverted_by.commit.short_id}")
            links.append(commit_link(f.reverted_by.commit))
        elif f.replaced_by is not None:
            again = " (the same commit, redeployed)" if f.rerun_only else ""
            parts.append(
                f"{what} at {at(f.at)}; replaced by deployment {f.replaced_by.iid}{again}, "
                "which passed its checks"
            )
            links.append(deployment_link(f.replaced_by))
        if len(life.attempts) > 1:
            parts[-1] = f"attempt {attempt.number}: " + parts[-1]
    summary = "; ".join(parts) + ", and it went no further"
    if any(f.rerun_only for _, f in failures):
        # the runbook asks for a revert or a corrected hotfix; a green rerun of the same
        # build is a flaky check at best, which a reviewer should look at
        return warned(summary + "; no corrected hotfix followed the failure", *links)
    return passed(summary, *links)
