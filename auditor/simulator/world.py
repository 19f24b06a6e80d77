"""The simulated GitLab's state: projects backed by real git, and everything GitLab keeps
beside the repository (MRs, notes, label events, approvals, pipelines, jobs, bridges,
environments, deployments) as plain data.

Worlds are built with the verbs here (`World.project`, `SimProject.merge_request`,
`SimProject.cherry_pick`, ...), which also do what GitLab itself derives: a UI cherry-pick
adds the "picked the changes into the branch" system note, a played manual bridge gets a
downstream pipeline, a deploy job with an environment records a deployment.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from auditor.simulator.gitrepo import GitRepo, Person

PickStyle = Literal["ui", "ui_old", "ui_new_mr", "cli_x", "local", "conflict", "custom"]


@dataclass
class User:
    id: int
    username: str
    name: str

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"

    @property
    def person(self) -> Person:
        return Person(self.name, self.email)


@dataclass
class SimNote:
    id: int
    body: str
    author: User
    created_at: datetime
    system: bool = False


@dataclass
class SimLabelEvent:
    id: int
    user: User
    created_at: datetime
    label: str
    action: Literal["add", "remove"]


@dataclass
class SimApproval:
    user: User
    approved_at: datetime


@dataclass
class SimMR:
    id: int
    iid: int
    project: SimProject
    title: str
    description: str
    author: User
    source_branch: str
    target_branch: str
    created_at: datetime
    updated_at: datetime
    state: str = "opened"
    merged_at: datetime | None = None
    merged_by: User | None = None
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    squash: bool = False
    sha: str | None = None
    commit_shas: list[str] = field(default_factory=list)  # oldest first
    base_sha: str | None = None
    notes: list[SimNote] = field(default_factory=list)
    label_events: list[SimLabelEvent] = field(default_factory=list)
    approvals: list[SimApproval] = field(default_factory=list)
    approvals_required: int = 1

    @property
    def labels(self) -> list[str]:
        current: list[str] = []
        for ev in sorted(self.label_events, key=lambda e: (e.created_at, e.id)):
            if ev.action == "add" and ev.label not in current:
                current.append(ev.label)
            elif ev.action == "remove" and ev.label in current:
                current.remove(ev.label)
        return current

    @property
    def web_url(self) -> str:
        return f"{self.project.web_url}/-/merge_requests/{self.iid}"

    def touch(self, at: datetime) -> None:
        self.updated_at = max(self.updated_at, at)

    def note(self, body: str, by: User, at: datetime, system: bool = False) -> SimNote:
        n = SimNote(self.project.world.next_id("note"), body, by, at, system)
        self.notes.append(n)
        self.touch(at)
        return n

    def label(self, name: str, by: User, at: datetime, action: str = "add") -> None:
        ev = SimLabelEvent(self.project.world.next_id("label_event"), by, at, name, action)  # type: ignore[arg-type]
        self.label_events.append(ev)
        self.touch(at)

    def approve(self, by: User, at: datetime) -> None:
        self.approvals.append(SimApproval(by, at))
        self.touch(at)


@dataclass
class SimPipeline:
    id: int
    iid: int
    project: SimProject
    ref: str
    sha: str
    source: str
    created_at: datetime
    updated_at: datetime
    user: User
    status: str = "created"

    @property
    def web_url(self) -> str:
        return f"{self.project.web_url}/-/pipelines/{self.id}"

    def job(self, name: str, stage: str, **kw: object) -> SimJob:
        return self.project.world.add_job(self, name, stage, **kw)  # type: ignore[arg-type]

    def jobs(self, include_retried: bool = False) -> list[SimJob]:
        jobs = [j for j in self.project.world.jobs.values() if j.pipeline is self]
        if not include_retried:
            jobs = [j for j in jobs if not j.retried]
        return sorted(jobs, key=lambda j: j.id)

    def refresh_status(self) -> None:
        """Derive the pipeline status the way GitLab does, from its latest jobs."""
        statuses = [j.status for j in self.jobs() if not (j.allow_failure and j.status == "failed")]
        updates = [j.finished_at or j.started_at or j.created_at for j in self.jobs()]
        self.updated_at = max([self.created_at, *[u for u in updates if u]])
        if any(s in ("running", "pending") for s in statuses):
            self.status = "running"
        elif any(s == "failed" for s in statuses):
            self.status = "failed"
        elif any(s == "canceled" for s in statuses):
            self.status = "canceled"
        elif statuses and all(s in ("manual", "skipped", "created") for s in statuses):
            self.status = "manual" if "manual" in statuses else "skipped"
        elif (
            any(s == "manual" for s in statuses)
            and all(s in ("success", "manual", "skipped") for s in statuses)
            or statuses
            and all(s in ("success", "skipped") for s in statuses)
        ):
            self.status = "success"


@dataclass
class SimJob:
    id: int
    pipeline: SimPipeline
    name: str
    stage: str
    status: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    user: User | None = None
    allow_failure: bool = False
    bridge: bool = False
    downstream: SimPipeline | None = None
    environment: str | None = None
    retried: bool = False

    @property
    def web_url(self) -> str:
        return f"{self.pipeline.project.web_url}/-/jobs/{self.id}"


@dataclass
class SimEnvironment:
    id: int
    name: str
    project: SimProject
    state: str = "available"
    external_url: str | None = None


@dataclass
class SimDeployment:
    id: int
    iid: int
    project: SimProject
    environment: SimEnvironment
    status: str
    sha: str
    ref: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    deployable: SimJob
    user: User


@dataclass
class SimProject:
    id: int
    path: str
    world: World
    repo: GitRepo
    default_branch: str = "main"
    mrs: dict[int, SimMR] = field(default_factory=dict)
    environments: dict[str, SimEnvironment] = field(default_factory=dict)
    deployments: list[SimDeployment] = field(default_factory=list)
    # endpoint families answered with 403 ("environments", "deployments", "approvals", ...)
    forbidden: set[str] = field(default_factory=set)

    @property
    def web_url(self) -> str:
        return f"{self.world.url}/{self.path}"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def pipelines(self) -> list[SimPipeline]:
        return [p for p in self.world.pipelines.values() if p.project is self]

    # -- repository -----------------------------------------------------------------------
    def commit(
        self,
        branch: str,
        title: str,
        files: dict[str, str | None],
        by: User,
        at: datetime,
        body: str = "",
    ) -> str:
        message = title + ("\n\n" + body if body else "") + "\n"
        return self.repo.commit(branch, message, files, at, by.person)

    def branch(self, name: str, start: str) -> None:
        self.repo.create_branch(name, self.repo.resolve(start) or start)

    def head(self, ref: str) -> str:
        sha = self.repo.resolve(ref)
        assert sha, f"no ref {ref} in {self.path}"
        return sha

    # -- merge requests -------------------------------------------------------------------
    def merge_request(
        self,
        title: str,
        files: dict[str, str | None] | list[dict[str, str | None]],
        by: User,
        at: datetime,
        source_branch: str | None = None,
        target_branch: str | None = None,
        description: str = "",
        approvals_required: int = 1,
    ) -> SimMR:
        """Open an MR whose source branch carries one commit per files-dict given."""
        target = target_branch or self.default_branch
        iid = len(self.mrs) + 1
        source = source_branch or f"hotfix/{iid}-" + "-".join(title.lower().split()[:3])
        base = self.head(target)
        self.branch(source, base)
        changes = files if isinstance(files, list) else [files]
        shas = []
        for n, change in enumerate(changes):
            label = title if len(changes) == 1 else f"{title} (part {n + 1})"
            shas.append(self.commit(source, label, change, by, at - timedelta(minutes=30 - n)))
        return self._open(
            title, description, by, at, source, target, shas, base, approvals_required
        )

    def _open(
        self,
        title: str,
        description: str,
        by: User,
        at: datetime,
        source: str,
        target: str,
        shas: list[str],
        base: str,
        approvals_required: int = 1,
    ) -> SimMR:
        """Record an MR opened at `at` from `source` (carrying `shas`) into `target`."""
        mr = SimMR(
            id=self.world.next_id("mr"),
            iid=len(self.mrs) + 1,
            project=self,
            title=title,
            description=description,
            author=by,
            source_branch=source,
            target_branch=target,
            created_at=at,
            updated_at=at,
            sha=shas[-1],
            commit_shas=shas,
            base_sha=base,
            approvals_required=approvals_required,
        )
        self.mrs[mr.iid] = mr
        return mr

    def merge(self, mr: SimMR, by: User, at: datetime, method: str = "merge") -> str:
        """GitLab merge methods: `merge` (merge commit), `squash` (squash + merge commit),
        `ff_squash` (fast-forward of one squashed commit: no merge_commit_sha)."""
        message_merge = (
            f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n"
            f"{mr.title}\n\nSee merge request {self.path}!{mr.iid}\n"
        )
        if method == "merge":
            sha = self.repo.merge(
                mr.source_branch, mr.target_branch, message_merge, at, by.person, squash=False
            )
            mr.merge_commit_sha = sha
        elif method in ("squash", "ff_squash"):
            squash_branch = f"squash-{mr.iid}"
            self.branch(squash_branch, mr.target_branch)
            squash_sha = self.repo.merge(
                mr.source_branch, squash_branch, mr.title + "\n", at, mr.author.person, squash=True
            )
            mr.squash_commit_sha = squash_sha
            mr.squash = True
            if method == "squash":
                mr.merge_commit_sha = self.repo.merge(
                    squash_branch, mr.target_branch, message_merge, at, by.person, squash=False
                )
            else:
                self.repo.reset_branch(mr.target_branch, squash_sha)
            self.repo.checkout(mr.target_branch)
            self.repo._run("branch", "-D", squash_branch)
        else:
            raise ValueError(f"unknown merge method {method}")
        mr.state = "merged"
        mr.merged_at = at
        mr.merged_by = by
        mr.touch(at)
        return mr.merge_commit_sha or mr.squash_commit_sha or ""

    def merge_request_from(
        self, title: str, source_branch: str, by: User, at: datetime, description: str = ""
    ) -> SimMR:
        """Open an MR from a branch that already carries its commits (made before the MR
        was opened: a change can be picked before anyone proposes it)."""
        target = self.default_branch
        base = self.repo.merge_base(self.head(target), self.head(source_branch)) or ""
        shas = self.repo.range(base, self.head(source_branch))
        return self._open(title, description, by, at, source_branch, target, shas, base)

    def mr_by_merge_commit(self, sha: str) -> SimMR | None:
        for mr in self.mrs.values():
            if mr.merge_commit_sha == sha:
                return mr
        return None

    def cherry_pick(
        self,
        mr: SimMR,
        by: User,
        at: datetime,
        style: PickStyle = "ui",
        onto: str = "release",
        sha: str | None = None,
        extra_files: dict[str, str | None] | None = None,
        message: str | None = None,
    ) -> str:
        """Cherry-pick an MR's change the way a person would.

        ui         GitLab's Cherry-pick button: `(cherry-picked from commit X)` + MR commit
                   list + Co-authored-by, and the system note when X is the merge commit.
        ui_old     older GitLab: `(cherry picked from commit X)`, no Co-authored-by.
        ui_new_mr  the button with "start a new merge request": the pick lands on
                   `cherry-pick-<short>` and an MR into `onto` is opened (merge it yourself).
        cli_x      `git cherry-pick -x` pushed: old-spelling trailer, no note.
        local      picked locally without -x: same patch, no trailer, no note.
        conflict   resolved by hand: `extra_files` change the patch; no trailer, no note.
        custom     the API's `message` parameter: exactly `message`, no trailer.
        """
        picked = sha or mr.merge_commit_sha or mr.squash_commit_sha or mr.commit_shas[-1]
        original = self.repo.show(picked)
        title = original.title if style in ("local", "conflict") else mr.title
        if style in ("ui", "ui_new_mr"):
            lines = [title, "", f"(cherry-picked from commit {picked})"]
            if self.mrs and mr.merge_commit_sha == picked:
                lines.append("")
                for c in reversed(mr.commit_shas):
                    lines.append(f"{c[:8]} {self.repo.show(c).title}")
            lines += ["", f"Co-authored-by: {mr.author.name} <{mr.author.email}>"]
            text = "\n".join(lines) + "\n"
        elif style in ("ui_old", "cli_x"):
            text = f"{title}\n\n(cherry picked from commit {picked})\n"
        elif style == "custom":
            text = (message or title) + "\n"
        else:
            text = f"{title}\n"
        branch = onto
        if style == "ui_new_mr":
            branch = f"cherry-pick-{picked[:8]}"
            self.branch(branch, onto)
        new_sha = self.repo.cherry_pick(picked, branch, text, at, by.person, extra_files)
        if style in ("ui", "ui_new_mr") and self.mr_by_merge_commit(picked) is mr:
            tree = f"/{self.path}/-/tree/{branch}"
            mr.note(
                f"picked the changes into the branch [`{branch}`]({tree}) with commit {new_sha}",
                by,
                at,
                system=True,
            )
        if style == "ui_new_mr":
            self._open(
                f"Cherry pick '{mr.title}' into '{onto}'",
                f"Cherry-picks {self.path}!{mr.iid}",
                by,
                at,
                branch,
                onto,
                [new_sha],
                self.head(onto),
            )
        return new_sha

    def revert(
        self, sha: str, by: User, at: datetime, on: str = "release", message: str | None = None
    ) -> str:
        """Revert `sha` on `on` (`git revert -m 1` for a merge commit); `message` replaces
        git's text, dropping its "This reverts commit" line."""
        return self.repo.revert(sha, on, at, by.person, message)

    def rebuild_branch(self, branch: str, from_ref: str) -> None:
        """A cut-off: `branch` is reset to `from_ref` (force push)."""
        self.repo.reset_branch(branch, self.head(from_ref))

    # -- CI -------------------------------------------------------------------------------
    def environment(self, name: str) -> SimEnvironment:
        if name not in self.environments:
            self.environments[name] = SimEnvironment(
                self.world.next_id("environment"), name, self, external_url=None
            )
        return self.environments[name]

    def pipeline(
        self, ref: str, by: User, at: datetime, source: str = "web", sha: str | None = None
    ) -> SimPipeline:
        p = SimPipeline(
            id=self.world.next_id("pipeline"),
            iid=len(self.pipelines) + 1,
            project=self,
            ref=ref,
            sha=sha or self.head(ref),
            source=source,
            created_at=at,
            updated_at=at,
            user=by,
        )
        self.world.pipelines[p.id] = p
        return p


