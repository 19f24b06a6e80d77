"""SH03 hotfix-on-release. Runbook, Evidence 1: "the merged hotfix is present on `release`";
Procedure 2-3: cherry-pick it and "verify `release` now contains the intended hotfix".

Judged on the last attempt: its picks must carry the MR's whole change (the merge commit
picked with `-m 1`, the squash commit, or every commit of the MR). A partial pick fails
naming what is missing; a release commit that looks like the hotfix but is not proven to
carry it (same title, different patch, no trailer) is unknown.
"""

from __future__ import annotations

from auditor.checks._outcome import (
    Outcome,
    commit_link,
    failed,
    passed,
    pick_link,
    unavailable,
    unknown,
)
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.lifecycle import lifecycle

RULE_ID = "SH03"

_HOW = {
    "trailer": "cherry-pick trailer",
    "system_note": "GitLab's cherry-pick system note",
    "cherry_pick_mr": "cherry-pick merge request",
    "same_patch": "same patch, no trailer",
    "reapplied": "a revert of its revert",
}


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if isinstance(ev.picks, Unavailable):
        return unavailable(ev.picks)
    branch = ev.service.policy.release_branch
    life = lifecycle(ev)
    if life is None:
        if ev.suspected_picks:
            s = ev.suspected_picks[0]
            return unknown(
                f"{s.commit.short_id} on {branch} looks like this hotfix but is not proven to "
                f"carry it: {s.reason}",
                *(commit_link(x.commit) for x in ev.suspected_picks),
            )
        return failed(f"no commit on {branch} carries this MR's change")
    last = life.last
    attempt = f" (attempt {last.number} of {last.number})" if last.number > 1 else ""
    links = [pick_link(p) for p in last.picks]
    if last.coverage.whole is False:
        missing = "; ".join(f"{c.short_id} {c.title}" for c in last.coverage.missing[:5])
        return failed(
            f"only part of the MR's change was picked onto {branch}{attempt}: "
            f"{len(last.coverage.missing)} commit(s) missing: {missing}",
            *links,
            *(commit_link(c) for c in last.coverage.missing),
        )
    if last.coverage.whole is None:
        return unknown(
            f"picked onto {branch}, but whether the whole change was picked is not "
            f"established: {last.coverage.reason}",
            *links,
        )
    parts = []
    for p in last.picks:
        via = f" via !{p.via_mr.iid}" if p.via_mr else ""
        parts.append(f"{p.commit.short_id} ({_HOW[p.method]}{via})")
    return passed(f"on {branch} as " + ", ".join(parts) + attempt, *links)
