"""SH11 validation-recorded. Runbook, Evidence 7: "the merge request, deployment note or
handover note records what was validated and for which service"; Quick Guide: "record what
was validated".

A human MR note after the judged deployment states the outcome of validating this service
(success, or a reported failure) and names it. Notes that say "not yet", "running", "will
test" never count; a note that names several services counts only for those it says were
validated; a note that cannot be read safely is `unknown`, quoted.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    lifecycle_of,
    missing,
    note_link,
    passed,
    stopped,
    unknown,
)
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence
from auditor.notes import Claim

RULE_ID = "SH11"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.notes, ev.deployments)
    if isinstance(life, Outcome):
        return life
    last = life.last
    if last.stopped:
        return stopped("there was nothing to validate")
    d = last.deployment
    if d is None:
        return unknown("no staging deployment of the hotfix for a note to follow")
    service = ev.service.name
    notes = life.notes_after(last)
    outcome = [n for n in notes if n.reading.claim in (Claim.VALIDATED, Claim.FAILED)]
    if (n := life.validation_note(last)) is not None:
        what = "the validation" if n.reading.claim == Claim.VALIDATED else "a failed validation"
        return passed(f"note by {n.note.author} records {what} of {service}", note_link(n.note))
    unclear = [n for n in notes if n.reading.claim == Claim.AMBIGUOUS]
    if unclear:
        n = unclear[0]
        return unknown(
            f"a note by {n.note.author} cannot be read as a validation of {service} or not: "
            f"“{n.reading.quote}”",
            note_link(n.note),
        )
    if outcome:
        return missing(
            ev,
            clock,
            f"validation notes do not say which service was validated ({service})",
            *(note_link(n.note) for n in outcome),
        )
    pending = [n for n in notes if n.reading.claim == Claim.PENDING]
    if pending:
        return missing(
            ev,
            clock,
            f"notes say validation is not finished: “{pending[-1].reading.quote}”",
            note_link(pending[-1].note),
        )
    return missing(ev, clock, "no note after the deployment records what was validated")
