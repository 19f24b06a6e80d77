"""The store's database: opening one SQLite file, telling ours from any other, the lock
that keeps one sweep at a time, WAL and transactions, and the schema's migrations. The only
importer of sqlite_utils in `auditor/`.

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

`StoreDatabase` is the base of every part of `EvidenceStore` (see `auditor/store/__init__`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

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

DEFAULT_PATH = Path("auditor.db")

# PRAGMA application_id ("AUDT"): tells our file apart from any other SQLite database
# before we write a byte to it.
APPLICATION_ID = 0x41554454

# How long a write waits for another connection's write to finish. Only one sweep writes
# (exclusive()), so this covers short overlaps: two processes opening a fresh file at once,
# or `auditor history` checkpointing the WAL.
BUSY_TIMEOUT_SECONDS = 10.0

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


Migration = Callable[[Database], None]
MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4]


# --------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------


class StoreDatabase:
    """One auditor database file, open: the connection, its transactions and the lock.
    Safe to share between threads of one process."""

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
        migrations = MIGRATIONS
        known = len(migrations)
        with self._write():
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = self._stored_version()
            if version > known:
                raise StoreError(
                    f"{self.path} was written by a newer auditor (schema {version}; this one "
                    f"knows up to {known}); upgrade auditor or choose another --db path"
                )
            for number, migration in enumerate(migrations[version:], start=version + 1):
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

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
