"""A hotfix promoted by the book on Wednesday morning, then a busy week after it: people
create orchestration pipelines and leave them, three more hotfixes of the same service are
released and validated, and Monday's cut-off rebuilds `release`. None of that concerns the
first hotfix's promotion, so auditing it must cost what auditing it on Wednesday did.
"""

from datetime import timedelta as td

from auditor.simulator.flows import (
    T0,
    cut_off,
    expected,
    hotfix,
    release_flow,
    standard_org,
    validate,
)
from auditor.simulator.synthetic import idle_pipeline

TARGETS = ["evenergi/vemo-core!1"]
EXPECTED = {"evenergi/vemo-core!1": {"vemo-core": expected("compliant")}}
LATER_HOTFIXES = 3
IDLE_PIPELINES = 40


def build():
    org = standard_org(now=T0 + td(days=8))
    project = org.projects["vemo-core"]
    mr = hotfix(org, "vemo-core", "Fix charger session timeout", T0)
    project.cherry_pick(mr, org.rm, T0 + td(minutes=30))
    flow = release_flow(org, "vemo-core", T0 + td(minutes=40))
    validate(org, mr, "vemo-core", flow.finished_at + td(minutes=10))
    for n in range(IDLE_PIPELINES):
        idle_pipeline(org, T0 + td(hours=2, minutes=90 * n), org.dev)
    for k in range(LATER_HOTFIXES):
        at = T0 + td(days=1 + k)
        later = hotfix(org, "vemo-core", f"Later fix {k + 1}", at)
        project.cherry_pick(later, org.rm, at + td(minutes=30))
        done = release_flow(org, "vemo-core", at + td(minutes=40))
        validate(org, later, "vemo-core", done.finished_at + td(minutes=10))
    cut_off(org, T0 + td(days=5))
    return org.world
