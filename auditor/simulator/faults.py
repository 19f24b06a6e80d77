"""Fault injection and rate-limit bookkeeping for the simulated GitLab.

`Faults` is the knob set a test turns (latency, every-Nth 429 or 502, fixed failures per
path, the advertised rate limit, and per-path odd answers: a corrupt, cut-off or HTML body, a
wrong-shaped list, null or missing fields, pagination headers that are missing or lie, a
slow answer, a redirect elsewhere); `FaultState` holds the counters behind those knobs for
one running server and decides, request by request, whether the simulator answers normally.
Every knob is off by default: untouched, the simulator answers as GitLab does.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

# Statuses a gateway (nginx / Workhorse) produces without reaching Rails: such answers carry
# no RateLimit-* headers. That matters to python-gitlab, which otherwise sleeps until
# RateLimit-Reset (up to a minute) before retrying a transient error.
GATEWAY_STATUSES = frozenset({502, 503, 504})

WINDOW_SECONDS = 60

# What `Faults.corrupt` can do to a 200 answer's body.
CORRUPTIONS = ("malformed", "truncated", "html", "wrong_shape", "strings")
HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in \u00b7 GitLab</title></head>"
    "<body><h1>Sign in</h1></body></html>\n"
)


@dataclass
class Faults:
    """What to break. Counters for the every-Nth knobs live in `FaultState`."""

    latency: float = 0.0  # seconds added to every response
    rate_limit_every: int = 0  # every Nth request answers 429 with Retry-After: 1 (0 = never)
    error_every: int = 0  # every Nth request not already 429'd answers 502 (0 = never)
    fail_paths: dict[str, int] = field(default_factory=dict)  # regex on path -> status, always
    rate_limit: int = 2000  # RateLimit-Limit; RateLimit-Remaining counts down per minute
    # GitLab.com answers 429 once the minute's budget is spent. Off by default so a fast local
    # run over a big world is not throttled by accident; turn on to test the auditor's pacing.
    enforce_rate_limit: bool = False
    # 429s say Retry-After as an HTTP date (RFC 9110 allows it) instead of seconds
    retry_after_as_date: bool = False
    # -- odd answers, each keyed by a regex on the path (as fail_paths) --------------------
    corrupt: dict[str, str] = field(default_factory=dict)  # -> one of CORRUPTIONS
    null_fields: dict[str, str] = field(default_factory=dict)  # -> field set to null
    drop_fields: dict[str, str] = field(default_factory=dict)  # -> field removed
    drop_link: list[str] = field(default_factory=list)  # no Link header (X-Next-Page stays)
    drop_next: list[str] = field(default_factory=list)  # neither Link nor X-Next-Page
    lie_total: dict[str, int] = field(default_factory=dict)  # -> added to X-Total
    page_size: dict[str, int] = field(default_factory=dict)  # -> per_page cap
    slow_paths: dict[str, float] = field(default_factory=dict)  # -> seconds before answering
    redirect_to: dict[str, str] = field(default_factory=dict)  # -> base URL of a 302

    def reshapes(self) -> bool:
        """Whether any knob rewrites 200 answers (else they go out untouched)."""
        return bool(
            self.corrupt
            or self.null_fields
            or self.drop_fields
            or self.drop_link
            or self.drop_next
            or self.lie_total
        )


@dataclass
class Reshaped:
    """A 200 answer as the faults leave it: JSON `body`, or raw bytes instead of it."""

    body: Any
    headers: dict[str, str]
    raw: bytes | None = None
    content_type: str | None = None
    truncate: bool = False  # announce the whole length, send half, drop the connection


def _matching(patterns: Iterable[str], paths: tuple[str, ...]) -> str | None:
    for pattern in list(patterns):
        if any(re.search(pattern, p) for p in paths):
            return pattern
    return None


def _each_object(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [row for row in body if isinstance(row, dict)]
    return [body] if isinstance(body, dict) else []


def reshape(faults: Faults, paths: tuple[str, ...], body: Any, headers: dict[str, str]) -> Reshaped:
    """Apply the odd-answer knobs that match `paths` to one 200 answer."""
    out = Reshaped(json.loads(json.dumps(body)), dict(headers))
    if (p := _matching(faults.null_fields, paths)) is not None:
        for row in _each_object(out.body):
            row[faults.null_fields[p]] = None
    if (p := _matching(faults.drop_fields, paths)) is not None:
        for row in _each_object(out.body):
            row.pop(faults.drop_fields[p], None)
    if _matching(faults.drop_link, paths) is not None:
        out.headers.pop("Link", None)
    if _matching(faults.drop_next, paths) is not None:
        out.headers.pop("X-Next-Page", None)
        links = [x for x in out.headers.get("Link", "").split(", ") if 'rel="next"' not in x]
        out.headers["Link"] = ", ".join(links)
    if (p := _matching(faults.lie_total, paths)) is not None and "X-Total" in out.headers:
        out.headers["X-Total"] = str(int(out.headers["X-Total"]) + faults.lie_total[p])
    if (p := _matching(faults.corrupt, paths)) is not None:
        kind = faults.corrupt[p]
        text = json.dumps(out.body, separators=(",", ":")).encode()
        if kind == "malformed":
            out.raw = text[: max(1, len(text) // 2)]
        elif kind == "truncated":
            out.raw, out.truncate = text, True
        elif kind == "html":
            out.raw, out.content_type = HTML_PAGE.encode(), "text/html; charset=utf-8"
        elif kind == "wrong_shape":
            out.body = {"message": "ok"} if isinstance(out.body, list) else [out.body]
        elif kind == "strings":
            rows = _each_object(out.body)
            out.body = [str(row.get("id") or row.get("name") or "?") for row in rows] or ["ok"]
        else:
            raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(CORRUPTIONS)}")
    return out


@dataclass(frozen=True)
class Verdict:
    """What the fault layer wants answered instead of the real response (status None: serve)."""

    status: int | None
    retry_after: int | None = None


class FaultState:
    """Per-server counters: a fixed one-minute window for RateLimit-*, and the every-Nth
    counters. Thread-safe; the clock is injectable so tests can pin the window."""

    def __init__(self, faults: Faults, clock: Callable[[], float] = time.time) -> None:
        self.faults = faults
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._window_start = self._window(self._clock())
            self._observed = 0
            self._seen_for_429 = 0
            self._seen_for_502 = 0

    @staticmethod
    def _window(now: float) -> float:
        return math.floor(now / WINDOW_SECONDS) * WINDOW_SECONDS

    def observe(self) -> int:
        """Count one request in the current window; returns the window's count so far."""
        with self._lock:
            window = self._window(self._clock())
            if window != self._window_start:
                self._window_start = window
                self._observed = 0
            self._observed += 1
            return self._observed

    def rate_headers(self, observed: int, limited: bool = False) -> dict[str, str]:
        with self._lock:
            reset = int(self._window_start + WINDOW_SECONDS)
        limit = self.faults.rate_limit
        headers = {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(limit),
            "RateLimit-Observed": str(observed),
            "RateLimit-Remaining": str(max(0, limit - observed)),
            "RateLimit-Reset": str(reset),
        }
        if limited:
            headers["RateLimit-ResetTime"] = formatdate(reset, usegmt=True)
        return headers

    def seconds_to_reset(self) -> int:
        with self._lock:
            return max(1, math.ceil(self._window_start + WINDOW_SECONDS - self._clock()))

    def slowness(self, *paths: str) -> float:
        p = _matching(self.faults.slow_paths, paths)
        return 0.0 if p is None else self.faults.slow_paths[p]

    def redirect(self, *paths: str) -> str | None:
        p = _matching(self.faults.redirect_to, paths)
        return None if p is None else self.faults.redirect_to[p]

    def page_cap(self, *paths: str) -> int | None:
        p = _matching(self.faults.page_size, paths)
        return None if p is None else self.faults.page_size[p]

    def retry_after(self, seconds: int) -> str:
        if self.faults.retry_after_as_date:
            return formatdate(self._clock() + seconds, usegmt=True)
        return str(seconds)

    def fixed_failure(self, *paths: str) -> int | None:
        """The status a `fail_paths` pattern forces for this path (any spelling given).
        Read live, so a test may change `faults.fail_paths` while the server runs."""
        for pattern, status in list(self.faults.fail_paths.items()):
            if any(re.search(pattern, p) for p in paths):
                return status
        return None

    def inject(self, observed: int) -> Verdict:
        """Every-Nth 429s first, then (counted only over requests not 429'd) every-Nth 502s."""
        f = self.faults
        with self._lock:
            self._seen_for_429 += 1
            if f.rate_limit_every and self._seen_for_429 % f.rate_limit_every == 0:
                return Verdict(429, retry_after=1)
        if f.enforce_rate_limit and observed > f.rate_limit:
            return Verdict(429, retry_after=self.seconds_to_reset())
        with self._lock:
            self._seen_for_502 += 1
            if f.error_every and self._seen_for_502 % f.error_every == 0:
                return Verdict(502)
        return Verdict(None)
