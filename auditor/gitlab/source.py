"""GitLab as an evidence source: one read per fact, checked and parsed into evidence types.

Every method answers a typed value or `Unavailable`; none returns a half-empty default.
Every answer is checked before it is believed (`shapes`): JSON and not an HTML page, the
fields each rule reads present and typed, and a list complete: every page followed (by
`Link: rel="next"`, else by `X-Next-Page`) and as long as `X-Total` says when GitLab sends
it. An answer that fails any of that is `Unavailable(what, defect)`.

Within a run each question is asked once (an in-memory memo, safe across threads: a second
thread asking the same question waits for the first answer). Across runs an optional
`SourceCache` keeps the raw answers, and only well-formed ones: facts that cannot change (a
commit, a diff, a compare of two SHAs, an ancestry) are fetched once ever; facts that can
(an MR's notes, a pipeline's jobs) are reused only while the version GitLab reports for
their owner (the MR's or pipeline's `updated_at`) is unchanged. Only `project()` and
`merge_request()` raise, because without them there is nothing to audit.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import gitlab
import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabError

from auditor.evidence import (
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
from auditor.gitlab import shapes
from auditor.gitlab.client import CrossOriginRefused, ReadOnlySession, origin, shown_origin
from auditor.gitlab.shapes import Malformed
from auditor.identity import MRId
from auditor.timestamps import format_gitlab as gitlab_time

T = TypeVar("T")
Raw = Any  # JSON as GitLab sent it: dicts, lists, strings, booleans

# `version` for _once: NOT_DURABLE keeps an answer for this run only; IMMUTABLE keeps it
# for ever; any string keeps it while the owner's updated_at equals that string.
NOT_DURABLE = False
IMMUTABLE = None

PER_PAGE = 100  # GitLab's maximum
TOKEN_REJECTED = "GitLab rejected the token (401): check GITLAB_TOKEN and its read_api scope"

# Errors of a parse step that mean "this answer is not what it should be", not a bug in the
# caller: turned into Unavailable as a last line of defence behind `shapes`.
_SHAPE_ERRORS = (Malformed, KeyError, IndexError, TypeError, ValueError, AttributeError)

parse_time = shapes.parse_time


class GitLabUnusable(Exception):
    """GitLab cannot be used at all (exit 4): unreachable, token rejected, project missing."""


class SourceCache(Protocol):
    """Where raw answers outlive a run (the evidence store implements it)."""

    def cache_entry(self, key: str) -> tuple[object, str | None, str | None] | None: ...

    def cache_put(
        self, key: str, value: object, version: str | None, response_sha256: str | None = None
    ) -> None: ...


def _error_text(message: object) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return "an HTML error page"
    return " ".join(text.split())[:120]


def _reason(exc: Exception) -> str:
    if isinstance(exc, GitlabError):
        code = getattr(exc, "response_code", None)
        text = {403: "permission denied (403)", 404: "not found (404)"}.get(code or 0)
        if text:
            return text
        if code is None:
            return _error_text(exc.error_message)
        after = " after retries" if code >= 500 else ""
        return f"HTTP {code}{after}: {_error_text(exc.error_message)}"
    if isinstance(exc, CrossOriginRefused):
        return str(exc)
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off (connection broken mid-body)"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def _shape_reason(exc: Exception) -> str:
    if isinstance(exc, Malformed):
        return str(exc)
    return f"answer could not be read ({type(exc).__name__})"


def _not_json(constant: str) -> None:
    # Python's json reads NaN and Infinity, which JSON has not (and the store refuses)
    raise ValueError(f"{constant} is not JSON")


def json_of(response: requests.Response) -> Raw:
    """The JSON body of a 2xx answer; an HTML page or a body that does not parse is
    `Malformed` (python-gitlab would return the page, or raise a parsing error)."""
    ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        what = "an HTML page" if "html" in ctype else (ctype or "a body without Content-Type")
        raise Malformed(
            f"answer is {what} (status {response.status_code}), not JSON: "
            "is [gitlab] url GitLab's own address?"
        )
    try:
        return json.loads(response.content, parse_constant=_not_json)
    except ValueError as exc:
        where = f" at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise Malformed(f"answer is not valid JSON{where}") from None


def _header_int(headers: Any, name: str) -> int | None:
    """A pagination header as a number; absent or empty (GitLab's last page) is None."""
    value = (headers.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise Malformed(f"{name} is {shapes.shown(value)}, not a number")
    return int(value)


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
        # at most this many requests in flight, however many threads ask (`limit`)
        self._slots: threading.BoundedSemaphore | None = None

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
        from the cache when `reuse` allows and stored there when `keep` allows, and only
        when `parse` accepted it."""
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
                try:
                    value = parse(hit[0])
                except _SHAPE_ERRORS:
                    pass  # an entry an older auditor kept unchecked: ask GitLab again
                else:
                    self.cache_hits += 1
                    self._digests[key] = tuple((hit[2] or "").split())
                    return value
        digests = self.session.thread_digests() if self.session is not None else []
        mark = len(digests)
        try:
            raw = fetch()
        except Malformed as exc:
            self._digests[key] = tuple(digests[mark:])
            return Unavailable(what, str(exc))
        except GitlabAuthenticationError:
            raise GitLabUnusable(TOKEN_REJECTED) from None
        except (GitlabError, requests.RequestException) as exc:
            return Unavailable(what, _reason(exc))
        self._digests[key] = tuple(digests[mark:])
        try:
            value = parse(raw)
        except _SHAPE_ERRORS as exc:
            return Unavailable(what, _shape_reason(exc))
        if durable and (keep is None or keep(raw)):
            self.cache.cache_put(  # type: ignore[union-attr]
                cache_key,
                raw,
                None if version is IMMUTABLE else str(version),
                " ".join(self._digests[key]) or None,
            )
        return value

    # -- reading answers ------------------------------------------------------------------
    def limit(self, concurrency: int) -> None:
        """Keep at most `concurrency` requests in flight: `--concurrency` holds however the
        work is split across threads (services, prefetches and promotions side by side)."""
        self._slots = threading.BoundedSemaphore(max(1, concurrency))

    def _request(self, url: str, query: dict[str, Any] | None) -> Any:
        with self._slots or contextlib.nullcontext():
            return self.gl.http_request("get", url, query_data=query)

    def _get(self, url: str, **query: Any) -> Raw:
        """One JSON answer (an object, or a list read as one page)."""
        return json_of(self._request(url, query))

    def _get_list(self, url: str, all_pages: bool = True, **query: Any) -> list[Raw]:
        """Every page of a list. python-gitlab follows only `Link: rel="next"`; GitLab
        behind some proxies drops `Link`, so `X-Next-Page` is followed too, and a list
        that says it has more pages but links none, or is shorter or longer than its
        `X-Total`, is Malformed. Absent totals are fine: GitLab omits them past 10,000
        rows and always on the commits list."""
        query = {"per_page": PER_PAGE, **query}
        params: dict[str, Any] | None = query
        rows: list[Raw] = []
        asked: set[str] = set()
        while True:
            response = self._request(url, params)
            page = json_of(response)
            if not isinstance(page, list):
                raise Malformed(f"answer is {shapes.kind_of(page)}, expected a list")
            rows.extend(page)
            if not all_pages:
                return rows
            headers = response.headers
            total = _header_int(headers, "X-Total")
            current = _header_int(headers, "X-Page")
            next_page = _header_int(headers, "X-Next-Page")
            total_pages = _header_int(headers, "X-Total-Pages")
            link = (response.links.get("next") or {}).get("url")
            if link:
                url, params = self._on_gitlab(link), None
            elif next_page is not None:
                if current is not None and next_page <= current:
                    raise Malformed(f"page {current} names page {next_page} as the next one")
                params = {**query, "page": next_page}
            elif total_pages is not None and current is not None and current < total_pages:
                raise Malformed(
                    f"GitLab said {total_pages} pages, but page {current} links no next page"
                )
            else:
                break
            step = f"{url}?{sorted((params or {}).items())}"
            if step in asked:
                raise Malformed("the next-page links go round in a circle")
            asked.add(step)
        if total is not None and len(rows) != total:
            raise Malformed(f"GitLab said {total} items, {len(rows)} were returned")
        return rows

    def _on_gitlab(self, url: str) -> str:
        """A next-page link on the configured GitLab. GitLab writes links with its own
        external URL, which may differ from the configured one (keep_base_url); a link
        to anywhere else is never followed with the token."""
        if origin(url) == origin(self.gl.url):
            return url
        at = url.find("/api/v4/")
        if self.gl.keep_base_url and at >= 0:
            return self.gl.url + url[at:]
        raise Malformed(f"the next-page link points to {shown_origin(url)}, not to GitLab")

    @staticmethod
    def _p(path: str) -> str:
        return f"/projects/{quote(path, safe='')}"

    def _mr_url(self, path: str, iid: int) -> str:
        return f"{self._p(path)}/merge_requests/{iid}"

    def _web_url(self, path: str) -> str:
        return str(self.project(path)["web_url"])

    # -- projects and MRs -----------------------------------------------------------------
    def project(self, path: str) -> dict[str, Any]:
        """The project's attributes (id, web_url and default_branch checked); raises
        GitLabUnusable when it cannot be read."""
        found = self._once(
            ("project", path),
            f"project {path}",
            lambda: self._get(self._p(path)),
            shapes.project,
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
        default_branch = project.get("default_branch") or "main"
        result = self._once(
            ("mr", path, iid),
            f"merge request {MRId(path, iid)}",
            lambda: self._get(self._mr_url(path, iid)),
            lambda data: shapes.merge_request(data, path, default_branch),
            "mr",
            # reused only when the project's change list since the last sync omits it
            reuse=self.mr_unchanged(path, iid),
        )
        if isinstance(result, Unavailable):
            raise GitLabUnusable(f"merge request {MRId(path, iid)}: {result.reason}")
        return result

    def _mr_version(self, mr: MergeRequest) -> str:
        return mr.updated_at.isoformat()

    def approvals(self, mr: MergeRequest) -> Approvals | Unavailable:
        return self._once(
            ("approvals", mr.project, mr.iid),
            f"approvals of {mr.mr_id}",
            lambda: self._get(f"{self._mr_url(mr.project, mr.iid)}/approvals"),
            shapes.approvals,
            self._mr_version(mr),
        )

    def notes(self, mr: MergeRequest) -> tuple[Note, ...] | Unavailable:
        return self._once(
            ("notes", mr.project, mr.iid),
            f"notes of {mr.mr_id}",
            lambda: self._get_list(
                f"{self._mr_url(mr.project, mr.iid)}/notes", sort="asc", order_by="created_at"
            ),
            lambda items: shapes.notes(items, mr.web_url),
            self._mr_version(mr),
        )

    def label_events(self, mr: MergeRequest) -> tuple[LabelEvent, ...] | Unavailable:
        return self._once(
            ("label_events", mr.project, mr.iid),
            f"label events of {mr.mr_id}",
            lambda: self._get_list(f"{self._mr_url(mr.project, mr.iid)}/resource_label_events"),
            shapes.label_events,
            self._mr_version(mr),
        )

    def mr_commits(self, mr: MergeRequest) -> tuple[Commit, ...] | Unavailable:
        return self._once(
            ("mr_commits", mr.project, mr.iid),
            f"commits of {mr.mr_id}",
            lambda: self._get_list(f"{self._mr_url(mr.project, mr.iid)}/commits"),
            lambda items: shapes.commits(items, self._web_url(mr.project)),
            self._mr_version(mr),
        )

    def merge_requests(self, path: str, **filters: Any) -> tuple[MRRef, ...] | Unavailable:
        return self._once(
            ("mrs", path, tuple(sorted(filters.items()))),
            f"merge requests of {path}",
            lambda: self._get_list(f"{self._p(path)}/merge_requests", **filters),
            lambda items: shapes.mr_refs(items, path),
        )

    # -- repository -----------------------------------------------------------------------
    def _commit_url(self, path: str, sha: str) -> str:
        return f"{self._p(path)}/repository/commits/{quote(sha, safe='')}"

    def commit(self, path: str, sha: str) -> Commit | Unavailable:
        return self._once(
            ("commit", path, sha),
            f"commit {sha[:8]} of {path}",
            lambda: self._get(self._commit_url(path, sha)),
            lambda data: shapes.single_commit(data, self._web_url(path)),
            IMMUTABLE,
        )

    def branch_commits(
        self, path: str, ref: str, since: datetime
    ) -> tuple[Commit, ...] | Unavailable:
        return self._once(
            ("branch_commits", path, ref, gitlab_time(since)),
            f"commits of {path}:{ref}",
            lambda: self._get_list(
                f"{self._p(path)}/repository/commits", ref_name=ref, since=gitlab_time(since)
            ),
            lambda items: shapes.commits(items, self._web_url(path)),
        )

    def commit_diff(self, path: str, sha: str) -> tuple[dict[str, Any], ...] | Unavailable:
        return self._once(
            ("diff", path, sha),
            f"diff of {sha[:8]}",
            lambda: self._get_list(f"{self._commit_url(path, sha)}/diff"),
            shapes.diff,
            IMMUTABLE,
        )

    def commit_merge_requests(self, path: str, sha: str) -> tuple[MRRef, ...] | Unavailable:
        return self._once(
            ("commit_mrs", path, sha),
            f"MRs of commit {sha[:8]}",
            lambda: self._get_list(f"{self._commit_url(path, sha)}/merge_requests"),
            lambda items: shapes.mr_refs(items, path),
            IMMUTABLE,
            # which MRs hold a commit can grow; once a merged one does, the answer stands
            keep=lambda items: any(m.get("state") == "merged" for m in items),
        )

    def compare(self, path: str, base: str, head: str) -> tuple[Commit, ...] | Unavailable:
        """Commits in head and not in base (oldest first), as GitLab's compare answers.
        An answer without its `commits` array is Unavailable, never "nothing added"."""
        return self._once(
            ("compare", path, base, head),
            f"compare {base[:8]}...{head[:8]}",
            # the commits array is what is kept; the rest (diffs) can be large
            lambda: shapes.compare_commits(
                self._get(f"{self._p(path)}/repository/compare", **{"from": base, "to": head})
            ),
            lambda items: shapes.commits(items, self._web_url(path)),
            IMMUTABLE,
        )

    def _merge_base(self, path: str, a: str, b: str) -> Raw:
        return self._get(f"{self._p(path)}/repository/merge_base", **{"refs[]": [a, b]})

    def is_ancestor(self, path: str, ancestor: str, descendant: str) -> bool | Unavailable:
        if ancestor == descendant:
            return True
        return self._once(
            ("ancestor", path, ancestor, descendant),
            f"ancestry of {ancestor[:8]} in {descendant[:8]}",
            lambda: self._merge_base(path, ancestor, descendant),
            lambda data: shapes.merge_base(data) == ancestor,
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
            lambda: self._merge_base(path, a, b),
            shapes.merge_base,
            IMMUTABLE if durable else NOT_DURABLE,
        )

    # -- CI -------------------------------------------------------------------------------
    def pipelines(
        self, path: str, updated_after: datetime, created_before: datetime | None = None
    ) -> tuple[Pipeline, ...] | Unavailable:
        """Pipelines touched after a time (playing a job touches its pipeline), optionally
        only those created before another, oldest first."""
        bounds: dict[str, Any] = {"updated_after": gitlab_time(updated_after)}
        if created_before is not None:
            bounds["created_before"] = gitlab_time(created_before)
        return self._once(
            ("pipelines", path, *bounds.values()),
            f"pipelines of {path}",
            lambda: self._get_list(
                f"{self._p(path)}/pipelines", **bounds, order_by="id", sort="asc"
            ),
            lambda items: shapes.pipelines(items, path),
        )

    def pipeline_jobs(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable:
        """Every attempt of every job (include_retried), oldest first. With the pipeline's
        `updated_at`, the answer is reused by later runs until the pipeline changes."""
        return self._once(
            ("jobs", path, pipeline_id),
            f"jobs of pipeline {pipeline_id}",
            lambda: self._get_list(
                f"{self._p(path)}/pipelines/{pipeline_id}/jobs", include_retried=True
            ),
            lambda items: shapes.jobs(items, pipeline_id),
            updated_at.isoformat() if updated_at else NOT_DURABLE,
        )

    def pipeline_bridges(
        self, path: str, pipeline_id: int, updated_at: datetime | None = None
    ) -> tuple[Job, ...] | Unavailable:
        """Trigger jobs, retried tries included: `/bridges` does not document
        `include_retried`, but GitLab's JobsFinder behind it honours the parameter
        (app/finders/ci/jobs_finder.rb); where it is ignored only the latest tries come back,
        and the rules then judge those."""
        return self._once(
            ("bridges", path, pipeline_id),
            f"trigger jobs of pipeline {pipeline_id}",
            lambda: self._get_list(
                f"{self._p(path)}/pipelines/{pipeline_id}/bridges", include_retried=True
            ),
            lambda items: shapes.jobs(items, pipeline_id, "trigger job"),
            updated_at.isoformat() if updated_at else NOT_DURABLE,
        )

    # -- environments and deployments -----------------------------------------------------
    def deployments(
        self, path: str, environment: str, updated_after: datetime
    ) -> tuple[Deployment, ...] | Unavailable:
        """Deployments to `environment` touched after a time, oldest first (by id)."""
        return self._once(
            ("deployments", path, environment, gitlab_time(updated_after)),
            f"deployments to {environment} of {path}",
            lambda: self._get_list(
                f"{self._p(path)}/deployments",
                environment=environment,
                order_by="updated_at",  # GitLab requires it with updated_after
                updated_after=gitlab_time(updated_after),
                sort="asc",
            ),
            shapes.deployments,
        )

    def environments(self, path: str) -> tuple[str, ...] | Unavailable:
        """The names of the project's environments, in every state."""
        return self._once(
            ("environments", path),
            f"environments of {path}",
            lambda: self._get_list(f"{self._p(path)}/environments"),
            shapes.environment_names,
        )

    def last_successful_deployment(
        self, path: str, environment: str, before: datetime
    ) -> Deployment | None | Unavailable:
        # a day after `before`, no deployment can still finish before it: the answer stands
        settled = datetime.now(UTC) - before > timedelta(days=1)
        return self._once(
            ("last_deployment", path, environment, gitlab_time(before)),
            f"last deployment to {environment} before {gitlab_time(before)}",
            lambda: self._get_list(
                f"{self._p(path)}/deployments",
                all_pages=False,  # the newest one is all that is asked
                environment=environment,
                status="success",
                order_by="finished_at",  # GitLab requires it (and status) with finished_*
                finished_before=gitlab_time(before),
                sort="desc",
                per_page=1,
                page=1,
            ),
            lambda items: next(iter(shapes.deployments(items[:1])), None),
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
            lambda: self._get_list(
                f"{self._p(path)}/merge_requests", updated_after=gitlab_time(since), state="all"
            ),
            shapes.mr_iids,
        )
        if isinstance(found, Unavailable):
            self.changed_mrs.pop(path, None)
            return False
        self.changed_mrs[path] = found
        return True
