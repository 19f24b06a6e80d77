"""Two hotfixes picked onto release and released together by the book, and a third one
released after them before the first was validated. Auditing the first (compliant) reads
every endpoint family `auditor check` uses but a commit's diff and the merge base: the
other pick in its deployment is traced to its MR (a commit's MRs), the later deployment's
compare shows it extends the first (so it still holds the pick), and lists span several
pages when the page size is small.
"""

from datetime import timedelta as td

from auditor.simulator.flows import T0, expected, hotfix, release_flow, standard_org, validate

TARGETS = ["evenergi/vemo-core!1"]
EXPECTED = {"evenergi/vemo-core!1": {"vemo-core": expected("compliant")}}


def build():
    org = standard_org()
    project = org.projects["vemo-core"]
    first = hotfix(org, "vemo-core", "Fix charger session timeout", T0)
    first.label("hotfix", org.dev, T0 - td(minutes=50))
    second = hotfix(org, "vemo-core", "Guard meter reading overflow", T0 + td(minutes=5))
    project.cherry_pick(first, org.rm, T0 + td(minutes=30))
    project.cherry_pick(second, org.rm, T0 + td(minutes=32))
    together = release_flow(org, "vemo-core", T0 + td(minutes=40))
    third = hotfix(org, "vemo-core", "Retry tariff sync", T0 + td(minutes=60))
    project.cherry_pick(third, org.rm, T0 + td(minutes=70))
    later = release_flow(org, "vemo-core", T0 + td(minutes=80))
    assert later.finished_at > together.finished_at
    validate(org, first, "vemo-core", later.finished_at + td(minutes=10))
    validate(org, second, "vemo-core", later.finished_at + td(minutes=12))
    validate(org, third, "vemo-core", later.finished_at + td(minutes=14))
    return org.world
