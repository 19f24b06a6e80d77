"""An in-memory stand-in for `auditor.gitlab.source.GitLabSource`, and builders for stories.

Why it exists: pick finding (`Collector._picks`), `Collector.collect` and discovery
(`Discoverer._service`) are the logic most likely to give a false verdict, and testing an
edge case of theirs through the simulator means building a git-backed world. Here an edge
case is a few lines: `Story` builds a repository history (MRs with their commits and merge
or squash commits, picks with or without trailers, reverts, deployments), and the double
answers the questions the collector and the discoverer ask, in the types the real source
answers (`auditor.evidence` dataclasses, `Unavailable`), never dicts they would not see.

Design: a state model, held to the real source by surveying whole simulator worlds.
- `SourceDouble` holds plain typed state per project: MRs (`MergeRequest`) with their
  notes, label events, approvals and commits; an object database of `Commit`s (parents
  included) with their diffs; branches as commit lists, newest first; deployments,
  pipelines, jobs, trigger jobs and environment names. It answers each question from that
  state with the filter the real GitLab applies (`since` on the committed date, deployments'
  and pipelines' `updated_after`, pipelines' `created_before`, a compare as "reachable from
  head, not from base, oldest first", ancestry and merge bases by walking parents, "MRs of a
  commit" from the MRs' merge, squash and own commits). Explicit answers (`compares`,
  `ancestry`, `merge_bases`, `canned`) override the computed ones where a test knows
  better than the object database.
- `fail(method, *args, reason=...)` makes a question unreadable: the answer is
  `Unavailable(what, reason)` with the very `what` the real source writes, so a test sees
  what the code under test would see when GitLab answers 403, 500 or garbage.
- Why not a replay of recorded answers: a replay answers exactly the questions that were
  recorded, so it would agree with the real source by construction and prove nothing about
  the double's own filters. Instead `survey` reads everything a simulator world holds
  through the real `GitLabSource` (every MR and its parts, every branch's and deployed
  commit's history with diffs, every deployment, pipeline and job), never the way the code
  under test asks, and `SourceDouble.from_recording` loads that into the state. The
  consistency tests (`test_double_matches_real_source` in `tests/test_collect_units.py` and
  `tests/test_discover_units.py`) then run the collector and the discoverer over both and
  require the same `PromotionEvidence` and `Discovery`: that is what makes the double's
  answers trustworthy for the unit tests. A surveyed world can also be edited (`fail(...)`,
  a commit replaced) to probe an edge of a real day. (`Recording` also records a code
  path's own questions, which `from_recording` loads the same way.)

Only GitLab is doubled: the collector and the discoverer run as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.config import Policy, Service, Settings
from auditor.evidence import (
    Approval,
    Approvals,
    Commit,
    Deployment,
    Job,
    LabelEvent,
    MergeRequest,
    MRRef,
    Note,
    Pipeline,
    Unavailable,
)
from auditor.gitlab.source import GitLabUnusable, gitlab_time

# A reason the real source gives for an answer it could not get (`source._reason`).
DENIED = "permission denied (403)"
SERVER_ERROR = "HTTP 500 after retries: Internal Server Error"
ANY = None  # in `fail(...)`: any value of that argument

Diff = tuple[dict[str, Any], ...]


def _what(method: str, args: tuple[Any, ...]) -> str:
    """The `what` of the real source's Unavailable for each question (auditor/gitlab/source.py)."""
    a = args
    texts: dict[str, Callable[[], str]] = {
        "approvals": lambda: f"approvals of {a[0]}!{a[1]}",
        "notes": lambda: f"notes of {a[0]}!{a[1]}",
        "label_events": lambda: f"label events of {a[0]}!{a[1]}",
        "mr_commits": lambda: f"commits of {a[0]}!{a[1]}",
        "merge_requests": lambda: f"merge requests of {a[0]}",
        "commit": lambda: f"commit {a[1][:8]} of {a[0]}",
        "branch_commits": lambda: f"commits of {a[0]}:{a[1]}",
        "commit_diff": lambda: f"diff of {a[1][:8]}",
        "commit_merge_requests": lambda: f"MRs of commit {a[1][:8]}",
        "compare": lambda: f"compare {a[1][:8]}...{a[2][:8]}",
        "is_ancestor": lambda: f"ancestry of {a[1][:8]} in {a[2][:8]}",
        "merge_base": lambda: f"merge base of {a[1][:8]} and {a[2][:8]}",
        "pipelines": lambda: f"pipelines of {a[0]}",
        "pipeline_jobs": lambda: f"jobs of pipeline {a[1]}",
        "pipeline_bridges": lambda: f"trigger jobs of pipeline {a[1]}",
        "deployments": lambda: f"deployments to {a[1]} of {a[0]}",
        "environments": lambda: f"environments of {a[0]}",
        "last_successful_deployment": lambda: (
            f"last deployment to {a[1]} before {gitlab_time(a[2])}"
        ),
    }
    return texts[method]()


