"""SH10 smoke-checks-passed: the smoke/acceptance checks after the deployment passed."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    cannot_judge,
    failed,
    job_link,
    missing,
    note_link,
    passed,
    unavailable,
    unknown,
    warned,
)
from auditor.derive import (
    Clock,
    finished,
    reports_failure,
    reverts_after,
    smoke_jobs,
    smoke_outcome,
    staging_deployment,
    validation_notes,
)
from auditor.evidence import PromotionEvidence, Unavailable

RULE_ID = "SH10"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.deployments)) is not None:
        return stop
    d = staging_deployment(ev)
    if d is None:
        return unknown("no staging deployment of the hotfix to validate")
    jobs = smoke_jobs(ev, d)
    if isinstance(jobs, Unavailable):
        return unavailable(jobs)
    if jobs is None:
        return unknown(f"the jobs of pipeline #{d.pipeline_id} were not collected")
    outcome = smoke_outcome(jobs)
    links = [job_link(j) for j in jobs]
    names = ", ".join(f"{j.name} ({j.status})" for j in jobs)
    if outcome == "passed":
        return passed(f"checks passed after deployment {d.iid}: {names}", *links)
    if outcome == "pending":
        return unknown(f"checks still running: {names}", *links)
    if outcome == "failed":
        if reverts_after(ev, finished(d)):
            return warned(f"checks failed ({names}); the hotfix was then reverted", *links)
        return failed(f"checks failed after deployment {d.iid}: {names}", *links)
    notes = validation_notes(ev, finished(d))
    failures = [n for n in notes if reports_failure(n)]
    if failures:
        return failed(
            "no smoke or acceptance job ran, and a note reports the validation failed",
            note_link(failures[0]),
        )
    if notes:
        return warned(
            "no smoke or acceptance job ran; a note records manual validation",
            note_link(notes[0]),
        )
    return missing(ev, clock, f"no smoke or acceptance job ran after deployment {d.iid}")
