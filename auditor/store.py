"""The durable evidence store behind `auditor sweep`: one SQLite file, and the only module
that talks to it (the only importer of sqlite_utils).

What it keeps: every raw GitLab response used as evidence (method, URL with secrets redacted,
status, fetch time, SHA-256, body; never request headers, so never the token), the runs
(window, config and rulebook hashes, tool version), each run's promotions with their findings
and the responses they rest on, drift, cut-off and revert rows, sync cursors, and a cache of
fetched GitLab data so the next sweep only asks GitLab for what changed.

Durability rules, and why:
- The file is created 0600 by us before SQLite opens it: responses can hold internal MR text.
  An existing file's mode is never touched (an operator may have tightened or shared it).
- WAL journal and one explicit transaction per logical write: a sweep killed with SIGKILL
  leaves either the whole write or none of it, and readers (`auditor history`) never block
  the writer.
- `exclusive()` is an flock on `<db>.lock`, released by the kernel when the holder dies, so
  a killed sweep never leaves a stale lock and a second sweep fails at once with who holds it.
- Schema changes go through `MIGRATIONS`, numbered from the first version, applied in one
  transaction; a file written by a newer auditor is refused rather than misread.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from auditor.findings import (
    AttemptSummary,
    ChecksRan,
    Deployed,
    EvidenceLink,
    Finding,
    Labelled,
    Milestones,
    MRSummary,
    Picked,
    PipelineCreated,
    PromotionResult,
    ReleaseJobRan,
    Report,
    Status,
    Unread,
    ValidationNote,
    Verdict,
)
from auditor.gaps import gaps_from_coverage
from auditor.release_line import CutOff, DeployedRevert, Drift, SweepExtras
from auditor.timestamps import format_fixed, format_timestamp, parse


def _import_sqlite_utils() -> type[Any]:
    """sqlite-utils' `Database`, imported without pandas and numpy.

    sqlite-utils imports pandas and numpy, when installed, only to map their scalar types to
    column types. The store never writes either, and importing them is most of a second
    before `auditor history` can print anything. A `None` in `sys.modules` makes their import
    raise ImportError, which sqlite-utils expects; the entries are removed again at once, so
    the reports still import both normally. If either is already loaded, nothing is blocked.
    """
    blocked = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        from sqlite_utils import Database as database
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    return database


if TYPE_CHECKING:
    from sqlite_utils import Database
else:
    Database = _import_sqlite_utils()

if TYPE_CHECKING:
    # Only for the annotation: importing the client would pull python-gitlab and requests
    # into every process that merely reads history.
    from auditor.gitlab.client import RawResponse

DEFAULT_PATH = Path("auditor.db")

# PRAGMA application_id ("AUDT"): tells our file apart from any other SQLite database
# before we write a byte to it.
APPLICATION_ID = 0x41554454

# How long a write waits for another connection's write to finish. Only one sweep writes
# (exclusive()), so this covers short overlaps: two processes opening a fresh file at once,
# or `auditor history` checkpointing the WAL.
BUSY_TIMEOUT_SECONDS = 10.0

# complete: finished and nothing left unread; incomplete: finished, but something could not
# be established (its coverage names each gap); failed/interrupted: ended before finishing.
RUN_STATUSES = frozenset({"running", "complete", "incomplete", "failed", "interrupted"})
FINISHED_STATUSES = frozenset({"complete", "incomplete", "failed", "interrupted"})
# Runs whose results stand (every promotion found was audited or named as a gap).
RESULT_STATUSES = ("complete", "incomplete")

# Query parameters that carry credentials in GitLab URLs (compared lower-case, '-' as '_').
SECRET_QUERY_PARAMS = frozenset(
    {"private_token", "access_token", "job_token", "feed_token", "oauth_token", "token"}
)
REDACTED = "REDACTED"

# SQLite's bound-parameter limit is 999 on old builds; chunked IN lists stay under it.
_CHUNK = 500


class StoreError(Exception):
    """Something is wrong with the evidence store; the message is one line for the user."""


class StoreLocked(StoreError):
    """Another process (normally another sweep) holds the store's exclusive lock."""


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _now() -> str:
    """Store-generated times: fixed microsecond precision so they sort as text."""
    return format_fixed(datetime.now(UTC))