@dataclass
class ProjectState:
    """One GitLab project as the double knows it."""

    path: str
    id: int
    default_branch: str = "main"
    mrs: dict[int, MergeRequest] = field(default_factory=dict)
    mr_commits: dict[int, tuple[Commit, ...]] = field(default_factory=dict)
    notes: dict[int, list[Note]] = field(default_factory=dict)
    label_events: dict[int, list[LabelEvent]] = field(default_factory=dict)
    approvals: dict[int, Approvals] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)  # the object database
    diffs: dict[str, Diff] = field(default_factory=dict)
    branches: dict[str, list[Commit]] = field(default_factory=dict)  # newest first
    deployments: dict[int, Deployment] = field(default_factory=dict)
    environments: list[str] = field(default_factory=list)
    pipelines: dict[int, Pipeline] = field(default_factory=dict)
    jobs: dict[int, tuple[Job, ...]] = field(default_factory=dict)
    bridges: dict[int, tuple[Job, ...]] = field(default_factory=dict)
    # answers known better than the object database can compute them
    compares: dict[tuple[str, str], tuple[Commit, ...]] = field(default_factory=dict)
    ancestry: dict[tuple[str, str], bool] = field(default_factory=dict)
    merge_bases: dict[tuple[str, str], str | None] = field(default_factory=dict)

    @property
    def web_url(self) -> str:
        return f"https://gitlab.example.com/{self.path}"

    def add_commit(self, c: Commit, diff: Diff | None = None) -> None:
        self.commits.setdefault(c.id, c)
        if diff is not None:
            self.diffs[c.id] = diff

    def head(self, ref: str) -> str | None:
        listed = self.branches.get(ref)
        if listed:
            return listed[0].id
        return ref if ref in self.commits else None

    def ancestors(self, sha: str) -> set[str]:
        """`sha` and every commit its parents reach, as far as the object database knows."""
        out: set[str] = set()
        stack = [sha]
        while stack:
            s = stack.pop()
            if s in out:
                continue
            out.add(s)
            known = self.commits.get(s)
            stack.extend(known.parent_ids if known else ())
        return out

    def mr_ref(self, mr: MergeRequest) -> MRRef:
        return MRRef(
            project=mr.project,
            iid=mr.iid,
            title=mr.title,
            state=mr.state,
            source_branch=mr.source_branch,
            target_branch=mr.target_branch,
            merged_at=mr.merged_at,
            merge_commit_sha=mr.merge_commit_sha,
            web_url=mr.web_url,
            squash_commit_sha=mr.squash_commit_sha,
        )


