"""A stored run, typed: `RunRecord` (what a run of `auditor sweep` was and how it ended) and
`AuditRun` (everything one run left in the store, read back at once by `store.load`).

The store is the only writer and reader of these; the reports, the bundle, `history` and
the CLI read their attributes instead of the database's column names. Pure values, no IO:
the model layer, beside `findings` and `release_line`.

Times are datetimes. `as_row()` gives the run back as the store's row, every value in the
form the store keeps it (times as the text it wrote, JSON columns decoded), in the column
order of the `runs` table: what `history --runs --format json` and the bundle's run.json
print, so those stay byte for byte what they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.findings import Report
from auditor.gaps import Gap, gaps_from_coverage
from auditor.identity import MRId
from auditor.release_line import SweepExtras
from auditor.timestamps import format_fixed, format_timestamp, parse


@dataclass(frozen=True)
class RunCoverage:
    """What a finished run could and could not establish (the `coverage` column).

    `gaps`: every gap, also from a run stored before gaps were structured (then text gaps
    of no service). `error`: why a failed or interrupted run ended. `staging_seen`: per
    service, the newest staging deployment id the run saw. `unknown_findings_by_rule`: how
    many findings of each rule could not be established. `stored`: the whole JSON object as
    the run wrote it, for the outputs that print it as it is (it holds counts for people
    beside the fields above, and older runs hold other keys).
    """

    gaps: tuple[Gap, ...]
    error: str | None
    staging_seen: Mapping[str, int]
    unknown_findings_by_rule: Mapping[str, int]
    stored: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_stored(cls, value: Mapping[str, Any]) -> RunCoverage:
        error = value.get("error")
        seen = value.get("staging_seen")
        unknown = value.get("unknown_findings_by_rule")
        return cls(
            gaps=gaps_from_coverage(value),
            error=str(error) if error else None,
            staging_seen=dict(seen) if isinstance(seen, Mapping) else {},
            unknown_findings_by_rule=dict(unknown) if isinstance(unknown, Mapping) else {},
            stored=value,
        )


@dataclass(frozen=True)
class RunRecord:
    """One run as the store keeps it. `status`: running, complete, incomplete, failed or
    interrupted. `coverage` and `summary` are None until the run finished; `requests` too.
    `pid`/`host`: the process that (last) ran it; `resumes`: how often a rerun continued
    it, the last time at `resumed_at`. `promotions`: how many promotions it recorded."""

    id: int
    status: str
    window_from: datetime
    window_to: datetime
    services: tuple[str, ...]
    config_sha256: str
    rulebook_sha256: str
    tool_version: str
    gitlab_url: str
    started_at: datetime
    finished_at: datetime | None
    pid: int | None
    host: str | None
    resumes: int
    resumed_at: datetime | None
    requests: int | None
    coverage: RunCoverage | None
    summary: Mapping[str, Any] | None
    promotions: int

    @property
    def gaps(self) -> tuple[Gap, ...]:
        return () if self.coverage is None else self.coverage.gaps

    def as_row(self) -> dict[str, Any]:
        """The run as the store's row (see the module docstring)."""
        return {
            "id": self.id,
            "status": self.status,
            # the window as the report writes times; the store's own times fixed-width
            "window_from": format_timestamp(self.window_from),
            "window_to": format_timestamp(self.window_to),
            "services": list(self.services),
            "config_sha256": self.config_sha256,
            "rulebook_sha256": self.rulebook_sha256,
            "tool_version": self.tool_version,
            "gitlab_url": self.gitlab_url,
            "started_at": format_fixed(self.started_at),
            "finished_at": _fixed_or_none(self.finished_at),
            "pid": self.pid,
            "host": self.host,
            "resumes": self.resumes,
            "resumed_at": _fixed_or_none(self.resumed_at),
            "requests": self.requests,
            "coverage": None if self.coverage is None else self.coverage.stored,
            "summary": self.summary,
            "promotions": self.promotions,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        """From the store's row with its JSON columns decoded (the inverse of `as_row`)."""
        coverage = row.get("coverage")
        summary = row.get("summary")
        return cls(
            id=int(row["id"]),
            status=str(row["status"]),
            window_from=parse(row["window_from"]),
            window_to=parse(row["window_to"]),
            services=tuple(str(s) for s in row["services"]),
            config_sha256=str(row["config_sha256"]),
            rulebook_sha256=str(row["rulebook_sha256"]),
            tool_version=str(row["tool_version"]),
            gitlab_url=str(row["gitlab_url"]),
            started_at=parse(row["started_at"]),
            finished_at=_parse_or_none(row.get("finished_at")),
            pid=None if row.get("pid") is None else int(row["pid"]),
            host=row.get("host"),
            resumes=int(row.get("resumes") or 0),
            resumed_at=_parse_or_none(row.get("resumed_at")),
            requests=None if row.get("requests") is None else int(row["requests"]),
            coverage=RunCoverage.from_stored(coverage) if isinstance(coverage, Mapping) else None,
            summary=summary if isinstance(summary, Mapping) else None,
            promotions=int(row.get("promotions") or 0),
        )


def _fixed_or_none(value: datetime | None) -> str | None:
    return None if value is None else format_fixed(value)


def _parse_or_none(text: str | None) -> datetime | None:
    return None if text is None else parse(text)


@dataclass(frozen=True)
class AuditRun:
    """Everything one run left in the store: the run, its report (promotions in the sweep's
    order), what it found besides (drift, cut-offs, reverts, gaps), and per promotion the
    SHA-256s of the GitLab responses it rests on (sorted; empty when none were linked)."""

    info: RunRecord
    report: Report
    extras: SweepExtras
    evidence: Mapping[tuple[str, MRId], tuple[str, ...]]

    def evidence_of(self, service: str, mr: MRId) -> tuple[str, ...]:
        return self.evidence.get((service, mr), ())
