"""Attempt 1 (`git cherry-pick -x`) validated, then rolled back and revalidated; the next day
the MR is picked again with GitLab's button (only the system note records it), never
released, and Monday's cut-off rebuilds `release` without it. Only the note's commit lookup
shows attempt 2: when that lookup fails, the audit must not judge attempt 1 alone."""

from datetime import timedelta as td

from auditor.simulator.flows import (
    MONDAY,
    T0,
    cut_off,
    hotfix,
    release_flow,
    standard_org,
    validate,
)

TARGETS = ["evenergi/vemo-core!1"]


def build():
    org = standard_org()
    project = org.projects["vemo-core"]
    mr = hotfix(org, "vemo-core", "Fix charger session timeout", T0)
    pick = project.cherry_pick(mr, org.rm, T0 + td(minutes=30), style="cli_x")
    flow = release_flow(org, "vemo-core", T0 + td(minutes=40))
    validate(org, mr, "vemo-core", flow.finished_at + td(minutes=10))
    project.revert(pick, org.rm, T0 + td(hours=6))
    release_flow(org, "vemo-core", T0 + td(hours=6, minutes=10))
    project.cherry_pick(mr, org.rm, T0 + td(days=1), style="ui")
    cut_off(org, MONDAY + td(days=7))
    return org.world