def _timestamp(value: datetime | str | None) -> str | None:
    """GitLab-origin times as the report writes them (UTC, `Z`), so they round-trip exactly."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = parse(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    return format_timestamp(value)


def _parse_timestamp(text: str | None) -> datetime | None:
    return None if text is None else parse(text)


def _json_default(value: Any) -> Any:
    # Run coverage and summaries are free-form; the likely non-JSON values get a stable form.
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps_loose(value: object) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, allow_nan=False)


def _dumps_cache(key: str, value: object) -> str:
    # No `default` here: a datetime would come back from the cache as a str, and an
    # incremental sync comparing it with a fresh datetime would silently refetch or skip.
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cache value for {key!r} is not plain JSON: {exc}") from None


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def redact_url(url: str) -> str:
    """`url` with credentials removed: userinfo and token-bearing query parameters.

    Only the offending parts are rewritten, so every other URL stays byte-identical (it is
    half of the responses' dedupe key).
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    changed = False
    if "@" in netloc:
        # https://oauth2:TOKEN@host/...: the user part alone can be a token too.
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
        changed = True
    query = parts.query
    if query:
        segments = query.split("&")
        for index, segment in enumerate(segments):
            name = segment.split("=", 1)[0]
            if unquote_plus(name).strip().lower().replace("-", "_") in SECRET_QUERY_PARAMS:
                segments[index] = f"{name}={REDACTED}"
                changed = True
        query = "&".join(segments)
    if not changed:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _ensure_private_file(path: Path) -> None:
    """Create `path` with mode 0600 if it does not exist; never change an existing file."""
    if not path.parent.is_dir():
        raise StoreError(
            f"cannot create {path}: directory {path.parent} does not exist; "
            "create it or choose another --db path"
        )
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        # The umask can only narrow 0600, but a umask that strips the owner's own write
        # bit would give us a store we cannot write; 0600 is exactly what we promise.
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------
# Each migration is plain DDL run inside the migration transaction, frozen once released:
# v1 must mean the same tables forever, so it does not go through sqlite-utils' table
# builder, whose output may change between versions. Tables carry no CHECK constraints on
# statuses so a later version can add a status without rebuilding a table. To change the
# schema, append `_v2` to MIGRATIONS; never edit a released migration.

_V1 = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,
        window_from TEXT NOT NULL,
        window_to TEXT NOT NULL,
        services TEXT NOT NULL,
        config_sha256 TEXT NOT NULL,
        rulebook_sha256 TEXT NOT NULL,
        tool_version TEXT NOT NULL,
        gitlab_url TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        pid INTEGER,
        host TEXT,
        resumes INTEGER NOT NULL DEFAULT 0,
        resumed_at TEXT,
        requests INTEGER,
        coverage TEXT,
        summary TEXT
    )""",
    "CREATE INDEX runs_status ON runs (status)",
    """CREATE TABLE promotions (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        project TEXT NOT NULL,
        iid INTEGER NOT NULL,
        service TEXT NOT NULL,
        title TEXT,
        web_url TEXT,
        merged_at TEXT,
        verdict TEXT NOT NULL,
        evaluated_at TEXT NOT NULL,
        UNIQUE (run_id, project, iid, service)
    )""",
    "CREATE INDEX promotions_service ON promotions (service, run_id)",
    "CREATE INDEX promotions_verdict ON promotions (verdict)",
    """CREATE TABLE findings (
        promotion_id INTEGER NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        rule TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        summary TEXT NOT NULL,
        evidence TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (promotion_id, position)
    )""",
    "CREATE INDEX findings_rule_status ON findings (rule, status)",
    """CREATE TABLE promotion_evidence (
        promotion_id INTEGER NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (promotion_id, sha256)
    )""",
    "CREATE INDEX promotion_evidence_sha256 ON promotion_evidence (sha256)",
    """CREATE TABLE responses (
        id INTEGER PRIMARY KEY,
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        status INTEGER NOT NULL,
        fetched_at TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        body BLOB NOT NULL,
        UNIQUE (url, sha256)
    )""",
    "CREATE INDEX responses_sha256 ON responses (sha256)",
    """CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        version TEXT,
        fetched_at TEXT NOT NULL,
        response_sha256 TEXT
    )""",
    """CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE drift (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        project TEXT NOT NULL,
        service TEXT NOT NULL,
        sha TEXT NOT NULL,
        title TEXT,
        deployed_at TEXT,
        PRIMARY KEY (run_id, project, service, sha)
    )""",
    """CREATE TABLE cut_offs (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        project TEXT NOT NULL,
        pipeline_id INTEGER NOT NULL,
        job_id INTEGER NOT NULL,
        at TEXT,
        "by" TEXT,
        PRIMARY KEY (run_id, pipeline_id, job_id)
    )""",
    # Part of the migration transaction: a crash before COMMIT leaves the file unmarked.
    f"PRAGMA application_id = {APPLICATION_ID}",
]


def _v1(db: Database) -> None:
    """The first schema: every table the issue names."""
    for statement in _V1:
        db.execute(statement)


def _v2(db: Database) -> None:
    """Each promotion keeps its attempts (the timeline), as JSON."""
    db.execute("ALTER TABLE promotions ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]'")


def _v3(db: Database) -> None:
    """Each promotion keeps its milestones, as JSON; NULL for promotions of older runs (not
    recorded, which the reports say, rather than guessing them)."""
    db.execute("ALTER TABLE promotions ADD COLUMN milestones TEXT")


def _v4(db: Database) -> None:
    """Reverts are kept per run, and which runs kept them: a run stored before has no row in
    `reverts_recorded`, and its reverts read as unknown, never as none. Each promotion keeps
    its place in the sweep's order (`position`; NULL before: the order they were written)."""
    db.execute(
        """CREATE TABLE reverts (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        project TEXT NOT NULL,
        service TEXT NOT NULL,
        sha TEXT NOT NULL,
        reverts TEXT NOT NULL,
        deployed_at TEXT,
        PRIMARY KEY (run_id, project, service, sha)
    )"""
    )
    db.execute(
        """CREATE TABLE reverts_recorded (
        run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE
    )"""
    )
    db.execute("ALTER TABLE promotions ADD COLUMN position INTEGER")


