"""What a sweep could not establish, where no audited promotion carries it.

A rule that cannot be decided is an `unknown` finding of its promotion. Some things a sweep
cannot read leave no promotion to hang the doubt on: a service's deployments that could not
be listed, a deployment whose compare failed, a commit whose merge request could not be
looked up, an MR that could not be read at all. Each is a `Gap`, kept with the run, counted
in its coverage, shown by every export as an error, and it makes the run `incomplete` and
the exit code 3 (4 when the reason is that GitLab itself could not be used). A run without
gaps is the only one that may say "nothing was missed".

Pure values and functions: no IO, no GitLab client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The reasons `gitlab.source` gives when GitLab itself, not one endpoint, failed: nothing
# answered (after python-gitlab's retries) or the token was refused.
UNUSABLE_MARKERS = ("connection failed", "is unreachable", "rejected the token")


@dataclass(frozen=True)
class Gap:
    """One thing the run could not establish. `service` None: every service (for example
    the orchestration project's pipelines, which every service's promotions rely on)."""

    service: str | None
    what: str
    reason: str

    def __str__(self) -> str:
        who = f"{self.service}: " if self.service else ""
        return f"{who}{self.what}: {self.reason}"

    @property
    def unusable(self) -> bool:
        """Whether the reason is that GitLab could not be used at all (exit 4)."""
        return gitlab_unusable(self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "what": self.what, "reason": self.reason}

    def concerns(self, service: str) -> bool:
        return self.service is None or self.service == service


def gitlab_unusable(reason: str) -> bool:
    return any(marker in reason for marker in UNUSABLE_MARKERS)


def gaps_from_rows(rows: Iterable[Mapping[str, Any] | Gap]) -> tuple[Gap, ...]:
    """Gaps from stored rows ({service, what, reason}); a `Gap` passes through."""
    out = []
    for row in rows:
        if isinstance(row, Gap):
            out.append(row)
            continue
        service = row.get("service")
        out.append(
            Gap(
                service=str(service) if service else None,
                what=str(row.get("what") or "(unnamed)"),
                reason=str(row.get("reason") or ""),
            )
        )
    return tuple(out)


def gaps_from_coverage(coverage: object) -> tuple[Gap, ...]:
    """The gaps a stored run's coverage records. Runs stored before gaps were structured
    kept them as text (`discovery_gaps`, `unreadable_promotions`): those are gaps too, of
    no known service, so an old run with gaps never reads as complete."""
    if not isinstance(coverage, Mapping):
        return ()
    rows = coverage.get("gaps")
    if isinstance(rows, list):
        return gaps_from_rows(r for r in rows if isinstance(r, Mapping))
    legacy = [
        *(coverage.get("discovery_gaps") or ()),
        *(coverage.get("unreadable_promotions") or ()),
    ]
    return tuple(Gap(None, str(text), "recorded by an earlier auditor") for text in legacy)


def with_gaps(code: int, gaps: Iterable[Gap]) -> int:
    """The contract's exit code once the gaps are counted: a violation (1) still says so;
    otherwise GitLab unusable is 4 and any other gap makes it at least 3."""
    listed = list(gaps)
    if code in (1, 2):
        return code
    if any(g.unusable for g in listed):
        return 4
    if listed:
        return max(code, 3)
    return code
