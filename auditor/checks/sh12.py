"""SH12 label-after-validation. Runbook, Evidence 8: "for governed delivery work, the merge
request carries the `Validated in Staging` label after validation passes"; Quick Guide:
"add the `Validated in Staging` label after the checks pass".

Governed services only. Judged on the last attempt: the label add that stuck during it (no
later remove while the attempt was live) came after the judged deployment finished
successfully and after its checks passed (or, with no automated check, after a note
recording the validation), and the last note about this service before it did not say the
service was still to be checked or had failed (one label covers every service of a
multi-service MR). A label left on from an earlier attempt does not validate a new one; a
label on a promotion stopped before deployment claims what never happened.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    deployment_link,
    failed,
    lifecycle_of,
    missing,
    mr_link,
    not_applicable,
    note_link,
    passed,
    unknown,
)
from auditor.derive import Checks, Clock, LabelHistory, finished
from auditor.evidence import PromotionEvidence
from auditor.findings import EvidenceLink
from auditor.notes import Claim

RULE_ID = "SH12"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    label = ev.service.policy.validated_label
    if not ev.service.policy.governed:
        return not_applicable(f"{ev.service.name} is not governed work; no label required")
    life = lifecycle_of(ev, ev.label_events, ev.deployments)
    if isinstance(life, Outcome):
        return life
    history = life.label
    assert isinstance(history, LabelHistory)
    last = life.last
    start, end = last.started_at, last.window_end
    if last.stopped:
        if history.present_at(None):
            return failed(
                f"`{label}` is on the MR, but the promotion was stopped before deployment",
                mr_link(ev),
            )
        return not_applicable("the promotion was stopped before deployment; no label due")
    added = history.stuck_add(start, end)
    if added is None:
        if last.revert is not None and last.failures and not history.adds(start, end):
            return not_applicable("validation failed and the hotfix was reverted: no label due")
        adds = history.adds(start, end)
        if adds:
            return failed(f"`{label}` was added at {at(adds[-1])} and later removed", mr_link(ev))
        if history.present_at(None) and last.number > 1:
            return missing(
                ev,
                clock,
                f"`{label}` is left on from an earlier attempt; it was not added again after "
                f"attempt {last.number} was validated",
                mr_link(ev),
            )
        return missing(ev, clock, f"the MR never got the `{label}` label", mr_link(ev))
    d = last.deployment
    if d is None:
        return failed(
            f"`{label}` was added but no staging deployment of the hotfix exists", mr_link(ev)
        )
    done = finished(d)
    if d.status != "success" or added < done:
        return failed(
            f"`{label}` added at {at(added)}, before deployment {d.iid} finished "
            f"successfully ({d.status} at {at(done)})",
            mr_link(ev),
            deployment_link(d),
        )
    checks = last.checks
    if not isinstance(checks, Checks):
        return unknown(f"`{label}` added at {at(added)}; the checks could not be read", mr_link(ev))
    if checks.outcome == "failed":
        return failed(f"`{label}` added at {at(added)} although the checks failed", mr_link(ev))
    if checks.outcome == "pending" or any(
        j.finished_at and j.finished_at > added for j in checks.jobs
    ):
        return failed(f"`{label}` added at {at(added)} before the checks finished", mr_link(ev))
    if checks.outcome == "none" and not [
        n
        for n in life.notes
        if n.reading.claim == Claim.VALIDATED and done <= n.note.created_at <= added
    ]:
        return failed(
            f"`{label}` added at {at(added)} with no checks or validation recorded", mr_link(ev)
        )
    # the record at the time of the label: the last note about this service after the
    # checks must not say it was still to be checked, or that it failed
    settled = checks.finished_at if checks.jobs and checks.finished_at else done
    said = [
        n
        for n in life.notes
        if n.reading.names_service
        and settled <= n.note.created_at <= added
        and n.reading.claim != Claim.UNRELATED
    ]
    if said and said[-1].reading.claim in (Claim.PENDING, Claim.FAILED):
        state = "not yet validated" if said[-1].reading.claim == Claim.PENDING else "failed"
        return failed(
            f"`{label}` added at {at(added)} while the last note about {ev.service.name} said it "
            f"was {state}: “{said[-1].reading.quote}”",
            mr_link(ev),
            note_link(said[-1].note),
        )
    if history.unsure:
        return unknown(
            f"`{label}` added at {at(added)}, but some label events name a label deleted since, "
            "which may have removed it",
            mr_link(ev),
        )
    return passed(
        f"`{label}` added at {at(added)}, after the deployment and checks",
        EvidenceLink("label_event", label, ev.mr.web_url, added),
        deployment_link(d),
    )
