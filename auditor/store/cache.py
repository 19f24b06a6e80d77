"""The store's record of GitLab: the cache of fetched data (so the next sweep asks GitLab
only for what changed), every raw response kept as evidence (credentials redacted from its
URL, never a header, so never the token), the sync cursors, and which GitLabs were
simulated ones."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from auditor.store.database import StoreDatabase, _chunks, _now
from auditor.timestamps import format_fixed

if TYPE_CHECKING:
    # Only for the annotation: importing the client would pull python-gitlab and requests
    # into every process that merely reads history.
    from auditor.gitlab.client import RawResponse

# Query parameters that carry credentials in GitLab URLs (compared lower-case, '-' as '_').
SECRET_QUERY_PARAMS = frozenset(
    {"private_token", "access_token", "job_token", "feed_token", "oauth_token", "token"}
)
REDACTED = "REDACTED"


# `meta` key listing the simulated GitLabs (see `EvidenceStore.mark_simulated`).
SIMULATED_KEY = "simulated_gitlab"


def _url_list(text: str | None) -> list[str]:
    """The stored list of URLs; an unreadable value reads as none (it only ever unmarks)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(u) for u in value] if isinstance(value, list) else []


def _dumps_cache(key: str, value: object) -> str:
    # No `default` here: a datetime would come back from the cache as a str, and an
    # incremental sync comparing it with a fresh datetime would silently refetch or skip.
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cache value for {key!r} is not plain JSON: {exc}") from None


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


class CacheStore(StoreDatabase):
    """The cache, the raw responses, the simulated GitLabs and the cursors of one store."""

    # -- cache --------------------------------------------------------------------------

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