class World:
    """Everything the simulated GitLab knows. Build it, then serve it."""

    def __init__(self, now: datetime, url: str = "http://127.0.0.1", root: Path | None = None):
        self.now = now
        self.url = url
        self.token = "glpat-simulated-0123456789abcdef"
        # what GET /personal_access_tokens/self reports (auditor doctor warns beyond read_api)
        self.token_scopes: list[str] = ["read_api"]
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="auditor-world-"))
            # A world's git repositories live as long as the world: a test suite or a demo
            # builds hundreds of worlds and would otherwise leave gigabytes in the temp dir.
            weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
        self.root = root
        self.users: dict[str, User] = {}
        self.projects: dict[str, SimProject] = {}
        self.pipelines: dict[int, SimPipeline] = {}
        self.jobs: dict[int, SimJob] = {}
        self._ids: dict[str, itertools.count[int]] = {}

    def next_id(self, kind: str) -> int:
        starts = {
            "project": 100,
            "pipeline": 5000,
            "job": 90000,
            "deployment": 700,
            "mr": 3000,
            "note": 40000,
            "label_event": 800,
            "environment": 60,
        }
        if kind not in self._ids:
            self._ids[kind] = itertools.count(starts.get(kind, 1))
        return next(self._ids[kind])

    def user(self, username: str, name: str | None = None) -> User:
        if username not in self.users:
            self.users[username] = User(
                len(self.users) + 1, username, name or username.replace(".", " ").title()
            )
        return self.users[username]

    def project(self, path: str, default_branch: str = "main") -> SimProject:
        if path not in self.projects:
            pid = self.next_id("project")
            repo = GitRepo(self.root / path.replace("/", "__"))
            self.projects[path] = SimProject(pid, path, self, repo, default_branch)
        return self.projects[path]

    def project_by_id(self, pid: int) -> SimProject | None:
        return next((p for p in self.projects.values() if p.id == pid), None)

    def add_job(
        self,
        pipeline: SimPipeline,
        name: str,
        stage: str,
        status: str = "success",
        at: datetime | None = None,
        duration: timedelta = timedelta(minutes=3),
        user: User | None = None,
        allow_failure: bool = False,
        bridge: bool = False,
        environment: str | None = None,
    ) -> SimJob:
        """Add a job; a `manual` job was never played, any other status ran at `at`."""
        created = pipeline.created_at
        started = finished = None
        if status not in ("manual", "created", "skipped", "scheduled"):
            started = at or created
            if status not in ("running", "pending"):
                finished = started + duration
        job = SimJob(
            id=self.next_id("job"),
            pipeline=pipeline,
            name=name,
            stage=stage,
            status=status,
            created_at=created,
            started_at=started,
            finished_at=finished,
            user=user or pipeline.user,
            allow_failure=allow_failure,
            bridge=bridge,
            environment=environment,
        )
        self.jobs[job.id] = job
        pipeline.refresh_status()
        return job

    def retry(self, job: SimJob, status: str, at: datetime, user: User | None = None) -> SimJob:
        """A retried job hides its earlier attempt unless include_retried is asked for."""
        job.retried = True
        again = self.add_job(
            job.pipeline,
            job.name,
            job.stage,
            status,
            at=at,
            user=user or job.user,
            allow_failure=job.allow_failure,
            bridge=job.bridge,
            environment=job.environment,
        )
        again.created_at = at
        return again

    def deploy(
        self,
        job: SimJob,
        status: str | None = None,
        sha: str | None = None,
    ) -> SimDeployment:
        """Record the deployment a job with `environment:` creates."""
        project = job.pipeline.project
        env = project.environment(job.environment or "staging")
        finished = (
            job.finished_at if (status or job.status) in ("success", "failed", "canceled") else None
        )
        d = SimDeployment(
            id=self.next_id("deployment"),
            iid=len(project.deployments) + 1,
            project=project,
            environment=env,
            status=status or job.status,
            sha=sha or job.pipeline.sha,
            ref=job.pipeline.ref,
            created_at=job.started_at or job.created_at,
            updated_at=finished or job.started_at or job.created_at,
            finished_at=finished,
            deployable=job,
            user=job.user or job.pipeline.user,
        )
        project.deployments.append(d)
        return d


def utc(text: str) -> datetime:
    """`2026-11-16T09:00` -> aware UTC datetime (world files use this)."""
    at = datetime.fromisoformat(text)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
