"""The evidence of one promotion, as frozen dataclasses named after GitLab's own fields.

Collection (IO) builds these; checks (pure) read them. A fact that could not be read is an
`Unavailable` value in its place, never an empty list or a default: an empty tuple means
"GitLab answered and there was nothing", `Unavailable` means "we do not know".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias, TypeVar, Union

from auditor.config import Service
from auditor.identity import MRId

T = TypeVar("T")


@dataclass(frozen=True)
class Unavailable:
    """A fact GitLab did not give us: permission, pruned data, timeout, ambiguity."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


# A fact, or why GitLab did not give it. A generic alias (`Maybe[datetime]`) that type
# checkers read as `datetime | Unavailable`.
Maybe: TypeAlias = Union[T, Unavailable]  # noqa: UP007 - `T | X` is no generic alias on 3.11


@dataclass(frozen=True)
class MRRef:
    """Enough of another MR to name it and judge it (cherry-pick MRs, sources of picks)."""

    project: str
    iid: int
    title: str
    state: str
    source_branch: str
    target_branch: str
    merged_at: datetime | None
    merge_commit_sha: str | None
    web_url: str
    squash_commit_sha: str | None = None

    @property
    def mr_id(self) -> MRId:
        return MRId(self.project, self.iid)


@dataclass(frozen=True)
class MergeRequest:
    id: int
    iid: int
    project: str
    project_id: int
    title: str
    web_url: str
    state: str
    source_branch: str
    target_branch: str
    default_branch: str
    created_at: datetime
    updated_at: datetime
    merged_at: datetime | None
    merge_commit_sha: str | None
    squash_commit_sha: str | None
    sha: str | None
    labels: tuple[str, ...]
    author: str | None

    @property
    def mr_id(self) -> MRId:
        return MRId(self.project, self.iid)


@dataclass(frozen=True)
class Approval:
    username: str
    approved_at: datetime | None


@dataclass(frozen=True)
class Approvals:
    approved_by: tuple[Approval, ...]
    approvals_required: int
    approvals_left: int


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    author: str | None
    created_at: datetime
    system: bool
    web_url: str


@dataclass(frozen=True)
class LabelEvent:
    id: int
    label: str | None  # None when the label was deleted since
    action: Literal["add", "remove"]
    created_at: datetime
    user: str | None


@dataclass(frozen=True)
class Commit:
    id: str
    short_id: str
    title: str
    message: str
    parent_ids: tuple[str, ...]
    authored_date: datetime | None
    committed_date: datetime | None
    web_url: str


# `reapplied`: a revert of a revert of this hotfix, which puts the change back on release
PickMethod = Literal["trailer", "system_note", "cherry_pick_mr", "same_patch", "reapplied"]


@dataclass(frozen=True)
class CherryPick:
    """A commit that carries the MR's change onto `release`, and how we know."""

    commit: Commit
    method: PickMethod
    picked_from: str | None  # the MR commit the trailer or system note names
    reached_release_at: datetime
    via_mr: MRRef | None = None  # the cherry-pick-<sha> MR into release, when one was used


@dataclass(frozen=True)
class SuspectedPick:
    """A release commit that looks like this hotfix but is not proven to carry it."""

    commit: Commit
    reason: str


@dataclass(frozen=True)
class Revert:
    """A commit on `release` that undoes this hotfix: it reverts one of its picks, the MR's
    merge or squash commit, or one of the MR's commits (named by git's "This reverts commit"
    line, or found by its inverse patch when `reverted_sha` is None)."""

    commit: Commit
    reverted_sha: str | None
    at: datetime


JobStatus = str  # GitLab's: created pending running failed success canceled skipped manual ...
NOT_PLAYED = frozenset({"manual", "created", "skipped", "scheduled"})


