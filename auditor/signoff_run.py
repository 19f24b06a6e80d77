"""The sign-off use case: a stored run's audit plus what GitLab says now, decided.

`sign_off` reads GitLab only through a `SignoffSource` (the project, the release commit and
its ancestry, the staging environment's last successful deployment; `GitLabSource` is one)
and hands the facts to the pure `signoff.decide_signoff`. The stored run comes in as an
`AuditedRun`, read from the store by the caller: a use case knows no layer above it, and
picking a run is the caller's choice (`--run`, else the newest finished one).

Why it is conservative: a run that did not finish, or that audited another GitLab, is a
run issue (it blocks); a release commit GitLab does not give is exit 4 rather than a
sign-off of everything; a staging deployment that cannot be read is no staging (it blocks),
and an unreachable GitLab is exit 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from auditor.config import Settings
from auditor.evidence import Commit, Deployment, Unavailable
from auditor.findings import Report
from auditor.gaps import gitlab_unusable
from auditor.gitlab.source import GitLabUnusable
from auditor.release_line import SweepExtras
from auditor.signoff import (
    SignoffContext,
    StagingDeployment,
    decide_signoff,
    last_cut_off,
    restrict_to_release,
)


class SignoffSource(Protocol):
    """The GitLab reads a sign-off makes; `GitLabSource` answers them."""

    def project(self, path: str) -> object:
        """The project, or GitLabUnusable (unreachable, token rejected, project gone)."""
        ...

    def commit(self, path: str, sha: str) -> Commit | Unavailable: ...

    def is_ancestor(self, path: str, ancestor: str, descendant: str) -> bool | Unavailable: ...

    def last_successful_deployment(
        self, path: str, environment: str, before: datetime
    ) -> Deployment | None | Unavailable: ...


@dataclass(frozen=True)
class AuditedRun:
    """The stored run a sign-off rests on, as the caller read it from the store."""

    id: int
    status: str
    finished: bool  # it ran to its end (complete or incomplete), so it has every result
    gitlab_url: str  # the GitLab it audited, as stored (credentials redacted)
    window_end: datetime | None
    staging_seen: int | None  # the newest staging deployment of the service it looked at
    report: Report
    extras: SweepExtras


def run_issues(run: AuditedRun, configured_url: str) -> list[str]:
    """Why `run` cannot be relied on for a sign-off against `configured_url` (redacted)."""
    issues = []
    if not run.finished:
        issues.append(
            f"run {run.id} is {run.status}: it did not finish, so it may miss promotions; "
            "run auditor sweep again"
        )
    audited = run.gitlab_url.rstrip("/")
    configured = configured_url.rstrip("/")
    if audited != configured:
        issues.append(
            f"run {run.id} audited {audited}, not the configured GitLab {configured}; "
            "sweep this GitLab into the store (or use the matching --db and config)"
        )
    return issues


def sign_off(
    run: AuditedRun,
    source: SignoffSource,
    settings: Settings,
    *,
    service: str,
    configured_url: str,
    now: datetime,
    since: datetime | None = None,
    release: str | None = None,
) -> SignoffContext:
    """The sign-off of `service` (a configured one) from `run`, as of `now`.

    `since`: promotions since then (default: the last cut-off the run saw; with `release`,
    everything the release commit carries). `configured_url`: the configured GitLab with
    credentials redacted, to compare with the run's. Raises GitLabUnusable (exit 4) when
    GitLab cannot be used or does not give `release` as a commit of the service's project.
    """
    svc = settings.services[service]
    stored, extras = run.report, run.extras
    source.project(svc.project)  # unreachable, token rejected, project gone: exit 4
    if release:
        release_commit = source.commit(svc.project, release)
        if isinstance(release_commit, Unavailable):
            raise GitLabUnusable(
                f"--release {release}: GitLab does not give it as a commit of "
                f"{svc.project} ({release_commit.reason}); check the SHA"
            )
        release_sha = release_commit.id

        def contains(sha: str) -> bool | None:
            answer = source.is_ancestor(svc.project, sha, release_sha)
            return answer if isinstance(answer, bool) else None

        stored, extras = restrict_to_release(stored, extras, contains)
    if since is None and not release:
        since = last_cut_off(extras.cut_offs, until=stored.generated_at)
    found = source.last_successful_deployment(svc.project, svc.policy.staging_environment, now)
    if isinstance(found, Unavailable) and gitlab_unusable(found.reason):
        raise GitLabUnusable(
            f"GitLab at {configured_url.rstrip('/')} is unreachable ({found.reason})"
        )
    staging = (
        None
        if found is None or isinstance(found, Unavailable)
        else StagingDeployment.from_deployment(found)
    )
    return decide_signoff(
        stored,
        since,
        service=service,
        staging=staging,
        extras=extras,
        gaps=extras.gaps,
        run_issues=run_issues(run, configured_url),
        window_end=run.window_end,
        staging_seen=run.staging_seen,
    )
