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
    chosen = last.orchestration_run
    if chosen is not None:
        p = chosen.pipeline
        return passed(
            f"orchestration pipeline #{p.id} created at {at(p.created_at)}, after the hotfix "
            f"reached release at {at(last.reached_release_at)}",
            pipeline_link(p),
        )
    return missing(
        ev, clock, "no orchestration pipeline was created after the hotfix reached release"
    )
