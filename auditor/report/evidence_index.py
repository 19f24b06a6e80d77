"""Which raw GitLab responses each promotion of a run rests on, for the reports to count and,
for the promotions needing attention, to list briefly.

Read-only, and only through `EvidenceStore`'s public methods (the store stays the one module
that speaks SQL): `promotions(run_id=..., service=...)` gives each promotion's
`evidence_sha256` list and `response(sha256)` the stored response with that body hash.

The reports do not print the responses page after page (a promotion can rest on hundreds;
the evidence bundle holds every body under its hash, with each promotion's list): a page
counts them, and lists a few for a promotion a person has to look at. Only those are looked
up in the store, so a service of 2,000 compliant promotions costs one query, not one per
response. A hash a promotion cites whose response is no longer in the store (pruned by
retention) is kept as `missing`, never dropped: a listing must show a gap, not hide it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from auditor.timestamps import parse_timestamp

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
    """A promotion's cited responses: how many, and the few looked up to be listed."""

    key: PromotionKey
    cited: int  # every hash the promotion cites
    records: tuple[EvidenceRecord, ...]  # looked up and found (at most the listing limit)
    missing: tuple[str, ...]  # looked up and not in the store (pruned, or never kept)
    missing_total: int | None = None  # cited hashes not in the store; None: not looked up

    @property
    def unlisted(self) -> int:
        """Cited hashes neither listed nor reported missing: in the bundle, not on the page."""
        return self.cited - len(self.records) - len(self.missing)


def cited_hashes(
    store: ResponseReader, run_id: int, service: str
) -> dict[PromotionKey, tuple[str, ...]]:
    """Each promotion of `service` in run `run_id` with the response hashes it cites.

    Promotions share most of their responses (the same deployments and pipelines lists), so
    each distinct hash is kept once: a service's thousands of citations then cost a pointer
    each, not a 64-character string each, while its page is rendered."""
    canonical: dict[str, str] = {}
    return {
        (str(row["project"]), int(row["iid"]), str(row["service"])): tuple(
            canonical.setdefault(str(sha), str(sha)) for sha in row.get("evidence_sha256") or ()
        )
        for row in store.promotions(run_id=run_id, service=service)
    }


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


def _segments(url: str) -> frozenset[str]:
    try:
        path = urlsplit(url).path
    except ValueError:
        return frozenset()
    return frozenset(s for s in path.split("/") if s)


class ResponseLookup:
    """Looks hashes up in the store, each at most once per report (a pipeline's jobs list
    backs every service released from that pipeline)."""

    def __init__(self, store: ResponseReader) -> None:
        self._store = store
        self._seen: dict[str, EvidenceRecord | None] = {}

    def _get(self, sha: str) -> EvidenceRecord | None:
        if sha not in self._seen:
            found = self._store.response(sha)
            self._seen[sha] = None if found is None else _record(found)
        return self._seen[sha]

    def listing(
        self,
        key: PromotionKey,
        hashes: Sequence[str],
        *,
        limit: int,
        cited_ids: Collection[str] = (),
    ) -> PromotionEvidenceHashes:
        """Every hash of `hashes` looked up (so that a missing one is never hidden), at most
        `limit` found ones kept to list: first those whose API path names an object in
        `cited_ids` (the ids the promotion's failing or unknown findings point at), then by
        fetch time."""
        found: list[EvidenceRecord] = []
        missing: list[str] = []
        hashes = tuple(dict.fromkeys(hashes))
        for sha in hashes:
            record = self._get(sha)
            if record is None:
                missing.append(sha)
            else:
                found.append(record)
        wanted = frozenset(cited_ids)

        def order(r: EvidenceRecord) -> tuple[bool, datetime, str]:
            named = bool(wanted & _segments(r.url))
            return (not named, r.fetched_at or datetime.min.replace(tzinfo=UTC), r.url)

        found.sort(key=order)
        # Missing ones are listed before found ones and count against the limit: a gap
        # matters more than one more hash that checks out.
        missing.sort()
        shown_missing = tuple(missing[:limit])
        shown = tuple(found[: max(limit - len(shown_missing), 0)])
        return PromotionEvidenceHashes(key, len(hashes), shown, shown_missing, len(missing))

    def missing(self, hashes: Iterable[str]) -> set[str]:
        """Those of `hashes` already looked up and not in the store."""
        return {sha for sha in hashes if sha in self._seen and self._seen[sha] is None}

    @staticmethod
    def counted(key: PromotionKey, hashes: Sequence[str]) -> PromotionEvidenceHashes:
        """The count alone, nothing looked up (a compliant promotion's evidence is in the
        bundle; its page row shows how much there is)."""
        return PromotionEvidenceHashes(key, len(tuple(dict.fromkeys(hashes))), (), ())
