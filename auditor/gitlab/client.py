"""A python-gitlab client that cannot write.

The auditor only ever reads. Every request python-gitlab makes goes through the session's
`request`/`send`, so a session that refuses anything but GET and HEAD turns a bug that would
write (approve, cherry-pick, play a job, revoke the token) into an exception raised before a
byte leaves the process. The token travels only in the PRIVATE-TOKEN header, and only to
the configured GitLab: the session refuses any request to another scheme, host or port (a
redirect, a next-page link), so the token is never sent elsewhere (requests itself strips
only `Authorization` on a cross-host redirect, not PRIVATE-TOKEN or JOB-TOKEN). Responses are
recorded (URL, status, time, SHA-256) for the evidence store, headers never; `Retry-After`
and `RateLimit-Reset` are made safe for python-gitlab (an HTTP date would crash its `int()`,
a far-off time would stall the run for hours).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import gitlab
import requests

from auditor.config import Settings

READ_METHODS = frozenset({"GET", "HEAD"})
# Headers that carry a credential: never sent anywhere but the configured GitLab.
SECRET_HEADERS = ("PRIVATE-TOKEN", "JOB-TOKEN", "Authorization")
DEFAULT_PORTS = {"http": 80, "https": 443}


class ReadOnlyViolation(RuntimeError):
    """Something tried to send a non-GET/HEAD request through the auditor's client."""


class CrossOriginRefused(requests.RequestException):
    """A request (a redirect, a next-page link) would have carried the token to another
    scheme, host or port; it was not sent."""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port made explicit; credentials never part of it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def shown_origin(url: str) -> str:
    """scheme://host:port of a URL, for messages: no user, password, path or query."""
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


def retry_after_seconds(value: str, now: float) -> int | None:
    """Seconds to wait for a `Retry-After` given as seconds or as an HTTP date (RFC 9110
    allows both); None when it is neither."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if at is None:
        return None
    if at.tzinfo is None:  # an HTTP date is GMT by definition
        at = at.replace(tzinfo=UTC)
    return max(0, math.ceil(at.timestamp() - now))


def tame_wait_headers(headers: MutableMapping[str, str], now: float, cap: float) -> None:
    """Make the headers python-gitlab sleeps on safe: it runs `int()` on `Retry-After` and
    `RateLimit-Reset` (an HTTP date raises) and sleeps as long as they say (a far-off reset
    stalls the run). A date becomes seconds, every wait is capped, garbage is dropped so
    python-gitlab falls back to its own short back-off."""
    if "Retry-After" in headers:
        seconds = retry_after_seconds(headers["Retry-After"], now)
        if seconds is None:
            del headers["Retry-After"]
        else:
            headers["Retry-After"] = str(min(seconds, math.ceil(cap)))
    if "RateLimit-Reset" in headers:
        reset = headers["RateLimit-Reset"].strip()
        if not reset.isdigit():
            del headers["RateLimit-Reset"]
        elif int(reset) - now > cap:
            headers["RateLimit-Reset"] = str(math.ceil(now + cap))


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

    def __init__(self, governor: RateGovernor | None = None, base_url: str | None = None) -> None:
        super().__init__()
        self.responses: list[RawResponse] = []
        self.governor = governor or RateGovernor()
        # the only origin the token may go to: the configured GitLab (else the first asked)
        self.allowed_origin: tuple[str, str, int] | None = origin(base_url) if base_url else None
        self._lock = threading.Lock()
        self._local = threading.local()
        self.hooks["response"].append(self._record)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        verb = method.decode() if isinstance(method, bytes) else method
        target = url.decode() if isinstance(url, bytes) else url
        if verb.upper() not in READ_METHODS:
            raise ReadOnlyViolation(f"refused {verb.upper()} {target}: the auditor is read-only")
        self.governor.wait()
        return super().request(verb, target, *args, **kwargs)

    def requests_by_thread(self) -> int:
        """Responses received by the calling thread (per-promotion request counts)."""
        return int(getattr(self._local, "count", 0))

    def thread_digests(self) -> list[str]:
        """SHA-256s of the responses the calling thread received, in order (append-only:
        take its length as a mark, slice after a call to see what that call read)."""
        if not hasattr(self._local, "digests"):
            self._local.digests = []
        return self._local.digests

    def bind(self, base_url: str) -> None:
        """Send requests (and so the token) to this GitLab only."""
        self.allowed_origin = origin(base_url)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # A second gate for anything that bypasses request() (prepared requests, adapters).
        if (request.method or "").upper() not in READ_METHODS:
            raise ReadOnlyViolation(
                f"refused {request.method} {request.url}: the auditor is read-only"
            )
        # Every hop of a redirect comes through here before it is sent.
        target = origin(request.url or "")
        if self.allowed_origin is None:
            self.allowed_origin = target
        elif target != self.allowed_origin:
            allowed = "{}://{}:{}".format(*self.allowed_origin)
            hop = "redirected" if kwargs.get("allow_redirects") is False else "pointed"
            raise CrossOriginRefused(
                f"GitLab {hop} to {shown_origin(request.url or '')}, not {allowed}; "
                "not followed, so the token was not sent there"
            )
        return super().send(request, **kwargs)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: Any) -> None:
        # requests strips only Authorization when a redirect leaves the host; the token
        # headers go too (send() refuses such a hop anyway: this is the second lock).
        if self.should_strip_auth(response.request.url, str(prepared_request.url)):
            for name in SECRET_HEADERS:
                prepared_request.headers.pop(name, None)
        super().rebuild_auth(prepared_request, response)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code >= 500:
            # python-gitlab sleeps until RateLimit-Reset (up to a minute) before retrying a
            # 5xx that carries it; six such sleeps stall a run for minutes on one bad
            # endpoint. Without it, python-gitlab backs off exponentially from 0.1 s.
            response.headers.pop("RateLimit-Reset", None)
        tame_wait_headers(response.headers, time.time(), self.governor.max_wait)
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
    """A client with a timeout always set, rate limits obeyed and transient errors retried,
    whose requests go to `settings.url` only."""
    session = session or ReadOnlySession()
    session.bind(settings.url)
    return AuditorGitlab(
        settings.url,
        private_token=settings.token,
        session=session,
        timeout=settings.timeout,
        ssl_verify=settings.ssl_verify,
        retry_transient_errors=True,
        # GitLab may advertise its external URL in Link headers; stay on the one configured.
        keep_base_url=True,
        per_page=100,
        user_agent="auditor (read-only; python-gitlab)",
    )
