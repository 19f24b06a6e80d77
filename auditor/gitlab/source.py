"""GitLab as an evidence source: one read per fact, parsed into evidence types.

Every method answers a typed value or `Unavailable`; none returns a half-empty default.
Within a run each question is asked once (an in-memory memo, safe across threads: a second
thread asking the same question waits for the first answer). Across runs an optional
`SourceCache` keeps the raw answers: facts that cannot change (a commit, a diff, a compare
of two SHAs, an ancestry) are fetched once ever; facts that can (an MR's notes, a
pipeline's jobs) are reused only while the version GitLab reports for their owner (the MR's
or pipeline's `updated_at`) is unchanged. Only `project()` and `merge_request()` raise,
because without them there is nothing to audit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

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
from auditor.gitlab.client import ReadOnlySession

T = TypeVar("T")
Raw = Any  # JSON as GitLab sent it: dicts, lists, strings, booleans

# `version` for _once: NOT_DURABLE keeps an answer for this run only; IMMUTABLE keeps it
# for ever; any string keeps it while the owner's updated_at equals that string.
NOT_DURABLE = False
IMMUTABLE = None

TOKEN_REJECTED = "GitLab rejected the token (401): check GITLAB_TOKEN and its read_api scope"


class GitLabUnusable(Exception):
    """GitLab cannot be used at all (exit 4): unreachable, token rejected, project missing."""


class SourceCache(Protocol):
    """Where raw answers outlive a run (the evidence store implements it)."""

    def cache_entry(self, key: str) -> tuple[object, str | None, str | None] | None: ...

    def cache_put(
        self, key: str, value: object, version: str | None, response_sha256: str | None = None
    ) -> None: ...


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


def _attrs(items: Iterable[Any]) -> list[dict[str, Any]]:
    return [i.attributes if hasattr(i, "attributes") else dict(i) for i in items]


class GitLabSource:
    def __init__(
        self,
        gl: gitlab.Gitlab,
        cache: SourceCache | None = None,
        session: ReadOnlySession | None = None,
    ) -> None:
        self.gl = gl
        self.cache = cache
        self.session = session
        # the SHA-256s of the GitLab responses behind each answer, and per thread the
        # answers used since `track_evidence()`: what a promotion's findings rest on
        self._digests: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._used = threading.local()
        # projects whose MRs changed since the last sync are known, and which ones did
        self.changed_mrs: dict[str, set[int]] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._inflight: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()
        self.cache_hits = 0

    # -- plumbing -------------------------------------------------------------------------
    def _key_lock(self, key: tuple[Any, ...]) -> threading.Lock:
        with self._lock:
            return self._inflight.setdefault(key, threading.Lock())

    def _once(
        self,
        key: tuple[Any, ...],
        what: str,
        fetch: Callable[[], Raw],
        parse: Callable[[Raw], T],
        version: str | None | bool = NOT_DURABLE,
        reuse: bool = True,
        keep: Callable[[Raw], bool] | None = None,
    ) -> T | Unavailable:
        """Answer `key` once per run. A durable answer (version not NOT_DURABLE) is read
        from the cache when `reuse` allows and stored there when `keep` allows."""
        if key not in self._memo:
            with self._key_lock(key):
                if key not in self._memo:
                    self._memo[key] = self._fetch(key, what, fetch, parse, version, reuse, keep)
        used = getattr(self._used, "digests", None)
        if used is not None:
            used.update(self._digests.get(key, ()))
        return self._memo[key]

    def track_evidence(self) -> None:
        """Start collecting, for the calling thread, the responses behind every answer."""
        self._used.digests = set()

    def evidence(self) -> set[str]:
        """The SHA-256s of the responses behind the answers used since track_evidence()."""
        return set(getattr(self._used, "digests", None) or ())

    def _fetch(
        self,
        key: tuple[Any, ...],
        what: str,
        fetch: Callable[[], Raw],
        parse: Callable[[Raw], T],
        version: str | None | bool,
        reuse: bool,
        keep: Callable[[Raw], bool] | None,
    ) -> T | Unavailable:
        durable = version is not NOT_DURABLE and self.cache is not None
        cache_key = json.dumps(key, default=str)
        if durable and reuse:
            hit = self.cache.cache_entry(cache_key)  # type: ignore[union-attr]
            if hit is not None and (version is IMMUTABLE or hit[1] == version):
                self.cache_hits += 1
                self._digests[key] = tuple((hit[2] or "").split())
                return parse(hit[0])
        digests = self.session.thread_digests() if self.session is not None else []
        mark = len(digests)
        try:
            raw = fetch()
        except GitlabAuthenticationError:
            raise GitLabUnusable(TOKEN_REJECTED) from None
        except (GitlabError, requests.RequestException) as exc:
            return Unavailable(what, _reason(exc))
        self._digests[key] = tuple(digests[mark:])
        if durable and (keep is None or keep(raw)):
            self.cache.cache_put(  # type: ignore[union-attr]
                cache_key,
                raw,
                None if version is IMMUTABLE else str(version),
                " ".join(self._digests[key]) or None,
            )
        return parse(raw)

    def _project(self, path: str) -> Any:
        return self.gl.projects.get(path, lazy=True)

    # -- projects and MRs -----------------------------------------------------------------
    def project(self, path: str) -> dict[str, Any]:
        """The project's attributes; raises GitLabUnusable when it cannot be read."""
        found = self._once(
            ("project", path),
            f"project {path}",
            lambda: self.gl.projects.get(path).attributes,
            dict,
            # path, id, default branch and web URL: kept, the sync's MR list re-checks access
            "project",
            reuse=path in self.changed_mrs,
        )
        if isinstance(found, Unavailable):
            if found.reason == "connection failed" or found.reason == "timed out":
                raise GitLabUnusable(f"GitLab at {self.gl.url} is unreachable ({found.reason})")
            raise GitLabUnusable(
                f"project {path} cannot be read: {found.reason}; "
                "check the path and that the token's user can see it"
            )
        return found

    def mr_unchanged(self, path: str, iid: int) -> bool:
        """Whether GitLab said this MR did not change since the last sync."""
        changed = self.changed_mrs.get(path)
        return changed is not None and iid not in changed

    def merge_request(self, path: str, iid: int) -> MergeRequest:
        project = self.project(path)

        def parse(data: dict[str, Any]) -> MergeRequest:
            return MergeRequest(
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

        result = self._once(
            ("mr", path, iid),
            f"merge request {path}!{iid}",
            lambda: self._project(path).mergerequests.get(iid).attributes,
            parse,
            "mr",
            # reused only when the project's change list since the last sync omits it
            reuse=self.mr_unchanged(path, iid),
        )
        if isinstance(result, Unavailable):
            raise GitLabUnusable(f"merge request {path}!{iid}: {result.reason}")
        return result

    def _mr_manager(self, path: str, iid: int) -> Any:
        return self._project(path).mergerequests.get(iid, lazy=True)

    def _mr_version(self, mr: MergeRequest) -> str:
        return mr.updated_at.isoformat()

    def approvals(self, mr: MergeRequest) -> Approvals | Unavailable:
        def parse(data: dict[str, Any]) -> Approvals:
            return Approvals(
                approved_by=tuple(
                    Approval(a["user"]["username"], parse_time(a.get("approved_at")))
                    for a in data.get("approved_by") or ()
                ),
                approvals_required=int(data.get("approvals_required") or 0),
                approvals_left=int(data.get("approvals_left") or 0),
            )

        return self._once(
            ("approvals", mr.project, mr.iid),
            f"approvals of {mr.project}!{mr.iid}",
            lambda: self._mr_manager(mr.project, mr.iid).approvals.get().attributes,
            parse,
            self._mr_version(mr),
        )

    def notes(self, mr: MergeRequest) -> tuple[Note, ...] | Unavailable:
        def parse(items: list[dict[str, Any]]) -> tuple[Note, ...]:
            return tuple(
                Note(
                    id=n["id"],
                    body=n["body"],
                    author=_user(n.get("author")),
                    created_at=parse_time(n["created_at"]),  # type: ignore[arg-type]
                    system=bool(n.get("system")),
                    web_url=f"{mr.web_url}#note_{n['id']}",
                )
                for n in items
            )

        return self._once(
            ("notes", mr.project, mr.iid),
            f"notes of {mr.project}!{mr.iid}",
            lambda: _attrs(
                self._mr_manager(mr.project, mr.iid).notes.list(
                    sort="asc", order_by="created_at", iterator=True
                )
            ),
            parse,
            self._mr_version(mr),
        )

    def label_events(self, mr: MergeRequest) -> tuple[LabelEvent, ...] | Unavailable:
        def parse(items: list[dict[str, Any]]) -> tuple[LabelEvent, ...]:
            return tuple(
                LabelEvent(
                    id=e["id"],
                    label=(e.get("label") or {}).get("name"),
                    action=e["action"],
                    created_at=parse_time(e["created_at"]),  # type: ignore[arg-type]
                    user=_user(e.get("user")),
                )
                for e in items
            )

        return self._once(
            ("label_events", mr.project, mr.iid),
            f"label events of {mr.project}!{mr.iid}",
            lambda: _attrs(
                self._mr_manager(mr.project, mr.iid).resourcelabelevents.list(iterator=True)
            ),
            parse,
            self._mr_version(mr),
        )

    def mr_commits(self, mr: MergeRequest) -> tuple[Commit, ...] | Unavailable:
        return self._once(
            ("mr_commits", mr.project, mr.iid),
            f"commits of {mr.project}!{mr.iid}",
            # .commits() is always a lazy iterator over every page in python-gitlab
            lambda: _attrs(self._mr_manager(mr.project, mr.iid).commits()),
            lambda items: tuple(self._commit(mr.project, c) for c in items),
            self._mr_version(mr),
        )

    def merge_requests(self, path: str, **filters: Any) -> tuple[MRRef, ...] | Unavailable:
        return self._once(
            ("mrs", path, tuple(sorted(filters.items()))),
            f"merge requests of {path}",
            lambda: _attrs(self._project(path).mergerequests.list(iterator=True, **filters)),
            lambda items: tuple(self._mr_ref(path, m) for m in items),
        )

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
        return self._once(
            ("commit", path, sha),
            f"commit {sha[:8]} of {path}",
            lambda: self._project(path).commits.get(sha).attributes,
            lambda data: self._commit(path, data),
            IMMUTABLE,
        )

    def branch_commits(
        self, path: str, ref: str, since: datetime
    ) -> tuple[Commit, ...] | Unavailable:
        return self._once(
            ("branch_commits", path, ref, gitlab_time(since)),
            f"commits of {path}:{ref}",
            lambda: _attrs(
                self._project(path).commits.list(
                    ref_name=ref, since=gitlab_time(since), iterator=True
                )
            ),
            lambda items: tuple(self._commit(path, c) for c in items),
        )

    def commit_diff(self, path: str, sha: str) -> tuple[dict[str, Any], ...] | Unavailable:
        return self._once(
            ("diff", path, sha),
            f"diff of {sha[:8]}",
            lambda: list(self._project(path).commits.get(sha, lazy=True).diff(get_all=True)),
            tuple,
            IMMUTABLE,
        )

    def commit_merge_requests(self, path: str, sha: str) -> tuple[MRRef, ...] | Unavailable:
        return self._once(
            ("commit_mrs", path, sha),
            f"MRs of commit {sha[:8]}",
            lambda: list(
                self._project(path).commits.get(sha, lazy=True).merge_requests(get_all=True)
            ),
            lambda items: tuple(self._mr_ref(path, m) for m in items),
            IMMUTABLE,
            # which MRs hold a commit can grow; once a merged one does, the answer stands
            keep=lambda items: any(m.get("state") == "merged" for m in items),
        )

    def compare(self, path: str, base: str, head: str) -> tuple[Commit, ...] | Unavailable:
        """Commits in head and not in base (oldest first), as GitLab's compare answers."""
        return self._once(
            ("compare", path, base, head),
            f"compare {base[:8]}...{head[:8]}",
            lambda: list(self._project(path).repository_compare(base, head).get("commits") or ()),
            lambda items: tuple(self._commit(path, c) for c in items),
            IMMUTABLE,
        )

    def is_ancestor(self, path: str, ancestor: str, descendant: str) -> bool | Unavailable:
        if ancestor == descendant:
            return True
        return self._once(
            ("ancestor", path, ancestor, descendant),
            f"ancestry of {ancestor[:8]} in {descendant[:8]}",
            lambda: self._project(path).repository_merge_base([ancestor, descendant]).get("id"),
            lambda merge_base: merge_base == ancestor,
            IMMUTABLE,
        )

    def merge_base(
        self, path: str, a: str, b: str, stable: bool = False
    ) -> str | None | Unavailable:
        """The merge base of two commits or refs. Kept across runs for two SHAs, or with
        `stable` for a commit and a branch that only moves forward (the default branch: the
        point where a commit's history joins it stays where it is)."""
        durable = stable or all(len(x) == 40 for x in (a, b))
        return self._once(
            ("merge_base", path, a, b),
            f"merge base of {a[:8]} and {b[:8]}",
            lambda: self._project(path).repository_merge_base([a, b]).get("id"),
            lambda sha: sha,
            IMMUTABLE if durable else NOT_DURABLE,
        )

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
        return self._once(
            ("pipelines", path, gitlab_time(updated_after)),
            f"pipelines of {path}",
            lambda: _attrs(
                self._project(path).pipelines.list(
                    updated_after=gitlab_time(updated_after),
                    order_by="id",
                    sort="asc",
                    iterator=True,
                )
            ),
            lambda items: tuple(self._pipeline(path, p) for p in items),
        )

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
            allow_failure=bool(data.get("allow_failure")),
        )

    def _jobs(self, items: list[dict[str, Any]], pipeline_id: int) -> tuple[Job, ...]:
        return tuple(sorted((self._job(j, pipeline_id) for j in items), key=lambda j: j.id))

    def pipeline_jobs(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable:
        """Every attempt of every job (include_retried), oldest first. With the pipeline's
        `updated_at`, the answer is reused by later runs until the pipeline changes."""
        return self._once(
            ("jobs", path, pipeline_id),
            f"jobs of pipeline {pipeline_id}",
            lambda: _attrs(
                self._project(path)
                .pipelines.get(pipeline_id, lazy=True)
                .jobs.list(include_retried=True, iterator=True)
            ),
            lambda items: self._jobs(items, pipeline_id),
            updated_at.isoformat() if updated_at else NOT_DURABLE,
        )

    def pipeline_bridges(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable:
        return self._once(
            ("bridges", path, pipeline_id),
            f"trigger jobs of pipeline {pipeline_id}",
            lambda: _attrs(
                self._project(path)
                .pipelines.get(pipeline_id, lazy=True)
                .bridges.list(iterator=True)
            ),
            lambda items: self._jobs(items, pipeline_id),
            updated_at.isoformat() if updated_at else NOT_DURABLE,
        )

    # -- environments and deployments -----------------------------------------------------
    def _deployment(self, data: dict[str, Any]) -> Deployment:
        deployable = data.get("deployable") or {}
        pipeline = deployable.get("pipeline") or {}
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
            pipeline_id=pipeline.get("id"),
            web_url=deployable.get("web_url") or "",
            user=_user(data.get("user")),
            pipeline_updated_at=parse_time(pipeline.get("updated_at")),
        )

    def deployments(
        self, path: str, environment: str, updated_after: datetime
    ) -> tuple[Deployment, ...] | Unavailable:
        """Deployments to `environment` touched after a time, oldest first (by id)."""
        return self._once(
            ("deployments", path, environment, gitlab_time(updated_after)),
            f"deployments to {environment} of {path}",
            lambda: _attrs(
                self._project(path).deployments.list(
                    environment=environment,
                    order_by="updated_at",  # GitLab requires it with updated_after
                    updated_after=gitlab_time(updated_after),
                    sort="asc",
                    iterator=True,
                )
            ),
            lambda items: tuple(sorted((self._deployment(d) for d in items), key=lambda d: d.id)),
        )

    def environments(self, path: str) -> tuple[str, ...] | Unavailable:
        """The names of the project's environments (all states)."""
        return self._once(
            ("environments", path),
            f"environments of {path}",
            lambda: _attrs(self._project(path).environments.list(iterator=True)),
            lambda items: tuple(e["name"] for e in items),
        )

    def last_successful_deployment(
        self, path: str, environment: str, before: datetime
    ) -> Deployment | None | Unavailable:
        # a day after `before`, no deployment can still finish before it: the answer stands
        settled = datetime.now(UTC) - before > timedelta(days=1)
        return self._once(
            ("last_deployment", path, environment, gitlab_time(before)),
            f"last deployment to {environment} before {gitlab_time(before)}",
            lambda: _attrs(
                self._project(path).deployments.list(
                    environment=environment,
                    status="success",
                    order_by="finished_at",  # GitLab requires it (and status) with finished_*
                    finished_before=gitlab_time(before),
                    sort="desc",
                    per_page=1,
                    page=1,
                )
            ),
            lambda items: self._deployment(items[0]) if items else None,
            IMMUTABLE if settled else NOT_DURABLE,
        )

    # -- what changed since the last sync -------------------------------------------------
    def note_changed_mrs(self, path: str, since: datetime) -> bool:
        """Ask GitLab which MRs of `path` changed since `since`; afterwards unchanged MRs
        (and their notes, labels, approvals) are reused from the cache. False when the
        list could not be read (then nothing of that project is reused)."""
        found = self._once(
            ("changed_mrs", path, gitlab_time(since)),
            f"merge requests of {path} changed since {gitlab_time(since)}",
            lambda: [
                m.iid
                for m in self._project(path).mergerequests.list(
                    updated_after=gitlab_time(since), state="all", iterator=True
                )
            ],
            set,
        )
        if isinstance(found, Unavailable):
            self.changed_mrs.pop(path, None)
            return False
        self.changed_mrs[path] = found
        return True
