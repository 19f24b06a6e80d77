"""SH03 hotfix-on-release: a release commit carries the MR's change, and how we know."""

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

RULE_ID = "SH03"

_HOW = {
    "trailer": "cherry-pick trailer",
    "system_note": "GitLab's cherry-pick system note",
    "cherry_pick_mr": "cherry-pick merge request",
    "same_patch": "same patch, no trailer",
}


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    if isinstance(ev.picks, Unavailable):
        return unavailable(ev.picks)
    branch = ev.service.policy.release_branch
    if ev.picks:
        parts = []
        for p in sorted(ev.picks, key=lambda p: p.reached_release_at):
            via = f" via !{p.via_mr.iid}" if p.via_mr else ""
            parts.append(f"{p.commit.short_id} ({_HOW[p.method]}{via})")
        return passed(f"on {branch} as " + ", ".join(parts), *(pick_link(p) for p in ev.picks))
    if ev.suspected_picks:
        s = ev.suspected_picks[0]
        return unknown(
            f"{s.commit.short_id} on {branch} looks like this hotfix but is not proven to "
            f"carry it: {s.reason}",
            *(commit_link(x.commit) for x in ev.suspected_picks),
        )
    return failed(f"no commit on {branch} carries this MR's change")
