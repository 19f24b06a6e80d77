"""SH07 no-cut-off. Runbook, Procedure 6 and Quick Guide: "Do not run `cut-off`. That job
rebuilds `release` from the default branch"; Evidence 3: "the correct service release job
was run, not `cut-off`".

For every attempt: no `cut-off` job (matched like the release job, ordinal prefix allowed)
was played in a pipeline that released the attempt, nor in any orchestration pipeline
between the attempt's pick and the end of its validation (its label, its validation note,
its revert, or now).
"""

from __future__ import annotations

from auditor.checks._outcome import Outcome, at, failed, job_link, lifecycle_of, passed
from auditor.derive import Clock
from auditor.evidence import Job, PromotionEvidence

RULE_ID = "SH07"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.orchestration_runs)
    if isinstance(life, Outcome):
        return life
    runs = ev.orchestration_runs if isinstance(ev.orchestration_runs, tuple) else ()
    played: list[Job] = []
    for attempt in life.attempts:
        lo, hi = attempt.started_at, attempt.closes(clock.now)
        releasing = {
            r.pipeline.id
            for r in attempt.runs
            if lo <= r.pipeline.created_at <= hi and any(j.played for j in r.release_jobs)
        }
        for run in runs:
            for job in run.cut_off_jobs:
                when = job.started_at or job.created_at
                in_window = when is not None and lo <= when <= hi
                if job.played and (in_window or run.pipeline.id in releasing):
                    played.append(job)
    if played:
        j = min(played, key=lambda j: j.id)
        by = f" by {j.user}" if j.user else ""
        return failed(
            f"`{j.name}` was played{by} at {at(j.started_at)} in pipeline #{j.pipeline_id}",
            *(job_link(x) for x in dict.fromkeys(played)),
        )
    last = life.last
    which = f" of attempt {last.number}" if last.number > 1 else ""
    return passed(
        f"no cut-off played between the pick{which} at {at(last.started_at)} and "
        f"validation ({at(last.closes(clock.now))})"
    )
