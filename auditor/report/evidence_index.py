"""The evidence-hash appendix: which raw GitLab responses each promotion of a run rests on.

Read-only, and only through `EvidenceStore`'s public methods (the store stays the one module
that speaks SQL): `promotions(run_id=...)` gives each promotion's `evidence_sha256` list and
`response(sha256)` the stored response with that body hash. A hash a promotion cites whose
response is no longer in the store (pruned by retention) is kept as `missing`, never dropped:
the appendix must show a gap, not hide it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from auditor.report.json_report import parse_timestamp

PromotionKey = tuple[str, int, str]  # (project, iid, service)


class ResponseReader(Protocol):
    """The part of `EvidenceStore` this module reads (so tests can hand in a double)."""

    def promotions(self, *, run_id: int | None = None, service: str | None = None) -> list[Any]: ...

    def response(self, sha256: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class EvidenceRecord:
    """One stored GitLab response: what was asked, what came back, its body's SHA-256."""

    sha256: str
    method: str
    url: str
    status: int
    fetched_at: datetime | None
    size: int


@dataclass(frozen=True)
class PromotionEvidenceHashes:
    key: PromotionKey
    records: tuple[EvidenceRecord, ...]
    missing: tuple[str, ...]  # cited hashes with no stored response (pruned, or never kept)

    @property
    def total(self) -> int:
        return len(self.records) + len(self.missing)


@dataclass(frozen=True)
class EvidenceIndex:
    run_id: int
    promotions: dict[PromotionKey, PromotionEvidenceHashes]

    def for_promotion(self, key: PromotionKey) -> PromotionEvidenceHashes:
        return self.promotions.get(key, PromotionEvidenceHashes(key, (), ()))

    @property
    def hash_count(self) -> int:
        return sum(p.total for p in self.promotions.values())


def _record(row: dict[str, Any]) -> EvidenceRecord:
    body = row.get("body") or b""
    return EvidenceRecord(
        sha256=str(row["sha256"]),
        method=str(row["method"]),
        url=str(row["url"]),
        status=int(row["status"]),
        fetched_at=parse_timestamp(row.get("fetched_at")),
        size=len(body),
    )


def build_evidence_index(
    store: ResponseReader, run_id: int, services: Iterable[str] | None = None
) -> EvidenceIndex:
    """The run's promotions (optionally only `services`) with the responses they cite.

    Each hash is looked up once even when many promotions cite it (a pipeline's jobs list
    backs every service released from that pipeline).
    """
    wanted = None if services is None else set(services)
    looked_up: dict[str, EvidenceRecord | None] = {}
    out: dict[PromotionKey, PromotionEvidenceHashes] = {}
    for row in store.promotions(run_id=run_id):
        if wanted is not None and row["service"] not in wanted:
            continue
        key: PromotionKey = (str(row["project"]), int(row["iid"]), str(row["service"]))
        records: list[EvidenceRecord] = []
        missing: list[str] = []
        for sha in row.get("evidence_sha256") or ():
            if sha not in looked_up:
                found = store.response(sha)
                looked_up[sha] = None if found is None else _record(found)
            record = looked_up[sha]
            if record is None:
                missing.append(sha)
            else:
                records.append(record)
        records.sort(key=lambda r: (r.fetched_at or datetime.min.replace(tzinfo=UTC), r.url))
        out[key] = PromotionEvidenceHashes(key, tuple(records), tuple(sorted(missing)))
    return EvidenceIndex(run_id, out)
