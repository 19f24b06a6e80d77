"""SH11 validation-recorded: a human note after the deployment says what was validated,
and for which service."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    cannot_judge,
    missing,
    note_link,
    passed,
    unknown,
)
from auditor.derive import (
    Clock,
    finished,
    mentions_service,
    staging_deployment,
    validation_notes,
)
from auditor.evidence import PromotionEvidence

RULE_ID = "SH11"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.notes, ev.deployments)) is not None:
        return stop
    d = staging_deployment(ev)
    if d is None:
        return unknown("no staging deployment of the hotfix for a note to follow")
    notes = validation_notes(ev, finished(d))
    named = [n for n in notes if mentions_service(n.body, ev.service.name)]
    if named:
        n = named[0]
        return passed(
            f"note by {n.author} records the validation of {ev.service.name}", note_link(n)
        )
    if notes:
        return missing(
            ev,
            clock,
            f"validation notes do not say which service was validated ({ev.service.name})",
            *(note_link(n) for n in notes),
        )
    return missing(ev, clock, "no note after the deployment records what was validated")
