"""GitLab as an evidence source: one memoized read per fact, parsed into evidence types.

Every method answers a typed value or `Unavailable`; none returns a half-empty default.
Memoization is per run: the same question is never sent twice (the request log proves it).
Only `project()` and `merge_request()` raise, because without them there is nothing to audit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabError

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

T = TypeVar("T")


class GitLabUnusable(Exception):
    """GitLab cannot be used at all (exit 4): unreachable, token rejected, project missing."""


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def gitlab_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(data: dict[str, Any] | None) -> str | None:
    return data.get("username") if data else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, GitlabError):
        code = getattr(exc, "response_code", None)
        text = {403: "permission denied (403)", 404: "not found (404)"}.get(code or 0)
        return text or f"HTTP {code}: {str(exc.error_message)[:120]}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


class GitLabSource:
    def __init__(self, gl: gitlab.Gitlab) -> None:
        self.gl = gl
        self._memo: dict[tuple[Any, ...], Any] = {}

    # -- plumbing -------------------------------------------------------------------------
    def _once(self, key: tuple[Any, ...], what: str, fetch: Callable[[], T]) -> T | Unavailable:
        if key in self._memo:
            return self._memo[key]
        try:
            value: T | Unavailable = fetch()
        except GitlabAuthenticationError:
            raise GitLabUnusable(
                "GitLab rejected the token (401): check GITLAB_TOKEN and its read_api scope"
            ) from None
        except (GitlabError, requests.RequestException) as exc:
            value = Unavailable(what, _reason(exc))
        self._memo[key] = value
        return value

    def _project(self, path: str) -> Any:
        return self.gl.projects.get(path, lazy=True)

    # -- projects and MRs -----------------------------------------------------------------
    def project(self, path: str) -> dict[str, Any]:
        """The project's attributes; raises GitLabUnusable when it cannot be read."""
        key = ("project", path)
        if key not in self._memo:
            try:
                self._memo[key] = self.gl.projects.get(path).attributes
            except GitlabAuthenticationError:
                raise GitLabUnusable(
                    "GitLab rejected the token (401): check GITLAB_TOKEN and its read_api scope"
                ) from None
            except GitlabError as exc:
                raise GitLabUnusable(
                    f"project {path} cannot be read: {_reason(exc)}; "
                    "check the path and that the token's user can see it"
                ) from None
            except requests.RequestException as exc:
                raise GitLabUnusable(
                    f"GitLab at {self.gl.url} is unreachable ({_reason(exc)})"
                ) from None
        return self._memo[key]

    def merge_request(self, path: str, iid: int) -> MergeRequest:
        project = self.project(path)
        key = ("mr", path, iid)
        if key not in self._memo:
            try:
                data = self._project(path).mergerequests.get(iid).attributes
            except GitlabAuthenticationError:
                raise GitLabUnusable("GitLab rejected the token (401)") from None
            except (GitlabError, requests.RequestException) as exc:
                raise GitLabUnusable(f"merge request {path}!{iid}: {_reason(exc)}") from None
            self._memo[key] = MergeRequest(
                id=data["id"],
                iid=data["iid"],
                project=path,
                project_id=data["project_id"],
                title=data["title"],
                web_url=data["web_url"],
                state=data["state"],
                source_branch=data["source_branch"],
                target_branch=data["target_branch"],
                default_branch=project.get("default_branch") or "main",
                created_at=parse_time(data["created_at"]),  # type: ignore[arg-type]
                updated_at=parse_time(data["updated_at"]),  # type: ignore[arg-type]
                merged_at=parse_time(data.get("merged_at")),
                merge_commit_sha=data.get("merge_commit_sha"),
                squash_commit_sha=data.get("squash_commit_sha"),
                sha=data.get("sha"),
                labels=tuple(data.get("labels") or ()),
                author=_user(data.get("author")),
            )
        return self._memo[key]

    def _mr_manager(self, path: str, iid: int) -> Any:
        return self._project(path).mergerequests.get(iid, lazy=True)

    def approvals(self, path: str, iid: int) -> Approvals | Unavailable:
        def fetch() -> Approvals:
            data = self._mr_manager(path, iid).approvals.get().attributes
            return Approvals(
                approved_by=tuple(
                    Approval(a["user"]["username"], parse_time(a.get("approved_at")))
                    for a in data.get("approved_by") or ()
                ),
                approvals_required=int(data.get("approvals_required") or 0),
                approvals_left=int(data.get("approvals_left") or 0),
            )

        return self._once(("approvals", path, iid), f"approvals of {path}!{iid}", fetch)

    def notes(self, path: str, iid: int, web_url: str) -> tuple[Note, ...] | Unavailable:
        def fetch() -> tuple[Note, ...]:
            items = self._mr_manager(path, iid).notes.list(
                sort="asc", order_by="created_at", iterator=True
            )
            return tuple(
                Note(
                    id=n.id,
                    body=n.body,
                    author=_user(n.author),
                    created_at=parse_time(n.created_at),  # type: ignore[arg-type]
                    system=bool(n.system),
                    web_url=f"{web_url}#note_{n.id}",
                )
                for n in items
            )

        return self._once(("notes", path, iid), f"notes of {path}!{iid}", fetch)

    def label_events(self, path: str, iid: int) -> tuple[LabelEvent, ...] | Unavailable:
        def fetch() -> tuple[LabelEvent, ...]:
            items = self._mr_manager(path, iid).resourcelabelevents.list(iterator=True)
            return tuple(
                LabelEvent(
                    id=e.id,
                    label=(e.label or {}).get("name"),
                    action=e.action,
                    created_at=parse_time(e.created_at),  # type: ignore[arg-type]
                    user=_user(e.user),
                )
                for e in items
            )

        return self._once(("label_events", path, iid), f"label events of {path}!{iid}", fetch)

    def mr_commits(self, path: str, iid: int) -> tuple[Commit, ...] | Unavailable:
        def fetch() -> tuple[Commit, ...]:
            items = self._mr_manager(path, iid).commits()  # always a lazy full iterator
            return tuple(self._commit(path, c.attributes) for c in items)

        return self._once(("mr_commits", path, iid), f"commits of {path}!{iid}", fetch)

    def merge_requests(self, path: str, **filters: Any) -> tuple[MRRef, ...] | Unavailable:
        def fetch() -> tuple[MRRef, ...]:
            items = self._project(path).mergerequests.list(iterator=True, **filters)
            return tuple(self._mr_ref(path, m.attributes) for m in items)

        key = ("mrs", path, tuple(sorted(filters.items())))
        return self._once(key, f"merge requests of {path}", fetch)

    def _mr_ref(self, path: str, data: dict[str, Any]) -> MRRef:
        return MRRef(
            project=path,
            iid=data["iid"],
            title=data["title"],
            state=data["state"],
            source_branch=data["source_branch"],
            target_branch=data["target_branch"],
            merged_at=parse_time(data.get("merged_at")),
            merge_commit_sha=data.get("merge_commit_sha"),
            web_url=data["web_url"],
            squash_commit_sha=data.get("squash_commit_sha"),
        )

    # -- repository -----------------------------------------------------------------------
    def _commit(self, path: str, data: dict[str, Any]) -> Commit:
        web = self.project(path)["web_url"]
        return Commit(
            id=data["id"],
            short_id=data.get("short_id") or data["id"][:8],
            title=data.get("title") or "",
            message=data.get("message") or data.get("title") or "",
            parent_ids=tuple(data.get("parent_ids") or ()),
            authored_date=parse_time(data.get("authored_date")),
            committed_date=parse_time(data.get("committed_date") or data.get("created_at")),
            web_url=data.get("web_url") or f"{web}/-/commit/{data['id']}",
        )

    def commit(self, path: str, sha: str) -> Commit | Unavailable:
        def fetch() -> Commit:
            return self._commit(path, self._project(path).commits.get(sha).attributes)

        return self._once(("commit", path, sha), f"commit {sha[:8]} of {path}", fetch)

    def branch_commits(
        self, path: str, ref: str, since: datetime
    ) -> tuple[Commit, ...] | Unavailable:
        def fetch() -> tuple[Commit, ...]:
            items = self._project(path).commits.list(
                ref_name=ref, since=gitlab_time(since), iterator=True
            )
            return tuple(self._commit(path, c.attributes) for c in items)

        key = ("branch_commits", path, ref, since)
        return self._once(key, f"commits of {path}:{ref}", fetch)

    def commit_diff(self, path: str, sha: str) -> tuple[dict[str, Any], ...] | Unavailable:
        def fetch() -> tuple[dict[str, Any], ...]:
            return tuple(self._project(path).commits.get(sha, lazy=True).diff(get_all=True))

        return self._once(("diff", path, sha), f"diff of {sha[:8]}", fetch)

    def commit_merge_requests(self, path: str, sha: str) -> tuple[MRRef, ...] | Unavailable:
        def fetch() -> tuple[MRRef, ...]:
            items = self._project(path).commits.get(sha, lazy=True).merge_requests(get_all=True)
            return tuple(self._mr_ref(path, m) for m in items)

        return self._once(("commit_mrs", path, sha), f"MRs of commit {sha[:8]}", fetch)

    def compare(self, path: str, base: str, head: str) -> tuple[Commit, ...] | Unavailable:
        """Commits in head and not in base (oldest first), as GitLab's compare answers."""

        def fetch() -> tuple[Commit, ...]:
            data = self._project(path).repository_compare(base, head)
            return tuple(self._commit(path, c) for c in data.get("commits") or ())

        key = ("compare", path, base, head)
        return self._once(key, f"compare {base[:8]}...{head[:8]}", fetch)

    def is_ancestor(self, path: str, ancestor: str, descendant: str) -> bool | Unavailable:
        if ancestor == descendant:
            return True

        def fetch() -> bool:
            data = self._project(path).repository_merge_base([ancestor, descendant])
            return data.get("id") == ancestor

        key = ("ancestor", path, ancestor, descendant)
        return self._once(key, f"ancestry of {ancestor[:8]} in {descendant[:8]}", fetch)

    # -- CI -------------------------------------------------------------------------------
    def _pipeline(self, path: str, data: dict[str, Any]) -> Pipeline:
        return Pipeline(
            id=data["id"],
            project=path,
            ref=data.get("ref"),
            sha=data.get("sha"),
            status=data.get("status") or "unknown",
            source=data.get("source"),
            created_at=parse_time(data["created_at"]),  # type: ignore[arg-type]
            updated_at=parse_time(data.get("updated_at")),
            web_url=data["web_url"],
        )

    def pipelines(self, path: str, updated_after: datetime) -> tuple[Pipeline, ...] | Unavailable:
        def fetch() -> tuple[Pipeline, ...]:
            items = self._project(path).pipelines.list(
                updated_after=gitlab_time(updated_after),
                order_by="id",
                sort="asc",
                iterator=True,
            )
            return tuple(self._pipeline(path, p.attributes) for p in items)

        key = ("pipelines", path, updated_after)
        return self._once(key, f"pipelines of {path}", fetch)

    def _job(self, data: dict[str, Any], pipeline_id: int) -> Job:
        downstream = data.get("downstream_pipeline") or None
        return Job(
            id=data["id"],
            name=data["name"],
            status=data["status"],
            stage=data.get("stage"),
            pipeline_id=(data.get("pipeline") or {}).get("id", pipeline_id),
            created_at=parse_time(data.get("created_at")),
            started_at=parse_time(data.get("started_at")),
            finished_at=parse_time(data.get("finished_at")),
            web_url=data["web_url"],
            user=_user(data.get("user")),
            downstream_pipeline_id=downstream["id"] if downstream else None,
        )

    def pipeline_jobs(self, path: str, pipeline_id: int) -> tuple[Job, ...] | Unavailable:
        """Every attempt of every job (include_retried), oldest first."""

        def fetch() -> tuple[Job, ...]:
            items = (
                self._project(path)
                .pipelines.get(pipeline_id, lazy=True)
                .jobs.list(include_retried=True, iterator=True)
            )
            return tuple(
                sorted((self._job(j.attributes, pipeline_id) for j in items), key=lambda j: j.id)
            )

        key = ("jobs", path, pipeline_id)
        return self._once(key, f"jobs of pipeline {pipeline_id}", fetch)

    def pipeline_bridges(self, path: str, pipeline_id: int) -> tuple[Job, ...] | Unavailable:
        def fetch() -> tuple[Job, ...]:
            items = (
                self._project(path)
                .pipelines.get(pipeline_id, lazy=True)
                .bridges.list(iterator=True)
            )
            return tuple(
                sorted((self._job(j.attributes, pipeline_id) for j in items), key=lambda j: j.id)
            )

        key = ("bridges", path, pipeline_id)
        return self._once(key, f"trigger jobs of pipeline {pipeline_id}", fetch)

    # -- environments and deployments -----------------------------------------------------
    def _deployment(self, data: dict[str, Any]) -> Deployment:
        deployable = data.get("deployable") or {}
        return Deployment(
            id=data["id"],
            iid=data["iid"],
            environment=(data.get("environment") or {}).get("name") or "",
            status=data["status"],
            sha=data["sha"],
            ref=data.get("ref") or "",
            created_at=parse_time(data["created_at"]),  # type: ignore[arg-type]
            updated_at=parse_time(data.get("updated_at")),
            finished_at=parse_time(data.get("finished_at") or deployable.get("finished_at")),
            deployable_id=deployable.get("id"),
            deployable_name=deployable.get("name"),
            pipeline_id=(deployable.get("pipeline") or {}).get("id"),
            web_url=deployable.get("web_url") or "",
            user=_user(data.get("user")),
        )

    def deployments(
        self, path: str, environment: str, updated_after: datetime
    ) -> tuple[Deployment, ...] | Unavailable:
        """Deployments to `environment` touched after a time, oldest first (by id)."""

        def fetch() -> tuple[Deployment, ...]:
            items = self._project(path).deployments.list(
                environment=environment,
                order_by="updated_at",  # GitLab requires it with updated_after
                updated_after=gitlab_time(updated_after),
                sort="asc",
                iterator=True,
            )
            return tuple(
                sorted((self._deployment(d.attributes) for d in items), key=lambda d: d.id)
            )

        key = ("deployments", path, environment, updated_after)
        return self._once(key, f"deployments to {environment} of {path}", fetch)

    def last_successful_deployment(
        self, path: str, environment: str, before: datetime
    ) -> Deployment | None | Unavailable:
        def fetch() -> Deployment | None:
            items = self._project(path).deployments.list(
                environment=environment,
                status="success",
                order_by="finished_at",  # GitLab requires it (and status) with finished_*
                finished_before=gitlab_time(before),
                sort="desc",
                per_page=1,
                page=1,
            )
            return self._deployment(items[0].attributes) if items else None

        key = ("last_deployment", path, environment, before)
        return self._once(key, f"last deployment to {environment} before {before}", fetch)

    @property
    def request_count(self) -> int:
        session = getattr(self.gl, "session", None)
        return int(getattr(session, "request_count", 0))


def unique(items: Iterable[T]) -> list[T]:
    seen: set[Any] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
