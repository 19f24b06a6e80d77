"""SH05 orchestration-pipeline: created after the hotfix reached release."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    at,
    missing,
    no_pick,
    passed,
    pipeline_link,
    unavailable,
)
from auditor.derive import Clock, first_pick, runs_after_pick
from auditor.evidence import PromotionEvidence, Unavailable

RULE_ID = "SH05"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    pick = first_pick(ev)
    if pick is None:
        return no_pick(ev)
    if isinstance(ev.orchestration_runs, Unavailable):
        return unavailable(ev.orchestration_runs)
    runs = runs_after_pick(ev)
    played = [r for r in runs if any(j.played for j in r.release_jobs)]
    with_job = [r for r in runs if r.release_jobs]
    chosen = (played or with_job or runs)[:1]
    if chosen:
        p = chosen[0].pipeline
        return passed(
            f"orchestration pipeline #{p.id} created at {at(p.created_at)}, after the hotfix "
            f"reached release at {at(pick.reached_release_at)}",
            pipeline_link(p),
        )
    return missing(
        ev, clock, "no orchestration pipeline was created after the hotfix reached release"
    )
