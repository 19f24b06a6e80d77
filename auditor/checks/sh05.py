"""SH05 orchestration-pipeline. Runbook, Evidence 2: "the orchestration pipeline was created
for the intended promotion"; Procedure 4: "Create a new orchestration pipeline".

An orchestration pipeline created after the last attempt's change reached `release`: the
one whose release job made the judged deployment, else one where the release job was
played, else any.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    lifecycle_of,
    missing,
    passed,
    pipeline_link,
    stopped,
)
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence

RULE_ID = "SH05"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.orchestration_runs)
    if isinstance(life, Outcome):
        return life
    last = life.last
    if last.stopped:
        return stopped("no orchestration pipeline was due")
    runs = [r for r in last.runs if r.pipeline.created_at >= last.reached_release_at]
    job = last.release_job_for(last.deployment) if last.deployment else None
    made_it = [r for r in runs if job is not None and r.pipeline.id == job.pipeline_id]
    played = [r for r in runs if any(j.played for j in r.release_jobs)]
    with_job = [r for r in runs if r.release_jobs]
    chosen = (made_it or played or with_job or runs)[:1]
    if chosen:
        p = chosen[0].pipeline
        return passed(
            f"orchestration pipeline #{p.id} created at {at(p.created_at)}, after the hotfix "
            f"reached release at {at(last.reached_release_at)}",
            pipeline_link(p),
        )
    return missing(
        ev, clock, "no orchestration pipeline was created after the hotfix reached release"
    )
