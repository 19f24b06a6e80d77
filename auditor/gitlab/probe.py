"""One cheap read, answered as what happened rather than raised: for `auditor doctor`.

The evidence source turns a failed read into `Unavailable`; the doctor needs the HTTP
status itself (401, 403, 404) to say what to fix. This module keeps python-gitlab's
exceptions inside `auditor.gitlab`, as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gitlab
import requests
from gitlab.exceptions import GitlabError

# Doctor answers in seconds: two retries show a flapping proxy, more only delay the verdict.
PROBE_RETRIES = 2


@dataclass(frozen=True)
class Probe:
    """What one GET answered: `status` is None when no HTTP answer came at all."""

    status: int | None
    body: Any = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.reason


def probe(gl: gitlab.Gitlab, path: str, query: dict[str, Any] | None = None) -> Probe:
    """GET `path` (under /api/v4) and report the status and the parsed JSON body."""
    try:
        answer = gl.http_get(path, query_data=query or {}, max_retries=PROBE_RETRIES)
    except GitlabError as exc:
        code = getattr(exc, "response_code", None)
        return Probe(code, None, f"HTTP {code}" if code else "not a GitLab answer")
    except requests.Timeout:
        return Probe(None, None, "timed out")
    except requests.ConnectionError:
        return Probe(None, None, "connection failed")
    except requests.RequestException as exc:
        return Probe(None, None, type(exc).__name__)
    if isinstance(answer, requests.Response):
        # 2xx but not JSON: a proxy's login page or a web server that is not GitLab
        return Probe(answer.status_code, None, "the answer is not JSON")
    return Probe(200, answer)
