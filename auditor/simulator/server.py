"""A GitLab REST v4 double served over real HTTP on 127.0.0.1.

`SimulatorServer(world).start()` serves a `World` read-only, the way GitLab 18.x answers the
endpoints the auditor reads: GitLab's field names and types, offset pagination with its
headers (and its quirks: no X-Total over 10,000 rows, none at all on the commits list),
RateLimit-* headers on every Rails answer, 401/403/404/405 bodies, GitLab's deployment-filter
rules, and faults on demand (`Faults`). Only GET and HEAD are served; anything else is
answered 405 and recorded, so tests can prove the auditor never writes.

The HTTP layer is a thin shell over `GitLabApi.handle`, which maps (method, path, query) to a
`Response` without sockets.

Endpoint families (for `SimProject.forbidden`): merge_requests, approvals, notes,
label_events, repository, pipelines, jobs, environments, deployments. A request is answered
403 when any family it needs is forbidden; MR sub-resources also need "merge_requests",
pipeline jobs/bridges also need "pipelines", a commit's MRs need "repository" and
"merge_requests", a deployment's MRs need "deployments" and "merge_requests".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode

from auditor.simulator.faults import GATEWAY_STATUSES, Faults, FaultState, reshape
from auditor.simulator.gitrepo import GitCommit, GitError, GitRepo
from auditor.simulator.world import (
    SimDeployment,
    SimEnvironment,
    SimJob,
    SimLabelEvent,
    SimMR,
    SimNote,
    SimPipeline,
    SimProject,
    User,
    World,
)

__all__ = [
    "ApiError",
    "Faults",
    "GitLabApi",
    "Listing",
    "Query",
    "RecordedRequest",
    "Response",
    "SimulatorServer",
    "paginate",
]

API_PREFIX = "/api/v4"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
# Above this many rows GitLab stops counting: no X-Total, X-Total-Pages or rel="last".
COUNT_LIMIT = 10_000
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
NULL_SHA = "0" * 40

JSON = Any


# -- plumbing types -------------------------------------------------------------------------
class ApiError(Exception):
    """An answer other than 200, raised from deep inside a handler."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def not_found(what: str) -> ApiError:
    return ApiError(404, {"message": f"404 {what} Not Found"})


def bad_request(reason: str) -> ApiError:
    # GitLab's bad_request!(reason) prefixes the reason.
    return ApiError(400, {"message": f"400 Bad request - {reason}"})


def invalid_param(name: str) -> ApiError:
    # Grape's parameter validation answers with `error`, not `message`.
    return ApiError(400, {"error": f"{name} does not have a valid value"})


@dataclass
class RecordedRequest:
    method: str
    path: str  # as sent, still URL-encoded, without the query string
    query: dict[str, list[str]]
    status: int
    query_string: str = ""  # raw, as sent: tells `?page=2` from `?page=3` for repeat checks
    at: float = field(default_factory=time.time)

    @property
    def unquoted_path(self) -> str:
        return unquote(self.path)


@dataclass
class Response:
    status: int
    body: JSON | str | None
    headers: dict[str, str] = field(default_factory=dict)
    text_type: str = "text/plain"  # Content-Type when body is a str
    raw: bytes | None = None  # sent instead of the body (a corrupt answer), as `raw_type`
    raw_type: str = "application/json"
    truncate: bool = False  # announce the whole payload, send half, drop the connection

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()

    @property
    def content_type(self) -> str:
        if self.raw is not None:
            return self.raw_type
        return self.text_type if isinstance(self.body, str) else "application/json"


@dataclass
class Listing:
    """A list endpoint's full result; only the requested page is rendered."""

    rows: Sequence[Any]
    render: Callable[[Any], JSON]
    count_total: bool = True


class Query:
    """Query parameters the way Grape reads them (last value wins, `x[]` for arrays)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.multi: dict[str, list[str]] = {}
        for k, v in pairs:
            self.multi.setdefault(k, []).append(v)

    @classmethod
    def parse(cls, raw: str) -> Query:
        return cls(parse_qsl(raw, keep_blank_values=True))

    def text(self, name: str) -> str | None:
        values = self.multi.get(name)
        return values[-1] if values and values[-1] != "" else None

    def values(self, name: str) -> list[str]:
        """`name[]=a&name[]=b`, repeated `name=`, or `name=a,b` all give [a, b]."""
        out = [v for v in self.multi.get(f"{name}[]", []) if v != ""]
        for v in self.multi.get(name, []):
            out += [part for part in v.split(",") if part]
        return out

    def choice(self, name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        if value not in allowed:
            raise invalid_param(name)
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "t", "yes", "y", "on"):
            return True
        if value.lower() in ("0", "false", "f", "no", "n", "off"):
            return False
        raise ApiError(400, {"error": f"{name} is invalid"})

    def integer(self, name: str, default: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, {"error": f"{name} is invalid"}) from None

    def when(self, name: str) -> datetime | None:
        value = self.text(name)
        if value is None:
            return None
        # An unencoded `+00:00` arrives as ` 00:00`; a str(datetime) has a real space.
        for candidate in (value, value.replace(" ", "+")):
            try:
                at = datetime.fromisoformat(candidate)
            except ValueError:
                continue
            return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        raise ApiError(400, {"error": f"{name} is invalid"})


# -- pagination -----------------------------------------------------------------------------
def paginate(
    rows: Sequence[Any],
    pairs: list[tuple[str, str]],
    base_url: str,
    count_total: bool = True,
) -> tuple[list[Any], dict[str, str]]:
    """GitLab's offset pagination: the page's rows and the headers to send with them.

    `pairs` is the request's query (order kept, so Link URLs look like the request);
    `base_url` the absolute URL without query. Rows beyond the page are never touched
    except through `len()` and slicing, so a `range` stands in for a huge table.
    """
    q = Query(pairs)
    page = max(1, q.integer("page", 1))
    per_page = q.integer("per_page", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    total = len(rows)
    start = (page - 1) * per_page
    items = list(rows[start : start + per_page])
    has_next = start + per_page < total
    counted = count_total and total <= COUNT_LIMIT
    total_pages = max(1, math.ceil(total / per_page))
    # Kaminari gives no prev page when the requested page is past the end.
    has_prev = page > 1 and (page <= total_pages or not counted)

    def link(to_page: int) -> str:
        kept = [(k, v) for k, v in pairs if k not in ("page", "per_page")]
        kept += [("page", str(to_page)), ("per_page", str(per_page))]
        return f"{base_url}?{urlencode(kept)}"

    links = []
    if has_prev:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    if has_next:
        links.append(f'<{link(page + 1)}>; rel="next"')
    links.append(f'<{link(1)}>; rel="first"')
    if counted:
        links.append(f'<{link(total_pages)}>; rel="last"')
    headers = {
        "Link": ", ".join(links),
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Next-Page": str(page + 1) if has_next else "",
        "X-Prev-Page": str(page - 1) if has_prev else "",
    }
    if counted:
        headers["X-Total"] = str(total)
        headers["X-Total-Pages"] = str(total_pages)
    return items, headers


# -- formatting -----------------------------------------------------------------------------
def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def ts(at: datetime | None) -> str | None:
    """Rails' API timestamps: `2026-11-16T09:00:00.000Z`."""
    if at is None:
        return None
    at = _utc(at)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def git_ts(at: datetime) -> str:
    """Commit dates keep the committer's offset in GitLab (`...000+00:00`), not `Z`."""
    at = _utc(at)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+00:00"


_TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):\s+(.+)$")


def parse_trailers(message: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Git trailers of the message's last paragraph (`trailers`, `extended_trailers`)."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}, {}
    lines = paragraphs[-1].strip().splitlines()
    matches = [_TRAILER_LINE.match(line) for line in lines]
    if not all(matches):
        return {}, {}
    extended: dict[str, list[str]] = {}
    for m in matches:
        assert m is not None
        extended.setdefault(m.group(1), []).append(m.group(2))
    return {k: v[-1] for k, v in extended.items()}, extended


_DETAILED_STATUS = {
    "success": ("status_success", "passed", "passed", "success"),
    "success_warning": (
        "status_warning",
        "warning",
        "passed with warnings",
        "success-with-warnings",
    ),
    "failed": ("status_failed", "failed", "failed", "failed"),
    "running": ("status_running", "running", "running", "running"),
    "pending": ("status_pending", "pending", "pending", "pending"),
    "canceled": ("status_canceled", "canceled", "canceled", "canceled"),
    "skipped": ("status_skipped", "skipped", "skipped", "skipped"),
    "manual": ("status_manual", "blocked", "waiting for manual action", "manual"),
    "created": ("status_created", "created", "created", "created"),
    "scheduled": ("status_scheduled", "delayed", "delayed", "scheduled"),
}

PIPELINE_STATUSES = (
    "created",
    "waiting_for_resource",
    "preparing",
    "pending",
    "running",
    "success",
    "failed",
    "canceled",
    "skipped",
    "manual",
    "scheduled",
    "canceling",
    "waiting_for_callback",
)
# jobs' `scope[]` takes the same statuses as pipelines' `status`
JOB_SCOPES = PIPELINE_STATUSES
PIPELINE_SOURCES = (
    "push",
    "web",
    "trigger",
    "schedule",
    "api",
    "external",
    "pipeline",
    "chat",
    "webide",
    "merge_request_event",
    "external_pull_request_event",
    "parent_pipeline",
    "ondemand_dast_scan",
    "ondemand_dast_validation",
    "security_orchestration_policy",
    "container_registry_push",
    "duo_workflow",
    "pipeline_execution_policy_schedule",
)
DEPLOYMENT_STATUSES = ("created", "running", "success", "failed", "canceled", "skipped", "blocked")
FINISHED_DEPLOYMENT = ("success", "failed", "canceled")
UPCOMING_DEPLOYMENT = ("created", "blocked", "running")
FINISHED_PIPELINE = ("success", "failed", "canceled", "skipped")
LABEL_COLORS = ("#dc143c", "#009966", "#6699cc", "#ed9121", "#8fbc8f", "#9400d3", "#cc338b")

_P = r"/projects/(?P<pid>[^/]+)"
_MR = _P + r"/merge_requests/(?P<iid>\d+)"
_SHA = _P + r"/repository/commits/(?P<sha>[^/]+)"
_PL = _P + r"/pipelines/(?P<pipeline_id>\d+)"
_DEP = _P + r"/deployments/(?P<dep_id>\d+)"

# (path regex under /api/v4, families needed, handler name)
ROUTES: list[tuple[str, tuple[str, ...], str]] = [
    (r"/version", (), "version"),
    (r"/user", (), "current_user"),
    (r"/personal_access_tokens/self", (), "token_self"),
    (_P, (), "project_get"),
    (_P + r"/merge_requests", ("merge_requests",), "mr_list"),
    (_MR, ("merge_requests",), "mr_get"),
    (_MR + r"/approvals", ("merge_requests", "approvals"), "mr_approvals"),
    (_MR + r"/notes", ("merge_requests", "notes"), "mr_notes"),
    (_MR + r"/resource_label_events", ("merge_requests", "label_events"), "mr_label_events"),
    (_MR + r"/commits", ("merge_requests",), "mr_commits"),
    (_MR + r"/pipelines", ("merge_requests", "pipelines"), "mr_pipelines"),
    (_P + r"/repository/commits", ("repository",), "commit_list"),
    (_SHA, ("repository",), "commit_get"),
    (_SHA + r"/diff", ("repository",), "commit_diff"),
    (_SHA + r"/refs", ("repository",), "commit_refs"),
    (_SHA + r"/merge_requests", ("repository", "merge_requests"), "commit_mrs"),
    (_P + r"/repository/compare", ("repository",), "compare"),
    (_P + r"/repository/merge_base", ("repository",), "merge_base"),
    (_P + r"/repository/branches", ("repository",), "branch_list"),
    # Branch names may arrive with their slashes encoded or not, as GitLab allows.
    (_P + r"/repository/branches/(?P<branch>.+)", ("repository",), "branch_get"),
    (_P + r"/pipelines", ("pipelines",), "pipeline_list"),
    (_PL, ("pipelines",), "pipeline_get"),
    (_PL + r"/jobs", ("pipelines", "jobs"), "pipeline_jobs"),
    (_PL + r"/bridges", ("pipelines", "jobs"), "pipeline_bridges"),
    (_P + r"/jobs", ("jobs",), "job_list"),
    (_P + r"/jobs/(?P<job_id>\d+)", ("jobs",), "job_get"),
    (_P + r"/environments", ("environments",), "environment_list"),
    (_P + r"/environments/(?P<env_id>\d+)", ("environments",), "environment_get"),
    (_P + r"/deployments", ("deployments",), "deployment_list"),
    (_DEP, ("deployments",), "deployment_get"),
    (_DEP + r"/merge_requests", ("deployments", "merge_requests"), "deployment_mrs"),
]
_COMPILED = [(re.compile(pattern), fams, name) for pattern, fams, name in ROUTES]


# -- the API, socket-free -------------------------------------------------------------------
class GitLabApi:
    """Answers GitLab REST v4 reads from a World. One lock serialises world and git access
    (GitRepo shells out and caches), so concurrent HTTP threads only overlap on I/O."""

    def __init__(self, world: World, lock: threading.RLock | None = None) -> None:
        self.world = world
        self.lock = lock or threading.RLock()
        # Per-request memo (tags, label ids): the world may change between requests, never
        # during one, since requests are served under the lock.
        self._memo: dict[tuple[str, int], Any] = {}

    # -- entry point ------------------------------------------------------------------------
    def handle(self, raw_path: str, raw_query: str) -> Response:
        """A GET (or HEAD) already authenticated; `raw_path` starts after /api/v4."""
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        q = Query(pairs)
        for pattern, families, name in _COMPILED:
            m = pattern.fullmatch(raw_path)
            if not m:
                continue
            groups = {k: unquote(v) for k, v in m.groupdict().items()}
            try:
                with self.lock:
                    self._memo.clear()
                    project = None
                    if "pid" in groups:
                        project = self._project(groups.pop("pid"))
                        if project.forbidden.intersection(families):
                            raise ApiError(403, {"message": "403 Forbidden"})
                    result = getattr(self, name)(q, project, **groups)
                    if isinstance(result, Listing):
                        base = f"{self.world.url}{API_PREFIX}{raw_path}"
                        page, headers = paginate(result.rows, pairs, base, result.count_total)
                        return Response(200, [result.render(r) for r in page], headers)
                    return Response(200, result)
            except ApiError as e:
                return Response(e.status, e.body)
        return Response(404, {"error": "404 Not Found"})

    # -- lookups ----------------------------------------------------------------------------
    def _project(self, ident: str) -> SimProject:
        project: SimProject | None = None
        if ident.isdigit():
            project = self.world.project_by_id(int(ident))
        else:
            project = self.world.projects.get(ident) or next(
                (p for p in self.world.projects.values() if p.path.lower() == ident.lower()),
                None,
            )
        if project is None:
            raise not_found("Project")
        return project

    def _mr(self, project: SimProject, iid: str) -> SimMR:
        mr = project.mrs.get(int(iid))
        if mr is None:
            raise not_found("Merge Request")
        return mr

    def _resolve(self, project: SimProject, ref: str, what: str = "Commit") -> str:
        sha = project.repo.resolve(ref) if ref and not ref.startswith("-") else None
        if sha is None:
            raise not_found(what)
        return sha

    def _pipeline(self, project: SimProject, pipeline_id: str) -> SimPipeline:
        p = self.world.pipelines.get(int(pipeline_id))
        if p is None or p.project is not project:
            raise not_found("Pipeline")
        return p

    def _deployment(self, project: SimProject, dep_id: str) -> SimDeployment:
        d = next((d for d in project.deployments if d.id == int(dep_id)), None)
        if d is None:
            raise not_found("Deployment")
        return d

    def _tags(self, repo: GitRepo) -> list[str]:
        key = ("tags", id(repo))
        if key not in self._memo:
            self._memo[key] = repo._run("tag", "--list").split()
        return self._memo[key]

    # -- small entities ---------------------------------------------------------------------
    def user(self, user: User | None) -> JSON:
        if user is None:
            return None
        digest = hashlib.md5(user.email.encode(), usedforsecurity=False).hexdigest()
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": "active",
            "locked": False,
            "avatar_url": f"https://www.gravatar.com/avatar/{digest}?s=80&d=identicon",
            "web_url": f"{self.world.url}/{user.username}",
        }

    def commit(self, project: SimProject, c: GitCommit) -> JSON:
        trailers, extended = parse_trailers(c.message)
        return {
            "id": c.id,
            "short_id": c.id[:8],
            "created_at": git_ts(c.committed_date),
            "parent_ids": list(c.parent_ids),
            "title": c.title,
            "message": c.message,
            "author_name": c.author_name,
            "author_email": c.author_email,
            "authored_date": git_ts(c.authored_date),
            "committer_name": c.committer_name,
            "committer_email": c.committer_email,
            "committed_date": git_ts(c.committed_date),
            "trailers": trailers,
            "extended_trailers": extended,
            "web_url": f"{project.web_url}/-/commit/{c.id}",
        }

    def commit_by_sha(self, project: SimProject, sha: str) -> JSON:
        return self.commit(project, project.repo.show(sha))

    def pipeline_basic(self, p: SimPipeline) -> JSON:
        return {
            "id": p.id,
            "iid": p.iid,
            "project_id": p.project.id,
            "sha": p.sha,
            "ref": p.ref,
            "status": p.status,
            "source": p.source,
            "created_at": ts(p.created_at),
            "updated_at": ts(p.updated_at),
            "web_url": p.web_url,
        }

    def _detailed_status(self, p: SimPipeline) -> JSON:
        key = p.status
        warned = any(j.allow_failure and j.status == "failed" for j in p.jobs())
        if key == "success" and warned:
            key = "success_warning"
        icon, text, label, group = _DETAILED_STATUS.get(key, _DETAILED_STATUS["created"])
        return {
            "icon": icon,
            "text": text,
            "label": label,
            "group": group,
            "tooltip": label,
            "has_details": True,
            "details_path": f"/{p.project.path}/-/pipelines/{p.id}",
            "illustration": None,
            "favicon": f"/assets/ci_favicons/favicon_{icon}.png",
        }

    def pipeline_detail(self, p: SimPipeline) -> JSON:
        jobs = p.jobs()
        started = [j.started_at for j in jobs if j.started_at]
        finished = [j.finished_at for j in jobs if j.finished_at]
        started_at = min(started) if started else None
        finished_at = max(finished) if finished and p.status in FINISHED_PIPELINE else None
        before_sha = NULL_SHA
        if p.source == "push":
            parents = p.project.repo.show(p.sha).parent_ids
            before_sha = parents[0] if parents else NULL_SHA
        return {
            **self.pipeline_basic(p),
            "name": None,
            "before_sha": before_sha,
            "tag": p.ref in self._tags(p.project.repo),
            "yaml_errors": None,
            "user": self.user(p.user),
            "started_at": ts(started_at),
            "finished_at": ts(finished_at),
            "committed_at": None,
            "duration": int((finished_at - started_at).total_seconds())
            if started_at and finished_at
            else None,
            "queued_duration": int((started_at - p.created_at).total_seconds())
            if started_at
            else None,
            "coverage": None,
            "detailed_status": self._detailed_status(p),
            "archived": False,
        }

    def _job_basic(self, j: SimJob) -> JSON:
        p = j.pipeline
        now = self.world.now
        duration = None
        if j.started_at:
            duration = ((j.finished_at or now) - j.started_at).total_seconds()
        body: dict[str, JSON] = {
            "id": j.id,
            "status": j.status,
            "stage": j.stage,
            "name": j.name,
            "ref": p.ref,
            "tag": p.ref in self._tags(p.project.repo),
            "coverage": None,
            "allow_failure": j.allow_failure,
            "created_at": ts(j.created_at),
            "started_at": ts(j.started_at),
            "finished_at": ts(j.finished_at),
            "erased_at": None,
            "duration": duration,
            "queued_duration": (j.started_at - j.created_at).total_seconds()
            if j.started_at
            else None,
            "user": self.user(j.user),
            "commit": self.commit_by_sha(p.project, p.sha),
            "pipeline": self.pipeline_basic(p),
            "web_url": j.web_url,
            "project": {"ci_job_token_scope_enabled": False},
        }
        if j.status == "failed":
            body["failure_reason"] = "script_failure"
        return body

    def job(self, j: SimJob) -> JSON:
        return {
            **self._job_basic(j),
            "artifacts": [],
            "artifacts_expire_at": None,
            "tag_list": [],
            "runner": None,
            "runner_manager": None,
            "archived": False,
        }

    def bridge(self, j: SimJob) -> JSON:
        return {
            **self._job_basic(j),
            "downstream_pipeline": self.pipeline_basic(j.downstream) if j.downstream else None,
        }

    def _label_ids(self, project: SimProject) -> dict[str, int]:
        """Stable label ids per project: order of first use across the project's MRs."""
        key = ("labels", id(project))
        if key in self._memo:
            return self._memo[key]
        events = sorted(
            (ev for mr in project.mrs.values() for ev in mr.label_events), key=lambda e: e.id
        )
        ids: dict[str, int] = {}
        for ev in events:
            ids.setdefault(ev.label, 1000 + len(ids))
        self._memo[key] = ids
        return ids

    def label(self, project: SimProject, name: str) -> JSON:
        label_id = self._label_ids(project).get(name, 999)
        return {
            "id": label_id,
            "name": name,
            "color": LABEL_COLORS[label_id % len(LABEL_COLORS)],
            "description": "",
            "description_html": "",
            "text_color": "#FFFFFF",
        }

    # -- merge requests ---------------------------------------------------------------------
    def _mr_pipelines(self, mr: SimMR) -> list[SimPipeline]:
        mr_ref = f"refs/merge-requests/{mr.iid}/"
        found = [
            p
            for p in mr.project.pipelines
            if (p.ref == mr.source_branch and p.sha in mr.commit_shas) or p.ref.startswith(mr_ref)
        ]
        return sorted(found, key=lambda p: p.id, reverse=True)

    def _head_pipeline(self, mr: SimMR) -> SimPipeline | None:
        return next((p for p in self._mr_pipelines(mr) if p.sha == mr.sha), None)

    def mr_basic(self, mr: SimMR) -> JSON:
        project = mr.project
        draft = mr.title.lower().startswith(("draft:", "[draft]", "(draft)"))
        closed = mr.state == "closed"
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "imported": False,
            "imported_from": "none",
            "created_at": ts(mr.created_at),
            "updated_at": ts(mr.updated_at),
            "merged_by": self.user(mr.merged_by),
            "merge_user": self.user(mr.merged_by),
            "merged_at": ts(mr.merged_at),
            "merge_after": None,
            "prepared_at": ts(mr.created_at),
            "closed_by": self.user(mr.author) if closed else None,
            "closed_at": ts(mr.updated_at) if closed else None,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": sum(1 for n in mr.notes if not n.system),
            "upvotes": 0,
            "downvotes": 0,
            "author": self.user(mr.author),
            "assignees": [],
            "assignee": None,
            "reviewers": [],
            "source_project_id": project.id,
            "target_project_id": project.id,
            "labels": mr.labels,
            "draft": draft,
            "work_in_progress": draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable" if mr.state == "opened" else "not_open",
            "sha": mr.sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": mr.squash_commit_sha,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": True,
            "reference": f"!{mr.iid}",
            "references": {
                "short": f"!{mr.iid}",
                "relative": f"!{mr.iid}",
                "full": f"{project.path}!{mr.iid}",
            },
            "web_url": mr.web_url,
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": mr.squash,
            "squash_on_merge": mr.squash,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False,
            "blocking_discussions_resolved": True,
            "approvals_before_merge": None,
        }

    def mr_detail(self, mr: SimMR) -> JSON:
        head = self._head_pipeline(mr)
        changes = None
        if mr.base_sha and mr.sha:
            changes = str(len(mr.project.repo.diff(mr.base_sha, mr.sha)))
        head_jobs = head.jobs() if head else []
        started = [j.started_at for j in head_jobs if j.started_at]
        finished = [j.finished_at for j in head_jobs if j.finished_at]
        return {
            **self.mr_basic(mr),
            "subscribed": False,
            "changes_count": changes,
            "latest_build_started_at": ts(min(started)) if started else None,
            "latest_build_finished_at": ts(max(finished)) if finished else None,
            "first_deployed_to_production_at": None,
            "pipeline": self.pipeline_basic(head) if head else None,
            "head_pipeline": self.pipeline_detail(head) if head else None,
            "diff_refs": {
                "base_sha": mr.base_sha,
                "head_sha": mr.sha,
                "start_sha": mr.base_sha,
            },
            "merge_error": None,
            "first_contribution": False,
            "user": {"can_merge": False},
        }

    def _filter_mrs(self, q: Query, mrs: Iterable[SimMR]) -> list[SimMR]:
        state = q.choice("state", ("opened", "closed", "locked", "merged", "all"), "all")
        order_by = q.choice(
            "order_by", ("created_at", "updated_at", "merged_at", "title"), "created_at"
        )
        desc = q.choice("sort", ("asc", "desc"), "desc") == "desc"
        source, target = q.text("source_branch"), q.text("target_branch")
        updated_after, updated_before = q.when("updated_after"), q.when("updated_before")
        created_after, created_before = q.when("created_after"), q.when("created_before")
        author = q.text("author_username")
        labels = q.values("labels")
        iids = {int(i) for i in q.values("iids") if i.isdigit()}
        out = []
        for mr in mrs:
            if state != "all" and mr.state != state:
                continue
            if source and mr.source_branch != source:
                continue
            if target and mr.target_branch != target:
                continue
            if updated_after and mr.updated_at < updated_after:
                continue
            if updated_before and mr.updated_at > updated_before:
                continue
            if created_after and mr.created_at < created_after:
                continue
            if created_before and mr.created_at > created_before:
                continue
            if author and mr.author.username != author:
                continue
            if labels and not set(labels) <= set(mr.labels):
                continue
            if iids and mr.iid not in iids:
                continue
            out.append(mr)

        def key(mr: SimMR) -> tuple[Any, int]:
            if order_by == "title":
                return (mr.title.lower(), mr.id)
            value = getattr(mr, order_by or "created_at")
            return (value or datetime.min.replace(tzinfo=UTC), mr.id)

        return sorted(out, key=key, reverse=desc)

    def mr_list(self, q: Query, project: SimProject) -> Listing:
        return Listing(self._filter_mrs(q, project.mrs.values()), self.mr_basic)

    def mr_get(self, q: Query, project: SimProject, iid: str) -> JSON:
        return self.mr_detail(self._mr(project, iid))

    def mr_approvals(self, q: Query, project: SimProject, iid: str) -> JSON:
        mr = self._mr(project, iid)
        left = max(0, mr.approvals_required - len(mr.approvals))
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": ts(mr.created_at),
            "updated_at": ts(mr.updated_at),
            "merge_status": "can_be_merged",
            "approved": left == 0,
            "approvals_required": mr.approvals_required,
            "approvals_left": left,
            "require_password_to_approve": False,
            "approved_by": [
                {"user": self.user(a.user), "approved_at": ts(a.approved_at)}
                for a in sorted(mr.approvals, key=lambda a: a.approved_at)
            ],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": False,
            "user_can_approve": False,
            "approval_rules_left": [],
            "has_approval_rules": False,
            "merge_request_approvers_available": False,
            "multiple_approval_rules_available": False,
            "invalid_approvers_rules": [],
        }

    def note(self, mr: SimMR, n: SimNote) -> JSON:
        return {
            "id": n.id,
            "type": None,
            "body": n.body,
            "attachment": None,
            "author": self.user(n.author),
            "created_at": ts(n.created_at),
            "updated_at": ts(n.created_at),
            "system": n.system,
            "noteable_id": mr.id,
            "noteable_type": "MergeRequest",
            "project_id": mr.project.id,
            "noteable_iid": mr.iid,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "commands_changes": {},
        }

    def mr_notes(self, q: Query, project: SimProject, iid: str) -> Listing:
        mr = self._mr(project, iid)
        q.choice("order_by", ("created_at", "updated_at"), "created_at")
        desc = q.choice("sort", ("asc", "desc"), "desc") == "desc"
        # Notes are never edited in the simulator, so updated_at ordering equals created_at.
        notes = sorted(mr.notes, key=lambda n: (n.created_at, n.id), reverse=desc)
        return Listing(notes, lambda n: self.note(mr, n))

    def label_event(self, mr: SimMR, ev: SimLabelEvent) -> JSON:
        return {
            "id": ev.id,
            "user": self.user(ev.user),
            "created_at": ts(ev.created_at),
            "resource_type": "MergeRequest",
            "resource_id": mr.id,
            "label": self.label(mr.project, ev.label),
            "action": ev.action,
        }

    def mr_label_events(self, q: Query, project: SimProject, iid: str) -> Listing:
        mr = self._mr(project, iid)
        events = sorted(mr.label_events, key=lambda e: e.id)
        return Listing(events, lambda e: self.label_event(mr, e))

    def mr_commits(self, q: Query, project: SimProject, iid: str) -> Listing:
        mr = self._mr(project, iid)
        return Listing(list(reversed(mr.commit_shas)), lambda s: self.commit_by_sha(project, s))

    def mr_pipelines(self, q: Query, project: SimProject, iid: str) -> Listing:
        return Listing(self._mr_pipelines(self._mr(project, iid)), self.pipeline_basic)

    # -- repository -------------------------------------------------------------------------
    def commit_list(self, q: Query, project: SimProject) -> Listing:
        order = q.choice("order", ("default", "topo"), "default")
        args = ["rev-list"]
        if order == "topo":
            args.append("--topo-order")
        if q.flag("first_parent"):
            args.append("--first-parent")
        since, until = q.when("since"), q.when("until")
        if since:
            args.append(f"--since={since.strftime('%Y-%m-%dT%H:%M:%S+0000')}")
        if until:
            args.append(f"--until={until.strftime('%Y-%m-%dT%H:%M:%S+0000')}")
        if q.flag("all"):
            args.append("--all")
        else:
            ref = q.text("ref_name") or project.default_branch
            sha = project.repo.resolve(ref) if not ref.startswith("-") else None
            if sha is None:
                # An unknown ref is an empty history, not an error, on GitLab.
                return Listing([], lambda s: s, count_total=False)
            args.append(sha)
        path = q.text("path")
        if path:
            args += ["--", path]
        try:
            shas = project.repo._run(*args).split()
        except GitError:
            shas = []
        return Listing(shas, lambda s: self.commit_by_sha(project, s), count_total=False)

    def _stats(self, repo: GitRepo, sha: str) -> JSON:
        parents = repo.show(sha).parent_ids
        base = parents[0] if parents else EMPTY_TREE
        additions = deletions = 0
        for line in repo._run("diff", "--numstat", base, sha).splitlines():
            added, deleted, _path = line.split("\t", 2)
            additions += int(added) if added.isdigit() else 0
            deletions += int(deleted) if deleted.isdigit() else 0
        return {"additions": additions, "deletions": deletions, "total": additions + deletions}

    def commit_get(self, q: Query, project: SimProject, sha: str) -> JSON:
        full = self._resolve(project, sha)
        last = next(
            (p for p in sorted(project.pipelines, key=lambda p: -p.id) if p.sha == full), None
        )
        return {
            **self.commit_by_sha(project, full),
            "stats": self._stats(project.repo, full),
            "status": last.status if last else None,
            "project_id": project.id,
            "last_pipeline": self.pipeline_basic(last) if last else None,
        }

    def _diff_entry(self, entry: dict[str, object]) -> JSON:
        return {**entry, "collapsed": False, "too_large": False}

    def commit_diff(self, q: Query, project: SimProject, sha: str) -> Listing:
        full = self._resolve(project, sha)
        return Listing(project.repo.diff(None, full), self._diff_entry)

    def commit_refs(self, q: Query, project: SimProject, sha: str) -> Listing:
        full = self._resolve(project, sha)
        kind = q.choice("type", ("branch", "tag", "all"), "all")
        refs: list[JSON] = []
        if kind in ("branch", "all"):
            branches = sorted(project.repo.branches_containing(full))
            refs += [{"type": "branch", "name": b} for b in branches]
        if kind in ("tag", "all"):
            tags = project.repo._run("tag", "--contains", full).split()
            refs += [{"type": "tag", "name": t} for t in sorted(tags)]
        return Listing(refs, lambda r: r)

    def commit_mrs(self, q: Query, project: SimProject, sha: str) -> Listing:
        full = self._resolve(project, sha)
        state = q.choice("state", ("opened", "closed", "locked", "merged"))
        mrs = [
            mr
            for mr in project.mrs.values()
            if full in mr.commit_shas or full in (mr.merge_commit_sha, mr.squash_commit_sha)
        ]
        if state:
            mrs = [mr for mr in mrs if mr.state == state]
        return Listing(sorted(mrs, key=lambda m: m.id, reverse=True), self.mr_basic)

    def compare(self, q: Query, project: SimProject) -> JSON:
        from_ref, to_ref = q.text("from"), q.text("to")
        if from_ref is None:
            raise ApiError(400, {"error": "from is missing"})
        if to_ref is None:
            raise ApiError(400, {"error": "to is missing"})
        straight = q.flag("straight", False)
        base = self._resolve(project, from_ref, "Ref")
        head = self._resolve(project, to_ref, "Ref")
        repo = project.repo
        commits = repo.range(base, head)
        diff_base = base if straight else (repo.merge_base(base, head) or base)
        dots = ".." if straight else "..."
        return {
            "commit": self.commit_by_sha(project, commits[-1]) if commits else None,
            "commits": [self.commit_by_sha(project, s) for s in commits],
            "diffs": [self._diff_entry(d) for d in repo.diff(diff_base, head)],
            "compare_timeout": False,
            "compare_same_ref": from_ref == to_ref,
            "web_url": f"{project.web_url}/-/compare/{from_ref}{dots}{to_ref}",
        }

    def merge_base(self, q: Query, project: SimProject) -> JSON:
        refs = q.values("refs")
        if len(refs) < 2:
            raise ApiError(400, {"message": "Provide at least 2 refs"})
        shas = []
        unknown = []
        for ref in refs:
            sha = project.repo.resolve(ref) if not ref.startswith("-") else None
            if sha is None:
                unknown.append(ref)
            else:
                shas.append(sha)
        if unknown:
            raise ApiError(400, {"message": f"Could not find ref: {', '.join(unknown)}"})
        base = project.repo.merge_base(*shas)
        if base is None:
            raise not_found("Merge Base")
        return self.commit_by_sha(project, base)

    def branch(self, project: SimProject, name: str, sha: str) -> JSON:
        repo = project.repo
        default = name == project.default_branch
        default_sha = repo.resolve(project.default_branch)
        return {
            "name": name,
            "commit": self.commit_by_sha(project, sha),
            "merged": bool(not default and default_sha and repo.is_ancestor(sha, default_sha)),
            "protected": default,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": False,
            "default": default,
            "web_url": f"{project.web_url}/-/tree/{quote(name, safe='/')}",
        }

    def branch_list(self, q: Query, project: SimProject) -> Listing:
        branches = project.repo.branches()
        search = q.text("search")
        names = sorted(branches)
        if search:
            prefix, suffix = search.startswith("^"), search.endswith("$")
            needle = search.strip("^$").lower()
            names = [
                n
                for n in names
                if (n.lower().startswith(needle) if prefix else True)
                and (n.lower().endswith(needle) if suffix else True)
                and needle in n.lower()
            ]
        return Listing(names, lambda n: self.branch(project, n, branches[n]))

    def branch_get(self, q: Query, project: SimProject, branch: str) -> JSON:
        branches = project.repo.branches()
        if branch not in branches:
            raise not_found("Branch")
        return self.branch(project, branch, branches[branch])

    # -- CI ---------------------------------------------------------------------------------
    def pipeline_list(self, q: Query, project: SimProject) -> Listing:
        scope = q.choice("scope", ("running", "pending", "finished", "branches", "tags"))
        status = q.choice("status", PIPELINE_STATUSES)
        source = q.choice("source", PIPELINE_SOURCES)
        order_by = q.choice("order_by", ("id", "status", "ref", "updated_at", "user_id"), "id")
        desc = q.choice("sort", ("asc", "desc"), "desc") == "desc"
        ref, sha, username = q.text("ref"), q.text("sha"), q.text("username")
        updated_after, updated_before = q.when("updated_after"), q.when("updated_before")
        created_after, created_before = q.when("created_after"), q.when("created_before")
        rows = list(project.pipelines)
        if source is None:
            # Child pipelines are only listed when asked for by source (GitLab 17.0+).
            rows = [p for p in rows if p.source != "parent_pipeline"]
        if scope == "running":
            rows = [p for p in rows if p.status == "running"]
        elif scope == "pending":
            rows = [p for p in rows if p.status == "pending"]
        elif scope == "finished":
            rows = [p for p in rows if p.status in FINISHED_PIPELINE]
        elif scope in ("branches", "tags"):
            names = (
                set(project.repo.branches())
                if scope == "branches"
                else set(self._tags(project.repo))
            )
            latest: dict[str, SimPipeline] = {}
            for p in rows:
                if p.ref in names and (p.ref not in latest or p.id > latest[p.ref].id):
                    latest[p.ref] = p
            rows = list(latest.values())
        rows = [
            p
            for p in rows
            if (status is None or p.status == status)
            and (source is None or p.source == source)
            and (ref is None or p.ref == ref)
            and (sha is None or p.sha == sha)
            and (username is None or p.user.username == username)
            and (updated_after is None or p.updated_at >= updated_after)
            and (updated_before is None or p.updated_at <= updated_before)
            and (created_after is None or p.created_at >= created_after)
            and (created_before is None or p.created_at <= created_before)
        ]
        keys: dict[str, Callable[[SimPipeline], Any]] = {
            "id": lambda p: p.id,
            "status": lambda p: (p.status, p.id),
            "ref": lambda p: (p.ref, p.id),
            "updated_at": lambda p: (p.updated_at, p.id),
            "user_id": lambda p: (p.user.id, p.id),
        }
        rows.sort(key=keys[order_by or "id"], reverse=desc)
        return Listing(rows, self.pipeline_basic)

    def pipeline_get(self, q: Query, project: SimProject, pipeline_id: str) -> JSON:
        return self.pipeline_detail(self._pipeline(project, pipeline_id))

    def _scoped_jobs(self, q: Query, jobs: Iterable[SimJob]) -> list[SimJob]:
        scopes = q.values("scope")
        if any(s not in JOB_SCOPES for s in scopes):
            raise invalid_param("scope")
        rows = [j for j in jobs if not scopes or j.status in scopes]
        return sorted(rows, key=lambda j: j.id, reverse=True)

    def pipeline_jobs(self, q: Query, project: SimProject, pipeline_id: str) -> Listing:
        p = self._pipeline(project, pipeline_id)
        jobs = p.jobs(include_retried=q.flag("include_retried", False))
        return Listing(self._scoped_jobs(q, (j for j in jobs if not j.bridge)), self.job)

    def pipeline_bridges(self, q: Query, project: SimProject, pipeline_id: str) -> Listing:
        # GitLab's JobsFinder serves /bridges too and honours include_retried there
        p = self._pipeline(project, pipeline_id)
        jobs = p.jobs(include_retried=q.flag("include_retried", False))
        return Listing(self._scoped_jobs(q, (j for j in jobs if j.bridge)), self.bridge)

    def job_list(self, q: Query, project: SimProject) -> Listing:
        jobs = (
            j for j in self.world.jobs.values() if j.pipeline.project is project and not j.bridge
        )
        return Listing(self._scoped_jobs(q, jobs), self.job)

    def job_get(self, q: Query, project: SimProject, job_id: str) -> JSON:
        j = self.world.jobs.get(int(job_id))
        # Bridges are not builds: GitLab's /jobs/:id does not find them.
        if j is None or j.bridge or j.pipeline.project is not project:
            raise not_found("Job")
        return self.job(j)

    # -- environments & deployments ---------------------------------------------------------
    @staticmethod
    def _tier(name: str) -> str:
        n = name.lower()
        for tier, words in (
            ("production", ("prod", "live")),
            ("staging", ("stag", "model", "pre")),
            ("testing", ("test", "qa")),
            ("development", ("dev", "review", "trunk")),
        ):
            if any(w in n for w in words):
                return tier
        return "other"

    @staticmethod
    def _slug(name: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "env"
        if slug != name:
            slug = slug[:17].rstrip("-") + "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
        return slug

    def _env_deployments(self, env: SimEnvironment) -> list[SimDeployment]:
        return [d for d in env.project.deployments if d.environment is env]

    def environment(self, env: SimEnvironment, with_last: bool = False) -> JSON:
        deployments = self._env_deployments(env)
        created = min((d.created_at for d in deployments), default=self.world.now)
        updated = max((d.updated_at for d in deployments), default=created)
        body: dict[str, JSON] = {
            "id": env.id,
            "name": env.name,
            "slug": self._slug(env.name),
            "description": None,
            "external_url": env.external_url,
            "state": env.state,
            "tier": self._tier(env.name),
            "created_at": ts(created),
            "updated_at": ts(updated),
            "enable_advanced_logs_querying": False,
            "logs_api_path": f"/{env.project.path}/-/logs/k8s.json"
            f"?environment_name={quote(env.name, safe='')}",
            "auto_stop_at": None,
            "kubernetes_namespace": None,
            "flux_resource_path": None,
            "auto_stop_setting": "always",
        }
        if with_last:
            successes = [d for d in deployments if d.status == "success"]
            last = max(successes, key=lambda d: d.id, default=None)
            body["last_deployment"] = self.deployment(last) if last else None
            body["cluster_agent"] = None
        return body

    def environment_list(self, q: Query, project: SimProject) -> Listing:
        name, search = q.text("name"), q.text("search")
        states = q.choice("states", ("available", "stopping", "stopped"))
        rows = [
            e
            for e in sorted(project.environments.values(), key=lambda e: e.id)
            if (name is None or e.name == name)
            and (search is None or search.lower() in e.name.lower())
            and (states is None or e.state == states)
        ]
        return Listing(rows, self.environment)

    def environment_get(self, q: Query, project: SimProject, env_id: str) -> JSON:
        env = next((e for e in project.environments.values() if e.id == int(env_id)), None)
        if env is None:
            raise not_found("Environment")
        return self.environment(env, with_last=True)

    def deployment(self, d: SimDeployment) -> JSON:
        env = d.environment
        env_dates = self.environment(env)
        return {
            "id": d.id,
            "iid": d.iid,
            "ref": d.ref,
            "sha": d.sha,
            "created_at": ts(d.created_at),
            "updated_at": ts(d.updated_at),
            "finished_at": ts(d.finished_at),
            "status": d.status,
            "user": self.user(d.user),
            "environment": {
                "id": env.id,
                "name": env.name,
                "slug": self._slug(env.name),
                "external_url": env.external_url,
                "created_at": env_dates["created_at"],
                "updated_at": env_dates["updated_at"],
            },
            "deployable": self.job(d.deployable),
        }

    def deployment_list(self, q: Query, project: SimProject) -> Listing:
        order_by = q.choice(
            "order_by", ("id", "iid", "created_at", "updated_at", "finished_at"), "id"
        )
        desc = q.choice("sort", ("asc", "desc"), "asc") == "desc"
        statuses = q.values("status")
        if any(s not in DEPLOYMENT_STATUSES for s in statuses):
            raise invalid_param("status")
        updated_after, updated_before = q.when("updated_after"), q.when("updated_before")
        finished_after, finished_before = q.when("finished_after"), q.when("finished_before")
        by_updated = bool(updated_after or updated_before)
        by_finished = bool(finished_after or finished_before)
        finished_statuses = bool(set(statuses) & set(FINISHED_DEPLOYMENT))
        # DeploymentsFinder#validate!, in its order; the API turns each into a 400.
        if by_updated and by_finished:
            raise bad_request(
                "Both `updated_at` filter and `finished_at` filter can not be specified"
            )
        if by_updated and order_by != "updated_at":
            raise bad_request("`updated_at` filter requires `updated_at` sort")
        if by_finished and order_by != "finished_at":
            raise bad_request("`finished_at` filter requires `finished_at` sort.")
        if order_by == "finished_at" and not (by_finished or finished_statuses):
            raise bad_request(
                "`finished_at` sort requires `finished_at` filter or a filter with at least "
                "one of the finished statuses."
            )
        if by_finished and statuses != ["success"]:
            raise bad_request("`finished_at` filter must be combined with `success` status filter.")
        if finished_statuses and set(statuses) & set(UPCOMING_DEPLOYMENT):
            raise bad_request("finished statuses and upcoming statuses must be separately queried.")
        env_name = q.text("environment")
        rows = [
            d
            for d in project.deployments
            if (env_name is None or d.environment.name == env_name)
            and (not statuses or d.status in statuses)
            and (updated_after is None or d.updated_at >= updated_after)
            and (updated_before is None or d.updated_at <= updated_before)
            and (finished_after is None or (d.finished_at and d.finished_at >= finished_after))
            and (finished_before is None or (d.finished_at and d.finished_at < finished_before))
        ]
        never = datetime.min.replace(tzinfo=UTC)
        keys: dict[str, Callable[[SimDeployment], Any]] = {
            "id": lambda d: d.id,
            "updated_at": lambda d: (d.updated_at, d.id),
            "finished_at": lambda d: (d.finished_at or never, d.id),
        }
        # created_at and iid order exactly like id in GitLab.
        key = keys.get(order_by or "id", keys["id"])
        return Listing(sorted(rows, key=key, reverse=desc), self.deployment)

    def deployment_get(self, q: Query, project: SimProject, dep_id: str) -> JSON:
        d = self._deployment(project, dep_id)
        return {**self.deployment(d), "pending_approval_count": 0, "approvals": []}

    def _deployment_mrs(self, d: SimDeployment) -> list[SimMR]:
        """Deployments::LinkMergeRequestsService: MRs whose merge commit is in the range since
        the environment's previous successful deployment, plus MRs whose UI cherry-pick (the
        system note) is in it; with no previous deployment, every MR merged into the ref.
        Review apps (`review/...`) and unsuccessful deployments link nothing."""
        project = d.project
        if d.status != "success" or "/" in d.environment.name:
            return []
        previous = max(
            (
                o
                for o in project.deployments
                if o.environment is d.environment and o.status == "success" and o.id < d.id
            ),
            key=lambda o: o.id,
            default=None,
        )
        if previous is None:
            return [
                mr
                for mr in project.mrs.values()
                if mr.state == "merged" and mr.target_branch == d.ref
            ]
        shas = set(project.repo.range(previous.sha, d.sha))
        picked = re.compile(r"^picked the changes into the branch .* with commit ([0-9a-f]{40})")
        linked = []
        for mr in project.mrs.values():
            merged_in = mr.state == "merged" and mr.merge_commit_sha in shas
            picks = (picked.match(n.body) for n in mr.notes if n.system)
            picked_in = any(m and m.group(1) in shas for m in picks)
            if merged_in or picked_in:
                linked.append(mr)
        return linked

    def deployment_mrs(self, q: Query, project: SimProject, dep_id: str) -> Listing:
        d = self._deployment(project, dep_id)
        return Listing(self._filter_mrs(q, self._deployment_mrs(d)), self.mr_basic)

    # -- instance-level ---------------------------------------------------------------------
    def _current(self) -> User:
        return next(iter(self.world.users.values()), User(9999, "auditor-bot", "Auditor Bot"))

    def version(self, q: Query, project: None) -> JSON:
        return {
            "version": "18.6.0-ee",
            "revision": "sim",
            "kas": {"enabled": False},
            "enterprise": True,
        }

    def current_user(self, q: Query, project: None) -> JSON:
        user = self._current()
        return {
            **self.user(user),
            "created_at": ts(self.world.now - timedelta(days=365)),
            "bio": "",
            "public_email": None,
            "bot": user.username.endswith("-bot"),
            "email": user.email,
            "is_admin": False,
            "two_factor_enabled": True,
            "external": False,
        }

    def token_self(self, q: Query, project: None) -> JSON:
        now = self.world.now
        return {
            "id": 1,
            "name": "auditor",
            "revoked": False,
            "created_at": ts(now - timedelta(days=30)),
            "description": "read-only token for the hotfix auditor",
            "scopes": list(self.world.token_scopes),
            "user_id": self._current().id,
            "last_used_at": ts(now),
            "active": True,
            "expires_at": (now + timedelta(days=335)).date().isoformat(),
        }

    def project_get(self, q: Query, project: SimProject) -> JSON:
        namespace, _, name = project.path.rpartition("/")
        ns_name = namespace.rsplit("/", 1)[-1] if namespace else ""
        try:
            root = project.repo._run("rev-list", "--max-parents=0", "--all").split()
            created = min(project.repo.show(s).committed_date for s in root) if root else None
        except GitError:
            created = None
        created = created or self.world.now
        title = " / ".join(part.replace("-", " ").title() for part in project.path.split("/"))
        host = self.world.url.split("://", 1)[-1]
        return {
            "id": project.id,
            "description": "",
            "name": name,
            "name_with_namespace": title,
            "path": name,
            "path_with_namespace": project.path,
            "created_at": ts(created),
            "default_branch": project.default_branch,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@{host.split(':')[0]}:{project.path}.git",
            "http_url_to_repo": f"{project.web_url}.git",
            "web_url": project.web_url,
            "readme_url": None,
            "avatar_url": None,
            "forks_count": 0,
            "star_count": 0,
            "last_activity_at": ts(self.world.now),
            "visibility": "private",
            "archived": False,
            "empty_repo": project.repo.resolve("HEAD") is None,
            "namespace": {
                "id": 10 + sum(namespace.encode()) % 1000,
                "name": ns_name.replace("-", " ").title(),
                "path": ns_name,
                "kind": "group",
                "full_path": namespace,
                "parent_id": None,
                "avatar_url": None,
                "web_url": f"{self.world.url}/groups/{namespace}",
            },
            "merge_requests_enabled": "merge_requests" not in project.forbidden,
            "jobs_enabled": "jobs" not in project.forbidden,
            "merge_method": "merge",
            "squash_option": "default_off",
            "only_allow_merge_if_pipeline_succeeds": False,
        }


# -- HTTP -----------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    """Per-connection handler; everything interesting is in SimulatorServer.respond."""

    protocol_version = "HTTP/1.1"  # keep-alive, as python-gitlab's requests session expects
    server: _HTTPServer
    timeout = 10  # idle keep-alive connections give their thread back
    # Without TCP_NODELAY, keep-alive answers written in two sends wait ~40 ms each for the
    # client's delayed ACK (Nagle), which made every simulated request that slow.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # drain so the connection stays usable
        response = self.server.sim.respond(self.command, self.path, self.headers)
        payload = response.payload()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in response.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.truncate:
            # the connection drops mid-body: the client sees fewer bytes than announced
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sim: SimulatorServer

    def process_request(self, request: Any, client_address: Any) -> None:
        self.sim._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.sim._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout, a refused redirect) closes its end before a
        # slow answer is written: nothing to report. Anything else is printed as before.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SimulatorServer:
    """Serves a World as GitLab over HTTP. `start()` returns the base URL (no /api/v4)."""

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.world = world
        self.host = host
        self.port = port
        self.faults = faults or Faults()
        self.fault_state = FaultState(self.faults)
        self.api = GitLabApi(world)
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of requests the simulator itself failed
        self._requests_lock = threading.Lock()
        # how many requests were being answered at once, at most (the client's concurrency)
        self.in_flight = 0
        self.max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> str:
        if self._httpd is not None:  # already serving (e.g. start() inside `with`)
            return self.world.url
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.sim = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.world.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, name=f"gitlab-sim:{self.port}", daemon=True
        )
        self._thread.start()
        return self.world.url

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        # Keep-alive connections would otherwise go on being served after stop().
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.world.url

    def reset_counts(self) -> None:
        """Forget recorded requests and restart the fault counters and rate-limit window."""
        with self._requests_lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight
        self.fault_state.reset()

    # -- one request ------------------------------------------------------------------------
    def _record(self, method: str, path: str, raw_query: str, status: int) -> None:
        query = parse_qs(raw_query, keep_blank_values=True)
        entry = RecordedRequest(method, path, query, status, raw_query)
        with self._requests_lock:
            self.requests.append(entry)

    def _authenticated(self, headers: Any) -> bool:
        token = self.world.token
        if headers.get("PRIVATE-TOKEN") == token:
            return True
        auth = headers.get("Authorization") or ""
        return auth == f"Bearer {token}"

    def respond(self, method: str, target: str, headers: Any) -> Response:
        with self._requests_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._respond(method, target, headers)
        finally:
            with self._requests_lock:
                self.in_flight -= 1

    def _respond(self, method: str, target: str, headers: Any) -> Response:
        path, _, raw_query = target.partition("?")
        if self.faults.latency > 0:
            time.sleep(self.faults.latency)
        slow = self.fault_state.slowness(path, unquote(path))
        if slow > 0:
            time.sleep(slow)
        observed = self.fault_state.observe()
        try:
            response = self._decide(method, path, raw_query, headers, observed)
        except Exception:
            # A simulator bug must not look like a network failure to the client; answer as
            # Rails would and keep the traceback for the test to show.
            with self._requests_lock:
                self.errors.append(f"{method} {target}\n{traceback.format_exc()}")
            response = Response(500, {"message": "500 Internal Server Error"})
        if response.status not in GATEWAY_STATUSES:
            response.headers.update(
                self.fault_state.rate_headers(observed, limited=response.status == 429)
            )
        self._record(method, path, raw_query, response.status)
        return response

    def _decide(
        self, method: str, path: str, raw_query: str, headers: Any, observed: int
    ) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, {"message": "405 Method Not Allowed"}, {"Allow": "GET, HEAD"})
        if not self._authenticated(headers):
            return Response(401, {"message": "401 Unauthorized"})
        elsewhere = self.fault_state.redirect(path, unquote(path))
        if elsewhere is not None:
            location = elsewhere.rstrip("/") + path + (f"?{raw_query}" if raw_query else "")
            return Response(302, None, {"Location": location})
        forced = self.fault_state.fixed_failure(path, unquote(path))
        if forced is not None:
            try:
                message = f"{forced} {HTTPStatus(forced).phrase}"
            except ValueError:
                message = str(forced)
            return Response(forced, {"message": message})
        verdict = self.fault_state.inject(observed)
        if verdict.status == 429:
            wait = self.fault_state.retry_after(verdict.retry_after or 1)
            return Response(429, "Retry later\n", {"Retry-After": wait})
        if verdict.status == 502:
            html = "<html><body><h1>502 Bad Gateway</h1></body></html>\n"
            return Response(502, html, text_type="text/html")
        if not path.startswith(API_PREFIX + "/"):
            return Response(404, {"error": "404 Not Found"})
        paths = (path, unquote(path))
        cap = self.fault_state.page_cap(*paths)
        if cap is not None:
            raw_query = _cap_per_page(raw_query, cap)
        response = self.api.handle(path[len(API_PREFIX) :], raw_query)
        if response.status != 200 or not self.faults.reshapes():
            return response
        odd = reshape(self.faults, paths, response.body, response.headers)
        return Response(
            200,
            odd.body,
            odd.headers,
            raw=odd.raw,
            raw_type=odd.content_type or "application/json",
            truncate=odd.truncate,
        )


def _cap_per_page(raw_query: str, cap: int) -> str:
    """The query with `per_page` at most `cap`: the server pages in smaller steps."""
    pairs = [(k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True) if k != "per_page"]
    asked = Query.parse(raw_query).integer("per_page", DEFAULT_PER_PAGE)
    return urlencode([*pairs, ("per_page", str(min(cap, asked if asked > 0 else cap)))])
