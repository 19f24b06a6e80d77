"""SH10 smoke-checks-passed. Runbook, Evidence 6: "the hotfix-specific smoke tests or
acceptance checks passed"; Procedure 8: "Validate the fix in staging: smoke tests,
acceptance checks or focused manual checks".

The latest tries of the jobs matching `smoke_jobs` that ran after the judged deployment, in
its pipeline and in the child or downstream pipelines it triggered, all succeeded. A check
that failed with `allow_failure` is a failed check; a manual check nobody ran is not a
passed one. Failed checks on a hotfix that was then reverted are a `warn` (the runbook's
"revert the hotfix" path, judged by SH13); no automated check but a note recording a
successful manual validation is a `warn`.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    failed,
    job_link,
    lifecycle_of,
    missing,
    note_link,
    passed,
    stopped,
    unavailable,
    unknown,
    warned,
)
from auditor.derive import Clock, finished
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.notes import Claim

RULE_ID = "SH10"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.deployments)
    if isinstance(life, Outcome):
        return life
    last = life.last
    if last.stopped:
        return stopped("nothing was there to check")
    d = last.deployment
    if d is None:
        return unknown("no staging deployment of the hotfix to validate")
    checks = last.checks
    if isinstance(checks, Unavailable):
        return unavailable(checks)
    if checks is None:
        return unknown(f"the jobs of pipeline #{d.pipeline_id} were not collected")
    links = [job_link(j) for j in (*checks.jobs, *checks.unplayed)]
    names = checks.describe()
    if checks.outcome == "passed":
        return passed(f"checks passed after deployment {d.iid}: {names}", *links)
    if checks.outcome == "pending":
        return unknown(f"checks still running: {names}", *links)
    if checks.outcome == "failed":
        if last.revert is not None and last.revert.at >= finished(d):
            return warned(f"checks failed ({names}); the hotfix was then reverted", *links)
        return failed(f"checks failed after deployment {d.iid}: {names}", *links)
    if isinstance(ev.notes, Unavailable):
        return unavailable(ev.notes)  # no automated check: a note may record manual checks
    end = last.window_end
    notes = [
        n
        for n in life.notes
        if n.note.created_at >= finished(d) and (end is None or n.note.created_at < end)
    ]
    failures = [n for n in notes if n.reading.claim == Claim.FAILED]
    if failures:
        return failed(
            "no smoke or acceptance job ran, and a note reports the validation failed: "
            f"“{failures[0].reading.quote}”",
            note_link(failures[0].note),
        )
    manual = [n for n in notes if n.reading.claim == Claim.VALIDATED]
    if manual:
        return warned(
            "no smoke or acceptance job ran; a note records manual validation",
            note_link(manual[0].note),
        )
    never = f" ({names})" if checks.unplayed else ""
    return missing(
        ev, clock, f"no smoke or acceptance job ran after deployment {d.iid}{never}", *links
    )