class SourceDouble:
    """Answers `GitLabSource`'s questions from `ProjectState`s (see the module docstring).

    `calls` lists every question asked, as (method, key arguments), for tests that hold
    what was (not) asked."""

    cache = None  # no store behind it: the discoverer's classified-commits cache is off

    def __init__(self) -> None:
        self.projects: dict[str, ProjectState] = {}
        self.failures: list[tuple[str, tuple[Any, ...], str]] = []
        # (method, key arguments) -> answer, consulted before the state (lists whose
        # filters the state does not model, such as a recorded MR list)
        self.canned: dict[tuple[str, tuple[Any, ...]], Any] = {}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    # -- setting up -----------------------------------------------------------------------
    def at(self, path: str) -> ProjectState:
        if path not in self.projects:
            self.projects[path] = ProjectState(path, id=100 + len(self.projects))
        return self.projects[path]

    def fail(self, method: str, *args: Any, reason: str = SERVER_ERROR) -> None:
        """Make `method` unreadable for calls whose key arguments start with `args`
        (`ANY` matches any value): it answers `Unavailable(what, reason)`."""
        self.failures.append((method, args, reason))

    def heal(self, method: str | None = None) -> None:
        self.failures = [f for f in self.failures if method is not None and f[0] != method]

    # -- answering ------------------------------------------------------------------------
    def _answer(self, method: str, args: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        self.calls.append((method, args))
        for name, prefix, reason in self.failures:
            if name == method and all(
                p is ANY or p == a for p, a in zip(prefix, args, strict=False)
            ):
                return Unavailable(_what(method, args), reason)
        if (method, args) in self.canned:
            return self.canned[(method, args)]
        return compute()

    def asked(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]

    # -- projects and MRs -----------------------------------------------------------------
    def project(self, path: str) -> dict[str, Any]:
        if path not in self.projects:
            raise GitLabUnusable(f"project {path} cannot be read: not found (404)")
        p = self.projects[path]
        return {"id": p.id, "web_url": p.web_url, "default_branch": p.default_branch}

    def mr_unchanged(self, path: str, iid: int) -> bool:
        return False

    def merge_request(self, path: str, iid: int) -> MergeRequest:
        found = self.at(path).mrs.get(iid)
        if found is None:
            raise GitLabUnusable(f"merge request {path}!{iid}: not found (404)")
        return found

    def approvals(self, mr: MergeRequest) -> Approvals | Unavailable:
        p = self.at(mr.project)
        none = Approvals((), 1, 1)
        return self._answer(
            "approvals", (mr.project, mr.iid), lambda: p.approvals.get(mr.iid, none)
        )

    def notes(self, mr: MergeRequest) -> tuple[Note, ...] | Unavailable:
        p = self.at(mr.project)
        return self._answer(
            "notes",
            (mr.project, mr.iid),
            lambda: tuple(sorted(p.notes.get(mr.iid, []), key=lambda n: (n.created_at, n.id))),
        )

    def label_events(self, mr: MergeRequest) -> tuple[LabelEvent, ...] | Unavailable:
        p = self.at(mr.project)
        return self._answer(
            "label_events", (mr.project, mr.iid), lambda: tuple(p.label_events.get(mr.iid, []))
        )

    def mr_commits(self, mr: MergeRequest) -> tuple[Commit, ...] | Unavailable:
        p = self.at(mr.project)
        return self._answer(
            "mr_commits", (mr.project, mr.iid), lambda: p.mr_commits.get(mr.iid, ())
        )

    def merge_requests(self, path: str, **filters: Any) -> tuple[MRRef, ...] | Unavailable:
        p = self.at(path)

        def compute() -> tuple[MRRef, ...]:
            after = filters.get("updated_after")
            out = [
                m
                for m in p.mrs.values()
                if filters.get("state", "all") in ("all", m.state)
                and filters.get("source_branch") in (None, m.source_branch)
                and filters.get("target_branch") in (None, m.target_branch)
                and (after is None or gitlab_time(m.updated_at) >= after)
            ]
            # GitLab's default order: newest created first
            out.sort(key=lambda m: (m.created_at, m.id), reverse=True)
            return tuple(p.mr_ref(m) for m in out)

        return self._answer("merge_requests", (path, tuple(sorted(filters.items()))), compute)

    # -- repository -----------------------------------------------------------------------
    def commit(self, path: str, sha: str) -> Commit | Unavailable:
        p = self.at(path)

        def compute() -> Commit | Unavailable:
            found = p.commits.get(sha) or next(
                (c for k, c in p.commits.items() if len(sha) >= 7 and k.startswith(sha)), None
            )
            return found or Unavailable(_what("commit", (path, sha)), "not found (404)")

        return self._answer("commit", (path, sha), compute)

    def branch_commits(
        self, path: str, ref: str, since: datetime
    ) -> tuple[Commit, ...] | Unavailable:
        p = self.at(path)

        def compute() -> tuple[Commit, ...] | Unavailable:
            if ref not in p.branches:
                return Unavailable(_what("branch_commits", (path, ref)), "not found (404)")
            return tuple(
                c for c in p.branches[ref] if c.committed_date and c.committed_date >= since
            )

        return self._answer("branch_commits", (path, ref, since), compute)

    def commit_diff(self, path: str, sha: str) -> Diff | Unavailable:
        p = self.at(path)

        def compute() -> Diff | Unavailable:
            found = p.diffs.get(sha)
            return (
                found if found is not None else Unavailable(f"diff of {sha[:8]}", "not found (404)")
            )

        return self._answer("commit_diff", (path, sha), compute)

    def commit_merge_requests(self, path: str, sha: str) -> tuple[MRRef, ...] | Unavailable:
        p = self.at(path)

        def compute() -> tuple[MRRef, ...]:
            mrs = [
                m
                for m in p.mrs.values()
                if sha in (m.merge_commit_sha, m.squash_commit_sha)
                or any(c.id == sha for c in p.mr_commits.get(m.iid, ()))
            ]
            return tuple(p.mr_ref(m) for m in sorted(mrs, key=lambda m: m.id, reverse=True))

        return self._answer("commit_merge_requests", (path, sha), compute)

    def compare(self, path: str, base: str, head: str) -> tuple[Commit, ...] | Unavailable:
        p = self.at(path)

        def compute() -> tuple[Commit, ...]:
            if (base, head) in p.compares:
                return p.compares[(base, head)]
            added = p.ancestors(head) - p.ancestors(base)
            return _oldest_first([p.commits[s] for s in added if s in p.commits])

        return self._answer("compare", (path, base, head), compute)

    def is_ancestor(self, path: str, ancestor: str, descendant: str) -> bool | Unavailable:
        if ancestor == descendant:
            return True
        p = self.at(path)

        def compute() -> bool:
            known = p.ancestry.get((ancestor, descendant))
            return known if known is not None else ancestor in p.ancestors(descendant)

        return self._answer("is_ancestor", (path, ancestor, descendant), compute)

    def merge_base(
        self, path: str, a: str, b: str, stable: bool = False
    ) -> str | None | Unavailable:
        p = self.at(path)

        def compute() -> str | None:
            if (a, b) in p.merge_bases:
                return p.merge_bases[(a, b)]
            ha, hb = p.head(a), p.head(b)
            if ha is None or hb is None:
                return None
            common = p.ancestors(ha) & p.ancestors(hb)
            # the best common ancestor: one no other common ancestor descends from
            best = [c for c in common if not any(c in p.ancestors(o) - {o} for o in common)]
            return max(best, key=lambda s: _date(p.commits.get(s)), default=None)

        return self._answer("merge_base", (path, a, b), compute)

    # -- CI -------------------------------------------------------------------------------
    def pipelines(
        self, path: str, updated_after: datetime, created_before: datetime | None = None
    ) -> tuple[Pipeline, ...] | Unavailable:
        p = self.at(path)
        return self._answer(
            "pipelines",
            (path, updated_after, created_before),
            lambda: tuple(
                x
                for _, x in sorted(p.pipelines.items())
                if (x.updated_at or x.created_at) >= updated_after
                and (created_before is None or x.created_at <= created_before)
            ),
        )

    def pipeline_jobs(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable:
        p = self.at(path)
        return self._answer(
            "pipeline_jobs", (path, pipeline_id), lambda: p.jobs.get(pipeline_id, ())
        )

    def pipeline_bridges(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable:
        p = self.at(path)
        return self._answer(
            "pipeline_bridges", (path, pipeline_id), lambda: p.bridges.get(pipeline_id, ())
        )

    # -- environments and deployments -----------------------------------------------------
    def deployments(
        self, path: str, environment: str, updated_after: datetime
    ) -> tuple[Deployment, ...] | Unavailable:
        p = self.at(path)
        return self._answer(
            "deployments",
            (path, environment, updated_after),
            lambda: tuple(
                d
                for _, d in sorted(p.deployments.items())
                if d.environment == environment and (d.updated_at or d.created_at) >= updated_after
            ),
        )

    def environments(self, path: str) -> tuple[str, ...] | Unavailable:
        p = self.at(path)
        return self._answer("environments", (path,), lambda: tuple(p.environments))

    def last_successful_deployment(
        self, path: str, environment: str, before: datetime
    ) -> Deployment | None | Unavailable:
        p = self.at(path)

        def compute() -> Deployment | None:
            done = [
                d
                for d in p.deployments.values()
                if d.environment == environment
                and d.status == "success"
                and d.finished_at is not None
                and d.finished_at < before
            ]
            return max(done, key=lambda d: (d.finished_at, d.id), default=None)

        return self._answer("last_successful_deployment", (path, environment, before), compute)

    # -- loading a recording --------------------------------------------------------------
    @classmethod
    def from_recording(cls, recording: Recording) -> SourceDouble:
        """The state the recorded answers describe (lists into state, see module docstring);
        a recorded Unavailable becomes a `fail` of that exact question."""
        double = cls()
        for method, args, answer in recording.answers:
            double._ingest(method, args, answer)
        return double

    def _ingest(self, method: str, args: tuple[Any, ...], answer: Any) -> None:
        if method in ("project", "merge_request"):
            path = args[0]
        elif isinstance(args[0], MergeRequest):
            path = args[0].project
        else:
            path = args[0]
        p = self.at(path)
        key = _key(method, args)
        if isinstance(answer, Unavailable):
            self.failures.append((method, key, answer.reason))
            return
        if method == "project":
            p.id, p.default_branch = answer["id"], answer.get("default_branch") or "main"
        elif method == "merge_request":
            p.mrs[answer.iid] = answer
        elif method == "approvals":
            p.approvals[args[0].iid] = answer
        elif method == "notes":
            p.notes[args[0].iid] = list(answer)
        elif method == "label_events":
            p.label_events[args[0].iid] = list(answer)
        elif method == "mr_commits":
            p.mr_commits[args[0].iid] = answer
            for c in answer:
                p.add_commit(c)
        elif method in ("merge_requests", "commit_merge_requests"):
            self.canned[(method, key)] = answer
        elif method == "commit":
            p.add_commit(answer)
        elif method == "branch_commits":
            listed = {c.id: c for c in [*p.branches.get(args[1], []), *answer]}
            p.branches[args[1]] = sorted(listed.values(), key=_date, reverse=True)
            for c in answer:
                p.add_commit(c)
        elif method == "commit_diff":
            p.diffs[args[1]] = answer
        elif method == "compare":
            p.compares[(args[1], args[2])] = answer
            for c in answer:
                p.add_commit(c)
        elif method == "is_ancestor":
            p.ancestry[(args[1], args[2])] = answer
        elif method == "merge_base":
            p.merge_bases[(args[1], args[2])] = answer
        elif method == "pipelines":
            p.pipelines.update({x.id: x for x in answer})
        elif method == "pipeline_jobs":
            p.jobs[args[1]] = answer
        elif method == "pipeline_bridges":
            p.bridges[args[1]] = answer
        elif method == "deployments":
            p.deployments.update({d.id: d for d in answer})
        elif method == "environments":
            p.environments = list(answer)
        elif method == "last_successful_deployment" and answer is not None:
            p.deployments[answer.id] = answer


def _key(method: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A call's key arguments as `SourceDouble` records them (an MR as project and iid)."""
    if args and isinstance(args[0], MergeRequest):
        return (args[0].project, args[0].iid, *args[1:])
    if method in ("pipeline_jobs", "pipeline_bridges", "merge_base"):
        return tuple(args[:3]) if method == "merge_base" else tuple(args[:2])
    return tuple(args)


def _date(c: Commit | None) -> datetime:
    return (c.committed_date if c else None) or datetime.min.replace(tzinfo=UTC)


def _oldest_first(commits: list[Commit]) -> tuple[Commit, ...]:
    """`git rev-list --reverse`: parents before children, else by committed date."""
    by_id = {c.id: c for c in commits}
    done: set[str] = set()
    out: list[Commit] = []

    def visit(c: Commit) -> None:
        if c.id in done:
            return
        done.add(c.id)
        for parent in c.parent_ids:
            if parent in by_id:
                visit(by_id[parent])
        out.append(c)

    for c in sorted(commits, key=_date):
        visit(c)
    return tuple(out)


class Recording:
    """A real `GitLabSource` whose every answer is kept, in order, as (method, args, answer).
    It stands in for the source itself (the collector and discoverer are given it)."""

    METHODS = frozenset(
        {
            "project",
            "merge_request",
            "approvals",
            "notes",
            "label_events",
            "mr_commits",
            "merge_requests",
            "commit",
            "branch_commits",
            "commit_diff",
            "commit_merge_requests",
            "compare",
            "is_ancestor",
            "merge_base",
            "pipelines",
            "pipeline_jobs",
            "pipeline_bridges",
            "deployments",
            "environments",
            "last_successful_deployment",
        }
    )

    def __init__(self, real: Any) -> None:
        self.real = real
        self.answers: list[tuple[str, tuple[Any, ...], Any]] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.real, name)
        if name not in self.METHODS:
            return found

        def recorded(*args: Any, **kwargs: Any) -> Any:
            answer = found(*args, **kwargs)
            if name == "merge_requests":
                key: tuple[Any, ...] = (args[0], tuple(sorted(kwargs.items())))
            elif name == "pipelines":
                key = (
                    args[0],
                    kwargs.get("updated_after", args[1] if len(args) > 1 else None),
                    kwargs.get("created_before", args[2] if len(args) > 2 else None),
                )
            elif name == "deployments":
                key = (*args[:2], kwargs.get("updated_after", args[2] if len(args) > 2 else None))
            else:
                key = tuple(args) + tuple(kwargs.values())
            self.answers.append((name, key, answer))
            return answer

        return recorded


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def survey(real: Any, branches: dict[str, list[str]]) -> Recording:
    """Everything GitLab holds for `branches`' projects (project path -> branch names),
    read through the real source into a Recording: every MR with its notes, label events,
    approvals and commits; every branch's commits and every deployed commit's history,
    with each commit's diff; every environment's deployments; every pipeline with its jobs,
    trigger jobs and their downstream pipelines' jobs. Nothing is asked the way the code
    under test asks it: a double loaded from this must compute each answer (filters,
    compares, ancestry, merge bases, MR lookups) from the state alone."""
    rec = Recording(real)
    seen: set[tuple[str, str]] = set()

    def history(path: str, ref: str) -> None:
        listed = real.branch_commits(path, ref, EPOCH)
        assert isinstance(listed, tuple), listed
        for c in listed:
            if (path, c.id) not in seen:
                seen.add((path, c.id))
                rec.answers.append(("commit", (path, c.id), c))
                rec.answers.append(("commit_diff", (path, c.id), real.commit_diff(path, c.id)))

    for path, names in branches.items():
        rec.project(path)
        for ref in names:
            rec.branch_commits(path, ref, EPOCH)
            history(path, ref)
        mrs = real.merge_requests(path, state="all")
        assert isinstance(mrs, tuple), mrs
        for ref in mrs:
            mr = rec.merge_request(path, ref.iid)
            for ask in (rec.notes, rec.label_events, rec.approvals, rec.mr_commits):
                ask(mr)
        environments = rec.environments(path)
        assert isinstance(environments, tuple), environments
        for env in environments:
            deployments = rec.deployments(path, env, EPOCH)
            assert isinstance(deployments, tuple), deployments
            for d in deployments:
                history(path, d.sha)
        pipelines = rec.pipelines(path, EPOCH)
        assert isinstance(pipelines, tuple), pipelines
        for p in pipelines:
            rec.pipeline_jobs(path, p.id)
            bridges = rec.pipeline_bridges(path, p.id)
            for b in bridges if isinstance(bridges, tuple) else ():
                if b.downstream_pipeline_id is not None:
                    rec.pipeline_jobs(path, b.downstream_pipeline_id)
    return rec


@contextlib.contextmanager
def world_and_double(
    name: str, tmp_path: Path
) -> Iterator[tuple[Any, Settings, Any, SourceDouble]]:
    """A simulator world served over HTTP: (served, settings, a real GitLabSource on it, a
    double loaded from a `survey` of it), the world stopped on exit."""
    from auditor.config import load_settings
    from auditor.gitlab.client import ReadOnlySession, connect
    from auditor.gitlab.source import GitLabSource
    from tests.conftest import serve

    gen = serve(name, tmp_path)
    served = next(gen)
    try:
        settings = load_settings(served.config, {"GITLAB_TOKEN": served.world.token})
        branches = {path: list(p.repo.branches()) for path, p in served.world.projects.items()}
        surveyed = survey(GitLabSource(connect(settings, ReadOnlySession())), branches)
        real = GitLabSource(connect(settings, ReadOnlySession()))
        yield served, settings, real, SourceDouble.from_recording(surveyed)
    finally:
        gen.close()


# -- builders ---------------------------------------------------------------------------
T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a hotfix merges (Wednesday, mid-week)
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)
PROJECT = "evenergi/vemo-core"
ORCHESTRATION = "evenergi/develop"
SERVICE = Service("vemo-core", PROJECT, Policy())

_shas = itertools.count(1)


def new_sha() -> str:
    """A fresh 40-hex SHA, distinct across a test run (and never a prefix of another)."""
    return hashlib.sha1(f"double-{next(_shas)}".encode()).hexdigest()


def patch(path: str, *added: str) -> Diff:
    """A one-file diff adding `added` lines, in the shape of GitLab's commit diff."""
    body = f"@@ -1,0 +1,{len(added)} @@\n" + "".join(f"+{line}\n" for line in added)
    return ({"old_path": path, "new_path": path, "diff": body},)


def inverse(diff: Diff) -> Diff:
    swap = {"+": "-", "-": "+"}
    out = []
    for entry in diff:
        lines = [
            swap[line[0]] + line[1:] if line[:1] in swap else line
            for line in entry["diff"].splitlines()
        ]
        out.append({**entry, "diff": "\n".join(lines) + "\n"})
    return tuple(out)


def trailer(sha: str, style: str = "ui") -> str:
    """The line a pick of `sha` carries: GitLab's (`ui`), git's `-x` and older GitLab's
    (`x`), or none."""
    return {
        "ui": f"(cherry-picked from commit {sha})",
        "x": f"(cherry picked from commit {sha})",
        "none": "",
    }[style]


def pick_note_body(branch: str, sha: str, path: str = PROJECT) -> str:
    """GitLab's system note on an MR whose merge commit was picked in the UI."""
    tree = f"/{path}/-/tree/{branch}"
    return f"picked the changes into the branch [`{branch}`]({tree}) with commit {sha}"


class Story:
    """A project's history told in a few calls, into a `SourceDouble`.

    Starts with `main` (one commit, T0-10d) and `release` cut from it at T0-2d and deployed
    to staging then (deployment 1), so a later deployment has a predecessor to compare with.
    """

    def __init__(
        self,
        services: Iterable[Service] = (SERVICE,),
        project: str = PROJECT,
        cut_at: datetime = T0 - 2 * D,
    ) -> None:
        self.src = SourceDouble()
        self.services = {s.name: s for s in services}
        self.settings = Settings(
            url="https://gitlab.example.com",
            token="not-a-token",
            orchestration_project=ORCHESTRATION,
            services=self.services,
        )
        self.path = project
        self.p = self.src.at(project)
        self.src.at(ORCHESTRATION)
        self._ids = itertools.count(1)
        self.commit("main", "Initial commit", T0 - 10 * D)
        self.cut_off(cut_at)
        for s in self.services.values():
            self.deploy(cut_at + 10 * M, environment=s.policy.staging_environment)

    # -- git ------------------------------------------------------------------------------
    def commit(
        self,
        branch: str,
        title: str,
        at: datetime,
        *,
        message: str | None = None,
        diff: Diff | None = None,
        parents: tuple[str, ...] | None = None,
        sha: str | None = None,
    ) -> Commit:
        """A commit on top of `branch` (created if new), carrying `diff` (default: a patch
        of its own, named after the title)."""
        listed = self.p.branches.setdefault(branch, [])
        if parents is None:
            parents = (listed[0].id,) if listed else ()
        sha = sha or new_sha()
        c = Commit(
            id=sha,
            short_id=sha[:8],
            title=title,
            message=message or f"{title}\n",
            parent_ids=parents,
            authored_date=at,
            committed_date=at,
            web_url=f"{self.p.web_url}/-/commit/{sha}",
        )
        slug = "_".join(title.lower().split()[:3]).replace('"', "")
        self.p.add_commit(c, diff if diff is not None else patch(f"src/{slug}.py", title))
        listed.insert(0, c)
        if len(parents) > 1:
            # a merge brings its other parents' history onto the branch (`git log` lists it)
            on = {x.id for x in listed}
            brought = set().union(*(self.p.ancestors(x) for x in parents[1:])) - on
            listed.extend(self.p.commits[x] for x in brought if x in self.p.commits)
            listed.sort(key=_date, reverse=True)
        return c

    def cut_off(self, at: datetime) -> None:
        """`release` rebuilt from `main` (force-pushed: the old branch's commits leave it)."""
        self.p.branches["release"] = list(self.p.branches["main"])

    def branch_from(self, name: str, start: str) -> None:
        self.p.branches[name] = list(self.p.branches[start])

    # -- merge requests -------------------------------------------------------------------
    def hotfix(
        self,
        title: str,
        at: datetime = T0,
        *,
        commits: int = 1,
        method: str = "merge",
        files: list[str] | None = None,
    ) -> MergeRequest:
        """A merged, approved MR into main: `commits` commits on its source branch, merged
        `at` with a merge commit (`merge`), squashed then merged (`squash`: GitLab's squash
        commit plus merge commit), squashed and fast-forwarded (`ff`: no merge commit), or
        fast-forwarded as they are (`rebase`: neither merge nor squash commit)."""
        iid = len(self.p.mrs) + 1
        source = f"hotfix/{iid}-" + "-".join(title.lower().split()[:2])
        self.branch_from(source, "main")
        own = []
        for n in range(commits):
            name = title if commits == 1 else f"{title} (part {n + 1})"
            path = (files or [])[n] if files and n < len(files) else None
            own.append(
                self.commit(
                    source,
                    name,
                    at - 2 * H + n * M,
                    diff=patch(path, name) if path else None,
                )
            )
        whole = tuple(e for c in own for e in self.p.diffs[c.id])
        main_head = self.p.branches["main"][0].id
        merge_sha = squash_sha = None
        if method == "merge":
            merge_sha = self._merge_commit(source, title, iid, at, (main_head, own[-1].id), whole)
        elif method == "rebase":
            # fast-forward without squash: the MR's commits land on main as they are
            for c in own:
                self.p.branches["main"].insert(0, c)
        elif method in ("squash", "ff"):
            squash = self.commit("main", title, at, diff=whole, parents=(main_head,))
            squash_sha = squash.id
            if method == "squash":
                self.p.branches["main"].pop(0)
                merge_sha = self._merge_commit(
                    source, title, iid, at, (main_head, squash.id), whole
                )
        else:
            raise ValueError(method)
        mr = MergeRequest(
            id=1000 + iid,
            iid=iid,
            project=self.path,
            project_id=self.p.id,
            title=title,
            web_url=f"{self.p.web_url}/-/merge_requests/{iid}",
            state="merged",
            source_branch=source,
            target_branch="main",
            default_branch="main",
            created_at=at - H,
            updated_at=at,
            merged_at=at,
            merge_commit_sha=merge_sha,
            squash_commit_sha=squash_sha,
            sha=own[-1].id,
            labels=(),
            author="dana.dev",
        )
        self.p.mrs[iid] = mr
        self.p.mr_commits[iid] = tuple(own)
        self.p.approvals[iid] = Approvals((Approval("rafael.review", at - 20 * M),), 1, 0)
        return mr

    def _merge_commit(
        self, source: str, title: str, iid: int, at: datetime, parents: tuple[str, str], diff: Diff
    ) -> str:
        message = (
            f"Merge branch '{source}' into 'main'\n\n{title}\n\n"
            f"See merge request {self.path}!{iid}\n"
        )
        return self.commit(
            "main", message.splitlines()[0], at, message=message, diff=diff, parents=parents
        ).id

    def opened(self, title: str, at: datetime) -> MergeRequest:
        """An MR still open (never merged): nothing of it is on main."""
        mr = self.hotfix(title, at)
        main = self.p.branches["main"]
        main.pop(0)  # its merge commit never happened
        opened = replace(mr, state="opened", merged_at=None, merge_commit_sha=None)
        self.p.mrs[mr.iid] = opened
        return opened

    def own(self, mr: MergeRequest) -> tuple[Commit, ...]:
        return self.p.mr_commits[mr.iid]

    def note(self, mr: MergeRequest, body: str, at: datetime, *, system: bool = False) -> Note:
        nid = next(self._ids) + 5000
        n = Note(nid, body, "maria.release", at, system, f"{mr.web_url}#note_{nid}")
        self.p.notes.setdefault(mr.iid, []).append(n)
        return n

    def label(self, mr: MergeRequest, at: datetime, action: str = "add") -> None:
        event = LabelEvent(next(self._ids), "Validated in Staging", action, at, "maria.release")  # type: ignore[arg-type]
        self.p.label_events.setdefault(mr.iid, []).append(event)

    # -- picks and reverts ----------------------------------------------------------------
    def pick(
        self,
        sha: str,
        at: datetime,
        *,
        style: str = "ui",
        title: str | None = None,
        onto: str = "release",
        diff: Diff | None = None,
        note_on: MergeRequest | None = None,
    ) -> Commit:
        """A cherry-pick of commit `sha` onto `onto`: the same patch (unless `diff`), the
        original's title (unless `title`), with the trailer of `style` (`ui`, `x`, `none`).
        `note_on` adds GitLab's system note to that MR (the UI does for a merge commit)."""
        original = self.p.commits[sha]
        name = title or (original.title if not original.title.startswith("Merge") else None)
        name = name or original.message.split("\n\n")[1].strip()
        line = trailer(sha, style)
        message = f"{name}\n\n{line}\n" if line else f"{name}\n"
        c = self.commit(onto, name, at, message=message, diff=diff or self.p.diffs[sha])
        if note_on is not None:
            self.note(note_on, pick_note_body(onto, c.id, self.path), at, system=True)
        return c

    def revert(
        self, c: Commit, at: datetime, *, onto: str = "release", cite: bool = True
    ) -> Commit:
        """git's revert of `c` on `onto` ("This reverts commit X." unless `cite` is False)."""
        title = f'Revert "{c.title}"'
        body = f"This reverts commit {c.id}.\n" if cite else "Undo it.\n"
        return self.commit(
            onto, title, at, message=f"{title}\n\n{body}", diff=inverse(self.p.diffs[c.id])
        )

    # -- CI -------------------------------------------------------------------------------
    def deploy(
        self,
        at: datetime,
        *,
        sha: str | None = None,
        status: str = "success",
        environment: str = "staging",
        took: timedelta = 10 * M,
    ) -> Deployment:
        """A deployment of `sha` (default: the head of `release`) to `environment`."""
        did = len(self.p.deployments) + 1
        if environment not in self.p.environments:
            self.p.environments.append(environment)
        done = at + took if status in ("success", "failed", "canceled") else None
        d = Deployment(
            id=did,
            iid=did,
            environment=environment,
            status=status,
            sha=sha or self.p.branches["release"][0].id,
            ref="release",
            created_at=at,
            updated_at=done or at,
            finished_at=done,
            deployable_id=None,
            deployable_name=None,
            pipeline_id=None,
            web_url=f"{self.p.web_url}/-/environments/1/deployments/{did}",
        )
        self.p.deployments[did] = d
        return d

    def cut_off_job(self, at: datetime, *, name: str = "cut-off") -> Job:
        """The orchestration pipeline's `cut-off` job played at `at`, and `release` rebuilt
        from `main` as it does."""
        orch = self.src.at(ORCHESTRATION)
        pid = 500 + len(orch.pipelines)
        web = f"{orch.web_url}/-/pipelines/{pid}"
        orch.pipelines[pid] = Pipeline(
            pid, ORCHESTRATION, "main", None, "success", "web", at, at + 5 * M, web
        )
        job = Job(
            id=pid * 10 + 1,
            name=name,
            status="success",
            stage="cut-off",
            pipeline_id=pid,
            created_at=at,
            started_at=at,
            finished_at=at + M,
            web_url=f"{orch.web_url}/-/jobs/{pid * 10 + 1}",
            user="maria.release",
        )
        orch.jobs[pid] = (job,)
        self.cut_off(at)
        return job

    # -- running the code under test ------------------------------------------------------
    def collect(self, mr: MergeRequest, service: str | None = None) -> Any:
        """`Collector.collect` of `mr` for the service (the only one, unless named)."""
        from auditor.collect import Collector

        chosen = self.services[service] if service else next(iter(self.services.values()))
        return Collector(self.src, self.settings).collect(  # type: ignore[arg-type]
            chosen, self.src.merge_request(mr.project, mr.iid)
        )

    def discover(self, start: datetime, end: datetime, horizon: datetime | None = None) -> Any:
        """`Discoverer.discover` over every service for the window [start, end]."""
        from auditor.discover import Discoverer, Window

        discoverer = Discoverer(
            self.src,  # type: ignore[arg-type]
            self.settings,
            Window(start, end),
            horizon or start - 7 * D,
        )
        return discoverer.discover(list(self.services.values()))