# `meta` key listing the simulated GitLabs (see `EvidenceStore.mark_simulated`).
SIMULATED_KEY = "simulated_gitlab"


def _url_list(text: str | None) -> list[str]:
    """The stored list of URLs; an unreadable value reads as none (it only ever unmarks)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(u) for u in value] if isinstance(value, list) else []


Migration = Callable[[Database], None]
MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4]


def _attempts_json(attempts: Iterable[AttemptSummary]) -> str:
    rows = [
        {k: _timestamp(v) if isinstance(v, datetime) else v for k, v in vars(a).items()}
        for a in attempts
    ]
    return json.dumps(rows, ensure_ascii=False)


def _attempts_from(text: str | None) -> tuple[AttemptSummary, ...]:
    """Attempts as stored; timestamps parsed back, SHAs as the tuple they were."""
    out = []
    for row in json.loads(text or "[]"):
        for key in ("reached_release_at", "deployed_at", "validated_at", "reverted_at"):
            row[key] = _parse_timestamp(row.get(key))
        row["picks"] = tuple(row.get("picks") or ())
        out.append(AttemptSummary(**row))
    return tuple(out)


# Each milestone step's type, by field; a stored step is {"unread": reason}, null, or the
# fact's fields (timestamps as the report writes them).
_STEPS: dict[str, type[Any]] = {
    "picked": Picked,
    "pipeline": PipelineCreated,
    "release_job": ReleaseJobRan,
    "deployed": Deployed,
    "checks": ChecksRan,
    "validated": ValidationNote,
    "labelled": Labelled,
}


def _milestones_json(m: Milestones | None) -> str | None:
    if m is None:
        return None

    def step(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, Unread):
            return {"unread": value.reason}
        return {
            k: _timestamp(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in vars(value).items()
        }

    merged = m.merged_at
    row: dict[str, object] = {
        "attempt": m.attempt,
        "merged_at": step(merged) if isinstance(merged, Unread) else _timestamp(merged),
    }
    row.update({name: step(getattr(m, name)) for name in _STEPS})
    return json.dumps(row, ensure_ascii=False)


def _milestones_from(text: str | None) -> Milestones | None:
    """Milestones as stored; None when the run did not record them."""
    if not text:
        return None
    row = json.loads(text)

    def step(kind: type[Any], value: dict[str, Any] | None) -> Any:  # that kind, Unread or None
        if value is None:
            return None
        if "unread" in value:
            return Unread(str(value["unread"]))
        fields = {f.name for f in dataclasses.fields(kind)}
        args = {k: v for k, v in value.items() if k in fields}
        for key in ("at",):
            if key in args:
                args[key] = _parse_timestamp(args[key])
        if "shas" in args:
            args["shas"] = tuple(args["shas"])
        return kind(**args)

    return Milestones(
        attempt=row.get("attempt"),
        merged_at=Unread(str(merged["unread"]))
        if isinstance(merged := row.get("merged_at"), dict)
        else _parse_timestamp(merged),
        **{name: step(kind, row.get(name)) for name, kind in _STEPS.items()},
    )


def _drift(db: Database, run_id: int) -> tuple[Drift, ...]:
    return tuple(
        Drift(
            project=r["project"],
            service=r["service"],
            sha=r["sha"],
            title=r["title"] or "",
            deployed_at=_parse_timestamp(r["deployed_at"]),
        )
        for r in db.query("SELECT * FROM drift WHERE run_id = ? ORDER BY rowid", [run_id])
    )


def _cut_offs(db: Database, run_id: int) -> tuple[CutOff, ...]:
    return tuple(
        CutOff(
            project=r["project"],
            pipeline_id=int(r["pipeline_id"]),
            job_id=int(r["job_id"]),
            at=_parse_timestamp(r["at"]),
            by=r["by"],
        )
        for r in db.query("SELECT * FROM cut_offs WHERE run_id = ? ORDER BY rowid", [run_id])
    )


def _reverts(db: Database, run_id: int) -> tuple[DeployedRevert, ...] | None:
    recorded = db.execute("SELECT 1 FROM reverts_recorded WHERE run_id = ?", [run_id])
    if recorded.fetchone() is None:
        return None
    return tuple(
        DeployedRevert(
            project=r["project"],
            service=r["service"],
            sha=r["sha"],
            reverts=r["reverts"],
            deployed_at=_parse_timestamp(r["deployed_at"]),
        )
        for r in db.query("SELECT * FROM reverts WHERE run_id = ? ORDER BY rowid", [run_id])
    )


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------


class EvidenceStore:
    """One auditor database file. Safe to share between threads of one process."""

    schema_version: int

    def __init__(self, path: Path | str = DEFAULT_PATH) -> None:
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        # The collector may record from worker threads; one connection, used in turn.
        self._mutex = threading.RLock()
        self._holding_lock = False
        self._closed = False
        _ensure_private_file(self.path)
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_SECONDS,
                # Driver autocommit: every transaction below is an explicit BEGIN, so
                # nothing is ever left open by an implicit one.
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            # Plugins could change the connection under us; the store wants plain SQLite.
            self._db = Database(conn, execute_plugins=False)
            self._open()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
                raise StoreError(
                    f"{self.path} is not an auditor database (not SQLite); choose another --db path"
                ) from exc
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    # -- opening and migrating ----------------------------------------------------------

    def _open(self) -> None:
        conn = self._db.conn
        conn.execute("PRAGMA foreign_keys = ON")
        # Read-only identity check first: never switch someone else's database to WAL.
        self._stored_version()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() == "wal":
            # NORMAL in WAL mode survives a killed process with every committed
            # transaction; only an OS crash can lose the last few, never consistency.
            # FULL would fsync every cache row a sweep writes.
            conn.execute("PRAGMA synchronous = NORMAL")
        # Otherwise (a filesystem without shared memory): the rollback journal is just as
        # crash-safe, only slower, so carry on.
        self._migrate()

    def _stored_version(self) -> int:
        """The file's schema version: 0 for a brand-new empty file; StoreError if foreign."""
        conn = self._db.conn
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if app_id == 0 and not tables:
            return 0
        if app_id != APPLICATION_ID or "meta" not in tables:
            raise StoreError(
                f"{self.path} is a SQLite database but not an auditor store; "
                "choose another --db path"
            )
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise StoreError(
                f"{self.path} has no readable schema version; it is damaged or not an auditor store"
            ) from None

    def _migrate(self) -> None:
        known = len(MIGRATIONS)
        with self._write():
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = self._stored_version()
            if version > known:
                raise StoreError(
                    f"{self.path} was written by a newer auditor (schema {version}; this one "
                    f"knows up to {known}); upgrade auditor or choose another --db path"
                )
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(self._db)
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [str(number)],
                )
            self.schema_version = max(version, known)

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Database]:
        """One write transaction. IMMEDIATE takes the write lock up front, so a
        read-then-write can never fail half-way on a snapshot another writer moved."""
        with self._mutex:
            conn = self._db.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"cannot write to {self.path}: {exc}") from exc
            try:
                yield self._db
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and not isinstance(exc, StoreError):
                    raise StoreError(f"cannot write to {self.path}: {exc}") from exc
                raise

    @contextmanager
    def _read(self) -> Iterator[Database]:
        """A read transaction: several SELECTs see one snapshot while a sweep writes."""
        with self._mutex:
            conn = self._db.conn
            conn.execute("BEGIN")
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from exc
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        with self._mutex:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> EvidenceStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EvidenceStore({str(self.path)!r})"

    @contextmanager
    def exclusive(self, purpose: str = "sweep") -> Iterator[None]:
        """Hold `<db>.lock` for the block; StoreLocked at once if another process holds it.

        flock, not a row in the database: the kernel drops it when the holder exits or is
        killed, so there is never a stale lock to clean up by hand.
        """
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create lock file {self.lock_path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreError(f"cannot lock {self.lock_path}: {exc.strerror}") from exc
            what = holder.get("purpose") or "sweep"
            who = (
                f"pid {holder['pid']} since {holder.get('since', '?')}"
                if "pid" in holder
                else "holder unknown"
            )
            raise StoreLocked(
                f"another auditor {what} is using {self.path} ({who}); wait for it to "
                "finish or use another --db"
            ) from None
        try:
            # Who holds it, for the message the next process shows; overwritten, not
            # appended, so the file stays one small record.
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": format_timestamp(datetime.now(UTC).replace(microsecond=0)),
                "purpose": purpose,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
            self._holding_lock = True
            yield
        finally:
            self._holding_lock = False
            try:
                os.ftruncate(fd, 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    # -- cache --------------------------------------------------------------------------

    def cache_get(self, key: str) -> tuple[object, str | None] | None:
        with self._mutex:
            row = self._db.conn.execute(
                "SELECT value, version FROM cache WHERE key = ?", [key]
            ).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), row[1]

    def cache_entry(self, key: str) -> tuple[object, str | None, str | None] | None:
        """(value, version, response_sha256) of one entry: with the SHA-256s of the GitLab
        responses it was read from (space-separated, several for a paged list)."""
        with self._mutex:
            row = self._db.conn.execute(
                "SELECT value, version, response_sha256 FROM cache WHERE key = ?", [key]
            ).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), row[1], row[2]

    def cache_put(
        self,
        key: str,
        value: object,
        version: str | None,
        response_sha256: str | None = None,
    ) -> None:
        """Upsert one entry, committed before returning: a killed run keeps what it fetched."""
        self.cache_put_many([(key, value, version, response_sha256)])

    def cache_put_many(self, items: Iterable[tuple[str, object, str | None, str | None]]) -> None:
        """Upsert several entries in one transaction (all or none survive a kill)."""
        now = _now()
        rows = [
            {
                "key": key,
                "value": _dumps_cache(key, value),
                "version": version,
                "fetched_at": now,
                "response_sha256": sha,
            }
            for key, value, version, sha in items
        ]
        if not rows:
            return
        with self._write() as db:
            db.table("cache").upsert_all(rows, pk="key")

    def cache_invalidate(self, keys: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(keys))
        removed = 0
        with self._write() as db:
            for chunk in _chunks(wanted):
                marks = ",".join("?" * len(chunk))
                removed += db.execute(f"DELETE FROM cache WHERE key IN ({marks})", chunk).rowcount
        return removed

    # -- raw responses ------------------------------------------------------------------

    def put_responses(self, responses: Iterable[RawResponse]) -> int:
        """Store responses (no headers, URL redacted); dedupe on (url, sha256), the first
        fetch time kept. Returns how many rows were added."""
        rows = []
        for response in responses:
            body = bytes(response.body or b"")
            digest = hashlib.sha256(body).hexdigest()
            if digest != response.sha256.lower():
                # The hash is the evidence's identity; storing a body under another body's
                # hash would let a report cite bytes it never saw.
                raise ValueError(f"sha256 of the body of {redact_url(response.url)} does not match")
            rows.append(
                (
                    response.method.upper(),
                    redact_url(response.url),
                    int(response.status),
                    format_fixed(response.fetched_at),
                    digest,
                    body,
                )
            )
        if not rows:
            return 0
        # Within one batch the earliest fetch of a (url, sha256) must win as well.
        rows.sort(key=lambda r: r[3])
        with self._write() as db:
            cursor = db.conn.executemany(
                "INSERT OR IGNORE INTO responses (method, url, status, fetched_at, sha256, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return max(cursor.rowcount, 0)

    def response_index(self, fetched_before: str | None = None) -> list[dict[str, Any]]:
        """Every stored response's metadata, without bodies (id, method, url, status,
        fetched_at, sha256), oldest first per URL; optionally only those fetched up to a time."""
        sql = "SELECT id, method, url, status, fetched_at, sha256 FROM responses"
        params: list[Any] = []
        if fetched_before is not None:
            sql += " WHERE fetched_at <= ?"
            params.append(fetched_before)
        sql += " ORDER BY url, fetched_at, id"
        with self._read() as db:
            return list(db.query(sql, params))

    def response_count(self) -> int:
        with self._mutex:
            return int(self._db.conn.execute("SELECT count(*) FROM responses").fetchone()[0])

    def response(self, sha256: str) -> dict[str, Any] | None:
        """The first stored response with this body hash (for `auditor verify`), or None."""
        with self._read() as db:
            rows = list(
                db.query(
                    "SELECT id, method, url, status, fetched_at, sha256, body FROM responses "
                    "WHERE sha256 = ? ORDER BY fetched_at, id LIMIT 1",
                    [sha256.lower()],
                )
            )
        return rows[0] if rows else None

    # -- simulated GitLabs --------------------------------------------------------------

    def mark_simulated(self, gitlab_url: str) -> None:
        """Record that `gitlab_url` is a simulated GitLab that stops with its process (the
        one `auditor demo` serves): reports of runs against it say so and link nowhere.

        Kept in `meta` under `simulated_gitlab` (a JSON list of URLs, credentials removed as
        in `runs.gitlab_url`), so no schema change: a store without the key has none."""
        url = redact_url(gitlab_url).rstrip("/")
        with self._write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", [SIMULATED_KEY]).fetchone()
            urls = set(_url_list(row[0] if row else None)) | {url}
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [SIMULATED_KEY, json.dumps(sorted(urls))],
            )

    def simulated_gitlab_urls(self) -> frozenset[str]:
        """The GitLab URLs `mark_simulated` recorded (none in a store that predates it)."""
        with self._mutex:
            row = self._db.conn.execute(
                "SELECT value FROM meta WHERE key = ?", [SIMULATED_KEY]
            ).fetchone()
        return frozenset(_url_list(row[0] if row else None))

    # -- cursors ------------------------------------------------------------------------

    def cursor_get(self, name: str) -> str | None:
        with self._mutex:
            row = self._db.conn.execute(
                "SELECT value FROM cursors WHERE name = ?", [name]
            ).fetchone()
        return None if row is None else str(row[0])

    def cursor_set(self, name: str, value: str) -> None:
        with self._write() as db:
            db.table("cursors").upsert(
                {"name": name, "value": value, "updated_at": _now()}, pk="name"
            )

    # -- runs ---------------------------------------------------------------------------

    def _process_gone(self, pid: int | None, host: str | None) -> bool:
        """Whether the process that started a 'running' run can no longer be running it."""
        if self._holding_lock:
            # Every sweep holds exclusive() while it runs, so holding it ourselves proves
            # no other sweep is alive (and covers pid reuse and other hosts).
            return True
        if pid is None or host != socket.gethostname() or pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, someone else's
        return False

    def begin_run(
        self,
        *,
        window_from: datetime,
        window_to: datetime,
        services: list[str],
        config_sha256: str,
        rulebook_sha256: str,
        tool_version: str,
        gitlab_url: str,
    ) -> int:
        """Start a run, or resume the same unfinished run whose process died.

        Same = same window, services, config and rulebook hashes, and also the same
        tool version and GitLab URL (results of two auditors or two GitLabs must not be
        merged into one run). Other dead unfinished runs become 'interrupted'.
        Call it inside `exclusive()`. The URL is kept without credentials.
        """
        if not services:
            raise ValueError("begin_run needs the services the run covers")
        key = {
            "window_from": _timestamp(window_from),
            "window_to": _timestamp(window_to),
            "services": json.dumps(sorted(set(services))),
            "config_sha256": config_sha256,
            "rulebook_sha256": rulebook_sha256,
            "tool_version": tool_version,
            "gitlab_url": redact_url(gitlab_url),
        }
        now = _now()
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        with self._write() as db:
            unfinished = list(
                db.query("SELECT * FROM runs WHERE status = 'running' ORDER BY id DESC")
            )
            resumed: int | None = None
            for run in unfinished:
                if not self._process_gone(run["pid"], run["host"]):
                    continue  # a live run is not ours to touch
                if resumed is None and all(run[k] == v for k, v in key.items()):
                    resumed = int(run["id"])
                    db.execute(
                        "UPDATE runs SET pid = ?, host = ?, resumes = resumes + 1, "
                        "resumed_at = ? WHERE id = ?",
                        [me["pid"], me["host"], now, resumed],
                    )
                else:
                    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", [run["id"]])
            if resumed is not None:
                return resumed
            cursor = db.execute(
                "INSERT INTO runs (status, window_from, window_to, services, config_sha256, "
                "rulebook_sha256, tool_version, gitlab_url, started_at, pid, host) "
                "VALUES ('running', :window_from, :window_to, :services, :config_sha256, "
                ":rulebook_sha256, :tool_version, :gitlab_url, :started_at, :pid, :host)",
                {**key, "started_at": now, **me},
            )
            return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        requests: int,
        coverage: dict[str, object],
        summary: dict[str, object],
    ) -> None:
        if status not in FINISHED_STATUSES:
            raise ValueError(
                f"run status must be one of {', '.join(sorted(FINISHED_STATUSES))}, not {status!r}"
            )
        with self._write() as db:
            cursor = db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, requests = ?, coverage = ?, "
                "summary = ? WHERE id = ?",
                [status, _now(), requests, _dumps_loose(coverage), _dumps_loose(summary), run_id],
            )
            if cursor.rowcount == 0:
                raise StoreError(f"no run {run_id} in {self.path}")

    def _require_run(self, db: Database, run_id: int) -> dict[str, Any]:
        rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise StoreError(f"no run {run_id} in {self.path}")
        return rows[0]

    # -- results ------------------------------------------------------------------------

    def record_promotion(
        self,
        run_id: int,
        result: PromotionResult,
        evidence: Iterable[str] = (),
        position: int | None = None,
    ) -> int:
        """Upsert one (MR, service) result of a run; its findings and evidence are replaced
        in the same transaction, so a rerun never leaves both old and new findings.
        `position`: its place in the run's report (None: after those placed, in the order
        written)."""
        mr = result.mr
        promotion = {
            "run_id": run_id,
            "project": mr.project,
            "iid": mr.iid,
            "service": result.service,
            "title": mr.title,
            "web_url": mr.web_url,
            "merged_at": _timestamp(mr.merged_at),
            "verdict": str(result.verdict),
            "evaluated_at": _now(),
            "attempts": _attempts_json(result.attempts),
            "milestones": _milestones_json(result.milestones),
            "position": position,
        }
        findings = [
            {
                "position": position,
                "rule": f.rule,
                "name": f.name,
                "status": str(f.status),
                "summary": f.summary,
                "evidence": json.dumps(
                    [
                        {"kind": e.kind, "id": e.id, "url": e.url, "at": _timestamp(e.at)}
                        for e in f.evidence
                    ],
                    ensure_ascii=False,
                ),
            }
            for position, f in enumerate(result.findings)
        ]
        hashes = sorted({h.lower() for h in evidence})
        with self._write() as db:
            self._require_run(db, run_id)
            db.execute(
                "INSERT INTO promotions (run_id, project, iid, service, title, web_url, "
                "merged_at, verdict, evaluated_at, attempts, milestones, position) VALUES "
                "(:run_id, :project, :iid, :service, :title, :web_url, :merged_at, :verdict, "
                ":evaluated_at, :attempts, :milestones, :position) "
                "ON CONFLICT (run_id, project, iid, service) DO UPDATE SET "
                "title = excluded.title, web_url = excluded.web_url, "
                "merged_at = excluded.merged_at, verdict = excluded.verdict, "
                "evaluated_at = excluded.evaluated_at, attempts = excluded.attempts, "
                "milestones = excluded.milestones, position = excluded.position",
                promotion,
            )
            # ON CONFLICT keeps the row's id, and lastrowid is unreliable after an update.
            promotion_id = int(
                db.conn.execute(
                    "SELECT id FROM promotions WHERE run_id = ? AND project = ? AND iid = ? "
                    "AND service = ?",
                    [run_id, mr.project, mr.iid, result.service],
                ).fetchone()[0]
            )
            db.execute("DELETE FROM findings WHERE promotion_id = ?", [promotion_id])
            db.execute("DELETE FROM promotion_evidence WHERE promotion_id = ?", [promotion_id])
            if findings:
                db.table("findings").insert_all(
                    [{"promotion_id": promotion_id, **row} for row in findings]
                )
            if hashes:
                db.table("promotion_evidence").insert_all(
                    [{"promotion_id": promotion_id, "sha256": h} for h in hashes]
                )
        return promotion_id

    def record_drift(self, run_id: int, rows: Iterable[Drift]) -> None:
        """Upsert on (run_id, project, service, sha)."""
        records = [
            {
                "run_id": run_id,
                "project": d.project,
                "service": d.service,
                "sha": d.sha,
                "title": d.title,
                "deployed_at": _timestamp(d.deployed_at),
            }
            for d in rows
        ]
        if not records:
            return
        with self._write() as db:
            self._require_run(db, run_id)
            db.table("drift").upsert_all(records, pk=("run_id", "project", "service", "sha"))

    def record_cut_offs(self, run_id: int, rows: Iterable[CutOff]) -> None:
        """Upsert on (run_id, pipeline_id, job_id)."""
        records = [
            {
                "run_id": run_id,
                "project": c.project,
                "pipeline_id": int(c.pipeline_id),
                "job_id": int(c.job_id),
                "at": _timestamp(c.at),
                "by": c.by,
            }
            for c in rows
        ]
        if not records:
            return
        with self._write() as db:
            self._require_run(db, run_id)
            db.table("cut_offs").upsert_all(records, pk=("run_id", "pipeline_id", "job_id"))

    def record_reverts(self, run_id: int, rows: Iterable[DeployedRevert]) -> None:
        """Upsert on (run_id, project, service, sha), and mark the run's reverts as
        recorded (even when there are none: then they are known to be none)."""
        records = [
            {
                "run_id": run_id,
                "project": r.project,
                "service": r.service,
                "sha": r.sha,
                "reverts": r.reverts,
                "deployed_at": _timestamp(r.deployed_at),
            }
            for r in rows
        ]
        with self._write() as db:
            self._require_run(db, run_id)
            if records:
                db.table("reverts").upsert_all(records, pk=("run_id", "project", "service", "sha"))
            db.execute("INSERT OR IGNORE INTO reverts_recorded (run_id) VALUES (?)", [run_id])

    # -- reading (never touches GitLab) -------------------------------------------------

    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs newest first, JSON columns decoded, with how many promotions each holds."""
        sql = (
            "SELECT runs.*, (SELECT count(*) FROM promotions p WHERE p.run_id = runs.id) "
            "AS promotions FROM runs ORDER BY id DESC"
        )
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._read() as db:
            rows = list(db.query(sql, params))
        for row in rows:
            row["services"] = json.loads(row["services"])
            for column in ("coverage", "summary"):
                row[column] = None if row[column] is None else json.loads(row[column])
        return rows

    def run(self, run_id: int) -> dict[str, Any]:
        """One run's row, JSON columns decoded (StoreError when there is none)."""
        for row in self.runs():
            if int(row["id"]) == run_id:
                return row
        raise StoreError(f"no run {run_id} in {self.path}")

    def _latest_complete_runs(self, db: Database) -> dict[str, int]:
        """service -> the latest finished run that covered it with results (complete, or
        incomplete: its promotions stand, and what it could not read is in its gaps)."""
        latest: dict[str, int] = {}
        for run in db.query(
            "SELECT id, services FROM runs WHERE status IN ('complete', 'incomplete') "
            "ORDER BY finished_at DESC, id DESC"
        ):
            for service in json.loads(run["services"]):
                latest.setdefault(service, int(run["id"]))
        return latest

    def promotions(
        self,
        *,
        run_id: int | None = None,
        service: str | None = None,
        verdict: str | None = None,
        rule: str | None = None,
        rule_status: str | Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Stored promotions with their findings (a list) and `evidence_sha256` (a list).

        run_id None: for each service, the rows of the latest finished run that covered it,
        so a later sweep of one service does not hide the others. `rule` with
        `rule_status`: promotions whose finding for that rule has that status (or one of
        several: `rule_status=("fail", "unknown")`); either alone: any finding with that
        rule / that status. Every promotion carries every rule, so `rule` alone filters
        nothing out.
        """
        if verdict is not None and verdict not in set(Verdict):
            raise ValueError(f"unknown verdict {verdict!r}; choose one of {', '.join(Verdict)}")
        statuses: list[str] = []
        if rule_status is not None:
            statuses = [rule_status] if isinstance(rule_status, str) else list(rule_status)
            for status in statuses:
                if status not in set(Status):
                    raise ValueError(
                        f"unknown status {status!r}; choose one of {', '.join(Status)}"
                    )
        where: list[str] = []
        params: list[Any] = []
        with self._read() as db:
            if run_id is not None:
                where.append("p.run_id = ?")
                params.append(run_id)
            else:
                latest = self._latest_complete_runs(db)
                if service is not None:
                    latest = {s: r for s, r in latest.items() if s == service}
                if not latest:
                    return []
                pairs = " OR ".join("(p.service = ? AND p.run_id = ?)" for _ in latest)
                where.append(f"({pairs})")
                for name, run in latest.items():
                    params += [name, run]
            if service is not None:
                where.append("p.service = ?")
                params.append(service)
            if verdict is not None:
                where.append("p.verdict = ?")
                params.append(verdict)
            if rule is not None or statuses:
                conditions = ["f.promotion_id = p.id"]
                if rule is not None:
                    conditions.append("f.rule = ?")
                    params.append(rule)
                if statuses:
                    conditions.append(f"f.status IN ({','.join('?' * len(statuses))})")
                    params += statuses
                where.append(f"EXISTS (SELECT 1 FROM findings f WHERE {' AND '.join(conditions)})")
            sql = "SELECT p.* FROM promotions p"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY p.run_id, p.id"
            rows = list(db.query(sql, params))
            self._attach_findings(db, rows)
        return rows

    def _attach_findings(self, db: Database, rows: list[dict[str, Any]]) -> None:
        by_id = {row["id"]: row for row in rows}
        for row in rows:
            row["findings"] = []
            row["evidence_sha256"] = []
        ids = list(by_id)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for f in db.query(
                "SELECT promotion_id, rule, name, status, summary, evidence FROM findings "
                f"WHERE promotion_id IN ({marks}) ORDER BY promotion_id, position",
                chunk,
            ):
                by_id[f.pop("promotion_id")]["findings"].append(
                    {**f, "evidence": json.loads(f["evidence"])}
                )
            for e in db.query(
                "SELECT promotion_id, sha256 FROM promotion_evidence "
                f"WHERE promotion_id IN ({marks}) ORDER BY promotion_id, sha256",
                chunk,
            ):
                by_id[e["promotion_id"]]["evidence_sha256"].append(e["sha256"])

    def report(self, run_id: int) -> Report:
        """The run's findings.Report, rebuilt from the store alone (promotions in the sweep's
        order, or as first recorded for a run stored before that order was kept; generated_at
        is when the run finished, else when it started)."""
        with self._read() as db:
            run = self._require_run(db, run_id)
            rows = list(
                db.query(
                    "SELECT * FROM promotions WHERE run_id = ? "
                    "ORDER BY position IS NULL, position, id",
                    [run_id],
                )
            )
            self._attach_findings(db, rows)
        promotions = tuple(
            PromotionResult(
                mr=MRSummary(
                    project=row["project"],
                    iid=int(row["iid"]),
                    title=row["title"],
                    web_url=row["web_url"],
                    merged_at=_parse_timestamp(row["merged_at"]),
                ),
                service=row["service"],
                verdict=Verdict(row["verdict"]),
                findings=tuple(
                    Finding(
                        rule=f["rule"],
                        name=f["name"],
                        status=Status(f["status"]),
                        summary=f["summary"],
                        evidence=tuple(
                            EvidenceLink(
                                kind=e["kind"],
                                id=e["id"],
                                url=e["url"],
                                at=_parse_timestamp(e["at"]),
                            )
                            for e in f["evidence"]
                        ),
                    )
                    for f in row["findings"]
                ),
                attempts=_attempts_from(row.get("attempts")),
                milestones=_milestones_from(row.get("milestones")),
            )
            for row in rows
        )
        generated = _parse_timestamp(run["finished_at"] or run["started_at"])
        assert generated is not None  # started_at is NOT NULL
        return Report(
            gitlab_url=run["gitlab_url"],
            generated_at=generated,
            tool_version=run["tool_version"],
            promotions=promotions,
        )

    def drift(self, run_id: int) -> tuple[Drift, ...]:
        """The run's drift, in the order recorded."""
        with self._read() as db:
            self._require_run(db, run_id)
            return _drift(db, run_id)

    def cut_offs(self, run_id: int) -> tuple[CutOff, ...]:
        """The run's played cut-off jobs, in the order recorded."""
        with self._read() as db:
            self._require_run(db, run_id)
            return _cut_offs(db, run_id)

    def reverts(self, run_id: int) -> tuple[DeployedRevert, ...] | None:
        """The run's reverts, in the order recorded; None when the run did not record them
        (stored before reverts were kept, or it ended before its end): not known, not none."""
        with self._read() as db:
            self._require_run(db, run_id)
            return _reverts(db, run_id)

    def extras(self, run_id: int) -> SweepExtras:
        """What the run found besides its promotions: drift, cut-offs, reverts (None when not
        recorded) and gaps, what the run could not establish (its coverage; a run stored
        before gaps were structured gives its text gaps with no service)."""
        with self._read() as db:
            run = self._require_run(db, run_id)
            drift, cut_offs, reverts = (
                _drift(db, run_id),
                _cut_offs(db, run_id),
                _reverts(db, run_id),
            )
        coverage = None if run["coverage"] is None else json.loads(run["coverage"])
        return SweepExtras(drift, cut_offs, reverts, gaps_from_coverage(coverage))

    def integrity_ok(self) -> bool:
        """PRAGMA integrity_check says 'ok' (and nothing else)."""
        with self._mutex:
            try:
                rows = self._db.conn.execute("PRAGMA integrity_check").fetchall()
            except sqlite3.DatabaseError:
                return False
        return [r[0] for r in rows] == ["ok"]


def _read_holder(fd: int) -> dict[str, Any]:
    """The lock file's record of who holds it; {} if unreadable (e.g. mid-write)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
