"""A hotfix whose deployment is the first ever to a new staging environment (`staging-eu`),
released together with a second hotfix picked after it. With no earlier deployment to
compare with, nothing but GitLab's merge base says that the deployed commit (the second
pick) holds the first pick: the one world where `auditor check` must ask for it. What else
rode along in that first deployment cannot be established either (SH04 unknown), so the
verdict is `incomplete`, never `compliant`.
"""

from datetime import timedelta as td

from auditor.simulator.flows import (
    DEFAULT_SERVICES,
    T0,
    expected,
    hotfix,
    release_flow,
    standard_org,
    validate,
)

TARGETS = ["evenergi/vemo-core!1"]
EXPECTED = {"evenergi/vemo-core!1": {"vemo-core": expected("incomplete", SH04="unknown")}}
SERVICES = {name: {"project": path} for name, path in DEFAULT_SERVICES.items()}
SERVICES["vemo-core"]["staging_environment"] = "staging-eu"


def build():
    org = standard_org()
    org.environments["vemo-core"] = "staging-eu"
    project = org.projects["vemo-core"]
    first = hotfix(org, "vemo-core", "Fix charger session timeout", T0)
    second = hotfix(org, "vemo-core", "Guard meter reading overflow", T0 + td(minutes=5))
    project.cherry_pick(first, org.rm, T0 + td(minutes=30))
    project.cherry_pick(second, org.rm, T0 + td(minutes=32))
    flow = release_flow(org, "vemo-core", T0 + td(minutes=40))
    validate(org, first, "vemo-core", flow.finished_at + td(minutes=10))
    validate(org, second, "vemo-core", flow.finished_at + td(minutes=12))
    return org.world
