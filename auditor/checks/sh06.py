"""SH06 release-job-ran. Runbook, Evidence 3: "the correct service release job was run";
Procedure 5: "Run the service release job: the manual job `release <service name>`".

After the last attempt's change reached `release`, the service's release job was played (a
never-played manual job keeps status `manual`) and the try whose downstream pipeline made
the judged deployment succeeded; a failed first try followed by a successful rerun is judged
on the rerun, and a failed retry after validation does not undo the try that deployed.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    failed,
    job_link,
    lifecycle_of,
    missing,
    passed,
    pipeline_link,
    stopped,
    unknown,
)
from auditor.derive import IN_PROGRESS, Clock, latest_attempts
from auditor.evidence import Job, PromotionEvidence

RULE_ID = "SH06"


def _judge(job: Job) -> Outcome:
    if job.status == "success":
        return passed(f"`{job.name}` played and succeeded (job {job.id})", job_link(job))
    if job.status in IN_PROGRESS:
        return unknown(f"`{job.name}` is still {job.status} (job {job.id})", job_link(job))
    return failed(f"`{job.name}` was played but ended {job.status} (job {job.id})", job_link(job))


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    life = lifecycle_of(ev, ev.orchestration_runs)
    if isinstance(life, Outcome):
        return life
    last = life.last
    if last.stopped:
        return stopped("no release job was due")
    job_name = ev.service.release_job_name
    reached = last.reached_release_at
    made_it = last.release_job_for(last.deployment) if last.deployment else None
    if made_it is not None and made_it is last.release_job:
        return _judge(made_it)
    # a pipeline created before the pick may still have played the job after it
    runs = [
        r
        for r in last.runs
        if r.pipeline.created_at >= reached
        or any((j.started_at or j.created_at or reached) >= reached for j in r.release_jobs)
    ]
    if not runs:
        return missing(ev, clock, f"no orchestration pipeline ran `{job_name}` after the pick")
    if not any(r.release_jobs for r in runs):
        return failed(
            f"no `{job_name}` job in the orchestration pipelines after the pick",
            *(pipeline_link(r.pipeline) for r in runs[:3]),
        )
    played = [j for j in last.release_jobs if (j.started_at or j.created_at or reached) >= reached]
    if not played:
        never = [j for r in runs for j in latest_attempts(r.release_jobs)]
        return missing(
            ev,
            clock,
            f"`{job_name}` was never played after the pick (status {never[-1].status})",
            *(job_link(j) for j in never[:3]),
        )
    judged = last.release_job
    assert judged is not None  # `played` is not empty
    return _judge(judged)
