"""The `check` use case: one MR, every affected service, a Report.

Composition of the parts, no rules and no IO of its own beyond the source it is given.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import unquote, urlsplit

from auditor import __version__
from auditor.collect import Collector
from auditor.config import ConfigError, Settings
from auditor.derive import Clock
from auditor.evaluate import evaluate
from auditor.evidence import MergeRequest, Unavailable
from auditor.findings import Report
from auditor.gitlab.client import origin
from auditor.gitlab.source import GitLabSource
from auditor.identity import MRId

_TARGET = re.compile(r"^(?P<project>[\w.-]+(?:/[\w.-]+)+)!(?P<iid>[1-9]\d*)$")
# The path of an MR's web page as GitLab links it: `/-/merge_requests/42`, optionally one
# of its tabs (`/diffs`, `/commits`, `/pipelines`); `/merge_requests/42` without `/-` is the
# older form GitLab still redirects. `-` alone is GitLab's separator, never a path segment.
# The query and fragment (`?tab=`, `#note_1`) are ignored.
_SEGMENT = r"(?!-/)[\w.-]+"
_MR_PATH = re.compile(
    rf"^/(?P<path>{_SEGMENT}(?:/{_SEGMENT})+)(?:/-)?/merge_requests/(?P<iid>[1-9]\d*)"
    r"(?:/[a-z_]+)?/?$"
)


@dataclass(frozen=True)
class Target:
    """An MR to audit. From a web URL, `project` is the URL's whole path up to `/-/` and
    `instance` its scheme://host:port, until `on_gitlab` has checked it against the
    configured GitLab (and removed the path GitLab is served under, if any)."""

    project: str
    iid: int
    instance: str | None = None

    @property
    def mr_id(self) -> MRId:
        return MRId(self.project, self.iid)

    def __str__(self) -> str:
        return str(self.mr_id)


def parse_target(text: str) -> Target:
    """`group/sub/name!42`, or the MR's web URL
    (`https://gitlab.example.com/group/sub/name/-/merge_requests/42`), -> Target;
    anything else is a usage error."""
    text = text.strip()
    if text.lower().startswith(("http://", "https://")):
        return _parse_mr_url(text)
    m = _TARGET.match(text)
    if not m:
        raise ConfigError(
            f"not a merge request reference: {text!r} (expected PROJECT!IID, "
            "e.g. evenergi/vemo-core!42, or the merge request's URL)"
        )
    return Target(m.group("project"), int(m.group("iid")))


def _parse_mr_url(text: str) -> Target:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError("not a merge request URL: it does not parse as a URL") from None
    if "@" in parts.netloc:
        # not repeated: what precedes the @ may be a secret
        raise ConfigError(
            "the merge request URL contains credentials (user:secret@host); give the "
            "address as GitLab shows it"
        )
    m = _MR_PATH.match(unquote(parts.path))
    if not parts.hostname or not m:
        raise ConfigError(
            f"not a merge request URL: {text!r} (expected "
            "https://GITLAB/PROJECT/-/merge_requests/IID, or PROJECT!IID)"
        )
    return Target(
        m.group("path"),
        int(m.group("iid")),
        instance=f"{parts.scheme.lower()}://{parts.netloc.lower()}",
    )


def on_gitlab(target: Target, gitlab_url: str) -> Target:
    """The target as a project of the GitLab at `gitlab_url`. A URL target must be on that
    GitLab (same scheme, host and port), else it is a usage error: the auditor asks only
    the configured GitLab, and never sends its token anywhere else. GitLab served under a
    path (`https://example.com/gitlab`) has that path removed from the project."""
    if target.instance is None:
        return target
    if origin(target.instance) != origin(gitlab_url):
        raise ConfigError(
            f"the merge request is on {target.instance}, not on the configured GitLab "
            f"({gitlab_url}); the auditor asks only that one (set [gitlab] url to audit another)"
        )
    base = urlsplit(gitlab_url).path.strip("/")
    project = target.project
    if base:
        if not project.startswith(base + "/"):
            raise ConfigError(
                f"{target.instance}/{project} is not under the configured GitLab ({gitlab_url})"
            )
        project = project[len(base) + 1 :]
    if "/" not in project:
        raise ConfigError(f"not a merge request URL: no project path in {project!r}")
    return replace(target, project=project, instance=None)


def select_services(settings: Settings, target: Target, names: Sequence[str]) -> list[str]:
    """The services to audit for this MR: those named, else all built from its project."""
    for name in names:
        if name not in settings.services:
            known = ", ".join(sorted(settings.services))
            raise ConfigError(f"unknown service {name!r} (configured: {known})")
        if settings.services[name].project != target.project:
            raise ConfigError(
                f"service {name!r} is built from {settings.services[name].project}, "
                f"not {target.project}"
            )
    if names:
        return list(dict.fromkeys(names))
    chosen = [s.name for s in settings.services_for_project(target.project)]
    if not chosen:
        raise ConfigError(
            f"no configured service is built from {target.project}; add a [services.NAME] "
            "table with that project"
        )
    return chosen


def touches(changed: Sequence[str], patterns: Sequence[str]) -> bool:
    """Whether any changed path matches a service's `paths` globs (`**` spans folders)."""
    return any(fnmatch.fnmatch(path, pattern) for path in changed for pattern in patterns)


def changed_paths(src: GitLabSource, mr: MergeRequest) -> list[str] | None:
    """The files the MR changed, from its merge or squash commit (else its own commits);
    None when they cannot be read, so that nothing is skipped on a guess."""
    if mr.merge_commit_sha or mr.squash_commit_sha:
        shas = [mr.merge_commit_sha or mr.squash_commit_sha or ""]
    else:
        commits = src.mr_commits(mr)
        if isinstance(commits, Unavailable):
            return None
        shas = [c.id for c in commits]
    paths: list[str] = []
    for sha in shas:
        diff = src.commit_diff(mr.project, sha)
        if isinstance(diff, Unavailable):
            return None
        paths += [str(d.get("new_path") or d.get("old_path")) for d in diff]
    return paths


def affected_services(
    src: GitLabSource, settings: Settings, mr: MergeRequest, services: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(audited, skipped): a service with `paths` is skipped when the MR touches none."""
    if not any(settings.services[name].paths for name in services):
        return list(services), []
    changed = changed_paths(src, mr)
    audited, skipped = [], []
    for name in services:
        patterns = settings.services[name].paths
        if patterns and changed is not None and not touches(changed, patterns):
            skipped.append(name)
        else:
            audited.append(name)
    return audited, skipped


def check_mr(
    src: GitLabSource,
    settings: Settings,
    target: Target,
    services: Sequence[str],
    now: datetime,
    *,
    explicit: bool = False,
    on_skip: Callable[[str], None] | None = None,
) -> Report:
    """Audit the MR for `services`; unless they were named explicitly, services whose
    `paths` the MR does not touch are skipped (and reported through `on_skip`)."""
    mr = src.merge_request(target.project, target.iid)
    if not explicit:
        services, skipped = affected_services(src, settings, mr, services)
        for name in skipped:
            if on_skip:
                on_skip(f"{name}: skipped, {target} changes none of its paths")
    collector = Collector(src, settings)
    clock = Clock(now)
    results = tuple(
        evaluate(collector.collect(settings.services[name], mr), clock) for name in services
    )
    return Report(
        gitlab_url=settings.url, generated_at=now, tool_version=__version__, promotions=results
    )