@dataclass(frozen=True)
class Job:
    """A CI job or a trigger job (bridge); bridges carry their downstream pipeline."""

    id: int
    name: str
    status: JobStatus
    stage: str | None
    pipeline_id: int
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    web_url: str
    user: str | None = None
    downstream_pipeline_id: int | None = None
    allow_failure: bool = False

    @property
    def played(self) -> bool:
        """A manual job that was never played keeps status `manual` (GitLab has no `when`)."""
        return self.status not in NOT_PLAYED


@dataclass(frozen=True)
class Pipeline:
    id: int
    project: str
    ref: str | None
    sha: str | None
    status: str
    source: str | None
    created_at: datetime
    updated_at: datetime | None
    web_url: str


@dataclass(frozen=True)
class OrchestrationRun:
    """An orchestration pipeline and the jobs of it the runbook cares about.

    Every attempt is kept (include_retried), oldest first, so a rerun is visible.
    """

    pipeline: Pipeline
    release_jobs: tuple[Job, ...]  # `release <service>` for the audited service
    cut_off_jobs: tuple[Job, ...]


@dataclass(frozen=True)
class Deployment:
    id: int
    iid: int
    environment: str
    status: str  # created running success failed canceled skipped blocked
    sha: str
    ref: str
    created_at: datetime
    updated_at: datetime | None
    finished_at: datetime | None
    deployable_id: int | None
    deployable_name: str | None
    pipeline_id: int | None
    web_url: str
    user: str | None = None
    pipeline_updated_at: datetime | None = None


@dataclass(frozen=True)
class ScopeCommit:
    """A commit that a deployment added to staging, with what is known of its origin."""

    commit: Commit
    picked_from: str | None  # sha from a cherry-pick trailer, if any
    reverts: str | None  # sha from "This reverts commit X", if any
    source_mrs: tuple[MRRef, ...] | Unavailable | None  # MRs of picked_from; None: not asked
    # for a revert: the MRs that explain the commit it reverts (None: not asked, () none)
    reverted_mrs: tuple[MRRef, ...] | Unavailable | None = None


@dataclass(frozen=True)
class ReleaseScope:
    """What a staging deployment added since the previous successful one."""

    deployment_id: int
    base_sha: str
    head_sha: str
    commits: tuple[ScopeCommit, ...]


@dataclass(frozen=True)
class PromotionEvidence:
    """Everything the rules read for one (MR, service) promotion."""

    service: Service
    mr: MergeRequest
    approvals: Maybe[Approvals]
    notes: Maybe[tuple[Note, ...]]
    label_events: Maybe[tuple[LabelEvent, ...]]
    picks: Maybe[tuple[CherryPick, ...]]
    suspected_picks: tuple[SuspectedPick, ...] = ()
    # the MR's own commits (its change, commit by commit), oldest first; None: not read
    mr_commits: Maybe[tuple[Commit, ...]] | None = None
    # every configured service's name: a note may speak of several
    all_services: tuple[str, ...] = ()
    reverts: Maybe[tuple[Revert, ...]] = ()
    orchestration_runs: Maybe[tuple[OrchestrationRun, ...]] = ()
    # staging deployments of the service created since the first pick, oldest first
    deployments: Maybe[tuple[Deployment, ...]] = ()
    # the last successful staging deployment before the first of `deployments`
    previous_deployment: Maybe[Deployment | None] = None
    # jobs of the service-project pipelines that deployed to staging, and of the child or
    # downstream pipelines those triggered, by pipeline id
    pipeline_jobs: Mapping[int, Maybe[tuple[Job, ...]]] = field(default_factory=dict)
    # trigger jobs (bridges) of the pipelines that deployed to staging, by pipeline id
    pipeline_bridges: Mapping[int, Maybe[tuple[Job, ...]]] = field(default_factory=dict)
    # deployments to the environments after staging (`later_environments`), oldest first;
    # read only when a validation failed (None: not read)
    later_deployments: Maybe[tuple[Deployment, ...]] | None = None
    # (ancestor sha, descendant sha) -> whether the first is an ancestor of the second
    ancestry: Mapping[tuple[str, str], Maybe[bool]] = field(default_factory=dict)
    scope: Maybe[ReleaseScope] | None = None
