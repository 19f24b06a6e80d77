"""SH02 mr-approved. Runbook, Prerequisites: "the hotfix merge request must already be merged
and approved for staging".

Someone is in `approved_by`, no approval is left, and an approval came before the merge.
"""

from __future__ import annotations

from auditor.checks._outcome import Outcome, at, failed, mr_link, passed, unavailable, unknown
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence, Unavailable

RULE_ID = "SH02"


def check(ev: PromotionEvidence, clock: Clock) -> Outcome:
    approvals = ev.approvals
    if isinstance(approvals, Unavailable):
        return unavailable(approvals)
    if not approvals.approved_by:
        return failed("nobody approved the MR", mr_link(ev))
    if approvals.approvals_left > 0:
        return failed(f"{approvals.approvals_left} required approval(s) still missing", mr_link(ev))
    names = ", ".join(a.username for a in approvals.approved_by)
    merged_at = ev.mr.merged_at
    if merged_at is None:
        return passed(f"approved by {names} (the MR is not merged)", mr_link(ev))
    times = [a.approved_at for a in approvals.approved_by]
    if any(t is not None and t <= merged_at for t in times):
        return passed(f"approved by {names} before it merged at {at(merged_at)}", mr_link(ev))
    if any(t is None for t in times):
        return unknown(f"approved by {names}, but GitLab did not say when", mr_link(ev))
    return failed(f"approved by {names} only after it merged at {at(merged_at)}", mr_link(ev))
