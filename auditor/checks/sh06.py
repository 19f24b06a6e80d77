"""SH06 release-job-ran: `release <service>` was played and succeeded."""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    cannot_judge,
    failed,
    job_link,
    missing,
    passed,
    pipeline_link,
    unknown,
)
from auditor.derive import IN_PROGRESS, Clock, played_release_jobs, runs_after_pick
from auditor.evidence import PromotionEvidence

RULE_ID = "SH06"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if (stop := cannot_judge(ev, ev.orchestration_runs)) is not None:
        return stop
    job_name = ev.service.release_job_name
    runs = runs_after_pick(ev)
    if not runs:
        return missing(ev, clock, f"no orchestration pipeline ran `{job_name}` after the pick")
    if not any(r.release_jobs for r in runs):
        return failed(
            f"no `{job_name}` job in the orchestration pipelines after the pick",
            *(pipeline_link(r.pipeline) for r in runs[:3]),
        )
    played = played_release_jobs(ev)
    if not played:
        never = [j for r in runs for j in r.release_jobs]
        return missing(
            ev,
            clock,
            f"`{job_name}` was never played (status {never[-1].status})",
            *(job_link(j) for j in never[:3]),
        )
    ok = [j for j in played if j.status == "success"]
    if ok:
        return passed(f"`{ok[0].name}` played and succeeded (job {ok[0].id})", job_link(ok[0]))
    if any(j.status in IN_PROGRESS for j in played):
        return unknown(f"`{job_name}` is still running", *(job_link(j) for j in played))
    return failed(
        f"`{job_name}` was played but ended {played[-1].status}", *(job_link(j) for j in played)
    )
