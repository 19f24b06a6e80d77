"""Fault injection and rate-limit bookkeeping for the simulated GitLab.

`Faults` is the knob set a test turns (latency, every-Nth 429 or 502, fixed failures per
path, the advertised rate limit); `FaultState` holds the counters behind those knobs for one
running server and decides, request by request, whether the simulator answers normally.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

# Statuses a gateway (nginx / Workhorse) produces without reaching Rails: such answers carry
# no RateLimit-* headers. That matters to python-gitlab, which otherwise sleeps until
# RateLimit-Reset (up to a minute) before retrying a transient error.
GATEWAY_STATUSES = frozenset({502, 503, 504})

WINDOW_SECONDS = 60


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
