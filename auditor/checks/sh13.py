"""SH13 failed-validation-contained: a hotfix that failed validation was not declared
validated, and was reverted or replaced."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    cannot_judge,
    commit_link,
    deployment_link,
    failed,
    missing,
    mr_link,
    not_applicable,
    passed,
    unavailable,
    unknown,
)
from auditor.derive import (
    Clock,
    contains_hotfix,
    deployments_after,
    finished,
    label_adds,
    reports_failure,
    reverts_after,
    smoke_jobs,
    smoke_outcome,
    staging_deployment,
    validation_failed,
    validation_notes,
)
from auditor.evidence import PromotionEvidence, Unavailable

RULE_ID = "SH13"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.deployments)) is not None:
        return stop
    d = staging_deployment(ev)
    if d is None:
        return not_applicable("the hotfix was not deployed to staging, so not validated")
    jobs = smoke_jobs(ev, d)
    if isinstance(jobs, Unavailable):
        return unavailable(jobs)
    outcome = validation_failed(ev, d)
    if outcome is None:
        return unknown(
            "could not tell yet whether validation failed (checks not collected or still running)"
        )
    if not outcome:
        return not_applicable("validation did not fail")
    if isinstance(ev.reverts, Unavailable):
        return unavailable(ev.reverts)
    failing = [j.finished_at for j in jobs or [] if j.finished_at and j.status != "success"]
    notes = [n.created_at for n in validation_notes(ev, finished(d)) if reports_failure(n)]
    failed_at = min([*failing, *notes], default=finished(d))
    reverts = reverts_after(ev, finished(d))
    contained_at = reverts[0].at if reverts else None
    replaced = None
    if contained_at is None:
        # "replace it with a corrected hotfix and rerun the staging deploy": a later staging
        # deployment that still carries this pick (the correction goes on top) and passed
        # its checks. A deployment without the pick is no replacement: a cut-off rebuilds
        # release from main, which still holds the failed change through the MR's merge.
        for later in deployments_after(ev, d):
            checks = smoke_jobs(ev, later)
            if (
                later.status == "success"
                and contains_hotfix(ev, later.sha) is True
                and isinstance(checks, list)
                and smoke_outcome(checks) == "passed"
            ):
                replaced, contained_at = later, finished(later)
                break
    if isinstance(ev.label_events, Unavailable):
        return unavailable(ev.label_events)
    claims = [
        t for t in label_adds(ev) if t >= failed_at and (contained_at is None or t < contained_at)
    ]
    if claims:
        return failed(
            f"validation failed at {at(failed_at)}, yet the MR was labelled "
            f"`{ev.service.policy.validated_label}` at {at(claims[0])}",
            mr_link(ev),
        )
    if reverts:
        return passed(
            f"checks failed; reverted from release by {reverts[0].commit.short_id} "
            f"at {at(reverts[0].at)}",
            commit_link(reverts[0].commit),
        )
    if replaced is not None:
        return passed(
            f"validation failed; a corrected hotfix followed, deployment {replaced.iid} passed "
            "its checks",
            deployment_link(replaced),
        )
    return missing(
        ev,
        clock,
        "validation failed and the hotfix was neither reverted nor replaced",
        deployment_link(d),
    )
