"""SH01 mr-merged: merged into the default branch before the hotfix reached release."""

from __future__ import annotations

from auditor.checks._outcome import Outcome, at, failed, mr_link, passed, pick_link, unavailable
from auditor.derive import Clock, first_pick
from auditor.evidence import PromotionEvidence, Unavailable

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
    pick = first_pick(ev)
    if pick is not None and pick.reached_release_at < mr.merged_at:
        return failed(
            f"the hotfix reached release at {at(pick.reached_release_at)}, before the MR "
            f"merged at {at(mr.merged_at)}",
            mr_link(ev),
            pick_link(pick),
        )
    return passed(f"merged into {mr.target_branch} at {at(mr.merged_at)}", mr_link(ev))
