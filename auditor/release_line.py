"""What a sweep reports beside its promotions: drift, the reverts and the cut-offs it found
on the release line, and what it could not establish.

One type each, defined here and nowhere else: discovery builds them, the sweep result hands
them on, the store saves and loads them, and every page renders them (the JSON report takes
its keys from these fields, in this order, which is the contract's). Like `gaps`, a leaf
module of pure values, below discovery, so that every layer may use it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.gaps import Gap


@dataclass(frozen=True)
class Drift:
    """A commit that reached staging through `release` without a merged MR behind it."""

    project: str
    service: str
    sha: str
    title: str
    deployed_at: datetime | None  # when the staging deployment that added it was made


@dataclass(frozen=True)
class DeployedRevert:
    """A commit that reached staging and reverts another (git's "This reverts commit X"):
    `reverts` is X. (Not `evidence.Revert`, which is a revert of one audited hotfix.)"""

    project: str
    service: str
    sha: str
    reverts: str
    deployed_at: datetime | None


@dataclass(frozen=True)
class CutOff:
    """A played `cut-off` job of the orchestration project."""

    project: str
    pipeline_id: int
    job_id: int
    at: datetime | None
    by: str | None  # who played it


Row = Drift | DeployedRevert | CutOff


def row_fields(row: Row) -> dict[str, Any]:
    """A row's fields by name, in declaration order (the contract's key order)."""
    return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}


@dataclass(frozen=True)
class SweepExtras:
    """Everything a run found besides its promotions, in the order it was found.

    `reverts` is None when it is not known: a run stored before reverts were kept. Nothing
    may read that as "no reverts"."""

    drift: tuple[Drift, ...] = ()
    cut_offs: tuple[CutOff, ...] = ()
    reverts: tuple[DeployedRevert, ...] | None = ()
    gaps: tuple[Gap, ...] = ()
