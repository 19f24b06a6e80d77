"""A python-gitlab client that cannot write.

The auditor only ever reads. Every request python-gitlab makes goes through the session's
`request`/`send`, so a session that refuses anything but GET and HEAD turns a bug that would
write (approve, cherry-pick, play a job, revoke the token) into an exception raised before a
byte leaves the process. The token travels only in the PRIVATE-TOKEN header; responses are
recorded (URL, status, time, SHA-256) for the evidence store, headers never.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gitlab
import requests

from auditor.config import Settings

READ_METHODS = frozenset({"GET", "HEAD"})


class ReadOnlyViolation(RuntimeError):
    """Something tried to send a non-GET/HEAD request through the auditor's client."""


@dataclass(frozen=True)
class RawResponse:
    """One HTTP response GitLab gave us, kept as evidence."""

    method: str
    url: str
    status: int
    fetched_at: datetime
    sha256: str
    body: bytes


class RateGovernor:
    """Paces requests so that GitLab's rate-limit budget is not spent before it resets.

    GitLab reports `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (epoch
    seconds) on every answer. Once the remaining budget falls into the reserve (a tenth of
    the limit), each request waits its share of the time left until the reset, so parallel
    workers slow down smoothly instead of running into 429s.
    """

    def __init__(
        self,
        reserve: float = 0.1,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reserve = reserve
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.waited = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        try:
            limit = int(headers["RateLimit-Limit"])
            remaining = int(headers["RateLimit-Remaining"])
            reset_at = float(headers["RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        with self._lock:
            self.limit, self.remaining, self.reset_at = limit, remaining, reset_at

    def delay(self) -> float:
        with self._lock:
            if self.limit is None or self.remaining is None or self.reset_at is None:
                return 0.0
            if self.remaining > max(1, self.limit * self.reserve):
                return 0.0
            left = max(0.0, self.reset_at - self._clock())
            share = left if self.remaining <= 0 else left / self.remaining
            return min(self.max_wait, share)

    def wait(self) -> None:
        pause = self.delay()
        if pause > 0:
            self.waited += pause
            self._sleep(pause)


class ReadOnlySession(requests.Session):
    """A requests session that refuses to send anything but GET or HEAD."""

    def __init__(self, governor: RateGovernor | None = None) -> None:
        super().__init__()
        self.responses: list[RawResponse] = []
        self.governor = governor or RateGovernor()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.hooks["response"].append(self._record)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        verb = method.decode() if isinstance(method, bytes) else method
        if verb.upper() not in READ_METHODS:
            raise ReadOnlyViolation(f"refused {verb.upper()} {url}: the auditor is read-only")
        self.governor.wait()
        return super().request(method, url, *args, **kwargs)

    def requests_by_thread(self) -> int:
        """Responses received by the calling thread (per-promotion request counts)."""
        return int(getattr(self._local, "count", 0))

    def thread_digests(self) -> list[str]:
        """SHA-256s of the responses the calling thread received, in order (append-only:
        take its length as a mark, slice after a call to see what that call read)."""
        if not hasattr(self._local, "digests"):
            self._local.digests = []
        return self._local.digests  # type: ignore[no-any-return]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        # A second gate for anything that bypasses request() (prepared requests, adapters).
        if (request.method or "").upper() not in READ_METHODS:
            raise ReadOnlyViolation(
                f"refused {request.method} {request.url}: the auditor is read-only"
            )
        return super().send(request, **kwargs)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code >= 500:
            # python-gitlab sleeps until RateLimit-Reset (up to a minute) before retrying a
            # 5xx that carries it; six such sleeps stall a run for minutes on one bad
            # endpoint. Without it, python-gitlab backs off exponentially from 0.1 s.
            response.headers.pop("RateLimit-Reset", None)
        self.governor.observe(response.headers)
        self._local.count = self.requests_by_thread() + 1
        body = response.content or b""
        raw = RawResponse(
            method=(response.request.method or "GET").upper(),
            url=response.url,
            status=response.status_code,
            fetched_at=datetime.now(UTC),
            sha256=hashlib.sha256(body).hexdigest(),
            body=body,
        )
        with self._lock:
            self.responses.append(raw)
        self.thread_digests().append(raw.sha256)

    @property
    def request_count(self) -> int:
        return len(self.responses)


class AuditorGitlab(gitlab.Gitlab):
    """python-gitlab with a bounded retry count.

    python-gitlab retries 10 times by default with 0.1 s doubling back-off; that is almost
    two minutes of waiting for a host that refuses connections. Six tries keep a 429 with
    Retry-After or a flapping proxy survivable while an unreachable host fails in seconds.
    """

    max_retries = 6

    def http_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("max_retries", self.max_retries)
        kwargs.setdefault("obey_rate_limit", True)
        return super().http_request(*args, **kwargs)


def connect(settings: Settings, session: ReadOnlySession | None = None) -> AuditorGitlab:
    """A client with a timeout always set, rate limits obeyed and transient errors retried."""
    return AuditorGitlab(
        settings.url,
        private_token=settings.token,
        session=session or ReadOnlySession(),
        timeout=settings.timeout,
        ssl_verify=settings.ssl_verify,
        retry_transient_errors=True,
        # GitLab may advertise its external URL in Link headers; stay on the one configured.
        keep_base_url=True,
        per_page=100,
        user_agent="auditor (read-only; python-gitlab)",
    )
