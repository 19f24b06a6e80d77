"""Ancestry from the deployments' chain (`auditor.ancestry`) against the git graph itself.

Random release days are played on a small commit graph: picks onto `release`, cut-offs that
rebuild it from the default branch, rollbacks that deploy an older commit, failed and
successful deployments. Each deployment's compare is what GitLab answers (every commit
reachable from it and not from its base); whether a pick is in a deployment is then
checked against reachability in the graph, and GitLab's merge base is asked only where the
chain cannot tell (a broken link, a compare that could not be read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.ancestry import chain_ancestry
from auditor.derive import bases
from auditor.evidence import Commit, Deployment, Unavailable
from tests.evidence_builders import deployment

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
SKEW = timedelta(hours=1)


@dataclass
class Graph:
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    made: dict[str, datetime] = field(default_factory=dict)

    def commit(self, at: datetime, *parents: str) -> str:
        sha = f"{len(self.parents) + 1:040x}"
        self.parents[sha] = parents
        self.made[sha] = at
        return sha

    def reach(self, sha: str) -> set[str]:
        out: set[str] = set()
        stack = [sha]
        while stack:
            s = stack.pop()
            if s not in out:
                out.add(s)
                stack.extend(self.parents[s])
        return out

    def as_commit(self, sha: str) -> Commit:
        return Commit(
            id=sha,
            short_id=sha[:8],
            title=sha,
            message=sha,
            parent_ids=self.parents[sha],
            authored_date=self.made[sha],
            committed_date=self.made[sha],
            web_url="",
        )


def _deployment(n: int, sha: str, at: datetime, status: str) -> Deployment:
    return deployment(100 + n, sha, status, None, at, took=timedelta(0))


@dataclass
class Day:
    graph: Graph
    deployments: list[Deployment]
    picks: list[tuple[str, datetime]]
    previous: Deployment


STEPS = st.lists(
    st.sampled_from(["pick", "pick", "deploy", "deploy", "fail", "cut_off", "rollback"]),
    min_size=3,
    max_size=25,
)


def play(steps: list[str]) -> Day:
    g = Graph()
    main = g.commit(T0)
    release = main
    at = T0 + timedelta(hours=1)
    previous = _deployment(0, release, at, "success")
    deployed = [release]
    deployments: list[Deployment] = []
    picks: list[tuple[str, datetime]] = []
    for step in steps:
        at += timedelta(hours=2)
        if step == "pick":
            release = g.commit(at, release)
            picks.append((release, at))
        elif step == "cut_off":
            main = g.commit(at, main)
            release = main
        elif step == "rollback" and len(deployed) > 1:
            release = deployed[-2]
        elif step in ("deploy", "fail"):
            status = "success" if step == "deploy" else "failed"
            deployments.append(_deployment(len(deployments) + 1, release, at, status))
            if status == "success":
                deployed.append(release)
    return Day(g, deployments, picks, previous)


def ranges_of(day: Day) -> dict[int, tuple[Commit, ...]]:
    """What GitLab's compare answers for each deployment: `git log base..head`."""
    out = {}
    for d in day.deployments:
        base = bases(day.deployments, day.previous)[d.id]
        assert base is not None
        added = day.graph.reach(d.sha) - day.graph.reach(base.sha)
        out[d.id] = tuple(day.graph.as_commit(s) for s in sorted(added))
    return out


@settings(max_examples=300, deadline=None)
@given(STEPS, st.data())
def test_every_answer_is_the_graphs(steps: list[str], data: st.DataObject) -> None:
    day = play(steps)
    ranges: dict[int, tuple[Commit, ...] | Unavailable] = dict(ranges_of(day))
    # some compares could not be read: those deployments fall back on GitLab
    lost = data.draw(st.sets(st.sampled_from([d.id for d in day.deployments] or [0])))
    for d_id in lost:
        ranges[d_id] = Unavailable("compare", "502 Bad Gateway")
    asked: list[tuple[str, str]] = []

    def ask(sha: str, deployed: str) -> bool:
        asked.append((sha, deployed))
        return sha in day.graph.reach(deployed)

    facts = chain_ancestry(
        day.deployments, day.previous, ranges, day.picks, day.deployments, ask, SKEW
    )
    for sha, when in day.picks:
        for d in day.deployments:
            if when > d.created_at + SKEW and (sha, d.sha) not in facts:
                continue  # made after it: left out, the lifecycle reads it as absent
            assert facts[(sha, d.sha)] == (sha in day.graph.reach(d.sha)), (sha, d)
    # without cut-offs, rollbacks or lost compares, the chain answers everything itself
    if not lost and not {"cut_off", "rollback"} & set(steps):
        assert asked == []


def test_a_forward_moving_release_costs_no_request() -> None:
    day = play(["pick", "deploy", "pick", "fail", "deploy", "pick", "pick", "deploy", "deploy"])
    asked: list[tuple[str, str]] = []

    def ask(sha: str, deployed: str) -> bool:
        asked.append((sha, deployed))
        return sha in day.graph.reach(deployed)

    facts = chain_ancestry(
        day.deployments, day.previous, ranges_of(day), day.picks, day.deployments, ask, SKEW
    )
    assert asked == []
    first_pick = day.picks[0][0]
    assert [facts[(first_pick, d.sha)] for d in day.deployments] == [True] * 5


def test_a_cut_off_is_a_broken_link_that_gitlab_settles() -> None:
    day = play(["pick", "deploy", "cut_off", "deploy"])
    asked: list[tuple[str, str]] = []

    def ask(sha: str, deployed: str) -> bool:
        asked.append((sha, deployed))
        return sha in day.graph.reach(deployed)

    pick = day.picks[0][0]
    facts = chain_ancestry(
        day.deployments, day.previous, ranges_of(day), day.picks, day.deployments, ask, SKEW
    )
    first, rebuilt = day.deployments
    assert facts[(pick, first.sha)] is True
    assert facts[(pick, rebuilt.sha)] is False  # the cut-off dropped the pick
    assert asked == [(pick, rebuilt.sha)]


def test_an_unreadable_answer_stays_unavailable() -> None:
    day = play(["pick", "deploy", "cut_off", "deploy"])
    missing = Unavailable("ancestry", "503 Service Unavailable")
    facts = chain_ancestry(
        day.deployments,
        day.previous,
        ranges_of(day),
        day.picks,
        day.deployments,
        lambda sha, deployed: missing,
        SKEW,
    )
    assert facts[(day.picks[0][0], day.deployments[1].sha)] is missing
