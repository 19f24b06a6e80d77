"""SH07 no-cut-off: cut-off not played in the release pipeline, nor between pick and
validation."""

from __future__ import annotations

from auditor.checks._outcome import Outcome, at, failed, job_link, no_pick, passed, unavailable
from auditor.derive import Clock, first_pick, staging_deployment, validation_end
from auditor.evidence import PromotionEvidence, Unavailable

RULE_ID = "SH07"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    pick = first_pick(ev)
    if pick is None:
        return no_pick(ev)
    if isinstance(ev.orchestration_runs, Unavailable):
        return unavailable(ev.orchestration_runs)
    d = staging_deployment(ev)
    until = (validation_end(ev, d) if d else None) or clock.now
    release_pipelines = {
        r.pipeline.id
        for r in ev.orchestration_runs
        if any(j.played for j in r.release_jobs)
        and pick.reached_release_at <= r.pipeline.created_at <= until
    }
    played = []
    for run in ev.orchestration_runs:
        for job in run.cut_off_jobs:
            if not job.played:
                continue
            when = job.started_at or job.created_at
            in_window = when is not None and pick.reached_release_at <= when <= until
            if in_window or run.pipeline.id in release_pipelines:
                played.append(job)
    if played:
        j = played[0]
        by = f" by {j.user}" if j.user else ""
        return failed(
            f"`{j.name}` was played{by} at {at(j.started_at)} in pipeline #{j.pipeline_id}",
            *(job_link(x) for x in played),
        )
    return passed(
        f"no cut-off played between the pick at {at(pick.reached_release_at)} and "
        f"validation ({at(until)})"
    )
