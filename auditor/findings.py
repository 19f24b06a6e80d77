"""What the audit concludes: statuses, findings, verdicts and the report they form.

These are the contract's `auditor.report/v1` nouns; the JSON writer renders them as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from auditor.identity import MRId


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


class Verdict(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    INCOMPLETE = "incomplete"
    IN_PROGRESS = "in_progress"
    NOT_PROMOTED = "not_promoted"


@dataclass(frozen=True)
class EvidenceLink:
    """A pointer to the GitLab object a finding rests on."""

    kind: str  # merge_request, note, label_event, commit, pipeline, job, deployment, environment
    id: int | str
    url: str | None
    at: datetime | None = None


@dataclass(frozen=True)
class Finding:
    rule: str
    name: str
    status: Status
    summary: str
    evidence: tuple[EvidenceLink, ...] = ()


@dataclass(frozen=True)
class MRSummary:
    project: str
    iid: int
    title: str
    web_url: str
    merged_at: datetime | None

    @property
    def mr_id(self) -> MRId:
        return MRId(self.project, self.iid)


@dataclass(frozen=True)
class AttemptSummary:
    """One attempt of a promotion, as the timeline shows it: picked, released, deployed,
    checked, validated, reverted. `state` is picked, deployed, validated, failed, reverted
    or stopped."""

    number: int
    state: str
    picks: tuple[str, ...]  # the commits on release, short SHAs
    reached_release_at: datetime
    release_job_id: int | None = None
    release_job_status: str | None = None
    deployment_iid: int | None = None
    deployment_status: str | None = None
    deployed_at: datetime | None = None
    checks: str | None = None  # passed, failed, pending, none; None: not read
    validated_at: datetime | None = None
    reverted_by: str | None = None
    reverted_at: datetime | None = None

    def describe(self, stamp: Callable[[datetime], str]) -> str:
        """One line: what happened in this attempt, in order."""
        parts = [f"picked {', '.join(self.picks)} at {stamp(self.reached_release_at)}"]
        if self.release_job_id is not None:
            parts.append(f"release job {self.release_job_id} {self.release_job_status}")
        if self.deployment_iid is not None:
            when = f" at {stamp(self.deployed_at)}" if self.deployed_at else ""
            parts.append(f"deployment {self.deployment_iid} {self.deployment_status}{when}")
        if self.checks is not None:
            parts.append(f"checks {self.checks}")
        if self.validated_at is not None:
            parts.append(f"validated at {stamp(self.validated_at)}")
        if self.reverted_by is not None and self.reverted_at is not None:
            parts.append(f"reverted by {self.reverted_by} at {stamp(self.reverted_at)}")
        return f"attempt {self.number} ({self.state}): " + "; ".join(parts)


# -- milestones ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unread:
    """A milestone that could not be established: the evidence it rests on was not readable
    (or not conclusive). Distinct from None, which means GitLab answered and it did not
    happen."""

    reason: str


@dataclass(frozen=True)
class Picked:
    """The pick that completed the judged attempt's change on `release`; `shas` every pick
    of that attempt (a multi-commit MR picked commit by commit)."""

    sha: str
    at: datetime
    web_url: str | None
    shas: tuple[str, ...]


@dataclass(frozen=True)
class PipelineCreated:
    id: int
    at: datetime
    web_url: str | None


@dataclass(frozen=True)
class ReleaseJobRan:
    id: int
    status: str
    at: datetime | None  # finished, else started, else created
    web_url: str | None


@dataclass(frozen=True)
class Deployed:
    id: int
    iid: int
    status: str
    at: datetime  # finished, else created
    web_url: str | None


@dataclass(frozen=True)
class ChecksRan:
    status: str  # passed, failed, pending, none (no smoke or acceptance job ran)
    at: datetime | None  # when the last of them finished (or started); None: none ran


@dataclass(frozen=True)
class ValidationNote:
    """The note recording the outcome of validating the service (SH11's)."""

    id: int
    at: datetime
    outcome: str  # validated, failed
    web_url: str | None


@dataclass(frozen=True)
class Labelled:
    """The validated label's add the rules judged: the one that stuck during the judged
    attempt, else the last add during it that was later removed (`kept` False)."""

    at: datetime
    kept: bool
    web_url: str | None


@dataclass(frozen=True)
class Milestones:
    """When each step of the runbook happened for one promotion, judged attempt only.

    Each step is its fact, None when GitLab answered and it did not happen (or was not due),
    or `Unread` when it could not be established. Computed once by `auditor.milestones`
    from the facts the rules judge, so every page says the same thing the findings do."""

    attempt: int | None  # the judged attempt's number; None: no pick established
    merged_at: datetime | Unread | None
    picked: Picked | Unread | None
    pipeline: PipelineCreated | Unread | None
    release_job: ReleaseJobRan | Unread | None
    deployed: Deployed | Unread | None
    checks: ChecksRan | Unread | None
    validated: ValidationNote | Unread | None
    labelled: Labelled | Unread | None

    @classmethod
    def unread(cls, reason: str) -> Milestones:
        """Nothing established: the promotion could not be audited at all."""
        u = Unread(reason)
        return cls(None, u, u, u, u, u, u, u, u)


@dataclass(frozen=True)
class PromotionResult:
    mr: MRSummary
    service: str
    verdict: Verdict
    findings: tuple[Finding, ...]
    attempts: tuple[AttemptSummary, ...] = ()
    # None: not recorded (a run stored before milestones were kept)
    milestones: Milestones | None = None


@dataclass(frozen=True)
class Report:
    gitlab_url: str
    generated_at: datetime
    tool_version: str
    promotions: tuple[PromotionResult, ...] = field(default_factory=tuple)


def decide_verdict(findings: Iterable[Finding], *, promoted: bool, in_grace: bool) -> Verdict:
    """Fold rule statuses into one verdict; an unknown can never become compliant.

    `promoted` is False only when no pick of the MR onto `release` was found at all (an
    unreadable branch or an ambiguous pick counts as promoted, so it lands on incomplete).
    """
    if not promoted:
        return Verdict.NOT_PROMOTED
    statuses = {f.status for f in findings}
    if Status.FAIL in statuses:
        return Verdict.NON_COMPLIANT
    if Status.UNKNOWN in statuses:
        return Verdict.IN_PROGRESS if in_grace else Verdict.INCOMPLETE
    return Verdict.COMPLIANT


EXIT_BY_VERDICT = {
    Verdict.COMPLIANT: 0,
    Verdict.NON_COMPLIANT: 1,
    Verdict.INCOMPLETE: 3,
    Verdict.IN_PROGRESS: 3,
    Verdict.NOT_PROMOTED: 3,
}


def exit_code(results: Iterable[PromotionResult]) -> int:
    """The contract's exit status for a set of audited promotions (0 when there are none)."""
    codes = {EXIT_BY_VERDICT[r.verdict] for r in results}
    if 1 in codes:
        return 1
    if 3 in codes:
        return 3
    return 0
