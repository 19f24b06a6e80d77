"""The worlds `auditor sweep` will be tested on: they build, and what they record as
`world.expect` is true of the world.

`truth()` below re-derives, from the simulator's own objects (not through the API, not with
the auditor's code), what a sweep of the window must find: for every successful staging
deployment in the window that a release job (not a cut-off) made, each commit it added since
the previous successful deployment is a pick of a merged MR (a promotion for that service,
unless the service's `paths` exclude the MR), a revert, a merge (of a cherry-pick MR), or
drift. Each world's `expect` must say exactly that. The verdicts are held to `auditor check`
by tests/test_scenarios.py, which audits every world with EXPECTED (week, synthetic_small).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest

from auditor.lineage import picked_from, reverted, same_sha
from auditor.simulator.flows import ORCHESTRATION
from auditor.simulator.synthetic import (
    KIND_RULES,
    build_plan,
    plan_synthetic,
    synthetic_world,
)
from auditor.simulator.world import SimDeployment, SimJob, SimMR, SimProject, World
from auditor.simulator.worlds import build_world, load_module, services_of


@dataclass
class Built:
    module: ModuleType
    world: World
    services: dict[str, dict[str, Any]]

    @property
    def expect(self) -> dict[str, Any]:
        return self.world.expect  # type: ignore[attr-defined,no-any-return]


def _build(name: str) -> Built:
    module = load_module(name)
    world = build_world(module)
    return Built(module, world, services_of(module))


@pytest.fixture(scope="module")
def week() -> Built:
    return _build("week")


@pytest.fixture(scope="module")
def small() -> Built:
    return _build("synthetic_small")


@pytest.fixture(scope="module", params=["week", "synthetic_small"])
def built(request: pytest.FixtureRequest) -> Iterator[Built]:
    yield request.getfixturevalue({"week": "week", "synthetic_small": "small"}[request.param])


# -- the ground truth, from the world's objects ----------------------------------------------
@dataclass
class Truth:
    promotions: set[tuple[str, int, str]] = field(default_factory=set)
    drift: set[tuple[str, str, str]] = field(default_factory=set)
    reverts: set[tuple[str, str]] = field(default_factory=set)
    cut_offs: set[tuple[int, int]] = field(default_factory=set)
    deployed: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # what reached envs


def _window(expect: dict[str, Any]) -> tuple[datetime, datetime]:
    w = expect["window"]
    return datetime.fromisoformat(w["from"]), datetime.fromisoformat(w["to"])


def _service_of(services: dict[str, dict[str, Any]], project: str, env: str) -> str | None:
    for name, table in services.items():
        if table["project"] == project and table.get("staging_environment", "staging") == env:
            return name
    return None


def _played(job: SimJob) -> bool:
    return job.status not in ("manual", "created", "skipped")


def _release_bridge(world: World, d: SimDeployment) -> SimJob | None:
    downstream = d.deployable.pipeline
    return next((j for j in world.jobs.values() if j.downstream is downstream), None)


def _made_by_cut_off(world: World, d: SimDeployment) -> bool:
    bridge = _release_bridge(world, d)
    assert bridge is not None, f"deployment {d.id} was not made by a release job"
    return any(j.name == "cut-off" and _played(j) for j in bridge.pipeline.jobs())


def _mr_of_pick(project: SimProject, sha: str) -> SimMR | None:
    """The merged MR whose change commit `sha` carries: by trailer, else title and files."""
    commit = project.repo.show(sha)
    sources = picked_from(commit.message)
    for mr in project.mrs.values():
        if mr.state != "merged" or mr.target_branch != project.default_branch:
            continue
        own = [mr.merge_commit_sha, mr.squash_commit_sha, *mr.commit_shas]
        if any(same_sha(s, o) for s in sources for o in own if o):
            return mr
        titles = {mr.title} | {project.repo.show(c).title for c in mr.commit_shas}
        if (
            not sources
            and commit.title in titles
            and _files(project, sha) == _files(project, mr.commit_shas[-1])
        ):
            return mr  # picked on a laptop: no trailer, same title and files
    return None


def _files(project: SimProject, sha: str) -> set[str]:
    return {str(e["new_path"]) for e in project.repo.diff(None, sha)}


def _touches(project: SimProject, mr: SimMR, patterns: list[str]) -> bool:
    if not patterns:
        return True
    changed = _files(project, mr.merge_commit_sha or mr.commit_shas[-1])
    return any(fnmatch.fnmatch(p, pat) for p in changed for pat in patterns)


def truth(world: World, services: dict[str, dict[str, Any]], expect: dict[str, Any]) -> Truth:
    start, end = _window(expect)
    out = Truth()
    for project in world.projects.values():
        for env in project.environments.values():
            service = _service_of(services, project.path, env.name)
            assert service, f"{project.path} deploys to {env.name}, which no service names"
            previous: SimDeployment | None = None
            for d in sorted(project.deployments, key=lambda x: x.id):
                if d.environment is not env or d.status != "success":
                    continue
                if previous and start <= d.created_at <= end and not _made_by_cut_off(world, d):
                    added = project.repo.range(previous.sha, d.sha)
                    out.deployed.setdefault((project.path, service), set()).update(added)
                    for sha in added:
                        _classify(out, project, service, services[service], sha)
                previous = d
    orchestration = world.projects[ORCHESTRATION]
    for p in orchestration.pipelines:
        for j in p.jobs():
            if j.name == "cut-off" and _played(j) and j.started_at and start <= j.started_at <= end:
                out.cut_offs.add((p.id, j.id))
    return out


def _classify(
    out: Truth, project: SimProject, service: str, table: dict[str, Any], sha: str
) -> None:
    commit = project.repo.show(sha)
    if len(commit.parent_ids) > 1:
        return  # the merge of a cherry-pick MR: its pick is classified on its own
    if reverted(commit.message):
        out.reverts.add((project.path, sha))
        return
    mr = _mr_of_pick(project, sha)
    if mr is None:
        out.drift.add((project.path, service, sha))
    elif _touches(project, mr, table.get("paths", [])):
        out.promotions.add((project.path, mr.iid, service))


# -- expect is the truth ------------------------------------------------------------------------
def test_expect_has_the_agreed_shape(built: Built) -> None:
    expect = built.expect
    assert set(expect) >= {"window", "promotions", "drift", "cut_offs", "reverts"}
    start, end = _window(expect)
    assert start < end <= built.world.now
    for p in expect["promotions"]:
        assert set(p) == {"project", "iid", "service", "verdict"}
        assert p["verdict"] in ("compliant", "non_compliant", "incomplete", "in_progress")
    for d in expect["drift"]:
        assert set(d) == {"project", "service", "sha", "title"}
    for c in expect["cut_offs"]:
        assert set(c) == {"project", "pipeline_id", "job_id"}
        assert c["project"] == ORCHESTRATION
    for r in expect["reverts"]:
        assert set(r) == {"project", "sha", "reverts_mr"}


def test_expect_is_what_a_sweep_must_find(built: Built) -> None:
    t = truth(built.world, built.services, built.expect)
    e = built.expect
    assert {(p["project"], p["iid"], p["service"]) for p in e["promotions"]} == t.promotions
    assert len(e["promotions"]) == len(t.promotions), "a promotion is listed twice"
    assert {(d["project"], d["service"], d["sha"]) for d in e["drift"]} == t.drift
    assert {(r["project"], r["sha"]) for r in e["reverts"]} == t.reverts
    assert {(c["pipeline_id"], c["job_id"]) for c in e["cut_offs"]} == t.cut_offs


def test_drift_is_deployed_and_on_no_mr(built: Built) -> None:
    t = truth(built.world, built.services, built.expect)
    assert built.expect["drift"], "every sweep world plants drift"
    for d in built.expect["drift"]:
        project = built.world.projects[d["project"]]
        assert d["sha"] in t.deployed[(d["project"], d["service"])]
        assert project.repo.show(d["sha"]).title == d["title"]
        assert not picked_from(project.repo.show(d["sha"]).message)
        for mr in project.mrs.values():
            assert d["sha"] not in (mr.merge_commit_sha, mr.squash_commit_sha, *mr.commit_shas)
            assert mr.title != d["title"]
        assert not project.repo.is_ancestor(d["sha"], project.head(project.default_branch))


def test_promoted_mrs_are_merged_and_picked(built: Built) -> None:
    for p in built.expect["promotions"]:
        mr = built.world.projects[p["project"]].mrs[p["iid"]]
        assert mr.state == "merged" and mr.target_branch == "main", p
        assert p["service"] in built.services
        assert built.services[p["service"]]["project"] == p["project"]


def test_cut_offs_are_played_cut_off_jobs(built: Built) -> None:
    start, end = _window(built.expect)
    assert built.expect["cut_offs"]
    for c in built.expect["cut_offs"]:
        job = built.world.jobs[c["job_id"]]
        assert job.name == "cut-off" and job.status == "success"
        assert job.pipeline.id == c["pipeline_id"]
        assert job.pipeline.project.path == ORCHESTRATION
        assert job.started_at and start <= job.started_at <= end


def test_reverts_undo_a_promoted_mrs_pick(built: Built) -> None:
    promoted = {f"{p['project']}!{p['iid']}" for p in built.expect["promotions"]}
    for r in built.expect["reverts"]:
        project = built.world.projects[r["project"]]
        undone = reverted(project.repo.show(r["sha"]).message)
        assert undone, r
        mr = _mr_of_pick(project, project.repo.resolve(undone) or undone)
        assert mr is not None and f"{project.path}!{mr.iid}" == r["reverts_mr"]
        assert r["reverts_mr"] in promoted


# -- week.py ---------------------------------------------------------------------------------------
def test_week_is_the_week_the_brief_describes(week: Built) -> None:
    e, module = week.expect, week.module
    assert e["window"] == {"from": "2026-11-16T00:00:00Z", "to": "2026-11-22T23:59:59Z"}
    promotions = e["promotions"]
    assert len(promotions) >= 5 and len(e["drift"]) == 1 and len(e["cut_offs"]) == 1
    verdicts = {p["verdict"] for p in promotions}
    assert {"compliant", "non_compliant"} <= verdicts
    # each windowed promotion's verdict is the one tests/test_scenarios.py holds check to
    for p in promotions:
        target = f"{p['project']}!{p['iid']}"
        assert module.EXPECTED[target][p["service"]]["verdict"] == p["verdict"]
    # one MR released for two services of one project
    by_mr: dict[tuple[str, int], set[str]] = {}
    for p in promotions:
        by_mr.setdefault((p["project"], p["iid"]), set()).add(p["service"])
    assert any(len(s) == 2 for s in by_mr.values())
    # a rollback: revert of a promotion that stayed compliant with SH14 pass
    rolled = [
        r["reverts_mr"]
        for r in e["reverts"]
        if any(
            rules["rules"]["SH14"] == "pass" and rules["rules"]["SH13"] == "not_applicable"
            for rules in module.EXPECTED[r["reverts_mr"]].values()
        )
    ]
    assert rolled
    # at least 3 services in at least 3 projects saw promotions
    assert len({p["service"] for p in promotions}) >= 3
    assert len({p["project"] for p in promotions}) >= 3
    # TARGETS outside the window are audited too, but are no promotion of the window
    outside = set(module.TARGETS) - {f"{p['project']}!{p['iid']}" for p in promotions}
    assert outside == {"evenergi/billing!2", "evenergi/vemo-core!7"}


def test_week_noise_is_there(week: Built) -> None:
    world = week.world
    mrs = [mr for p in world.projects.values() for mr in p.mrs.values()]
    promoted = {(p["project"], p["iid"]) for p in week.expect["promotions"]}
    never_picked = [
        mr
        for mr in mrs
        if mr.state == "merged"
        and mr.target_branch == "main"
        and (mr.project.path, mr.iid) not in promoted
        and not any(n.system for n in mr.notes)
    ]
    assert len(never_picked) >= 3
    assert any(mr.state == "opened" for mr in mrs)
    orchestration = world.projects[ORCHESTRATION].pipelines
    idle = [p for p in orchestration if not any(_played(j) for j in p.jobs())]
    assert len(idle) >= 3


# -- the synthetic generator ---------------------------------------------------------------------
def test_synthetic_small_is_its_plan(small: Built) -> None:
    world, module = small.world, small.module
    assert world.plan == module.PLAN  # type: ignore[attr-defined]
    assert world.services_config == module.SERVICES  # type: ignore[attr-defined]
    assert len(small.expect["promotions"]) == 30
    promoted = {f"{p['project']}!{p['iid']}": p["verdict"] for p in small.expect["promotions"]}
    for target, by_service in module.EXPECTED.items():
        for rules in by_service.values():
            assert promoted[target] == rules["verdict"]
    # a handful of different stories is held to `auditor check`
    kinds = {h.kind for h in module.representative(module.PLAN)}
    assert len(module.TARGETS) >= 5 and len(kinds) >= 5


def test_synthetic_plan_is_deterministic_and_mixed() -> None:
    a = plan_synthetic(promotions=200, services=6, noise_pipelines=1000, seed=3)
    assert a == plan_synthetic(promotions=200, services=6, noise_pipelines=1000, seed=3)
    assert a != plan_synthetic(promotions=200, services=6, noise_pipelines=1000, seed=4)
    assert sum(len(h.services) for h in a.hotfixes) == 200
    assert {h.kind for h in a.hotfixes} == set(KIND_RULES)
    verdicts = [r["verdict"] for h in a.hotfixes for r in a.expected(h).values()]
    assert verdicts.count("compliant") > 0.6 * len(verdicts)
    assert "non_compliant" in verdicts
    assert 2 <= sum(1 for s in a.slots if s.drift) <= 6
    assert any(len(h.services) == 2 for h in a.hotfixes), "a fix in a monorepo's shared code"
    assert len(a.cut_offs) >= 7  # weekly, one before the window
    noise = [n for n in a.noise if n.what in ("idle", "ci")]
    assert len(noise) == 1000
    # every release slot and noise event lies before now, promotions inside the window
    start, end = a.window
    assert all(start <= s.at <= end for s in a.slots)


def test_synthetic_build_is_deterministic() -> None:
    args = {"promotions": 6, "services": 2, "noise_pipelines": 10, "seed": 5}
    one, two = synthetic_world(**args), synthetic_world(**args)
    assert one.expect == two.expect  # type: ignore[attr-defined]
    assert build_plan(plan_synthetic(**args)).expect == one.expect  # type: ignore[attr-defined]
    heads = {p: one.projects[p].head("release") for p in one.projects if p != ORCHESTRATION}
    assert heads == {p: two.projects[p].head("release") for p in heads}
