"""SH12 label-after-validation: governed work carries the label, added after the
deployment and passing checks, and still there."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    cannot_judge,
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
    finished,
    label_adds,
    label_present,
    reverts_after,
    smoke_jobs,
    smoke_outcome,
    staging_deployment,
    validation_failed,
    validation_notes,
)
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.findings import EvidenceLink

RULE_ID = "SH12"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    label = ev.service.policy.validated_label
    if not ev.service.policy.governed:
        return not_applicable(f"{ev.service.name} is not governed work; no label required")
    if (stop := cannot_judge(ev, ev.label_events)) is not None:
        return stop
    adds = label_adds(ev)
    if not adds:
        d = staging_deployment(ev) if not isinstance(ev.deployments, Unavailable) else None
        if d and validation_failed(ev, d):
            if isinstance(ev.reverts, Unavailable):
                return unavailable(ev.reverts)
            if reverts_after(ev, finished(d)):
                return not_applicable("validation failed and the hotfix was reverted: no label due")
        return missing(ev, clock, f"the MR never got the `{label}` label", mr_link(ev))
    if not label_present(ev):
        return failed(f"`{label}` was added and later removed", mr_link(ev))
    if isinstance(ev.deployments, Unavailable):
        return unavailable(ev.deployments)
    d = staging_deployment(ev)
    if d is None:
        return failed(
            f"`{label}` was added but no staging deployment of the hotfix exists", mr_link(ev)
        )
    added = adds[-1]
    done = finished(d)
    if d.status != "success" or added < done:
        return failed(
            f"`{label}` added at {at(added)}, before deployment {d.iid} finished "
            f"successfully ({d.status} at {at(done)})",
            mr_link(ev),
            deployment_link(d),
        )
    jobs = smoke_jobs(ev, d)
    if jobs is None or isinstance(jobs, Unavailable):
        return unknown(f"`{label}` added at {at(added)}; the checks could not be read", mr_link(ev))
    outcome = smoke_outcome(jobs)
    if outcome == "failed":
        return failed(f"`{label}` added at {at(added)} although the checks failed", mr_link(ev))
    if outcome == "pending" or any(j.finished_at and j.finished_at > added for j in jobs):
        return failed(f"`{label}` added at {at(added)} before the checks finished", mr_link(ev))
    if outcome == "none" and not [n for n in validation_notes(ev, done) if n.created_at <= added]:
        return failed(
            f"`{label}` added at {at(added)} with no checks or validation recorded", mr_link(ev)
        )
    return passed(
        f"`{label}` added at {at(added)}, after the deployment and checks",
        EvidenceLink("label_event", label, ev.mr.web_url, added),
        deployment_link(d),
    )
