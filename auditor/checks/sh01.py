"""SH01 mr-merged. Runbook, Prerequisites: "the hotfix merge request must already be merged";
Decision Points: "MR not merged, or fix still changing: stop".

The MR is merged into its project's default branch, and no pick of its change reached
`release` before it merged (a change picked before its MR was even opened fails here).
"""

from __future__ import annotations

from auditor.checks._outcome import Outcome, at, failed, mr_link, passed, pick_link, unavailable
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence, Unavailable
from auditor.lifecycle import lifecycle

RULE_ID = "SH01"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    mr = ev.mr
    if mr.state != "merged" or mr.merged_at is None:
        return failed(f"the MR is {mr.state}, not merged", mr_link(ev))
    if mr.target_branch != mr.default_branch:
        return failed(
            f"merged into {mr.target_branch}, not the default branch {mr.default_branch}",
            mr_link(ev),
        )
    if isinstance(ev.picks, Unavailable):
        return unavailable(ev.picks)
    life = lifecycle(ev)
    if life is not None and life.first_pick.reached_release_at < mr.merged_at:
        pick = life.first_pick
        opened = " (before the MR was opened)" if pick.reached_release_at < mr.created_at else ""
        return failed(
            f"the hotfix reached release at {at(pick.reached_release_at)}{opened}, before the "
            f"MR merged at {at(mr.merged_at)}",
            mr_link(ev),
            pick_link(pick),
        )
    return passed(f"merged into {mr.target_branch} at {at(mr.merged_at)}", mr_link(ev))
