"""The durable evidence store behind `auditor sweep`: one SQLite file, and the only package
that talks to it (the only importer of sqlite_utils).

What it keeps: every raw GitLab response used as evidence (method, URL with secrets redacted,
status, fetch time, SHA-256, body; never request headers, so never the token), the runs
(window, config and rulebook hashes, tool version), each run's promotions with their findings
and the responses they rest on, drift, cut-off and revert rows, sync cursors, and a cache of
fetched GitLab data so the next sweep only asks GitLab for what changed.

Split by concern, one module each:
- `database`: opening the file, its identity, the lock, WAL, transactions, migrations.
- `cache`: the HTTP cache, raw responses and URL redaction, cursors, simulated GitLabs.
- `runs`: runs and their results, written and read back (`RunRecord`, `AuditRun`).

`EvidenceStore` is the one class callers open. It is composed of the parts as mixins over
`StoreDatabase`, not by delegation: every part runs its SQL on the same connection, under the
same mutex and in the same transactions (`_read`/`_write`), and the runs part reads through
the cache part's redaction; mixins share that state without handing a connection around.
Each consumer types the store by a Protocol of its own (`sweep.SweepStore`,
`report.html.ReportStore`, `gitlab.source.SourceCache`, ...), which this class satisfies.
"""

from __future__ import annotations

from auditor.store.cache import (
    REDACTED,
    SECRET_QUERY_PARAMS,
    SIMULATED_KEY,
    CacheStore,
    redact_url,
)
from auditor.store.database import (
    APPLICATION_ID,
    BUSY_TIMEOUT_SECONDS,
    DEFAULT_PATH,
    MIGRATIONS,
    Database,
    Migration,
    StoreDatabase,
    StoreError,
    StoreLocked,
)
from auditor.store.runs import (
    FINISHED_STATUSES,
    RESULT_STATUSES,
    RUN_STATUSES,
    RunStore,
)


class EvidenceStore(RunStore, CacheStore):
    """One auditor database file. Safe to share between threads of one process."""


__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_SECONDS",
    "DEFAULT_PATH",
    "FINISHED_STATUSES",
    "MIGRATIONS",
    "REDACTED",
    "RESULT_STATUSES",
    "RUN_STATUSES",
    "SECRET_QUERY_PARAMS",
    "SIMULATED_KEY",
    "CacheStore",
    "Database",
    "EvidenceStore",
    "Migration",
    "RunStore",
    "StoreDatabase",
    "StoreError",
    "StoreLocked",
    "redact_url",
]
